//! The probe: a legitimate user on a document of its own (a fresh WebSocket client that
//! syncs) and a health check, one of each every interval until the deadline.
//!
//! It runs on a thread and a runtime of its own. The attack's tasks do client-side work
//! between two awaits (the flood builds 2,000 Yjs updates per connection), and on the
//! attack's runtime the probe's next step would wait behind them: it would measure the
//! load generator, not the server. A legitimate user is not in the attacker's process.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use yrs::Doc;

use crate::{report::progress, Common};

/// What the probe saw, in microseconds.
#[derive(Default)]
pub(super) struct Samples {
    pub sync_us: Vec<u64>,
    pub health_us: Vec<u64>,
    pub sync_failures: u64,
    pub health_failures: u64,
}

/// Runs the probe on its own thread until `deadline`; wait for it with [`join`].
pub(super) fn spawn(
    common: Common,
    base: String,
    prefix: String,
    deadline: Instant,
    interval: Duration,
) -> std::thread::JoinHandle<Result<Samples>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(run(&common, &base, &prefix, deadline, interval))
    })
}

/// Waits for the probe's thread without holding up the caller's runtime.
pub(super) async fn join(probe: std::thread::JoinHandle<Result<Samples>>) -> Result<Samples> {
    tokio::task::spawn_blocking(move || probe.join())
        .await?
        .map_err(|_| anyhow!("the probe panicked"))?
}

pub(super) async fn run(
    common: &Common,
    base: &str,
    prefix: &str,
    deadline: Instant,
    interval: Duration,
) -> Result<Samples> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()?;
    let mut s = Samples::default();
    let mut n = 0usize;
    while Instant::now() < deadline {
        n += 1;
        let started = Instant::now();
        match client.get(format!("{base}/healthz")).send().await {
            Ok(r) if r.status().is_success() => {
                s.health_us.push(started.elapsed().as_micros() as u64)
            }
            _ => s.health_failures += 1,
        }
        let doc = Doc::new();
        let started = Instant::now();
        let probe_doc = format!("{prefix}-probe-{}", n % 16);
        match common.target().connect(&probe_doc, n, &doc).await {
            Ok(mut conn) => {
                s.sync_us.push(started.elapsed().as_micros() as u64);
                let _ = conn.ws.close(None).await;
            }
            Err(e) => {
                s.sync_failures += 1;
                if s.sync_failures <= 3 {
                    progress(format!("probe sync failed: {e:#}"));
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
    Ok(s)
}
