//! Access control: which clients may query (like Unbound's `access-control`).
//!
//! One query's path: the handler calls [`Acl::check`] with the client's
//! address before it parses anything. An IPv4-mapped IPv6 address (as a
//! dual-stack socket reports an IPv4 client) is first turned back into the
//! IPv4 address; then the rules of that family, sorted at construction by
//! prefix length (longest first, deny before allow on equal length), are
//! scanned and the first one containing the address decides. No rule
//! containing it means [`Verdict::Deny`]. The check is a few masks and
//! compares over a small vector: no allocation, no lock.

use std::cmp::Reverse;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// The IPv4 loopback network, allowed by the default ACL.
pub const LOOPBACK_V4: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::new(127, 0, 0, 0), 8);

/// The IPv6 loopback address, allowed by the default ACL.
pub const LOOPBACK_V6: Ipv6Net = Ipv6Net::new_assert(Ipv6Addr::LOCALHOST, 128);

/// What the ACL says about a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The client may query.
    Allow,
    /// The client is refused or ignored (the server's `deny-action`).
    Deny,
}

/// One rule in matching form: `addr & mask == network`.
#[derive(Debug, Clone, Copy)]
struct Rule<T> {
    network: T,
    mask: T,
    prefix_len: u8,
    verdict: Verdict,
}

/// An access-control list: CIDR allow and deny rules, longest prefix wins.
#[derive(Debug, Clone)]
pub struct Acl {
    /// IPv4 rules, longest prefix first, deny before allow on equal length.
    v4: Vec<Rule<u32>>,
    /// IPv6 rules, in the same order.
    v6: Vec<Rule<u128>>,
    /// The allow prefixes as given (truncated, mapped ones as IPv4), for
    /// [`Acl::describe`] and [`Acl::loopback_only`].
    allow: Vec<IpNet>,
    /// The deny prefixes, likewise.
    deny: Vec<IpNet>,
}

impl Acl {
    /// `allow` empty means the default: loopback only (127.0.0.0/8 and
    /// ::1/128), like Unbound. Rules are CIDR prefixes; the longest prefix
    /// that contains the client decides; on equal length deny wins; a client
    /// no rule contains is denied.
    ///
    /// Host bits are cleared (192.168.5.7/24 is 192.168.5.0/24), and an
    /// IPv4-mapped IPv6 rule of at least /96 (::ffff:192.0.2.0/120) becomes
    /// the IPv4 rule it stands for (192.0.2.0/24), since mapped clients are
    /// judged as IPv4. A shorter IPv6 rule such as ::/0 matches native IPv6
    /// clients only.
    pub fn new(allow: &[IpNet], deny: &[IpNet]) -> Self {
        let allow: Vec<IpNet> = if allow.is_empty() {
            vec![IpNet::V4(LOOPBACK_V4), IpNet::V6(LOOPBACK_V6)]
        } else {
            dedup(allow.iter().map(|n| normalize(*n)))
        };
        let deny = dedup(deny.iter().map(|n| normalize(*n)));
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let tagged = deny
            .iter()
            .map(|n| (n, Verdict::Deny))
            .chain(allow.iter().map(|n| (n, Verdict::Allow)));
        for (net, verdict) in tagged {
            match net {
                IpNet::V4(n) => v4.push(Rule {
                    network: u32::from(n.network()),
                    mask: u32::from(n.netmask()),
                    prefix_len: n.prefix_len(),
                    verdict,
                }),
                IpNet::V6(n) => v6.push(Rule {
                    network: u128::from(n.network()),
                    mask: u128::from(n.netmask()),
                    prefix_len: n.prefix_len(),
                    verdict,
                }),
            }
        }
        // Longest prefix first; on equal length deny first (false sorts
        // before true). The same prefix in both lists thus denies.
        v4.sort_by_key(|r| (Reverse(r.prefix_len), r.verdict == Verdict::Allow));
        v6.sort_by_key(|r| (Reverse(r.prefix_len), r.verdict == Verdict::Allow));
        Self {
            v4,
            v6,
            allow,
            deny,
        }
    }

    /// The verdict for `client`. IPv4-mapped IPv6 clients (::ffff:a.b.c.d,
    /// as a dual-stack socket reports them) are judged as the IPv4 address.
    pub fn check(&self, client: IpAddr) -> Verdict {
        match client.to_canonical() {
            IpAddr::V4(a) => first_match(&self.v4, u32::from(a)),
            IpAddr::V6(a) => first_match(&self.v6, u128::from(a)),
        }
    }

    /// True when only loopback clients can be allowed (the default ACL or an
    /// allow list of loopback prefixes only): the server warns when it
    /// listens on a non-loopback address with such an ACL.
    pub fn loopback_only(&self) -> bool {
        self.allow.iter().all(|net| match net {
            IpNet::V4(n) => LOOPBACK_V4.contains(n),
            IpNet::V6(n) => *n == LOOPBACK_V6,
        })
    }

    /// A one-line human description for logs and `ctl stats`, e.g.
    /// "allow 127.0.0.0/8, ::1/128" or
    /// "allow 192.168.0.0/16; deny 192.168.5.0/24".
    pub fn describe(&self) -> String {
        let mut out = format!("allow {}", join(&self.allow));
        if !self.deny.is_empty() {
            out.push_str("; deny ");
            out.push_str(&join(&self.deny));
        }
        out
    }
}

/// The verdict of the first rule containing `addr`, or deny.
fn first_match<T>(rules: &[Rule<T>], addr: T) -> Verdict
where
    T: Copy + PartialEq + std::ops::BitAnd<Output = T>,
{
    rules
        .iter()
        .find(|r| addr & r.mask == r.network)
        .map_or(Verdict::Deny, |r| r.verdict)
}

/// `net` with its host bits cleared, and as IPv4 if it is an IPv4-mapped
/// IPv6 prefix of at least /96.
fn normalize(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net
        && n.prefix_len() >= 96
        && let Some(v4) = n.network().to_ipv4_mapped()
        && let Ok(mapped) = Ipv4Net::new(v4, n.prefix_len() - 96)
    {
        return IpNet::V4(mapped.trunc());
    }
    net.trunc()
}

/// The prefixes in their given order, repeats removed.
fn dedup(nets: impl Iterator<Item = IpNet>) -> Vec<IpNet> {
    let mut out: Vec<IpNet> = Vec::new();
    for net in nets {
        if !out.contains(&net) {
            out.push(net);
        }
    }
    out
}

fn join(nets: &[IpNet]) -> String {
    nets.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test prefix")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn default_allows_loopback_only() {
        let acl = Acl::new(&[], &[]);
        for a in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(acl.check(ip(a)), Verdict::Allow, "{a}");
        }
        for a in [
            "192.0.2.1",
            "2001:db8::1",
            "::2",
            "128.0.0.1",
            "::ffff:192.0.2.1",
        ] {
            assert_eq!(acl.check(ip(a)), Verdict::Deny, "{a}");
        }
        assert!(acl.loopback_only());
        assert_eq!(acl.describe(), "allow 127.0.0.0/8, ::1/128");
    }

    #[test]
    fn longest_prefix_decides() {
        let acl = Acl::new(&[net("192.168.0.0/16")], &[net("192.168.5.0/24")]);
        assert_eq!(acl.check(ip("192.168.1.1")), Verdict::Allow);
        assert_eq!(acl.check(ip("192.168.5.7")), Verdict::Deny);
        assert_eq!(acl.check(ip("::ffff:192.168.5.7")), Verdict::Deny);
        assert_eq!(acl.check(ip("::ffff:192.168.1.1")), Verdict::Allow);
        // Not contained by any rule, and the default no longer applies.
        assert_eq!(acl.check(ip("10.0.0.1")), Verdict::Deny);
        assert_eq!(acl.check(ip("127.0.0.1")), Verdict::Deny);
        assert_eq!(acl.describe(), "allow 192.168.0.0/16; deny 192.168.5.0/24");

        // A longer allow inside a deny wins too, whatever the order given.
        let acl = Acl::new(&[net("10.1.2.3/32")], &[net("10.0.0.0/8")]);
        assert_eq!(acl.check(ip("10.1.2.3")), Verdict::Allow);
        assert_eq!(acl.check(ip("10.1.2.4")), Verdict::Deny);
    }

    #[test]
    fn deny_wins_on_equal_prefix() {
        let acl = Acl::new(&[net("192.0.2.0/24")], &[net("192.0.2.0/24")]);
        assert_eq!(acl.check(ip("192.0.2.1")), Verdict::Deny);
        // Host bits do not make two rules different.
        let acl = Acl::new(&[net("192.0.2.0/24")], &[net("192.0.2.99/24")]);
        assert_eq!(acl.check(ip("192.0.2.1")), Verdict::Deny);
        let acl = Acl::new(&[net("2001:db8::/32")], &[net("2001:db8::/32")]);
        assert_eq!(acl.check(ip("2001:db8::1")), Verdict::Deny);
    }

    #[test]
    fn families_do_not_mix() {
        let acl = Acl::new(&[net("0.0.0.0/0")], &[]);
        assert_eq!(acl.check(ip("203.0.113.9")), Verdict::Allow);
        assert_eq!(acl.check(ip("::ffff:203.0.113.9")), Verdict::Allow);
        assert_eq!(acl.check(ip("2001:db8::1")), Verdict::Deny);

        let acl = Acl::new(&[net("::/0")], &[]);
        assert_eq!(acl.check(ip("2001:db8::1")), Verdict::Allow);
        assert_eq!(acl.check(ip("203.0.113.9")), Verdict::Deny);
        assert_eq!(acl.check(ip("::ffff:203.0.113.9")), Verdict::Deny);
    }

    #[test]
    fn mapped_rules_become_ipv4() {
        let acl = Acl::new(&[net("::ffff:192.0.2.0/120")], &[]);
        assert_eq!(acl.check(ip("192.0.2.77")), Verdict::Allow);
        assert_eq!(acl.check(ip("::ffff:192.0.2.77")), Verdict::Allow);
        assert_eq!(acl.check(ip("192.0.3.1")), Verdict::Deny);
        assert_eq!(acl.describe(), "allow 192.0.2.0/24");
    }

    #[test]
    fn loopback_only_reports_reachability() {
        assert!(Acl::new(&[net("127.0.0.0/8")], &[]).loopback_only());
        assert!(Acl::new(&[net("127.0.0.1/32"), net("::1/128")], &[]).loopback_only());
        assert!(!Acl::new(&[net("192.168.0.0/16")], &[]).loopback_only());
        assert!(!Acl::new(&[net("127.0.0.0/8"), net("10.0.0.0/8")], &[]).loopback_only());
        assert!(!Acl::new(&[net("0.0.0.0/0")], &[]).loopback_only());
        assert!(!Acl::new(&[net("::/0")], &[]).loopback_only());
        assert!(!Acl::new(&[net("::/127")], &[]).loopback_only());
    }
}
