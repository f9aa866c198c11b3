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
//! one owes more than [`BURST_SECS`] seconds' worth, the room refuses its updates (close
//! 1013, HTTP 429) instead of doing the work, until it owes half that again: a client that
//! went over waits at least five seconds, however often it reconnects. A burst of ten
//! seconds' worth lets a paste or a reconnect through; what is bounded is the sustained
//! rate.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use crate::client_limits::ClientKey;

/// How many seconds' worth of work may be owed at once.
pub(super) const BURST_SECS: u32 = 10;

/// Recent apply time from which a document's updates count as expensive: they are applied
/// as large ones are (`heavy`), off the runtime's workers and one at a time.
const EXPENSIVE: Duration = Duration::from_millis(1);

/// How long a client's entry is kept once it owes nothing.
const PURGE_EVERY: Duration = Duration::from_secs(10);

/// Work done and not yet paid back, at `rate` per second of wall time.
#[derive(Debug, Clone, Copy)]
pub(super) struct Debt {
    owed: Duration,
    at: Instant,
    /// Went past a burst and has not yet paid back down to half of one.
    refused: bool,
}

impl Debt {
    pub(super) fn new(now: Instant) -> Debt {
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
    pub(super) fn over(&mut self, now: Instant, rate: Duration) -> bool {
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

    pub(super) fn charge(&mut self, now: Instant, rate: Duration, cost: Duration) {
        self.settle(now, rate);
        self.owed = self.owed.saturating_add(cost);
    }

    fn settled(&mut self, now: Instant, rate: Duration) -> bool {
        self.settle(now, rate);
        self.owed.is_zero() && !self.refused
    }
}

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

/// Every client's account, by address and by token digest, shared by all rooms.
pub(crate) struct ClientCosts {
    /// Work one client may cause per second; zero: no limit.
    rate: Duration,
    table: Mutex<Table>,
}

struct Table {
    by_ip: HashMap<IpAddr, Debt>,
    by_token: HashMap<[u8; 32], Debt>,
    purged: Instant,
}

impl ClientCosts {
    pub(crate) fn new(rate: Duration) -> ClientCosts {
        ClientCosts {
            rate,
            table: Mutex::new(Table {
                by_ip: HashMap::new(),
                by_token: HashMap::new(),
                purged: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `client` may have more work done now: neither its address nor its token
    /// owes more than a burst.
    pub(super) fn admits(&self, client: &ClientKey, now: Instant) -> Result<(), Over> {
        if self.rate.is_zero() {
            return Ok(());
        }
        let mut t = self.lock();
        let rate = self.rate;
        let by_ip = t
            .by_ip
            .get_mut(&client.ip())
            .is_some_and(|d| d.over(now, rate));
        let by_token = client
            .token()
            .and_then(|k| t.by_token.get_mut(&k))
            .is_some_and(|d| d.over(now, rate));
        if by_ip || by_token {
            return Err(Over::Client);
        }
        Ok(())
    }

    /// Charges `cost` to the client's address and token.
    pub(super) fn charge(&self, client: &ClientKey, cost: Duration, now: Instant) {
        if self.rate.is_zero() {
            return;
        }
        let rate = self.rate;
        let mut guard = self.lock();
        let t = &mut *guard;
        t.by_ip
            .entry(client.ip())
            .or_insert_with(|| Debt::new(now))
            .charge(now, rate, cost);
        if let Some(k) = client.token() {
            t.by_token
                .entry(k)
                .or_insert_with(|| Debt::new(now))
                .charge(now, rate, cost);
        }
        // Accounts that owe nothing are forgotten, so the table holds recent clients only.
        if now.saturating_duration_since(t.purged) >= PURGE_EVERY {
            t.purged = now;
            t.by_ip.retain(|_, d| !d.settled(now, rate));
            t.by_token.retain(|_, d| !d.settled(now, rate));
        }
    }

    #[cfg(test)]
    fn accounts(&self) -> usize {
        let t = self.lock();
        t.by_ip.len() + t.by_token.len()
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
        let costs = ClientCosts::new(Duration::ZERO);
        let c = ClientKey::new("10.0.0.1".parse().unwrap(), None);
        costs.charge(&c, Duration::from_secs(3600), t0);
        assert_eq!(costs.admits(&c, t0), Ok(()));
        assert_eq!(costs.accounts(), 0);
    }

    #[test]
    fn a_client_is_counted_by_address_and_by_token() {
        let t0 = Instant::now();
        let costs = ClientCosts::new(10 * MS); // 100 ms may be owed
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a = ClientKey::new(ip("10.0.0.1"), Some([1; 32]));
        costs.charge(&a, 150 * MS, t0);
        assert_eq!(costs.admits(&a, t0), Err(Over::Client));
        // the same address with another token or none: over by address
        let same_ip = ClientKey::new(ip("10.0.0.1"), Some([2; 32]));
        assert_eq!(costs.admits(&same_ip, t0), Err(Over::Client));
        // the same token from elsewhere: over by token
        let same_token = ClientKey::new(ip("10.0.0.2"), Some([1; 32]));
        assert_eq!(costs.admits(&same_token, t0), Err(Over::Client));
        // anyone else is not affected
        let other = ClientKey::new(ip("10.0.0.3"), Some([3; 32]));
        assert_eq!(costs.admits(&other, t0), Ok(()));
        // paid back at the rate down to half a burst: 100 ms take 10 s
        assert_eq!(costs.admits(&a, t0 + 9900 * MS), Err(Over::Client));
        assert_eq!(costs.admits(&a, t0 + 10_100 * MS), Ok(()));
    }

    #[test]
    fn accounts_that_owe_nothing_are_forgotten() {
        let t0 = Instant::now();
        let costs = ClientCosts::new(10 * MS);
        for i in 0..50u8 {
            let c = ClientKey::new(IpAddr::from([10, 0, 0, i]), Some([i; 32]));
            costs.charge(&c, 20 * MS, t0);
        }
        assert_eq!(costs.accounts(), 100);
        // 20 ms at 10 ms/s are paid after 2 s; the next charge past the purge interval
        // forgets every settled account
        let later = t0 + PURGE_EVERY + MS;
        let c = ClientKey::new(IpAddr::from([10, 0, 1, 1]), None);
        costs.charge(&c, MS, later);
        assert_eq!(costs.accounts(), 1);
    }

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
