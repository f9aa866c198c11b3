//! `abuse`: one hostile client runs an attack pattern at full speed while a probe measures
//! what a legitimate user on *another* document sees: the time for a fresh WebSocket client
//! to finish its sync handshake, and the time `/healthz` takes to answer. The server's peak
//! memory comes from `/proc` (`--server-pid`).
//!
//! The patterns are the classes of SECURITY.md's threat list; every pattern sends only
//! to the target server on 127.0.0.1 and stops after `--duration`. The attacker's sockets
//! come from another loopback address than the probe's (`attack.rs`), so that the server's
//! limits per client address apply to the attacker and not to the legitimate user.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Result;
use clap::ValueEnum;

use crate::{
    http::origin,
    procstat,
    report::{percentile, progress, Report},
    AbuseArgs, Common,
};

/// What the hostile client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pattern {
    /// Frames of a few bytes whose headers claim millions of clients, entries or values
    /// (WebSocket, SSE/poll upstream and the update API).
    Amplify,
    /// Random bytes as protocol messages.
    Malformed,
    /// Tiny valid updates on one document, as fast as the socket takes them.
    Flood,
    /// Awareness for other people's client ids, with clocks near the maximum.
    Presence,
    /// SSE/poll sessions opened in a loop and never read.
    Sessions,
    /// TCP connections that send half a request header and then nothing.
    Slowloris,
    /// Valid but dense updates (many map keys per byte) to fresh documents.
    Dense,
    /// A new document per connection, as fast as possible.
    Documents,
    /// Named versions requested in a loop.
    Versions,
    /// Hocuspocus sockets that never authenticate, stalled inside a frame announcing
    /// 16 MiB (`preauth.rs`).
    HocuspocusPreauth,
    /// Forged frames on a cluster's NATS (unsigned, wrongly signed, fake heartbeats); needs
    /// `--bus-url`.
    Bus,
    /// HTTP-API memory: 256 KiB updates through `POST /api/documents/{doc}/updates`, each
    /// to a new document.
    ApiMemory,
    /// Pre-auth bodies: 16 MiB announced without a credential (new document, SSE/poll
    /// upstream), 64 KiB sent, on 16 connections at once.
    PreauthBodies,
    /// Multi-connection flood: the flood on 25 connections per task, each reopened at once
    /// when closed.
    SpreadFlood,
    /// Documents given 100,000 client ids by one update, then tiny concurrent inserts
    /// into them at 150 messages a second (`costly.rs`).
    CostHeavy,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    refused: AtomicU64,
    closed: AtomicU64,
}

mod attack;
mod bus;
mod costly;
mod preauth;
mod probe;
mod spread;
use attack::Attack;
pub(crate) use bus::BusTarget;

pub async fn run(common: &Common, a: &AbuseArgs) -> Result<Report> {
    let base = origin(common.url())?;
    let prefix = common.prefix();
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    let counters = Arc::new(Counters::default());
    let peak = Arc::new(AtomicU64::new(0));

    progress(format!(
        "abuse {:?} x{} for {:.0} s against {base}",
        a.pattern, a.attackers, a.duration
    ));
    let bus = a.bus_url.as_ref().map(|url| BusTarget {
        url: url.clone(),
        user: a.bus_user.clone(),
        password: a.bus_password.clone(),
        prefix: a.bus_prefix.clone(),
        docs: (0..16)
            .map(|n| format!("{prefix}-probe-{n}"))
            .chain([format!("{prefix}-target")])
            .collect(),
    });
    let mut attackers = Vec::new();
    for i in 0..a.attackers {
        let ctx = Attack {
            pattern: a.pattern,
            url: common.url().to_string(),
            base: base.clone(),
            doc: format!("{prefix}-target"),
            seed: 0x5eed + i as u64,
            deadline,
            counters: counters.clone(),
            token: a.attack_token.clone(),
            bus: bus.clone(),
            attackers: a.attackers,
        };
        attackers.push(tokio::spawn(async move { ctx.run().await }));
    }
    if let Some(pid) = common.server_pid() {
        let peak = peak.clone();
        tokio::spawn(async move {
            while Instant::now() < deadline {
                if let Some(kib) = procstat::rss_kib(pid) {
                    peak.fetch_max(kib, Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }

    // The probe: a legitimate user on its own document, and a health check; on a thread of
    // its own unless asked to share the attack's runtime (as it did before: see `probe`).
    let interval = Duration::from_millis(a.probe_interval_ms);
    let samples = if a.probe_on_attack_runtime {
        probe::run(common, &base, &prefix, deadline, interval).await?
    } else {
        let thread = probe::spawn(common.clone(), base.clone(), prefix, deadline, interval);
        probe::join(thread).await?
    };
    let probe::Samples {
        mut sync_us,
        mut health_us,
        sync_failures,
        health_failures,
    } = samples;
    for t in attackers {
        t.abort();
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()?;
    let recovery_ms = recovery(&client, &base).await;
    sync_us.sort_unstable();
    health_us.sort_unstable();
    let ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);

    let mut r = Report::new("abuse");
    r.add("pattern", format!("{:?}", a.pattern).to_lowercase(), "");
    r.add("attackers", a.attackers as u64, "");
    r.add("attack_messages", counters.sent.load(Relaxed), "");
    r.add("attack_refusals", counters.refused.load(Relaxed), "");
    r.add("attack_closes", counters.closed.load(Relaxed), "");
    r.add("probe_syncs", sync_us.len() as u64, "");
    r.add("probe_sync_failures", sync_failures, "");
    r.num("probe_sync_p50_ms", ms(percentile(&sync_us, 50.0)), "ms");
    r.num("probe_sync_p99_ms", ms(percentile(&sync_us, 99.0)), "ms");
    r.num("probe_sync_max_ms", ms(sync_us.last().copied()), "ms");
    r.add("healthz_failures", health_failures, "");
    r.num("healthz_p50_ms", ms(percentile(&health_us, 50.0)), "ms");
    r.num("healthz_p99_ms", ms(percentile(&health_us, 99.0)), "ms");
    r.num("healthz_max_ms", ms(health_us.last().copied()), "ms");
    r.num("healthz_recovery_ms", recovery_ms, "ms");
    let peak = peak.load(Relaxed);
    r.num(
        "server_peak_rss_mib",
        (peak > 0).then_some(peak as f64 / 1024.0),
        "MiB",
    );
    if let Some(pid) = common.server_pid() {
        r.num(
            "server_rss_after_mib",
            procstat::rss_kib(pid).map(|k| k as f64 / 1024.0),
            "MiB",
        );
    }
    Ok(r)
}

/// Milliseconds from the end of the attack until `/healthz` answers within 50 ms again
/// (`None` if it does not within 60 s): work the attack queued may outlast it.
async fn recovery(client: &reqwest::Client, base: &str) -> Option<f64> {
    let end = Instant::now();
    while end.elapsed() < Duration::from_secs(60) {
        let started = Instant::now();
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() && started.elapsed() < Duration::from_millis(50) {
                return Some(end.elapsed().as_secs_f64() * 1000.0);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
