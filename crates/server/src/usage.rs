//! What each client spends over time, counted per client address and per access token
//! over all its connections, sessions and HTTP requests:
//!
//! - document messages (updates, sync requests, API edits): a rate, so that a flood spread
//!   over many connections, or over connections reopened as fast as the last one is closed,
//!   is held to what one client may send, not to what one connection may;
//! - bytes written to the database (updates, restores, new documents, named versions): a
//!   quota per window, so that one client cannot fill the disk within every other limit.
//!
//! Both are token buckets: a client may spend a burst (ten seconds' worth of messages, a
//! whole window's worth of bytes), then what refills. A bucket that has refilled completely
//! is the same as none, so buckets of quiet clients are forgotten. The apply time each
//! client owes (`apply_debt`) is kept here too, all behind one lock: an update's message,
//! apply-time check and quota charge are one look at them ([`Usage::admit_update`]).

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clap::Args;

use crate::{apply_debt::ClientDebts, metric_names as m, rate_cooldown::RateCooldown};

/// Settings of what a client may spend (SECURITY.md, "Limits per client").
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Client usage over time")]
pub struct UsageLimits {
    /// Document messages (updates, sync requests, HTTP edits) per second one client address,
    /// and one access token, may send over all its connections, in bursts of ten seconds'
    /// worth. Past it the connection that sends is closed with 1008, new connections and
    /// HTTP edits get 429 until the allowance refills. 0: no limit.
    #[arg(
        long,
        env = "TANDEM_MAX_UPDATES_PER_CLIENT_PER_SEC",
        default_value_t = 5000
    )]
    pub max_updates_per_client_per_sec: u32,
    /// Bytes one client address, and one access token, may have written to the database
    /// (updates, restores, new documents, named versions) per `--write-window-secs`; past
    /// it edits are refused (close 4429, HTTP 429) until the allowance refills. 0: no limit.
    #[arg(long, env = "TANDEM_MAX_WRITE_BYTES_PER_CLIENT", default_value_t = 2 * 1024 * 1024 * 1024)]
    pub max_write_bytes_per_client: u64,
    /// The window of `--max-write-bytes-per-client`, in seconds (the allowance refills
    /// evenly over it).
    #[arg(long, env = "TANDEM_WRITE_WINDOW_SECS", default_value_t = 3600)]
    pub write_window_secs: u64,
    /// A client address refused for its message rate ten times within this many seconds
    /// (connections closed for `--max-updates-per-client-per-sec` or `--max-updates-per-sec`,
    /// upgrades and HTTP edits refused for the former) is refused for as long at accept:
    /// its new connections are closed unanswered, before any request is read. A trusted
    /// proxy is not refused. 0: never.
    #[arg(long, env = "TANDEM_RATE_LIMIT_COOLDOWN_SECS", default_value_t = 10)]
    pub rate_limit_cooldown_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UsageError {
    /// Both short enough for a WebSocket close reason (123 bytes), and naming the setting
    /// to raise (a team behind one NAT address shares these allowances).
    #[error(
        "client sent over {0} messages/s (raise --max-updates-per-client-per-sec / \
         TANDEM_MAX_UPDATES_PER_CLIENT_PER_SEC)"
    )]
    Rate(u32),
    #[error(
        "write quota spent: {q} per {w} s (raise --max-write-bytes-per-client / \
         TANDEM_MAX_WRITE_BYTES_PER_CLIENT)",
        q = quota(*.0),
        w = .1
    )]
    WriteBytes(u64, u64),
}

/// A write quota in the largest whole unit (MiB or KiB), else bytes: a short close reason.
fn quota(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

impl UsageError {
    /// The label of `tandem_limit_refusals_total`.
    fn limit(self) -> &'static str {
        match self {
            UsageError::Rate(_) => "update_rate_per_client",
            UsageError::WriteBytes(..) => "write_bytes_per_client",
        }
    }
}

/// How many buckets may build up before full ones are swept out.
const SWEEP_AT: usize = 4096;

/// Seconds' worth of messages a client may send at once.
const BURST_SECS: f64 = 10.0;

#[derive(Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// Buckets per address and per token with one rate and capacity.
struct Buckets {
    rate: f64,
    capacity: f64,
    by_ip: HashMap<IpAddr, Bucket>,
    by_token: HashMap<[u8; 32], Bucket>,
}

fn level<K: Hash + Eq>(map: &HashMap<K, Bucket>, key: &K, b: &Buckets, now: Instant) -> f64 {
    map.get(key).map_or(b.capacity, |k| {
        let refill = now.saturating_duration_since(k.at).as_secs_f64() * b.rate;
        (k.level + refill).min(b.capacity)
    })
}

fn sweep<K: Hash + Eq>(map: &mut HashMap<K, Bucket>, rate: f64, capacity: f64, now: Instant) {
    if map.len() >= SWEEP_AT {
        map.retain(|_, k| {
            k.level + now.saturating_duration_since(k.at).as_secs_f64() * rate < capacity
        });
    }
}

impl Buckets {
    fn new(rate: f64, capacity: f64) -> Buckets {
        Buckets {
            rate,
            capacity,
            by_ip: HashMap::new(),
            by_token: HashMap::new(),
        }
    }

    /// Takes `amount` from the client's address and token buckets if both hold it.
    fn take(&mut self, ip: IpAddr, token: Option<[u8; 32]>, amount: f64, now: Instant) -> bool {
        let by_ip = level(&self.by_ip, &ip, self, now);
        let by_token = token.map(|t| level(&self.by_token, &t, self, now));
        if by_ip < amount || by_token.is_some_and(|l| l < amount) {
            return false;
        }
        sweep(&mut self.by_ip, self.rate, self.capacity, now);
        self.by_ip.insert(
            ip,
            Bucket {
                level: by_ip - amount,
                at: now,
            },
        );
        if let (Some(t), Some(l)) = (token, by_token) {
            sweep(&mut self.by_token, self.rate, self.capacity, now);
            self.by_token.insert(
                t,
                Bucket {
                    level: l - amount,
                    at: now,
                },
            );
        }
        true
    }

    /// Whether the client has less than one unit left.
    fn spent(&self, ip: IpAddr, token: Option<[u8; 32]>, now: Instant) -> bool {
        level(&self.by_ip, &ip, self, now) < 1.0
            || token.is_some_and(|t| level(&self.by_token, &t, self, now) < 1.0)
    }
}

/// What one lock guards: message rate, write quota (`None`: setting 0), apply time owed.
struct Ledger {
    messages: Option<Buckets>,
    writes: Option<Buckets>,
    apply: ClientDebts,
}

/// Why [`Usage::admit_update`] refused an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateRefusal {
    /// Its message rate is spent (counted, and a strike, as [`Usage::message`]).
    Rate(UsageError),
    /// The client owes more apply time than a burst.
    ApplyTime,
    Quota(UsageError), // its write quota is spent
}

/// Every kind of spending; `None` where the setting is 0.
pub(crate) struct Usage {
    rate: u32,
    write: (u64, u64),
    ledger: Mutex<Ledger>,
    /// Whether `ledger` limits each (a setting of 0: its lock is not taken for it).
    messages_limited: bool,
    writes_limited: bool,
    apply_limited: bool,
    /// Where refusals for the message rate are counted; the accept loop reads it.
    cooldown: Arc<RateCooldown>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn refused(err: UsageError) -> UsageError {
    metrics::counter!(m::LIMIT_REFUSALS, "limit" => err.limit()).increment(1);
    err
}

impl Usage {
    /// `apply_per_sec`: the apply time one client may cause per second (0: no limit).
    pub(crate) fn new(limits: &UsageLimits, apply_per_sec: Duration) -> Usage {
        let rate = f64::from(limits.max_updates_per_client_per_sec);
        let window = limits.write_window_secs.max(1);
        let bytes = limits.max_write_bytes_per_client as f64;
        let ledger = Ledger {
            messages: (rate > 0.0).then(|| Buckets::new(rate, rate * BURST_SECS)),
            writes: (bytes > 0.0).then(|| Buckets::new(bytes / window as f64, bytes)),
            apply: ClientDebts::new(apply_per_sec),
        };
        Usage {
            rate: limits.max_updates_per_client_per_sec,
            write: (limits.max_write_bytes_per_client, window),
            messages_limited: ledger.messages.is_some(),
            writes_limited: ledger.writes.is_some(),
            apply_limited: ledger.apply.limited(),
            ledger: Mutex::new(ledger),
            cooldown: Arc::new(RateCooldown::new(limits.rate_limit_cooldown_secs)),
        }
    }

    /// The addresses turned away at accept for their refusals here (`rate_cooldown.rs`).
    pub(crate) fn cooldown(&self) -> Arc<RateCooldown> {
        self.cooldown.clone()
    }

    /// A connection of the client at `ip` closed for its own message rate
    /// (`--max-updates-per-sec`): a strike towards the address's cool-down, as a refusal here.
    pub(crate) fn strike(&self, ip: IpAddr) {
        self.cooldown.strike(ip, Instant::now());
    }

    /// A refusal for the message rate: counted, and a strike for the address.
    fn rate_refused(&self, ip: IpAddr, now: Instant) -> UsageError {
        self.cooldown.strike(ip, now);
        refused(UsageError::Rate(self.rate))
    }

    /// Counts one document message from the client at `ip` with `token` (the digest of
    /// its access token; `None` without one, or for the admin key). A refusal closes the
    /// connection or refuses the request, and is a strike towards the address's cool-down.
    pub(crate) fn message(&self, ip: IpAddr, token: Option<[u8; 32]>) -> Result<(), UsageError> {
        let now = Instant::now();
        self.take_message(ip, token, now)
            .map_err(|_| self.rate_refused(ip, now))
    }

    /// Counts one awareness message; false past the allowance. The message is dropped,
    /// nothing is closed: no strike (presence of many users behind one address is no flood).
    pub(crate) fn awareness(&self, ip: IpAddr, token: Option<[u8; 32]>) -> bool {
        self.take_message(ip, token, Instant::now())
            .map_err(refused)
            .is_ok()
    }

    fn take_message(
        &self,
        ip: IpAddr,
        token: Option<[u8; 32]>,
        now: Instant,
    ) -> Result<(), UsageError> {
        let ip = ip.to_canonical();
        let refused = self.messages_limited
            && (lock(&self.ledger).messages.as_mut()).is_some_and(|b| !b.take(ip, token, 1.0, now));
        match refused {
            true => Err(UsageError::Rate(self.rate)),
            false => Ok(()),
        }
    }

    /// Whether the client has no message left now: a new connection would only be closed
    /// at its first message, so it is refused before it costs anything.
    pub(crate) fn out_of_messages(
        &self,
        ip: IpAddr,
        token: Option<[u8; 32]>,
    ) -> Result<(), UsageError> {
        let (now, canonical) = (Instant::now(), ip.to_canonical());
        let spent = self.messages_limited
            && (lock(&self.ledger).messages.as_ref())
                .is_some_and(|b| b.spent(canonical, token, now));
        match spent {
            true => Err(self.rate_refused(ip, now)),
            false => Ok(()),
        }
    }

    /// Charges `bytes` written to the database to the client, or refuses them all.
    pub(crate) fn write(
        &self,
        ip: IpAddr,
        token: Option<[u8; 32]>,
        bytes: usize,
    ) -> Result<(), UsageError> {
        if !self.writes_limited {
            return Ok(());
        }
        let mut ledger = lock(&self.ledger);
        self.charge_write(&mut ledger, ip, token, bytes, Instant::now())
    }

    fn charge_write(
        &self,
        ledger: &mut Ledger,
        ip: IpAddr,
        token: Option<[u8; 32]>,
        bytes: usize,
        now: Instant,
    ) -> Result<(), UsageError> {
        let Some(b) = &mut ledger.writes else {
            return Ok(());
        };
        if b.take(ip.to_canonical(), token, bytes as f64, now) {
            Ok(())
        } else {
            tracing::info!(%ip, bytes, "refusing a write: the client's write quota is spent");
            Err(refused(UsageError::WriteBytes(self.write.0, self.write.1)))
        }
    }

    /// An update's sender, in one look at its accounts (one lock): with `message`, the
    /// update is counted as [`Usage::message`] counts it (refused past the rate); then it is
    /// refused while the sender owes more apply time than a burst; else, when `quota` is
    /// given, `quota` bytes are charged to its write quota, or refused (nothing is charged then).
    pub(crate) fn admit_update(
        &self,
        ip: IpAddr,
        token: Option<[u8; 32]>,
        message: bool,
        quota: Option<usize>,
    ) -> Result<(), UpdateRefusal> {
        let counts = message && self.messages_limited;
        if !counts && !self.apply_limited && (quota.is_none() || !self.writes_limited) {
            return Ok(());
        }
        let now = Instant::now();
        let ip = ip.to_canonical();
        let mut ledger = lock(&self.ledger);
        if counts
            && ledger
                .messages
                .as_mut()
                .is_some_and(|b| !b.take(ip, token, 1.0, now))
        {
            drop(ledger);
            return Err(UpdateRefusal::Rate(self.rate_refused(ip, now)));
        }
        if !ledger.apply.admits(ip, token, now) {
            return Err(UpdateRefusal::ApplyTime);
        }
        match quota {
            Some(bytes) => self
                .charge_write(&mut ledger, ip, token, bytes, now)
                .map_err(UpdateRefusal::Quota),
            None => Ok(()),
        }
    }

    /// Whether the client may have more work done now (its apply time; `apply_debt`).
    pub(crate) fn apply_admits(&self, ip: IpAddr, token: Option<[u8; 32]>) -> bool {
        if !self.apply_limited {
            return true;
        }
        let now = Instant::now();
        lock(&self.ledger)
            .apply
            .admits(ip.to_canonical(), token, now)
    }

    /// Charges `cost` of work done for the client to its address and token.
    pub(crate) fn charge_apply(&self, ip: IpAddr, token: Option<[u8; 32]>, cost: Duration) {
        if !self.apply_limited {
            return;
        }
        let now = Instant::now();
        lock(&self.ledger)
            .apply
            .charge(ip.to_canonical(), token, cost, now);
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
