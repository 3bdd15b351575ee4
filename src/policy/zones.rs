//! Local zones and local data: Unbound's `local-zone` types, `local-data`
//! records in zone-file syntax, `/etc/hosts` files, and the private
//! reverse zones answered locally by default (RFC 6303, RFC 8375).

use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, PTR, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

use super::{Action, Answer};

/// TTL of a `local-data` record written without one, and of hosts-file
/// records: Unbound's default for local data (3600).
pub const LOCAL_DATA_TTL: u32 = 3_600;
/// TTL and negative TTL of the SOA synthesised for a local zone without
/// one: Unbound's SOA for its default zones (10800 s).
pub const LOCAL_SOA_TTL: u32 = 10_800;

/// What a local zone does with a question inside it (Unbound's types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZoneType {
    /// Local data answers; anything else is NXDOMAIN (or NODATA) with the
    /// zone's SOA.
    Static,
    /// Local data answers; anything else is resolved normally.
    Transparent,
    /// The zone apex's data answers for every name in the zone.
    Redirect,
    /// Local data answers; anything else is REFUSED.
    Refuse,
    /// NXDOMAIN for every name, local data or not.
    AlwaysNxdomain,
    /// Local data answers; anything else gets no answer at all.
    Deny,
    /// Removes the default zone of that name (and is no zone itself).
    NoDefault,
}

impl ZoneType {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneType::Static => "static",
            ZoneType::Transparent => "transparent",
            ZoneType::Redirect => "redirect",
            ZoneType::Refuse => "refuse",
            ZoneType::AlwaysNxdomain => "always_nxdomain",
            ZoneType::Deny => "deny",
            ZoneType::NoDefault => "nodefault",
        }
    }
}

impl FromStr for ZoneType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "static" => ZoneType::Static,
            "transparent" => ZoneType::Transparent,
            "redirect" => ZoneType::Redirect,
            "refuse" => ZoneType::Refuse,
            "always_nxdomain" => ZoneType::AlwaysNxdomain,
            "deny" => ZoneType::Deny,
            "nodefault" => ZoneType::NoDefault,
            _ => {
                return Err("expected a type: static, transparent, redirect, refuse, \
                            always_nxdomain, deny or nodefault"
                    .to_string());
            }
        })
    }
}

/// A local zone as the policy keeps it.
#[derive(Debug, Clone)]
pub struct LocalZone {
    /// The apex.
    pub name: Name,
    /// Its type.
    pub kind: ZoneType,
    /// The SOA put in negative answers (the zone's own, or synthesised).
    pub soa: Record,
}

impl LocalZone {
    /// A zone with a synthesised SOA (replaced if local data brings one).
    pub fn new(name: Name, kind: ZoneType) -> Self {
        let soa = synthetic_soa(&name, LOCAL_SOA_TTL);
        Self { name, kind, soa }
    }
}

/// `APEX TTL IN SOA localhost. nobody.invalid. 1 3600 1200 604800 TTL`,
/// the SOA Unbound gives its default zones.
pub fn synthetic_soa(apex: &Name, ttl: u32) -> Record {
    let soa = SOA::new(
        Name::from_ascii("localhost.").unwrap_or_else(|_| Name::root()),
        Name::from_ascii("nobody.invalid.").unwrap_or_else(|_| Name::root()),
        1,
        3_600,
        1_200,
        604_800,
        ttl,
    );
    Record::from_rdata(apex.clone(), ttl, RData::SOA(soa))
}

/// Parses a `local-zone` value: `NAME TYPE` (quotes around either allowed).
pub fn parse_local_zone(value: &str) -> Result<(Name, ZoneType), String> {
    let cleaned = value.replace('"', " ");
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let [name, kind] = words.as_slice() else {
        return Err("expected \"NAME TYPE\", e.g. \"home.arpa static\"".to_string());
    };
    Ok((parse_name(name)?, kind.parse()?))
}

/// A name from the config: absolute whether or not it ends with a dot.
pub fn parse_name(text: &str) -> Result<Name, String> {
    let mut name = Name::from_ascii(text).map_err(|e| format!("not a domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// Parses a `local-data` value: one record in zone-file syntax, names
/// absolute (`nas.home.arpa. 300 IN A 192.168.1.10`; TTL and class may be
/// left out).
pub fn parse_local_data(value: &str) -> Result<Record, String> {
    let text = format!(
        "$TTL {LOCAL_DATA_TTL}\n{}\n",
        value.trim().trim_matches('"')
    );
    let (_, sets) = Parser::new(text, None, Some(Name::root()))
        .parse()
        .map_err(|e| {
            format!(
                "not a record in zone-file syntax: {}",
                one_line(&e.to_string())
            )
        })?;
    let mut records = sets
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>());
    match (records.next(), records.next()) {
        (Some(mut r), None) => {
            r.name = r.name.to_lowercase();
            r.name.set_fqdn(true);
            Ok(r)
        }
        _ => Err("expected exactly one record".to_string()),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Names in a hosts file that are never blocked and never need data from
/// a hosts file used as a blocklist: the loopback and broadcast lines every
/// hosts-format list starts with.
pub const RESERVED_HOST_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
    "0.0.0.0",
];

/// The records of one hosts-file line (`ADDR NAME [ALIAS...] [# comment]`):
/// an A or AAAA record per name and one PTR from the address to the first
/// name. `Ok(None)` for a blank or comment line.
pub fn hosts_line(line: &str) -> Result<Option<Vec<Record>>, String> {
    let line = line.split('#').next().unwrap_or("");
    let mut words = line.split_whitespace();
    let Some(addr) = words.next() else {
        return Ok(None);
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{addr}' is not an IP address"))?;
    let mut records = Vec::new();
    let mut first = None;
    for word in words {
        let name = parse_name(word).map_err(|e| format!("'{word}': {e}"))?;
        let data = match addr {
            IpAddr::V4(a) => RData::A(A(a)),
            IpAddr::V6(a) => RData::AAAA(AAAA(a)),
        };
        records.push(Record::from_rdata(name.clone(), LOCAL_DATA_TTL, data));
        first.get_or_insert(name);
    }
    let Some(first) = first else {
        return Err("an address without a name".to_string());
    };
    records.push(Record::from_rdata(
        Name::from(addr),
        LOCAL_DATA_TTL,
        RData::PTR(PTR(first)),
    ));
    Ok(Some(records))
}

/// The zones answered locally unless configured otherwise: RFC 6303's
/// private and special-use reverse zones (§4.1 to §4.6, and RFC 6598's
/// 100.64/10 as IANA lists it) and RFC 8375's `home.arpa`. Unbound serves
/// the same set by default.
pub fn default_zones() -> Vec<String> {
    let mut zones: Vec<String> = [
        "10.in-addr.arpa",
        "168.192.in-addr.arpa",
        "0.in-addr.arpa",
        "127.in-addr.arpa",
        "254.169.in-addr.arpa",
        "2.0.192.in-addr.arpa",
        "100.51.198.in-addr.arpa",
        "113.0.203.in-addr.arpa",
        "255.255.255.255.in-addr.arpa",
        "d.f.ip6.arpa",
        "8.e.f.ip6.arpa",
        "9.e.f.ip6.arpa",
        "a.e.f.ip6.arpa",
        "b.e.f.ip6.arpa",
        "8.b.d.0.1.0.0.2.ip6.arpa",
        "home.arpa",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    zones.extend((16..=31).map(|n| format!("{n}.172.in-addr.arpa")));
    zones.extend((64..=127).map(|n| format!("{n}.100.in-addr.arpa")));
    // ::1 and :: (RFC 6303 §4.3): the whole 32-nibble names.
    let nibbles = |last: char| {
        let mut s = format!("{last}.");
        s.push_str(&"0.".repeat(31));
        s.push_str("ip6.arpa");
        s
    };
    zones.push(nibbles('1'));
    zones.push(nibbles('0'));
    zones
}

/// Local data the default zones carry, as Unbound's do: the loopback
/// addresses' PTR to `localhost.`.
pub fn default_data() -> Vec<Record> {
    let localhost = Name::from_ascii("localhost.").unwrap_or_else(|_| Name::root());
    [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ]
    .into_iter()
    .map(|a| {
        Record::from_rdata(
            Name::from(a),
            LOCAL_DATA_TTL,
            RData::PTR(PTR(localhost.clone())),
        )
    })
    .collect()
}

/// How a zone answers a question inside it: `None` to resolve it normally.
/// `data` is what local data holds at the question's name (`Some(&[])`
/// for a name that only has data below it), `apex` what it holds at the
/// zone's apex (for `redirect`).
pub fn zone_answer(
    zone: &LocalZone,
    data: Option<&[Record]>,
    apex: Option<&[Record]>,
    qname: &Name,
    qtype: RecordType,
) -> Option<Action> {
    let negative = |rcode| {
        Action::Answer(Answer {
            rcode,
            answers: Vec::new(),
            authorities: vec![zone.soa.clone()],
            authoritative: true,
            ede: None,
        })
    };
    match (zone.kind, data) {
        (ZoneType::AlwaysNxdomain, _) => Some(negative(ResponseCode::NXDomain)),
        (ZoneType::NoDefault, _) => None,
        (ZoneType::Redirect, _) => {
            let records = apex.unwrap_or(&[]);
            Some(records_answer(zone, records, qname, qtype, true))
        }
        (_, Some(records)) => Some(records_answer(zone, records, qname, qtype, false)),
        (ZoneType::Static, None) => {
            if qname == &zone.name {
                Some(negative(ResponseCode::NoError))
            } else {
                Some(negative(ResponseCode::NXDomain))
            }
        }
        (ZoneType::Transparent, None) => None,
        (ZoneType::Refuse, None) => Some(Action::Refuse),
        (ZoneType::Deny, None) => Some(Action::Drop),
    }
}

/// The answer from a name's records: those of the type asked (all for
/// ANY), else its CNAME, else NODATA with the zone's SOA. `rename` gives
/// the records the question's name (redirect, wildcards).
fn records_answer(
    zone: &LocalZone,
    records: &[Record],
    qname: &Name,
    qtype: RecordType,
    rename: bool,
) -> Action {
    let mut answers = matching(records, qtype);
    if rename {
        for r in &mut answers {
            r.name = qname.clone();
        }
    }
    let authorities = if answers.is_empty() {
        vec![zone.soa.clone()]
    } else {
        Vec::new()
    };
    Action::Answer(Answer {
        rcode: ResponseCode::NoError,
        answers,
        authorities,
        authoritative: true,
        ede: None,
    })
}

/// The records answering `qtype`: of that type (every one for ANY), else
/// a CNAME.
pub fn matching(records: &[Record], qtype: RecordType) -> Vec<Record> {
    let of = |t: RecordType| -> Vec<Record> {
        records
            .iter()
            .filter(|r| r.record_type() == t)
            .cloned()
            .collect()
    };
    if qtype == RecordType::ANY {
        return records.to_vec();
    }
    let exact = of(qtype);
    if !exact.is_empty() || qtype == RecordType::CNAME {
        return exact;
    }
    of(RecordType::CNAME)
}
