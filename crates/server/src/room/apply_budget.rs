//! The apply-time budget: how much server time one client, and one document, may take.
//!
//! Message rates and sizes bound how much a client sends, not what it costs: a one-character
//! insert into a document whose text holds 100,000 characters typed concurrently (one
//! update of 1.7 MB makes such a document) makes `yrs` walk all of them, as Yjs would, so
//! a few tiny messages a second can take a core. So the room measures the CPU time of the
//! work a client's messages cause (applying its updates, answering its sync requests,
//! its join's state vector) and charges it to the client, by address and by access token
//! over all its connections and documents, and the time of applying updates to the
//! document too. Each owes what it was charged, paid back at its rate per second; while
//! one owes more than ten seconds' worth (`apply_debt`), the room refuses its updates (close
//! 1013, HTTP 429) instead of doing the work, until it owes half that again: a client that
//! went over waits at least five seconds, however often it reconnects. A burst of ten
//! seconds' worth lets a paste or a reconnect through; what is bounded is the sustained
//! rate. A client's accounts are kept with its write quota (`usage`), under one lock.

use std::time::{Duration, Instant};

use crate::apply_debt::Debt;

/// Recent apply time from which a document's updates count as expensive: they are applied
/// as large ones are (`heavy`), off the runtime's workers and one at a time.
const EXPENSIVE: Duration = Duration::from_millis(1);

/// One document's account, and how expensive its recent updates were.
pub(super) struct DocCost {
    debt: Debt,
    /// A moving average of the time its last updates took to apply.
    recent: Duration,
}

impl DocCost {
    pub(super) fn new(now: Instant) -> DocCost {
        DocCost {
            debt: Debt::new(now),
            recent: Duration::ZERO,
        }
    }

    pub(super) fn over(&mut self, now: Instant, rate: Duration) -> bool {
        self.debt.over(now, rate)
    }

    pub(super) fn charge(&mut self, now: Instant, rate: Duration, cost: Duration) {
        self.debt.charge(now, rate, cost);
        self.recent = (self.recent * 3 + cost) / 4;
    }

    /// Whether the next update should be applied as heavy work.
    pub(super) fn expensive(&self) -> bool {
        self.recent >= EXPENSIVE
    }
}

/// Which account refused: its label in `tandem_limit_refusals_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Over {
    Client,
    Document,
}

impl Over {
    pub(super) fn label(self) -> &'static str {
        match self {
            Over::Client => "apply_time_client",
            Over::Document => "apply_time_document",
        }
    }
}

/// Runs `work` and measures the CPU time the calling thread spent on it (wall time where
/// the system has no per-thread clock), so that time the thread waited, or was preempted
/// by other work on a busy machine, is not charged.
pub(super) fn measure<R>(work: impl FnOnce() -> R) -> (R, Duration) {
    let start = thread_time();
    let result = work();
    (result, thread_time().saturating_sub(start))
}

#[cfg(target_os = "linux")]
fn thread_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn thread_time() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_document_is_expensive_while_its_recent_updates_are() {
        let t0 = Instant::now();
        let mut doc = DocCost::new(t0);
        for _ in 0..20 {
            doc.charge(t0, Duration::ZERO, Duration::from_micros(30));
        }
        assert!(!doc.expensive());
        doc.charge(t0, Duration::ZERO, 8 * MS);
        assert!(doc.expensive(), "one slow apply makes the next one heavy");
        for _ in 0..10 {
            doc.charge(t0, Duration::ZERO, Duration::from_micros(30));
        }
        assert!(!doc.expensive(), "cheap again once its updates are");
        // a zero rate charges nothing against a limit
        assert!(!doc.over(t0, Duration::ZERO));
        doc.charge(t0, 100 * MS, 2 * Duration::from_secs(1));
        assert!(doc.over(t0, 100 * MS));
    }
}
