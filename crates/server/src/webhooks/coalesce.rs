//! Coalescing `document.changed`: changes to one document are gathered into one message,
//! sent once the document has been quiet for the debounce (`--webhook-debounce-ms`), or
//! when its first unsent change has waited the maximum (`--webhook-max-wait-ms`), and never
//! sooner than the debounce after the previous message for that document. A state machine
//! without IO: the deliverer feeds it what it sees in the log and asks what is due.

use std::{collections::HashMap, time::Duration};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub debounce: Duration,
    pub max_wait: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    /// When the oldest unsent change was seen.
    first: Instant,
    /// When the newest was seen.
    last: Instant,
    /// The log position seen last.
    seen_seq: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Coalescer {
    open: HashMap<i64, Window>,
    sent: HashMap<i64, Instant>,
}

impl Coalescer {
    /// The document's log is at `seq` (past what its receiver acknowledged) at `now`.
    pub(crate) fn observe(&mut self, doc: i64, seq: i64, now: Instant) {
        match self.open.get_mut(&doc) {
            Some(w) if seq > w.seen_seq => {
                w.last = now;
                w.seen_seq = seq;
            }
            Some(_) => {}
            None => {
                self.open.insert(
                    doc,
                    Window {
                        first: now,
                        last: now,
                        seen_seq: seq,
                    },
                );
            }
        }
    }

    /// Whether the document's gathered changes should be sent now.
    pub(crate) fn due(&self, doc: i64, rules: Rules, now: Instant) -> bool {
        let Some(w) = self.open.get(&doc) else {
            return false;
        };
        let spaced = self
            .sent
            .get(&doc)
            .is_none_or(|at| now.duration_since(*at) >= rules.debounce);
        let quiet = now.duration_since(w.last) >= rules.debounce;
        let waited = now.duration_since(w.first) >= rules.max_wait;
        spaced && (quiet || waited)
    }

    /// Whether some document has changes gathered and not sent yet.
    pub(crate) fn waiting(&self) -> bool {
        !self.open.is_empty()
    }

    /// A message now covers the document's changes: the next window starts empty.
    pub(crate) fn sent(&mut self, doc: i64, now: Instant) {
        self.open.remove(&doc);
        self.sent.insert(doc, now);
    }

    /// Forgets documents that are gone, and spacing older than `keep`.
    pub(crate) fn forget(&mut self, doc: i64) {
        self.open.remove(&doc);
        self.sent.remove(&doc);
    }

    pub(crate) fn prune(&mut self, keep: Duration, now: Instant) {
        self.sent.retain(|_, at| now.duration_since(*at) < keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        debounce: Duration::from_secs(2),
        max_wait: Duration::from_secs(10),
    };

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_burst_becomes_one_message_after_it_quiets() {
        let t0 = Instant::now();
        let mut c = Coalescer::default();
        for (i, ms) in [0, 300, 900, 1500].into_iter().enumerate() {
            c.observe(1, 10 + i as i64, at(t0, ms));
            assert!(!c.due(1, RULES, at(t0, ms)));
        }
        assert!(
            !c.due(1, RULES, at(t0, 3400)),
            "1.9 s after the last change"
        );
        assert!(c.due(1, RULES, at(t0, 3500)));
        c.sent(1, at(t0, 3500));
        assert!(!c.due(1, RULES, at(t0, 9000)), "nothing new");
    }

    #[test]
    fn steady_typing_is_sent_at_the_maximum_wait() {
        let t0 = Instant::now();
        let mut c = Coalescer::default();
        let mut ms = 0;
        while ms < 10_000 {
            c.observe(1, ms as i64 + 1, at(t0, ms));
            assert!(!c.due(1, RULES, at(t0, ms)), "due at {ms} ms");
            ms += 500;
        }
        c.observe(1, 99_999, at(t0, 10_000));
        assert!(c.due(1, RULES, at(t0, 10_000)));
    }

    #[test]
    fn at_most_one_message_per_debounce() {
        let t0 = Instant::now();
        let rules = Rules {
            debounce: Duration::from_secs(2),
            max_wait: Duration::from_millis(100),
        };
        let mut c = Coalescer::default();
        c.observe(1, 1, t0);
        assert!(c.due(1, rules, at(t0, 100)));
        c.sent(1, at(t0, 100));
        c.observe(1, 2, at(t0, 200));
        assert!(
            !c.due(1, rules, at(t0, 1500)),
            "max wait passed, debounce not"
        );
        assert!(c.due(1, rules, at(t0, 2100)));
    }

    #[test]
    fn documents_are_independent_and_repeats_change_nothing() {
        let t0 = Instant::now();
        let mut c = Coalescer::default();
        c.observe(1, 5, t0);
        c.observe(2, 7, at(t0, 1900));
        c.observe(1, 5, at(t0, 1900));
        assert!(
            c.due(1, RULES, at(t0, 2000)),
            "the same position is no new change"
        );
        assert!(!c.due(2, RULES, at(t0, 2000)));
        c.forget(1);
        assert!(!c.due(1, RULES, at(t0, 5000)));
    }
}
