//! The delivery latencies of one step of a capacity ramp, shared by every client: an
//! atomic histogram (10 µs buckets up to 1 s) instead of per-client vectors, so the ramp
//! can read a step's percentiles the moment the step has drained, while the clients keep
//! their connections for the next step.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Width of one bucket, in nanoseconds.
const BUCKET_NS: u64 = 10_000;
/// Buckets below the overflow bucket: 10 µs × 100,000 = 1 s.
const BUCKETS: usize = 100_000;

pub(crate) struct StepLatency {
    /// Send time (ns since the shared epoch) from which a delivery belongs to the current
    /// step; deliveries of updates sent earlier are late ones of a step that already
    /// ended (and was already counted as missing them).
    step_start: AtomicU64,
    /// `BUCKETS` buckets, then one for everything at or above 1 s.
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    max_ns: AtomicU64,
    late: AtomicU64,
}

/// A step's figures, read once it has drained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StepFigures {
    pub(crate) deliveries: u64,
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) max_ms: Option<f64>,
}

impl StepLatency {
    pub(crate) fn new() -> Self {
        StepLatency {
            step_start: AtomicU64::new(u64::MAX),
            buckets: (0..=BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
            late: AtomicU64::new(0),
        }
    }

    /// Starts a step whose first update is sent at `start_ns` (since the shared epoch):
    /// forgets the previous step's deliveries.
    pub(crate) fn begin(&self, start_ns: u64) {
        self.step_start.store(start_ns, Relaxed);
        for b in &self.buckets {
            b.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
        self.max_ns.store(0, Relaxed);
    }

    /// One delivery of an update sent at `sent_ns` that took `took_ns` to arrive.
    pub(crate) fn record(&self, sent_ns: u64, took_ns: u64) {
        if sent_ns < self.step_start.load(Relaxed) {
            self.late.fetch_add(1, Relaxed);
            return;
        }
        let i = ((took_ns / BUCKET_NS) as usize).min(BUCKETS);
        self.buckets[i].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.max_ns.fetch_max(took_ns, Relaxed);
    }

    /// Deliveries of the current step so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Deliveries that arrived after their step had ended, over the whole ramp.
    pub(crate) fn late(&self) -> u64 {
        self.late.load(Relaxed)
    }

    pub(crate) fn figures(&self) -> StepFigures {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let max_ns = self.max_ns.load(Relaxed);
        let pct = |p: f64| -> Option<f64> {
            if total == 0 {
                return None;
            }
            // Nearest rank, as `report::percentile`; the bucket's upper edge (never
            // below the true value), or the maximum in the overflow bucket.
            let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    let ns = if i == BUCKETS {
                        max_ns
                    } else {
                        ((i as u64 + 1) * BUCKET_NS).min(max_ns)
                    };
                    return Some(ns as f64 / 1e6);
                }
            }
            None
        };
        StepFigures {
            deliveries: total,
            p50_ms: pct(50.0),
            p99_ms: pct(99.0),
            max_ms: (total > 0).then(|| max_ns as f64 / 1e6),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StepLatency;

    #[test]
    fn percentiles_are_the_upper_edge_of_the_rank_s_bucket() {
        let s = StepLatency::new();
        s.begin(1_000);
        // 98 fast deliveries (1.001 ms), one at 40 ms, one at 70 ms.
        for _ in 0..98 {
            s.record(2_000, 1_001_000);
        }
        s.record(2_000, 40_000_000);
        s.record(2_000, 70_000_000);
        let f = s.figures();
        assert_eq!(f.deliveries, 100);
        assert_eq!(f.p50_ms, Some(1.01));
        assert_eq!(f.p99_ms, Some(40.01));
        assert_eq!(f.max_ms, Some(70.0));
    }

    #[test]
    fn deliveries_of_an_earlier_step_are_late_not_counted() {
        let s = StepLatency::new();
        s.begin(5_000);
        s.record(4_999, 10);
        s.record(5_000, 10);
        assert_eq!((s.count(), s.late()), (1, 1));
        // The next step forgets the count, not the late ones.
        s.begin(9_000);
        assert_eq!((s.count(), s.late()), (0, 1));
        assert_eq!(s.figures().p99_ms, None);
    }

    #[test]
    fn past_one_second_the_percentile_is_the_maximum() {
        let s = StepLatency::new();
        s.begin(0);
        s.record(1, 3_000_000_000);
        s.record(1, 2_000_000_000);
        assert_eq!(s.figures().p50_ms, Some(3_000.0));
    }
}
