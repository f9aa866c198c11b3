//! Apply time owed: the accounts behind the apply-time budget (`room::apply_budget`).
//!
//! Work done for a client (or a document) is charged to its account as a debt, paid back
//! at its rate per second of wall time. While it owes more than [`BURST_SECS`] seconds'
//! worth its work is refused, until it owes half that again. A client's accounts, by
//! address and by token, live with its other accounts (`usage`), behind the same lock, so
//! an update's apply-time check and its write-quota charge take that lock once.

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

/// How many seconds' worth of work may be owed at once.
pub(crate) const BURST_SECS: u32 = 10;

/// How long a client's entry is kept once it owes nothing.
const PURGE_EVERY: Duration = Duration::from_secs(10);

/// Work done and not yet paid back, at `rate` per second of wall time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Debt {
    owed: Duration,
    at: Instant,
    /// Went past a burst and has not yet paid back down to half of one.
    refused: bool,
}

impl Debt {
    pub(crate) fn new(now: Instant) -> Debt {
        Debt {
            owed: Duration::ZERO,
            at: now,
            refused: false,
        }
    }

    fn settle(&mut self, now: Instant, rate: Duration) {
        let elapsed = now.saturating_duration_since(self.at);
        self.owed = self
            .owed
            .saturating_sub(rate.mul_f64(elapsed.as_secs_f64()));
        self.at = self.at.max(now);
    }

    /// Whether work is refused at `now`: from when more than a burst is owed until at most
    /// half of one is. A zero rate means no limit.
    pub(crate) fn over(&mut self, now: Instant, rate: Duration) -> bool {
        if rate.is_zero() {
            return false;
        }
        self.settle(now, rate);
        let burst = rate * BURST_SECS;
        if self.owed > burst {
            self.refused = true;
        } else if self.owed <= burst / 2 {
            self.refused = false;
        }
        self.refused
    }

    pub(crate) fn charge(&mut self, now: Instant, rate: Duration, cost: Duration) {
        self.settle(now, rate);
        self.owed = self.owed.saturating_add(cost);
    }

    fn settled(&mut self, now: Instant, rate: Duration) -> bool {
        self.settle(now, rate);
        self.owed.is_zero() && !self.refused
    }
}

/// Every client's apply-time account, by address and by token digest. Not locked itself:
/// its owner (`usage::Usage`) keeps it behind the lock of the client's other accounts.
pub(crate) struct ClientDebts {
    /// Work one client may cause per second; zero: no limit.
    rate: Duration,
    by_ip: HashMap<IpAddr, Debt>,
    by_token: HashMap<[u8; 32], Debt>,
    purged: Instant,
}

impl ClientDebts {
    pub(crate) fn new(rate: Duration) -> ClientDebts {
        ClientDebts {
            rate,
            by_ip: HashMap::new(),
            by_token: HashMap::new(),
            purged: Instant::now(),
        }
    }

    /// Whether there is a limit at all (a zero rate is none).
    pub(crate) fn limited(&self) -> bool {
        !self.rate.is_zero()
    }

    /// Whether the client may have more work done now: neither its address nor its token
    /// owes more than a burst.
    pub(crate) fn admits(&mut self, ip: IpAddr, token: Option<[u8; 32]>, now: Instant) -> bool {
        let rate = self.rate;
        if rate.is_zero() {
            return true;
        }
        let by_ip = self.by_ip.get_mut(&ip).is_some_and(|d| d.over(now, rate));
        let by_token = token
            .and_then(|k| self.by_token.get_mut(&k))
            .is_some_and(|d| d.over(now, rate));
        !(by_ip || by_token)
    }

    /// Charges `cost` to the client's address and token.
    pub(crate) fn charge(
        &mut self,
        ip: IpAddr,
        token: Option<[u8; 32]>,
        cost: Duration,
        now: Instant,
    ) {
        let rate = self.rate;
        if rate.is_zero() {
            return;
        }
        self.by_ip
            .entry(ip)
            .or_insert_with(|| Debt::new(now))
            .charge(now, rate, cost);
        if let Some(k) = token {
            self.by_token
                .entry(k)
                .or_insert_with(|| Debt::new(now))
                .charge(now, rate, cost);
        }
        // Accounts that owe nothing are forgotten, so the table holds recent clients only.
        if now.saturating_duration_since(self.purged) >= PURGE_EVERY {
            self.purged = now;
            self.by_ip.retain(|_, d| !d.settled(now, rate));
            self.by_token.retain(|_, d| !d.settled(now, rate));
        }
    }

    #[cfg(test)]
    fn accounts(&self) -> usize {
        self.by_ip.len() + self.by_token.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_burst_is_allowed_then_the_rate_holds() {
        let t0 = Instant::now();
        let rate = 100 * MS; // 100 ms of work per second: 1 s may be owed
        let mut d = Debt::new(t0);
        d.charge(t0, rate, 1000 * MS);
        assert!(!d.over(t0, rate), "exactly a burst owed is still allowed");
        d.charge(t0, rate, MS);
        assert!(d.over(t0, rate));
        // refused until half a burst is owed: 501 ms to pay back at 100 ms/s
        assert!(d.over(t0 + 100 * MS, rate), "1 ms paid back is not enough");
        assert!(d.over(t0 + 5000 * MS, rate));
        assert!(!d.over(t0 + 5010 * MS, rate));
        // below a burst again, work goes on until the next time it is passed
        d.charge(t0 + 5010 * MS, rate, 500 * MS);
        assert!(!d.over(t0 + 5010 * MS, rate));
        // one expensive piece of work goes through, and then nothing until it is paid
        d.charge(t0 + 5010 * MS, rate, 2000 * MS);
        assert!(d.over(t0 + 5010 * MS, rate));
        assert!(d.over(t0 + 30_000 * MS, rate));
        assert!(!d.over(t0 + 30_020 * MS, rate));
    }

    #[test]
    fn zero_means_no_limit() {
        let t0 = Instant::now();
        let mut d = Debt::new(t0);
        d.charge(t0, Duration::ZERO, Duration::from_secs(3600));
        assert!(!d.over(t0, Duration::ZERO));
        let mut debts = ClientDebts::new(Duration::ZERO);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        debts.charge(ip, None, Duration::from_secs(3600), t0);
        assert!(debts.admits(ip, None, t0));
        assert_eq!(debts.accounts(), 0);
        assert!(!debts.limited());
    }

    #[test]
    fn a_client_is_counted_by_address_and_by_token() {
        let t0 = Instant::now();
        let mut debts = ClientDebts::new(10 * MS); // 100 ms may be owed
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        debts.charge(ip("10.0.0.1"), Some([1; 32]), 150 * MS, t0);
        assert!(!debts.admits(ip("10.0.0.1"), Some([1; 32]), t0));
        // the same address with another token or none: over by address
        assert!(!debts.admits(ip("10.0.0.1"), Some([2; 32]), t0));
        assert!(!debts.admits(ip("10.0.0.1"), None, t0));
        // the same token from elsewhere: over by token
        assert!(!debts.admits(ip("10.0.0.2"), Some([1; 32]), t0));
        // anyone else is not affected
        assert!(debts.admits(ip("10.0.0.3"), Some([3; 32]), t0));
        // paid back at the rate down to half a burst: 100 ms take 10 s
        let a = (ip("10.0.0.1"), Some([1; 32]));
        assert!(!debts.admits(a.0, a.1, t0 + 9900 * MS));
        assert!(debts.admits(a.0, a.1, t0 + 10_100 * MS));
    }

    #[test]
    fn accounts_that_owe_nothing_are_forgotten() {
        let t0 = Instant::now();
        let mut debts = ClientDebts::new(10 * MS);
        for i in 0..50u8 {
            debts.charge(IpAddr::from([10, 0, 0, i]), Some([i; 32]), 20 * MS, t0);
        }
        assert_eq!(debts.accounts(), 100);
        // 20 ms at 10 ms/s are paid after 2 s; the next charge past the purge interval
        // forgets every settled account
        let later = t0 + PURGE_EVERY + MS;
        debts.charge(IpAddr::from([10, 0, 1, 1]), None, MS, later);
        assert_eq!(debts.accounts(), 1);
    }
}
