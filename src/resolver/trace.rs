//! `rootward ctl trace`: every decision of one resolution, in order.
//!
//! One traced question's path: the resolver runs it with a private, empty
//! cache (the shared one is neither read nor written) and a [`Trace`] that
//! the walker — and every sub-walk for NS addresses, one level deeper —
//! writes an event into at each decision: the zone cut and where it came
//! from, the server chosen and why, each query and its reply, every record
//! scrubbing dropped and the rule, each referral, CNAME and limit, and the
//! end. Formatting happens only when tracing: a normal walk pays one
//! `Option` check per decision.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// One decision.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEvent {
    /// Milliseconds since the trace started.
    pub ms: f64,
    /// 0 for the client's question, 1 for a lookup of its NS addresses, ...
    pub depth: usize,
    /// What happened: `zone-cut`, `select`, `query`, `reply`, `scrub`, ...
    pub event: &'static str,
    /// The details, for people.
    pub detail: String,
}

/// The events of one traced resolution.
#[derive(Debug)]
pub struct Trace {
    started: Instant,
    events: Mutex<Vec<TraceEvent>>,
}

/// Events one trace keeps at most: a walk is bounded (48 queries), so this
/// is never reached by a sane resolution; it bounds memory regardless.
pub const MAX_TRACE_EVENTS: usize = 4_096;

impl Default for Trace {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }
}

impl Trace {
    /// Records an event.
    pub fn record(&self, depth: usize, event: &'static str, detail: String) {
        let ms = duration_ms(self.started.elapsed());
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.len() < MAX_TRACE_EVENTS {
            events.push(TraceEvent {
                ms,
                depth,
                event,
                detail,
            });
        }
    }

    /// The events so far.
    pub fn events(&self) -> Vec<TraceEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One line per event: time, indentation by depth, event, details.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in self.events() {
            out.push_str(&format!(
                "{:>9.3} ms {}{:<10} {}\n",
                e.ms,
                "  ".repeat(e.depth),
                e.event,
                e.detail
            ));
        }
        out
    }

    /// The events as a JSON array.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.events()).unwrap_or_else(|e| format!("[] // {e}"))
    }
}

fn duration_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_carry_every_event_in_order() {
        let t = Trace::default();
        t.record(0, "zone-cut", "test. from cache".into());
        t.record(1, "query", "ns1 A".into());
        let text = t.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("zone-cut") && lines[0].contains("test. from cache"));
        assert!(lines[1].contains("  query"), "depth indents: {text}");
        let json: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(json[1]["event"], "query");
        assert_eq!(json[1]["depth"], 1);
    }
}
