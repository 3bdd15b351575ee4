//! Which server addresses the walker may send to.

use std::net::IpAddr;

/// The address rules from `--no-ipv4`, `--no-ipv6` and
/// `--allow-loopback-upstream`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Never query IPv4 servers.
    pub no_ipv4: bool,
    /// Never query IPv6 servers.
    pub no_ipv6: bool,
    /// Permit loopback servers (test trees on 127.0.0.0/8).
    pub allow_loopback: bool,
}

impl AddressPolicy {
    /// Whether a query may go to `ip`. Unspecified, multicast, broadcast and
    /// link-local addresses never (a referral there is a lame or hostile
    /// delegation); loopback only when allowed, as Unbound's
    /// `do-not-query-localhost` does.
    pub fn permits(&self, ip: IpAddr) -> bool {
        if ip.is_unspecified() || ip.is_multicast() {
            return false;
        }
        if ip.is_loopback() {
            return self.allow_loopback && self.family_allowed(ip);
        }
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local() || v4.is_broadcast(),
            IpAddr::V6(v6) => v6.is_unicast_link_local() || v6.to_ipv4_mapped().is_some(),
        };
        !link_local && self.family_allowed(ip)
    }

    fn family_allowed(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(_) => !self.no_ipv4,
            IpAddr::V6(_) => !self.no_ipv6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_and_link_local_are_refused_by_default() {
        let p = AddressPolicy::default();
        for bad in [
            "127.0.0.1",
            "::1",
            "0.0.0.0",
            "::",
            "169.254.1.1",
            "fe80::1",
            "224.0.0.1",
            "255.255.255.255",
            "::ffff:127.0.0.1",
        ] {
            assert!(!p.permits(ip(bad)), "{bad}");
        }
        assert!(p.permits(ip("192.0.2.1")));
        assert!(p.permits(ip("2001:db8::1")));
    }

    #[test]
    fn loopback_allowed_only_when_asked_and_families_can_be_turned_off() {
        let p = AddressPolicy {
            allow_loopback: true,
            no_ipv6: true,
            ..Default::default()
        };
        assert!(p.permits(ip("127.53.0.2")));
        assert!(!p.permits(ip("::1")));
        assert!(!p.permits(ip("2001:db8::1")));
        assert!(!p.permits(ip("169.254.1.1")));
    }
}
