//! Addresses that keep running into their message rate, turned away at accept for a while.
//!
//! The message rate per client (`usage.rs`) closes a connection that sends past it, and
//! refuses a new one (429) while the allowance is spent. A client that floods on many
//! connections and reopens each as soon as it is closed still costs the server, for every
//! connection, an accept, a request parse, a room join, and every frame it reads before the
//! room refuses one: an allowance that refills a message a millisecond lets most upgrades
//! through. Refusals are counted per address; an address refused [`STRIKES`] times within
//! the cool-down is then closed unanswered at accept, before any HTTP parsing, for the
//! cool-down: the cheapest refusal there is, as for the rate of new connections.
//!
//! Ten refusals within seconds is no accident: a client that follows the protocol (one
//! connection per document, y-websocket's reconnect back-off) is closed once and waits.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Refusals for the message rate within one cool-down that start a cool-down.
pub(crate) const STRIKES: u32 = 10;

/// Addresses remembered at most; past it, those with nothing to remember are forgotten,
/// then the table starts afresh (a cool-down forgotten rather than unbounded memory).
const MAX_ADDRESSES: usize = 65_536;

pub(crate) struct RateCooldown {
    /// `None`: no cool-down (the setting is 0).
    length: Option<Duration>,
    by_ip: Mutex<HashMap<IpAddr, Strikes>>,
}

struct Strikes {
    /// Refusals since `since`.
    count: u32,
    since: Instant,
    /// Refused at accept until then.
    until: Option<Instant>,
}

impl RateCooldown {
    /// `secs` 0: never.
    pub(crate) fn new(secs: u64) -> RateCooldown {
        RateCooldown {
            length: (secs > 0).then(|| Duration::from_secs(secs)),
            by_ip: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Strikes>> {
        self.by_ip.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one refusal for the message rate of the client at `ip`.
    pub(crate) fn strike(&self, ip: IpAddr, now: Instant) {
        let Some(length) = self.length else { return };
        let ip = ip.to_canonical();
        let mut by_ip = self.lock();
        if by_ip.len() >= MAX_ADDRESSES && !by_ip.contains_key(&ip) {
            by_ip.retain(|_, s| s.matters(now, length));
            if by_ip.len() >= MAX_ADDRESSES {
                by_ip.clear();
            }
        }
        let s = by_ip.entry(ip).or_insert(Strikes {
            count: 0,
            since: now,
            until: None,
        });
        if now.saturating_duration_since(s.since) >= length {
            s.count = 0;
            s.since = now;
        }
        s.count += 1;
        if s.count >= STRIKES {
            s.until = Some(now + length);
            s.count = 0;
            s.since = now;
        }
    }

    /// Whether connections from `ip` are refused now.
    pub(crate) fn cooling(&self, ip: IpAddr, now: Instant) -> bool {
        if self.length.is_none() {
            return false;
        }
        let by_ip = self.lock();
        by_ip
            .get(&ip.to_canonical())
            .and_then(|s| s.until)
            .is_some_and(|until| now < until)
    }
}

impl Strikes {
    fn matters(&self, now: Instant, length: Duration) -> bool {
        self.until.is_some_and(|u| now < u) || now.saturating_duration_since(self.since) < length
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strikes_within_the_cool_down_start_one_and_it_ends() {
        let c = RateCooldown::new(10);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        for _ in 0..STRIKES - 1 {
            c.strike(a, t);
        }
        assert!(!c.cooling(a, t), "one strike short");
        c.strike(a, t + Duration::from_secs(1));
        assert!(c.cooling(a, t + Duration::from_secs(1)));
        // The same address as an IPv4-mapped IPv6 address is the same client.
        assert!(c.cooling(
            "::ffff:10.0.0.1".parse().unwrap(),
            t + Duration::from_secs(5)
        ));
        assert!(!c.cooling(b, t + Duration::from_secs(1)), "another address");
        assert!(
            !c.cooling(a, t + Duration::from_secs(11)),
            "the cool-down ends"
        );
    }

    #[test]
    fn strikes_spread_over_longer_than_the_cool_down_start_none() {
        let c = RateCooldown::new(10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Instant::now();
        for i in 0..3 * u64::from(STRIKES) {
            let at = t + Duration::from_secs(2 * i);
            c.strike(a, at);
            assert!(!c.cooling(a, at), "strike {i}");
        }
    }

    #[test]
    fn zero_is_never() {
        let c = RateCooldown::new(0);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let t = Instant::now();
        for _ in 0..100 {
            c.strike(a, t);
        }
        assert!(!c.cooling(a, t));
    }
}
