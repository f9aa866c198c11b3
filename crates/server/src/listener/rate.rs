//! How fast one client address may open connections.
//!
//! The caps in `caps.rs` count connections that are open; a client that closes each one at
//! once (or has it closed by a limit) and opens the next never meets them, and every
//! connection still costs an accept, a request parse and an answer. A token bucket per
//! address bounds that rate. A connection past it is closed unanswered at accept, the
//! cheapest refusal there is: answering would cost what the bucket exists to save.
//!
//! The burst is ten seconds' worth, so an office behind one NAT address that reconnects all
//! at once after a restart is not refused; a steady stream above the rate is.

use std::{collections::HashMap, net::IpAddr, time::Instant};

/// Addresses remembered at most; past it, full buckets (addresses at rest) are forgotten
/// first, then the table starts afresh (a burst for everyone rather than unbounded memory).
const MAX_ADDRESSES: usize = 65_536;

/// Burst, in seconds of the rate.
const BURST_SECS: f64 = 10.0;

pub(crate) struct ConnectionRate {
    per_sec: f64,
    buckets: HashMap<IpAddr, Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl ConnectionRate {
    /// `per_sec` 0 means no limit.
    pub(crate) fn new(per_sec: u32) -> ConnectionRate {
        ConnectionRate {
            per_sec: f64::from(per_sec),
            buckets: HashMap::new(),
        }
    }

    /// Takes one connection from `ip`'s allowance; false when it has none left.
    pub(crate) fn take(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.per_sec <= 0.0 {
            return true;
        }
        let burst = self.per_sec * BURST_SECS;
        if self.buckets.len() >= MAX_ADDRESSES && !self.buckets.contains_key(&ip) {
            self.forget_rested(now);
        }
        let per_sec = self.per_sec;
        let bucket = self.buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn forget_rested(&mut self, now: Instant) {
        let (per_sec, burst) = (self.per_sec, self.per_sec * BURST_SECS);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec < burst
        });
        if self.buckets.len() >= MAX_ADDRESSES {
            self.buckets.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn an_address_gets_its_burst_then_its_rate() {
        let mut rate = ConnectionRate::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t = Instant::now();
        for _ in 0..20 {
            assert!(rate.take(a, t));
        }
        assert!(!rate.take(a, t), "past the burst of ten seconds' worth");
        assert!(rate.take(b, t), "another address has its own");
        assert!(!rate.take(a, t + Duration::from_millis(400)));
        assert!(
            rate.take(a, t + Duration::from_millis(500)),
            "refilled at 2 a second"
        );
        assert!(!rate.take(a, t + Duration::from_millis(500)));
    }

    #[test]
    fn zero_is_no_limit() {
        let mut rate = ConnectionRate::new(0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Instant::now();
        assert!((0..10_000).all(|_| rate.take(a, t)));
    }

    #[test]
    fn addresses_at_rest_are_forgotten_when_the_table_is_full() {
        let mut rate = ConnectionRate::new(1);
        let t = Instant::now();
        for i in 0..MAX_ADDRESSES as u32 {
            rate.take(IpAddr::from(i.to_be_bytes()), t);
        }
        let later = t + Duration::from_secs(60);
        assert!(rate.take("192.0.2.1".parse().unwrap(), later));
        assert_eq!(rate.buckets.len(), 1, "every other bucket had refilled");
    }
}
