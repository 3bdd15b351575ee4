//! Operator access to the cache: flush a name, a zone or everything, and
//! dump what is cached (`rootward ctl flush`, `flush --zone`, `flush-all`,
//! `dump-cache`).
//!
//! These walk the whole cache (moka's iterators), so they cost time in
//! proportion to its size; they are for people, not for the query path,
//! which they never block (moka's maps are sharded and concurrent).

use hickory_proto::rr::{Name, Record};

use super::{AnswerKind, Cache};
use crate::clock::Timestamp;

impl Cache {
    /// Removes every entry owned by `name` (every type: answers, negative
    /// answers, RRsets). Returns how many entries went.
    pub fn flush_name(&self, name: &Name) -> usize {
        self.flush_where(|owner| owner == name)
    }

    /// Removes every entry at or below `zone`. Returns how many went.
    pub fn flush_zone(&self, zone: &Name) -> usize {
        self.flush_where(|owner| zone.zone_of(owner))
    }

    /// Empties the cache.
    pub fn flush_all(&self) {
        self.answers.invalidate_all();
        self.nxdomains.invalidate_all();
        self.rrsets.invalidate_all();
        self.bump_generation();
    }

    fn flush_where(&self, matches: impl Fn(&Name) -> bool) -> usize {
        let answers: Vec<_> = self
            .answers
            .iter()
            .chain(self.nxdomains.iter())
            .filter(|(k, _)| matches(k.name()))
            .map(|(k, _)| k)
            .collect();
        let rrsets: Vec<_> = self
            .rrsets
            .iter()
            .filter(|(k, _)| matches(k.name()))
            .map(|(k, _)| k)
            .collect();
        for k in &answers {
            self.table(k).invalidate(k.as_ref());
        }
        for k in &rrsets {
            self.rrsets.invalidate(k.as_ref());
        }
        self.bump_generation();
        answers.len() + rrsets.len()
    }

    /// The live cache as text at `now`, sorted: one record per line in
    /// zone-file form with its remaining TTL, answers first (a negative
    /// answer as a comment line with its SOA), then the RRsets the walker
    /// keeps (NS sets, glue, CNAME links) with their trust.
    pub fn dump(&self, now: Timestamp) -> String {
        let mut answers = Vec::new();
        for (key, entry) in self.answers.iter().chain(self.nxdomains.iter()) {
            if entry.remaining(now) == 0 {
                continue;
            }
            let (records, authorities) = entry.sections_at(now);
            match entry.kind {
                AnswerKind::Positive => answers.extend(records.iter().map(line)),
                kind => {
                    let what = if kind == AnswerKind::NxDomain {
                        "NXDOMAIN"
                    } else {
                        "NODATA"
                    };
                    let qtype = if key.class() == hickory_proto::rr::DNSClass::NONE {
                        "(any type)".to_string()
                    } else {
                        key.qtype().to_string()
                    };
                    answers.push(format!("; {what} {} {qtype}", key.name()));
                    answers.extend(records.iter().chain(authorities.iter()).map(line));
                }
            }
        }
        let mut rrsets = Vec::new();
        for (_, entry) in self.rrsets.iter() {
            if entry.remaining(now) == 0 {
                continue;
            }
            let trust = format!("{:?}", entry.trust);
            rrsets.extend(
                entry
                    .records_at(now)
                    .iter()
                    .map(|r| format!("{} ; {trust}", line(r))),
            );
        }
        answers.sort();
        answers.dedup();
        rrsets.sort();
        let mut out = String::from(";; answers\n");
        for l in answers {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str(";; rrsets\n");
        for l in rrsets {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }
}

/// `owner TTL IN TYPE RDATA`.
fn line(r: &Record) -> String {
    format!("{} {} IN {} {}", r.name, r.ttl, r.record_type(), r.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{QuestionKey, Trust, TtlPolicy};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, RecordType};
    use std::time::Duration;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn cache() -> Cache {
        let c = Cache::new(
            1000,
            TtlPolicy::new(
                Duration::ZERO,
                Duration::from_secs(3600),
                Duration::from_secs(600),
            ),
            Duration::ZERO,
        );
        for name in ["www.example.", "mail.example.", "www.other."] {
            let a = Record::from_rdata(n(name), 300, RData::A(A([192, 0, 2, 1].into())));
            c.store_positive(
                QuestionKey::new(&n(name), RecordType::A),
                vec![a.clone()],
                100,
            );
            c.store_rrset(vec![a], Trust::AuthAnswer, 100);
        }
        c
    }

    #[test]
    fn flush_name_zone_and_all() {
        let c = cache();
        assert_eq!(c.flush_name(&n("www.example.")), 2);
        assert!(
            c.answer(&QuestionKey::new(&n("www.example."), RecordType::A), 101)
                .is_none()
        );
        assert!(
            c.answer(&QuestionKey::new(&n("mail.example."), RecordType::A), 101)
                .is_some()
        );
        assert_eq!(c.flush_zone(&n("example.")), 2);
        assert!(
            c.answer(&QuestionKey::new(&n("www.other."), RecordType::A), 101)
                .is_some()
        );
        c.flush_all();
        assert!(
            c.answer(&QuestionKey::new(&n("www.other."), RecordType::A), 101)
                .is_none()
        );
    }

    #[test]
    fn dump_lists_records_with_remaining_ttls() {
        let c = cache();
        let text = c.dump(160);
        assert!(text.contains("www.example. 240 IN A 192.0.2.1\n"), "{text}");
        assert!(
            text.contains("www.other. 240 IN A 192.0.2.1 ; AuthAnswer"),
            "{text}"
        );
        assert!(
            !c.dump(500).contains("192.0.2.1"),
            "expired entries are not listed"
        );
    }
}
