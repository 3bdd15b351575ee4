//! QNAME minimisation (RFC 9156): tell each zone's servers only the labels
//! they need.
//!
//! One frame's path: at a zone cut of N labels the walker asks for the first
//! N+1 labels of the name with QTYPE A (RFC 9156 §3, as Unbound does). A
//! referral moves the cut down and the next query again adds one label; an
//! answer or NODATA means the name exists inside the same zone (no cut
//! there), so one more label is added; once every label is in, the real
//! question is asked. An NXDOMAIN for a minimised name ends the question in
//! strict mode (RFC 8020: nothing exists below); in relaxed mode it may be a
//! broken server answering NXDOMAIN for an empty non-terminal (RFC 9156
//! §2.3), so the full name is asked instead, as it is after an error reply
//! or a CNAME at an intermediate name. After [`MAX_MINIMISED_QUERIES`] the
//! full name is sent: a name with many labels costs a bounded number of
//! extra queries.

use hickory_proto::rr::{Name, RecordType};

use crate::config::QnameMinimisation;

/// Minimised queries one question may send before asking the full name
/// (Unbound's `MAX_MINIMISE_COUNT` is 10).
pub const MAX_MINIMISED_QUERIES: usize = 10;

/// What an NXDOMAIN to a minimised query means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNxDomain {
    /// Strict: the question's name does not exist either (RFC 8020).
    Final,
    /// Relaxed: ask the full name; this NXDOMAIN proves nothing.
    AskFullName,
}

/// The minimisation state of one question.
#[derive(Debug, Clone)]
pub struct Minimiser {
    mode: QnameMinimisation,
    /// Labels of the next minimised name (0: not yet set for this cut).
    labels: usize,
    /// Minimised queries sent so far.
    sent: usize,
    /// False once minimisation was given up for this question.
    active: bool,
}

impl Minimiser {
    /// A minimiser for a question of type `qtype`. Priming and questions
    /// for the root are never minimised (nothing to hide).
    pub fn new(mode: QnameMinimisation, qname: &Name) -> Self {
        Self {
            mode,
            labels: 0,
            sent: 0,
            active: mode != QnameMinimisation::Off && !qname.is_root(),
        }
    }

    /// The zone cut moved (a referral, or a CNAME restarted the walk).
    pub fn new_cut(&mut self) {
        self.labels = 0;
    }

    /// The name and type to send to a server of `zone` for `qname`/`qtype`,
    /// and whether that is a minimised query.
    pub fn query(
        &mut self,
        zone: &Name,
        qname: &Name,
        qtype: RecordType,
    ) -> (Name, RecordType, bool) {
        let full = usize::from(qname.num_labels());
        // DS is answered by the parent: never minimise past the parent's
        // side, so the last query is the real one and goes to the parent.
        let limit = if qtype == RecordType::DS {
            full.saturating_sub(1)
        } else {
            full
        };
        if self.labels == 0 {
            self.labels = usize::from(zone.num_labels()) + 1;
        }
        if !self.active
            || self.labels > limit
            || self.labels >= full
            || self.sent >= MAX_MINIMISED_QUERIES
        {
            return (qname.clone(), qtype, false);
        }
        self.sent += 1;
        let labels = u8::try_from(self.labels).unwrap_or(u8::MAX);
        (qname.trim_to(usize::from(labels)), RecordType::A, true)
    }

    /// The minimised name exists inside the current zone: add a label.
    pub fn exists(&mut self) {
        self.labels += 1;
    }

    /// The minimised name got NXDOMAIN.
    pub fn nxdomain(&mut self) -> OnNxDomain {
        match self.mode {
            QnameMinimisation::Strict => OnNxDomain::Final,
            _ => {
                self.active = false;
                OnNxDomain::AskFullName
            }
        }
    }

    /// A minimised name turned out to be an alias (CNAME): the question's
    /// name cannot lie below it in this zone, so ask the full name.
    pub fn give_up(&mut self) {
        self.active = false;
    }

    /// A server answered a minimised query with an error or lame reply:
    /// relaxed mode asks the full name instead (some servers mishandle
    /// minimised queries); strict mode moves on to the next server.
    /// Returns whether minimisation was given up.
    pub fn error(&mut self) -> bool {
        if self.mode == QnameMinimisation::Relaxed && self.active {
            self.active = false;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn adds_one_label_per_zone_then_asks_the_real_question() {
        let q = n("a.b.www.example.test.");
        let mut m = Minimiser::new(QnameMinimisation::Relaxed, &q);
        assert_eq!(
            m.query(&Name::root(), &q, RecordType::AAAA),
            (n("test."), RecordType::A, true)
        );
        m.new_cut();
        assert_eq!(
            m.query(&n("test."), &q, RecordType::AAAA).0,
            n("example.test.")
        );
        m.new_cut();
        assert_eq!(
            m.query(&n("example.test."), &q, RecordType::AAAA).0,
            n("www.example.test.")
        );
        m.exists();
        assert_eq!(
            m.query(&n("example.test."), &q, RecordType::AAAA).0,
            n("b.www.example.test.")
        );
        m.exists();
        assert_eq!(
            m.query(&n("example.test."), &q, RecordType::AAAA),
            (q.clone(), RecordType::AAAA, false)
        );
    }

    #[test]
    fn relaxed_falls_back_on_nxdomain_strict_believes_it() {
        let q = n("a.b.example.");
        let mut relaxed = Minimiser::new(QnameMinimisation::Relaxed, &q);
        relaxed.query(&n("example."), &q, RecordType::A);
        assert_eq!(relaxed.nxdomain(), OnNxDomain::AskFullName);
        assert!(!relaxed.query(&n("example."), &q, RecordType::A).2);
        let mut strict = Minimiser::new(QnameMinimisation::Strict, &q);
        strict.query(&n("example."), &q, RecordType::A);
        assert_eq!(strict.nxdomain(), OnNxDomain::Final);
    }

    #[test]
    fn off_never_minimises_and_long_names_are_bounded() {
        let q = n("a.b.c.");
        let mut off = Minimiser::new(QnameMinimisation::Off, &q);
        assert!(!off.query(&Name::root(), &q, RecordType::A).2);
        let long = Name::from_ascii(format!("{}example.", "x.".repeat(30))).unwrap();
        let mut m = Minimiser::new(QnameMinimisation::Relaxed, &long);
        let mut minimised = 0;
        for _ in 0..40 {
            if m.query(&n("example."), &long, RecordType::A).2 {
                minimised += 1;
                m.exists();
            }
        }
        assert_eq!(minimised, MAX_MINIMISED_QUERIES);
    }

    #[test]
    fn ds_stops_at_the_parent() {
        let q = n("example.test.");
        let mut m = Minimiser::new(QnameMinimisation::Relaxed, &q);
        // At the root: "test." is minimised; at test. the real DS query goes out.
        assert_eq!(m.query(&Name::root(), &q, RecordType::DS).0, n("test."));
        m.new_cut();
        assert_eq!(
            m.query(&n("test."), &q, RecordType::DS),
            (q.clone(), RecordType::DS, false)
        );
    }
}
