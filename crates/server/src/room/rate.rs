//! Per-peer rate limits: a token bucket per kind of message.
//!
//! Every message a peer sends costs the room work that scales with the number of peers (a
//! relay to each) or the document (a sync reply). A bucket lets a peer send in bursts, as
//! typing and reconnecting do, while bounding its sustained rate.

use tokio::time::Instant;

/// How many seconds' worth of messages a peer may send at once.
pub(super) const BURST_SECS: f64 = 10.0;

/// ClientLimits up to `capacity` tokens, refilled at `rate` per second; each message takes one.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `per_sec` messages a second; 0 means no limit.
    pub(super) fn new(per_sec: u32, now: Instant) -> TokenBucket {
        let rate = f64::from(per_sec);
        let capacity = (rate * BURST_SECS).max(1.0);
        TokenBucket {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes a token if one is left.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let start = Instant::now();
        let mut b = TokenBucket::new(5, start);
        // Ten seconds' worth at once.
        for i in 0..50 {
            assert!(b.take(start), "message {i} of the burst refused");
        }
        assert!(!b.take(start), "the 51st message at once must be refused");
        // A second later, five more.
        let later = start + Duration::from_secs(1);
        for _ in 0..5 {
            assert!(b.take(later));
        }
        assert!(!b.take(later));
        // Never more than the burst, however long the peer was quiet.
        let much_later = later + Duration::from_secs(3600);
        let taken = (0..1000).filter(|_| b.take(much_later)).count();
        assert_eq!(taken, 50);
    }

    #[test]
    fn zero_means_unlimited() {
        let now = Instant::now();
        let mut b = TokenBucket::new(0, now);
        assert!((0..100_000).all(|_| b.take(now)));
    }
}
