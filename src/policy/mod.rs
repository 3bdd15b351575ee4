//! Local policy: what is answered here instead of being resolved.
//!
//! One question's path: the handler asks [`Policy::decide`] before the
//! cache. Most questions are settled by one probe: no rule exists under
//! their top-level label, so they [`Action::Pass`]. Otherwise the
//! question's ancestors are looked up in one [`table::NameTable`], from
//! the name itself up to the root, collecting the deepest local zone and the
//! deepest list rule:
//!
//! 1. **Local zones and local data** (Unbound's semantics, `zones.rs`): the
//!    deepest `local-zone` containing the name decides: local data at the
//!    name answers (AA); otherwise `static` answers NXDOMAIN with the zone's
//!    SOA, `refuse` REFUSED, `deny` nothing, `redirect` the apex's data,
//!    `always_nxdomain` NXDOMAIN whatever the data, and `transparent` lets
//!    the question through to step 2. The RFC 6303 private reverse zones and
//!    `home.arpa` are `static` zones by default.
//! 2. **Lists** (`lists.rs`): the deepest listed name at or above the
//!    question decides (subdomains follow their parent; RPZ `*.name`
//!    triggers only cover subdomains, plain RPZ triggers only the name).
//!    At one name an allow (allowlist, `@@` exception, `rpz-passthru`) wins
//!    over an RPZ action, which wins over a blocklist. A blocked name gets
//!    the `blocklist-action` (NXDOMAIN by default) with EDE 15 (Blocked); an
//!    RPZ action its own answer with EDE 17 (Filtered).
//! 3. Anything else is resolved.
//!
//! Building reads files (a missing one is an error naming the key and the
//! path; a bad line is a warning naming file and line); deciding is pure.

pub mod lists;
pub mod table;
pub mod zones;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tracing::warn;

use crate::ede::ExtendedError;
use lists::{Entry, ListStats, MAX_LINE_WARNINGS, RpzAction};
use table::{Key, NameTable, TopFilter, key_name, key_text};
pub use zones::{LocalZone, ZoneType};

/// TTL of blocked and filtered answers (records and SOA): short, so that
/// a changed list or an allowlisted name reaches clients within a minute.
pub const POLICY_ANSWER_TTL: u32 = 60;

/// What the policy says about a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Resolve it (the cache first).
    Pass,
    /// Answer with this.
    Answer(Answer),
    /// REFUSED.
    Refuse,
    /// No answer at all.
    Drop,
}

/// A locally made answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Its rcode.
    pub rcode: ResponseCode,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section (the SOA of a negative answer).
    pub authorities: Vec<Record>,
    /// AA: set for every local answer (we are the authority for it).
    pub authoritative: bool,
    /// Extended error: Blocked or Filtered.
    pub ede: Option<ExtendedError>,
}

/// Which rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// Local data at the name.
    LocalData,
    /// A local zone's type (no data at the name).
    LocalZone(ZoneType),
    /// A blocklist entry.
    Blocklist,
    /// An allowlist entry (or an `@@` exception).
    Allowlist,
    /// An RPZ trigger and its action.
    Rpz(RpzKind),
}

/// An RPZ action, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpzKind {
    /// `CNAME .`
    Nxdomain,
    /// `CNAME *.`
    Nodata,
    /// `CNAME rpz-passthru.`
    Passthru,
    /// `CNAME rpz-drop.`
    Drop,
    /// Local data records.
    Data,
}

/// The rule that decided, small enough to return on every query; turned
/// into text by [`Policy::describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// What kind of rule.
    pub kind: RuleKind,
    /// How many labels above the question the rule's name is.
    pub up: u8,
    /// The list file it came from.
    source: Option<u16>,
    /// The zone it came from.
    zone: Option<u32>,
    /// An RPZ `*.` trigger.
    wildcard: bool,
}

/// The policy's answer: what to do, and the rule that said so (`None`
/// when no rule matched).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// Why.
    pub rule: Option<Rule>,
}

impl Verdict {
    /// No rule: resolve.
    pub const PASS: Verdict = Verdict {
        action: Action::Pass,
        rule: None,
    };

    /// The metrics label of the decision: `local`, `blocked`, `filtered`
    /// or `allowed`; `None` when no rule matched.
    pub fn class(&self) -> Option<&'static str> {
        Some(match self.rule?.kind {
            RuleKind::LocalData | RuleKind::LocalZone(_) => "local",
            RuleKind::Blocklist => "blocked",
            RuleKind::Allowlist | RuleKind::Rpz(RpzKind::Passthru) => "allowed",
            RuleKind::Rpz(_) => "filtered",
        })
    }
}

/// What a blocklisted name gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockAction {
    /// NXDOMAIN (the default).
    #[default]
    Nxdomain,
    /// NOERROR with no records.
    Nodata,
    /// REFUSED.
    Refuse,
    /// No answer.
    Drop,
    /// These addresses (A questions get the IPv4 one, AAAA the IPv6 one;
    /// other types, or a family without an address, get NODATA), as
    /// Pi-hole's IP blocking mode.
    Address {
        /// For A.
        v4: Option<Ipv4Addr>,
        /// For AAAA.
        v6: Option<Ipv6Addr>,
    },
}

impl FromStr for BlockAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "nxdomain" => return Ok(Self::Nxdomain),
            "nodata" => return Ok(Self::Nodata),
            "refuse" => return Ok(Self::Refuse),
            "drop" => return Ok(Self::Drop),
            _ => {}
        }
        let (mut v4, mut v6) = (None, None);
        for part in s.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) if v4.is_none() => v4 = Some(a),
                Ok(IpAddr::V6(a)) if v6.is_none() => v6 = Some(a),
                _ => {
                    return Err("expected nxdomain, nodata, refuse, drop, or addresses \
                                such as 0.0.0.0,:: (at most one per family)"
                        .to_string());
                }
            }
        }
        Ok(Self::Address { v4, v6 })
    }
}

/// Everything the policy is built from (the config's keys of the same
/// names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyConfig {
    /// `local-zone`: "NAME TYPE".
    pub local_zone: Vec<String>,
    /// `local-data`: records in zone-file syntax.
    pub local_data: Vec<String>,
    /// `hosts-file`: `/etc/hosts`-style files.
    pub hosts_file: Vec<PathBuf>,
    /// `blocklist`: list files.
    pub blocklist: Vec<PathBuf>,
    /// `allowlist`: list files.
    pub allowlist: Vec<PathBuf>,
    /// `blocklist-action`.
    pub blocklist_action: BlockAction,
}

/// A policy that cannot be built: always names the key and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value for {key}: '{value}': {reason}")]
pub struct PolicyError {
    /// The config key.
    pub key: &'static str,
    /// The value as given.
    pub value: String,
    /// Why.
    pub reason: String,
}

/// A list file, for messages.
#[derive(Debug, Clone)]
struct Source {
    key: &'static str,
    path: String,
}

/// What the table holds for one name. Many names share one node (every
/// entry of one blocklist has the same), so the table stores node numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct Node {
    /// A local zone's apex.
    zone: Option<u32>,
    /// Local data owner (or an empty non-terminal of some).
    data: Option<u32>,
    /// A list rule for the name only (RPZ trigger).
    exact: Option<Filter>,
    /// A list rule for the name and below.
    subtree: Option<Filter>,
    /// A list rule for names below only (RPZ `*.` trigger).
    below: Option<Filter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Filter {
    what: FilterWhat,
    source: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FilterWhat {
    Allow,
    Block,
    Rpz(RpzKind, Option<u32>),
}

impl FilterWhat {
    /// At one name: allow over RPZ over blocklist.
    fn rank(self) -> u8 {
        match self {
            FilterWhat::Allow | FilterWhat::Rpz(RpzKind::Passthru, _) => 3,
            FilterWhat::Rpz(..) => 2,
            FilterWhat::Block => 1,
        }
    }
}

/// The most specific-and-strongest of two rules at the same name.
fn stronger(a: Option<Filter>, b: Option<Filter>) -> Option<Filter> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.what.rank() > x.what.rank() { y } else { x }),
        (x, y) => x.or(y),
    }
}

/// The built policy. Immutable; a reload builds a new one.
#[derive(Debug, Clone)]
pub struct Policy {
    table: NameTable,
    /// The top-level labels of every name in `table`.
    tops: TopFilter,
    /// A rule at the root: every question needs the walk.
    has_root: bool,
    /// Bit n set when some key has n labels.
    depths: u128,
    nodes: Vec<Node>,
    zones: Vec<LocalZone>,
    defaults: Vec<bool>,
    data: Vec<Vec<Record>>,
    rpz_data: Vec<Vec<Record>>,
    sources: Vec<Source>,
    block_action: BlockAction,
    report: Vec<String>,
}

impl Default for Policy {
    /// The default zones only.
    fn default() -> Self {
        Self::builtin()
    }
}

impl Policy {
    /// The default zones only (no configuration).
    pub fn builtin() -> Self {
        let mut b = Builder::default();
        // Nothing in the defaults can fail.
        let _ = b.zones(&[]);
        b.finish(BlockAction::default())
    }

    /// Builds the policy `config` describes, reading its files.
    pub fn load(config: &PolicyConfig) -> Result<Self, PolicyError> {
        let mut b = Builder::default();
        b.zones(&config.local_zone)?;
        for value in &config.local_data {
            let record = zones::parse_local_data(value).map_err(|reason| PolicyError {
                key: "local-data",
                value: value.clone(),
                reason,
            })?;
            b.add_data(record);
        }
        for path in &config.hosts_file {
            let text = read("hosts-file", path)?;
            let shown = path.display().to_string();
            let mut bad = 0;
            for (i, line) in text.lines().enumerate() {
                match zones::hosts_line(line) {
                    Ok(Some(records)) => records.into_iter().for_each(|r| b.add_data(r)),
                    Ok(None) => {}
                    Err(reason) => {
                        bad += 1;
                        warn_line(&shown, i + 1, bad, &reason);
                    }
                }
            }
            summarise_bad(&shown, bad);
            b.report
                .push(format!("hosts-file {shown}: {bad} bad lines skipped"));
        }
        for (key, paths, allow) in [
            ("blocklist", &config.blocklist, false),
            ("allowlist", &config.allowlist, true),
        ] {
            for path in paths {
                let text = read(key, path)?;
                b.list(key, &path.display().to_string(), &text, allow);
            }
        }
        Ok(b.finish(config.blocklist_action))
    }

    /// Lines for the log: what was loaded.
    pub fn report(&self) -> &[String] {
        &self.report
    }

    /// Names in the table (zones, data owners, list entries).
    pub fn names(&self) -> usize {
        self.table.len()
    }

    #[inline]
    /// What to do with a question. Cheap when no rule exists under its
    /// top-level label (a bit test, [`TopFilter`]); otherwise one hash
    /// probe per label.
    pub fn decide(&self, qname: &Name, qtype: RecordType) -> Verdict {
        if !self.has_root {
            match qname.iter().next_back() {
                Some(top) if self.tops.might_hold(top) => {}
                _ => return Verdict::PASS,
            }
        }
        self.walk(qname, qtype)
    }

    /// The walk up from the question (kept out of line: most questions
    /// never get here).
    #[inline(never)]
    fn walk(&self, qname: &Name, qtype: RecordType) -> Verdict {
        let Some(key) = Key::from_name(qname) else {
            return Verdict::PASS;
        };
        let mut zone: Option<(usize, u32)> = None;
        let mut filter: Option<(usize, Filter)> = None;
        let mut data: Option<u32> = None;
        // The root's key is probed only when a rule sits there.
        let top = if self.has_root {
            key.labels()
        } else {
            key.labels().saturating_sub(1)
        };
        for up in 0..=top {
            // Only the lengths some key has are probed.
            if self.depths & (1u128 << (key.labels() - up)) == 0 {
                continue;
            }
            let Some(v) = self.table.get(key.ancestor(up)) else {
                continue;
            };
            let node = &self.nodes[v as usize];
            if up == 0 {
                data = node.data;
            }
            if zone.is_none() {
                zone = node.zone.map(|z| (up, z));
            }
            if filter.is_none() {
                let f = if up == 0 {
                    stronger(node.exact, node.subtree)
                } else {
                    stronger(node.below, node.subtree)
                };
                filter = f.map(|f| (up, f));
            }
            if zone.is_some() && filter.is_some() {
                break;
            }
        }
        if let Some((zup, z)) = zone {
            let lz = &self.zones[z as usize];
            let here = data.map(|d| self.data[d as usize].as_slice());
            let apex = if lz.kind == ZoneType::Redirect {
                self.table
                    .get(key.ancestor(zup))
                    .and_then(|v| self.nodes[v as usize].data)
                    .map(|d| self.data[d as usize].as_slice())
            } else {
                None
            };
            if let Some(action) = zones::zone_answer(lz, here, apex, qname, qtype) {
                let by_data = here.is_some()
                    && !matches!(lz.kind, ZoneType::AlwaysNxdomain | ZoneType::Redirect);
                let rule = Rule {
                    kind: if by_data {
                        RuleKind::LocalData
                    } else {
                        RuleKind::LocalZone(lz.kind)
                    },
                    up: if by_data { 0 } else { zup as u8 },
                    source: None,
                    zone: Some(z),
                    wildcard: false,
                };
                return Verdict {
                    action,
                    rule: Some(rule),
                };
            }
        }
        match filter {
            Some((up, f)) => self.filtered(qname, qtype, &key, up, f),
            None => Verdict::PASS,
        }
    }

    fn filtered(
        &self,
        qname: &Name,
        qtype: RecordType,
        key: &Key,
        up: usize,
        f: Filter,
    ) -> Verdict {
        let node = self
            .table
            .get(key.ancestor(up))
            .map(|v| self.nodes[v as usize]);
        let wildcard = up > 0 && node.is_some_and(|n| n.below == Some(f));
        let rule = |kind| {
            Some(Rule {
                kind,
                up: up as u8,
                source: Some(f.source),
                zone: None,
                wildcard,
            })
        };
        let soa = || {
            vec![zones::synthetic_soa(
                &key_name(key.ancestor(up)),
                POLICY_ANSWER_TTL,
            )]
        };
        let answer = |rcode, answers: Vec<Record>, ede| {
            let authorities = if answers.is_empty() {
                soa()
            } else {
                Vec::new()
            };
            Action::Answer(Answer {
                rcode,
                answers,
                authorities,
                authoritative: true,
                ede: Some(ede),
            })
        };
        let blocked = ExtendedError::BLOCKED;
        let filtered = ExtendedError::FILTERED;
        let (action, kind) = match f.what {
            FilterWhat::Allow => (Action::Pass, RuleKind::Allowlist),
            FilterWhat::Block => {
                let action = match self.block_action {
                    BlockAction::Nxdomain => answer(ResponseCode::NXDomain, Vec::new(), blocked),
                    BlockAction::Nodata => answer(ResponseCode::NoError, Vec::new(), blocked),
                    BlockAction::Refuse => Action::Refuse,
                    BlockAction::Drop => Action::Drop,
                    BlockAction::Address { v4, v6 } => {
                        let data = match qtype {
                            RecordType::A => v4.map(|a| RData::A(A(a))),
                            RecordType::AAAA => v6.map(|a| RData::AAAA(AAAA(a))),
                            _ => None,
                        };
                        let records = data
                            .map(|d| Record::from_rdata(qname.clone(), POLICY_ANSWER_TTL, d))
                            .into_iter()
                            .collect();
                        answer(ResponseCode::NoError, records, blocked)
                    }
                };
                (action, RuleKind::Blocklist)
            }
            FilterWhat::Rpz(kind, data) => {
                let action = match kind {
                    RpzKind::Passthru => Action::Pass,
                    RpzKind::Drop => Action::Drop,
                    RpzKind::Nxdomain => answer(ResponseCode::NXDomain, Vec::new(), filtered),
                    RpzKind::Nodata => answer(ResponseCode::NoError, Vec::new(), filtered),
                    RpzKind::Data => {
                        let records =
                            data.map_or(&[][..], |d| self.rpz_data[d as usize].as_slice());
                        let mut records = zones::matching(records, qtype);
                        for r in &mut records {
                            r.name = qname.clone();
                        }
                        answer(ResponseCode::NoError, records, filtered)
                    }
                };
                (action, RuleKind::Rpz(kind))
            }
        };
        Verdict {
            action,
            rule: rule(kind),
        }
    }

    /// The rule as text: its kind, where it came from and the name it
    /// matched (`blocklist /etc/ads.txt: ads.example.`).
    pub fn describe(&self, qname: &Name, rule: &Rule) -> String {
        let matched = Key::from_name(qname)
            .map(|k| key_text(k.ancestor(usize::from(rule.up))))
            .unwrap_or_else(|| qname.to_string());
        let source = rule
            .source
            .and_then(|s| self.sources.get(usize::from(s)))
            .map(|s| format!("{} {}", s.key, s.path))
            .unwrap_or_default();
        let zone = rule.zone.and_then(|z| {
            let lz = self.zones.get(z as usize)?;
            let default = self.defaults.get(z as usize).copied().unwrap_or(false);
            Some(format!(
                "{}local-zone {} {}",
                if default { "default " } else { "" },
                lz.name,
                lz.kind.as_str()
            ))
        });
        match rule.kind {
            RuleKind::LocalData => {
                format!("local-data {matched} (in {})", zone.unwrap_or_default())
            }
            RuleKind::LocalZone(_) => zone.unwrap_or_default(),
            RuleKind::Blocklist | RuleKind::Allowlist => format!("{source}: {matched}"),
            RuleKind::Rpz(kind) => format!(
                "{source}: rpz {}{matched} {}",
                if rule.wildcard { "*." } else { "" },
                match kind {
                    RpzKind::Nxdomain => "NXDOMAIN",
                    RpzKind::Nodata => "NODATA",
                    RpzKind::Passthru => "PASSTHRU",
                    RpzKind::Drop => "DROP",
                    RpzKind::Data => "local data",
                }
            ),
        }
    }
}

fn read(key: &'static str, path: &std::path::Path) -> Result<String, PolicyError> {
    std::fs::read_to_string(path).map_err(|e| PolicyError {
        key,
        value: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn warn_line(file: &str, line: usize, nth: usize, reason: &str) {
    if nth <= MAX_LINE_WARNINGS {
        warn!("{file}:{line}: {reason}; line skipped");
    }
}

fn summarise_bad(file: &str, bad: usize) {
    if bad > MAX_LINE_WARNINGS {
        warn!(
            "{file}: {} more bad lines skipped ({bad} in all)",
            bad - MAX_LINE_WARNINGS
        );
    }
}

/// Builds a [`Policy`]: zones first, then data, then lists.
#[derive(Default)]
struct Builder {
    table: NameTable,
    nodes: Vec<Node>,
    interned: HashMap<Node, u32, foldhash::fast::RandomState>,
    /// The node interned last: every entry of a list makes the same one.
    last: Option<(Node, u32)>,
    zones: Vec<LocalZone>,
    defaults: Vec<bool>,
    data: Vec<Vec<Record>>,
    rpz_data: Vec<Vec<Record>>,
    sources: Vec<Source>,
    report: Vec<String>,
}

impl Builder {
    /// Sets `key`'s node to `f(its node)`.
    fn modify(&mut self, key: &[u8], f: impl FnOnce(&mut Node)) {
        let Builder {
            table,
            nodes,
            interned,
            last,
            ..
        } = self;
        let done = table.upsert(key, |old| {
            let mut node = old.map(|i| nodes[i as usize]).unwrap_or_default();
            f(&mut node);
            match last {
                Some((n, i)) if *n == node => *i,
                _ => {
                    let i = *interned.entry(node).or_insert_with(|| {
                        nodes.push(node);
                        (nodes.len() - 1) as u32
                    });
                    *last = Some((node, i));
                    i
                }
            }
        });
        if done.is_none() {
            warn!(
                "local policy: more than 4 GiB of names; {} ignored",
                key_text(key)
            );
        }
    }

    fn node(&self, key: &[u8]) -> Option<Node> {
        self.table.get(key).map(|v| self.nodes[v as usize])
    }

    /// The default zones (less those configured by name), then the
    /// configured ones.
    fn zones(&mut self, configured: &[String]) -> Result<(), PolicyError> {
        let mut parsed = Vec::new();
        for value in configured {
            let (name, kind) = zones::parse_local_zone(value).map_err(|reason| PolicyError {
                key: "local-zone",
                value: value.clone(),
                reason,
            })?;
            parsed.push((name, kind));
        }
        let overridden = |name: &Name| parsed.iter().any(|(n, _)| n == name);
        let mut defaults = 0;
        for text in zones::default_zones() {
            let Ok(name) = zones::parse_name(&text) else {
                continue;
            };
            if !overridden(&name) {
                // Unbound's default zones carry an SOA and an NS record.
                let soa = zones::synthetic_soa(&name, zones::LOCAL_SOA_TTL);
                let ns = Record::from_rdata(
                    name.clone(),
                    zones::LOCAL_SOA_TTL,
                    RData::NS(hickory_proto::rr::rdata::NS(key_name(b"\x09localhost"))),
                );
                self.add_zone(name, ZoneType::Static, true);
                self.add_data(soa);
                self.add_data(ns);
                defaults += 1;
            }
        }
        for record in zones::default_data() {
            if self.zone_of(&record.name).is_some() {
                self.add_data(record);
            }
        }
        let mut own = 0;
        for (name, kind) in parsed {
            if kind != ZoneType::NoDefault {
                self.add_zone(name, kind, false);
                own += 1;
            }
        }
        self.report.push(format!(
            "local zones: {defaults} default (RFC 6303, home.arpa), {own} configured"
        ));
        Ok(())
    }

    fn add_zone(&mut self, name: Name, kind: ZoneType, default: bool) {
        let Some(key) = Key::from_name(&name) else {
            return;
        };
        if let Some(z) = self.node(key.bytes()).and_then(|n| n.zone) {
            // A later line for the same zone replaces its type.
            self.zones[z as usize].kind = kind;
            self.defaults[z as usize] = default;
            return;
        }
        self.zones.push(LocalZone::new(name, kind));
        self.defaults.push(default);
        let z = (self.zones.len() - 1) as u32;
        self.modify(key.bytes(), |n| n.zone = Some(z));
    }

    /// The deepest zone containing `name`, and how many labels up its apex is.
    fn zone_of(&self, name: &Name) -> Option<(usize, u32)> {
        let key = Key::from_name(name)?;
        (0..=key.labels()).find_map(|up| {
            self.node(key.ancestor(up))
                .and_then(|n| n.zone)
                .map(|z| (up, z))
        })
    }

    /// Enters one record into the deepest zone containing its owner (a new
    /// `transparent` zone at the owner when there is none, as Unbound
    /// does).
    fn add_data(&mut self, record: Record) {
        let Some(key) = Key::from_name(&record.name) else {
            return;
        };
        let (zup, z) = match self.zone_of(&record.name) {
            Some(found) => found,
            None => {
                self.add_zone(record.name.clone(), ZoneType::Transparent, false);
                match self.zone_of(&record.name) {
                    Some(found) => found,
                    None => return,
                }
            }
        };
        if record.record_type() == RecordType::SOA && zup == 0 {
            self.zones[z as usize].soa = record.clone();
        }
        // Names between the owner and the apex exist (empty non-terminals).
        for up in 1..zup {
            if self.node(key.ancestor(up)).and_then(|n| n.data).is_none() {
                self.data.push(Vec::new());
                let d = (self.data.len() - 1) as u32;
                self.modify(key.ancestor(up), |n| n.data = Some(d));
            }
        }
        match self.node(key.bytes()).and_then(|n| n.data) {
            Some(d) => {
                let set = &mut self.data[d as usize];
                if !set.contains(&record) {
                    set.push(record);
                }
            }
            None => {
                self.data.push(vec![record]);
                let d = (self.data.len() - 1) as u32;
                self.modify(key.bytes(), |n| n.data = Some(d));
            }
        }
    }

    /// Reads one list file.
    fn list(&mut self, key: &'static str, path: &str, text: &str, allow: bool) {
        let source = self.sources.len() as u16;
        self.sources.push(Source {
            key,
            path: path.to_string(),
        });
        // About one entry per line: room for them all at once.
        let lines = text.bytes().filter(|&b| b == b'\n').count();
        self.table.reserve(lines);
        let mut bad = 0;
        let stats: ListStats = lists::read_list(
            text,
            allow,
            &mut |e| self.add_entry(e, source, allow),
            &mut |line, reason| {
                bad += 1;
                warn_line(path, line, bad, &reason);
            },
        );
        summarise_bad(path, bad);
        self.report.push(format!(
            "{key} {path}: {} entries ({}), {} bad lines skipped, {} other AdBlock rules ignored, {} unsupported RPZ rules",
            stats.entries, stats.format, stats.bad, stats.ignored, stats.unsupported
        ));
    }

    fn add_entry(&mut self, entry: Entry<'_>, source: u16, allow_file: bool) {
        match entry {
            Entry::Name { key, allow } => {
                let what = if allow {
                    FilterWhat::Allow
                } else {
                    FilterWhat::Block
                };
                let f = Filter { what, source };
                self.modify(key.bytes(), |n| n.subtree = stronger(n.subtree, Some(f)));
            }
            Entry::Rpz {
                key,
                wildcard,
                action,
            } => {
                let what = if allow_file {
                    FilterWhat::Allow
                } else {
                    match action {
                        RpzAction::Nxdomain => FilterWhat::Rpz(RpzKind::Nxdomain, None),
                        RpzAction::Nodata => FilterWhat::Rpz(RpzKind::Nodata, None),
                        RpzAction::Passthru => FilterWhat::Rpz(RpzKind::Passthru, None),
                        RpzAction::Drop => FilterWhat::Rpz(RpzKind::Drop, None),
                        RpzAction::Data(record) => {
                            let slot = |n: &Node| if wildcard { n.below } else { n.exact };
                            let existing = self.node(key.bytes()).and_then(|n| slot(&n));
                            if let Some(Filter {
                                what: FilterWhat::Rpz(RpzKind::Data, Some(d)),
                                ..
                            }) = existing
                            {
                                self.rpz_data[d as usize].push(*record);
                                return;
                            }
                            self.rpz_data.push(vec![*record]);
                            FilterWhat::Rpz(RpzKind::Data, Some((self.rpz_data.len() - 1) as u32))
                        }
                    }
                };
                let f = Some(Filter { what, source });
                self.modify(key.bytes(), |n| {
                    if wildcard {
                        n.below = stronger(n.below, f);
                    } else {
                        n.exact = stronger(n.exact, f);
                    }
                });
            }
        }
    }

    fn finish(mut self, block_action: BlockAction) -> Policy {
        self.table.shrink();
        let mut tops = TopFilter::default();
        let mut has_root = false;
        let mut depths = 0u128;
        for (key, _) in self.table.iter() {
            let mut rest = key;
            let mut top: &[u8] = &[];
            let mut labels = 0;
            while let Some((&len, tail)) = rest.split_first() {
                labels += 1;
                let len = usize::from(len).min(tail.len());
                top = rest.get(..=len).unwrap_or(&[]);
                rest = &tail[len..];
            }
            depths |= 1u128 << labels.min(127);
            if top.is_empty() {
                has_root = true;
            } else {
                tops.insert(&top[1..]);
            }
        }
        Policy {
            table: self.table,
            tops,
            has_root,
            depths,
            nodes: self.nodes,
            zones: self.zones,
            defaults: self.defaults,
            data: self.data,
            rpz_data: self.rpz_data,
            sources: self.sources,
            block_action,
            report: self.report,
        }
    }
}
