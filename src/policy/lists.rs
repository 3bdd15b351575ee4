//! Blocklist and allowlist files, in the formats people already have.
//!
//! Recognised per file: an RPZ zone file (a `$ORIGIN` or `$TTL` line, or an
//! SOA record, before the first trigger) is read as a response policy zone
//! (draft-vixie-dnsop-dns-rpz: QNAME triggers only). Anything else is read
//! line by line, each line in whichever format it is:
//!
//! | line | meaning |
//! |---|---|
//! | `0.0.0.0 ads.example tracker.example` | hosts format: each name (the address is ignored) |
//! | `ads.example` | a plain domain |
//! | `\|\|ads.example^` (optionally `$important`) | AdBlock-style: the domain |
//! | `@@\|\|good.example^` | AdBlock exception: allowed, even in a blocklist |
//! | `# …`, `! …`, `[Adblock Plus …]` | comments |
//! | other AdBlock syntax (`##`, `/regex/`, options) | ignored, counted |
//!
//! Every list entry covers the name and everything below it. A line that
//! is none of these is reported (file and line) and skipped.

use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::table::Key;
use super::zones::RESERVED_HOST_NAMES;

/// A list entry's effect.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry<'a> {
    /// The name and its subdomains: blocked, or allowed (`allow`).
    Name {
        /// The name (borrowed: a million of them pass through here).
        key: &'a Key,
        /// An allow (allowlist file, or an `@@` exception).
        allow: bool,
    },
    /// An RPZ QNAME trigger.
    Rpz {
        /// The trigger name (`*.` removed).
        key: Box<Key>,
        /// `*.name`: the subdomains only.
        wildcard: bool,
        /// What it does.
        action: RpzAction,
    },
}

/// An RPZ policy action (draft-vixie-dnsop-dns-rpz §3).
#[derive(Debug, Clone, PartialEq)]
pub enum RpzAction {
    /// `CNAME .`
    Nxdomain,
    /// `CNAME *.`
    Nodata,
    /// `CNAME rpz-passthru.`: exempt from every other rule.
    Passthru,
    /// `CNAME rpz-drop.`: no answer at all.
    Drop,
    /// Any other record: answer with it (owner = the trigger).
    Data(Box<Record>),
}

/// What reading one file found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListStats {
    /// `rpz` or `list`.
    pub format: &'static str,
    /// Entries emitted.
    pub entries: usize,
    /// Lines reported and skipped.
    pub bad: usize,
    /// AdBlock lines that are not domain rules (cosmetic filters, regular
    /// expressions, options): skipped without a warning each.
    pub ignored: usize,
    /// RPZ triggers or actions rootward does not implement (IP, NSDNAME,
    /// client-IP triggers; `rpz-tcp-only`).
    pub unsupported: usize,
}

/// Bad lines warned about one by one per file; the rest are counted in
/// one summary line (a broken list of a million lines must not flood the
/// log).
pub const MAX_LINE_WARNINGS: usize = 20;

/// Reads a list file's `text`; `allow` makes every entry an allow (an
/// allowlist). `emit` gets each entry, `bad` each bad line (1-based number
/// and the reason).
pub fn read_list(
    text: &str,
    allow: bool,
    emit: &mut dyn FnMut(Entry<'_>),
    bad: &mut dyn FnMut(usize, String),
) -> ListStats {
    if looks_like_rpz(text) {
        return read_rpz(text, emit, bad);
    }
    let mut stats = ListStats {
        format: "list",
        ..ListStats::default()
    };
    for (i, line) in text.lines().enumerate() {
        let mut emitted = |key: &Key, exception: bool| {
            stats.entries += 1;
            emit(Entry::Name {
                key,
                allow: allow || exception,
            });
        };
        match list_line(line, &mut emitted) {
            Line::Done => {}
            Line::Ignored => stats.ignored += 1,
            Line::Bad(reason) => {
                stats.bad += 1;
                bad(i + 1, reason);
            }
        }
    }
    stats
}

enum Line {
    /// Read (its names emitted, if any).
    Done,
    Ignored,
    Bad(String),
}

/// Reads one line of a list, emitting its names (and whether they are an
/// `@@` exception). No allocation for a good line.
fn list_line(line: &str, emit: &mut dyn FnMut(&Key, bool)) -> Line {
    let mut line = line.trim_ascii();
    match line.as_bytes().first() {
        None | Some(b'#' | b'!' | b'[') => return Line::Done,
        _ => {}
    }
    if line.as_bytes().contains(&b'#') {
        if line.contains("##") || line.contains("#@#") || line.contains("#?#") {
            return Line::Ignored;
        }
        line = line.split('#').next().unwrap_or("").trim_ascii();
    }
    if let Some(rule) = line.strip_prefix("@@") {
        return adblock(rule, true, emit);
    }
    if line.starts_with("||") {
        return adblock(line, false, emit);
    }
    let mut words = line.split_ascii_whitespace();
    let Some(first) = words.next() else {
        return Line::Done;
    };
    let mut rest = words.peekable();
    if rest.peek().is_none() {
        if first.contains(['/', '^', '$', '|']) {
            return Line::Ignored;
        }
        // No top-level domain ends in a digit or holds a colon: only then
        // can the word be an address.
        let maybe_address = first.ends_with(|c: char| c.is_ascii_digit()) || first.contains(':');
        if maybe_address && first.parse::<std::net::IpAddr>().is_ok() {
            return Line::Bad(format!("'{first}': an address without a name"));
        }
        return match domain(first) {
            Some(k) => {
                emit(&k, false);
                Line::Done
            }
            None => Line::Bad(format!("'{first}' is not a domain name")),
        };
    }
    // The addresses of nearly every hosts-format list, without parsing.
    let common = first == "0.0.0.0" || first == "127.0.0.1";
    if !common && first.parse::<std::net::IpAddr>().is_err() {
        return Line::Bad(
            "expected a domain, a hosts line or an AdBlock ||domain^ rule".to_string(),
        );
    }
    for name in rest {
        if RESERVED_HOST_NAMES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(name))
        {
            continue;
        }
        match domain(name) {
            Some(k) => emit(&k, false),
            None => return Line::Bad(format!("'{name}' is not a domain name")),
        }
    }
    Line::Done
}

/// A list's domain (`*.` in front allowed: entries cover subdomains anyway).
fn domain(word: &str) -> Option<Key> {
    let word = word.strip_prefix("*.").unwrap_or(word);
    let key = Key::from_text(word)?;
    (key.labels() > 0 && !key.bytes().contains(&b'*')).then_some(key)
}

/// `||domain^` with no option or only `$important`.
fn adblock(rule: &str, exception: bool, emit: &mut dyn FnMut(&Key, bool)) -> Line {
    let Some(rest) = rule.strip_prefix("||") else {
        return Line::Ignored;
    };
    let Some((name, after)) = rest.split_once('^') else {
        return Line::Ignored;
    };
    if !(after.is_empty() || after == "$important" || after == "|") {
        return Line::Ignored;
    }
    match domain(name) {
        Some(k) => {
            emit(&k, exception);
            Line::Done
        }
        None => Line::Ignored,
    }
}

/// Lines looked at for the signs of a zone file.
const RPZ_SNIFF_LINES: usize = 64;

/// Whether `text` is a zone file: a `$ORIGIN` or `$TTL` directive, or an
/// SOA record, among its first meaningful lines.
pub fn looks_like_rpz(text: &str) -> bool {
    text.lines()
        .map(|l| l.split(';').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .take(RPZ_SNIFF_LINES)
        .any(|l| {
            let upper = l.to_ascii_uppercase();
            upper.starts_with("$ORIGIN")
                || upper.starts_with("$TTL")
                || upper.split_whitespace().any(|w| w == "SOA")
        })
}

/// Trigger suffixes of the RPZ kinds rootward does not implement.
const UNSUPPORTED_TRIGGERS: &[&str] = &["rpz-ip", "rpz-nsip", "rpz-nsdname", "rpz-client-ip"];

/// Reads a response policy zone: its QNAME triggers and their actions.
pub fn read_rpz(
    text: &str,
    emit: &mut dyn FnMut(Entry<'_>),
    bad: &mut dyn FnMut(usize, String),
) -> ListStats {
    let mut stats = ListStats {
        format: "rpz",
        ..ListStats::default()
    };
    let mut origin = String::from(".");
    let mut ttl = super::zones::LOCAL_DATA_TTL;
    let mut owner: Option<String> = None;
    let mut pending = String::new();
    let mut pending_line = 0;
    let mut depth = 0i32;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        if depth == 0 {
            pending.clear();
            pending_line = i + 1;
        }
        pending.push(' ');
        // A record's first line keeps its leading blank (same owner).
        if depth == 0 && raw.starts_with([' ', '\t']) {
            pending.clear();
            pending.push_str("  ");
        }
        depth += line.matches('(').count() as i32 - line.matches(')').count() as i32;
        pending.push_str(&line.replace(['(', ')'], " "));
        if depth > 0 {
            continue;
        }
        depth = 0;
        let record = std::mem::take(&mut pending);
        if record.trim().is_empty() {
            continue;
        }
        let result = rpz_record(&record, &mut origin, &mut ttl, &mut owner);
        match result {
            Ok(None) => {}
            Ok(Some(RpzLine::Unsupported)) => stats.unsupported += 1,
            Ok(Some(RpzLine::Entry(e))) => {
                stats.entries += 1;
                emit(e);
            }
            Err(reason) => {
                stats.bad += 1;
                bad(pending_line, reason);
            }
        }
    }
    stats
}

fn strip_comment(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => break,
            _ => {}
        }
        out.push(c);
    }
    out
}

enum RpzLine {
    Entry(Entry<'static>),
    Unsupported,
}

/// One logical record of an RPZ file (continuations joined).
fn rpz_record(
    record: &str,
    origin: &mut String,
    ttl: &mut u32,
    owner: &mut Option<String>,
) -> Result<Option<RpzLine>, String> {
    let same_owner = record.starts_with("  ");
    let mut words = record.split_whitespace();
    let first = words.next().unwrap_or("");
    if first.eq_ignore_ascii_case("$ORIGIN") {
        let name = words.next().ok_or("$ORIGIN without a name")?;
        *origin = absolute(name, origin);
        return Ok(None);
    }
    if first.eq_ignore_ascii_case("$TTL") {
        let value = words.next().ok_or("$TTL without a value")?;
        *ttl = value
            .parse()
            .map_err(|_| format!("$TTL '{value}' is not a number of seconds"))?;
        return Ok(None);
    }
    if first.starts_with('$') {
        return Err(format!("{first} is not supported in a policy zone"));
    }
    let mut words: Vec<&str> = record.split_whitespace().collect();
    let name = if same_owner {
        owner.clone().ok_or("a record without an owner name")?
    } else {
        let n = if words[0] == "@" {
            origin.clone()
        } else {
            absolute(words[0], origin)
        };
        words.remove(0);
        *owner = Some(n.clone());
        n
    };
    let mut record_ttl = *ttl;
    let mut i = 0;
    while i < words.len() {
        if let Ok(t) = words[i].parse::<u32>() {
            record_ttl = t;
        } else if !words[i].eq_ignore_ascii_case("IN") {
            break;
        }
        i += 1;
    }
    let rtype_text = words.get(i).ok_or("a record without a type")?;
    let rtype: RecordType = rtype_text
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| format!("unknown record type '{rtype_text}'"))?;
    let rdata: Vec<&str> = words[i + 1..].to_vec();
    let Some(trigger) = relative(&name, origin) else {
        if name == *origin {
            // The zone's own SOA and NS records.
            return Ok(None);
        }
        return Err(format!("'{name}' is outside the zone {origin}"));
    };
    let top = trigger.rsplit('.').next().unwrap_or("");
    if UNSUPPORTED_TRIGGERS.contains(&top) {
        return Ok(Some(RpzLine::Unsupported));
    }
    let (wildcard, base) = match trigger.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None if trigger == "*" => (true, ""),
        None => (false, trigger.as_str()),
    };
    let key = Key::from_text(base).ok_or_else(|| format!("'{trigger}' is not a trigger name"))?;
    let action = if rtype == RecordType::CNAME {
        match rdata.as_slice() {
            ["."] => RpzAction::Nxdomain,
            ["*."] => RpzAction::Nodata,
            [t] if t.eq_ignore_ascii_case("rpz-passthru.") => RpzAction::Passthru,
            [t] if t.eq_ignore_ascii_case("rpz-drop.") => RpzAction::Drop,
            [t] if t.eq_ignore_ascii_case("rpz-tcp-only.") => {
                return Ok(Some(RpzLine::Unsupported));
            }
            [target] => RpzAction::Data(Box::new(cname(&trigger, target, origin, record_ttl)?)),
            _ => return Err("CNAME needs one target".to_string()),
        }
    } else {
        let data = RData::try_from_str(rtype, &rdata.join(" "))
            .map_err(|e| format!("bad {rtype} data: {}", e.to_string().replace('\n', " ")))?;
        let owner = super::zones::parse_name(&trigger)?;
        RpzAction::Data(Box::new(Record::from_rdata(owner, record_ttl, data)))
    };
    Ok(Some(RpzLine::Entry(Entry::Rpz {
        key: Box::new(key),
        wildcard,
        action,
    })))
}

fn cname(trigger: &str, target: &str, origin: &str, ttl: u32) -> Result<Record, String> {
    let owner = super::zones::parse_name(trigger)?;
    let target = super::zones::parse_name(&absolute(target, origin))?;
    Ok(Record::from_rdata(
        owner,
        ttl,
        RData::CNAME(hickory_proto::rr::rdata::CNAME(target)),
    ))
}

/// `name` made absolute against `origin` (both lower-cased, with the final
/// dot).
fn absolute(name: &str, origin: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.ends_with('.') {
        name
    } else if origin == "." {
        format!("{name}.")
    } else {
        format!("{name}.{origin}")
    }
}

/// `name` relative to `origin` (no final dot), `None` for the origin itself
/// or a name outside it.
fn relative(name: &str, origin: &str) -> Option<String> {
    if origin == "." {
        return (name != ".").then(|| name.trim_end_matches('.').to_string());
    }
    let stem = name.strip_suffix(origin)?.strip_suffix('.')?;
    (!stem.is_empty()).then(|| stem.to_string())
}

/// The trigger's name as a hickory name (for messages and records).
pub fn trigger_name(key: &Key) -> Name {
    super::table::key_name(key.bytes())
}
