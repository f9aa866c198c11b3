//! `fanout`: R documents x C clients, each typing U small updates per second. Every update
//! carries `@@<sender>:<nanos since the shared epoch>|`; receivers scan it out of the raw
//! update and record receive time - send time for every delivery to another client.
//! Clients speak WebSocket, SSE or long polling (`--transport`); an HTTP client's
//! receive time is when the bytes arrived (SSE chunk, poll answer), a WebSocket client's
//! when its loop reads the frame. Given several `--url`s (instances of one cluster), each
//! document's clients are spread over them, and deliveries from a client on another
//! instance are also reported on their own.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Result};

use crate::{
    http_down::HttpStats,
    pgstat, procstat,
    report::{percentile, progress, Report},
    Common, FanoutArgs, Transport,
};

pub mod capacity;
mod client;
mod crowd;
mod step_latency;
use crowd::{gather, Crowd, Layout};
use step_latency::StepLatency;

struct Shared {
    epoch: Instant,
    sent: AtomicU64,
    expected: AtomicU64,
    delivered: AtomicU64,
    failed_connects: AtomicU64,
    unexpected_closes: AtomicU64,
    http: Arc<HttpStats>,
    /// A capacity ramp's step latencies: when set, clients record deliveries there
    /// instead of keeping every latency.
    steps: Option<StepLatency>,
}

impl Shared {
    fn new(steps: Option<StepLatency>) -> Self {
        Shared {
            epoch: Instant::now(),
            sent: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            failed_connects: AtomicU64::new(0),
            unexpected_closes: AtomicU64::new(0),
            http: Arc::new(HttpStats::default()),
            steps,
        }
    }
}

/// How clients sit on the servers: client `c` of document `d` (sender `c * docs + d`) is
/// on server `(c + d) mod servers`, so each document's clients take the servers in turn
/// (and so do the documents' first clients, which preload).
#[derive(Clone, Copy)]
struct Spread {
    docs: usize,
    servers: usize,
}

impl Spread {
    fn server_of(&self, sender: u32) -> usize {
        let (c, d) = (sender as usize / self.docs, sender as usize % self.docs);
        (c + d) % self.servers
    }
}

/// One client's delivery latencies (ns): all of them, and those from a client on another
/// server.
#[derive(Default)]
struct Latencies {
    all: Vec<u64>,
    cross: Vec<u64>,
}

/// A period of typing: every client sends `rate` updates a second from `start` to `end`.
/// `fanout` has one; a capacity ramp sends one per step, and clients stay connected.
#[derive(Clone, Copy)]
struct Window {
    start: tokio::time::Instant,
    end: tokio::time::Instant,
    rate: f64,
}

pub async fn run(common: &Common, a: &FanoutArgs) -> Result<Report> {
    if a.docs == 0 || a.clients == 0 || a.rate <= 0.0 {
        bail!("--docs, --clients and --rate must be positive");
    }
    if a.transport != Transport::Websocket && common.hocuspocus {
        bail!("--hocuspocus needs --transport websocket");
    }
    let shared = Arc::new(Shared::new(None));
    progress(format!(
        "fanout ({}): {} docs x {} clients, {} updates/s each for {} s, on {} server(s)",
        a.transport.as_str(),
        a.docs,
        a.clients,
        a.rate,
        a.duration,
        common.urls.len()
    ));
    let layout = Layout {
        transport: a.transport,
        docs: a.docs,
        clients: a.clients,
        preload: a.preload_bytes,
    };
    let Crowd {
        tasks,
        go: go_tx,
        stop: stop_tx,
        spread,
        total,
        ok,
        setup_secs,
    } = gather(common, &layout, &shared).await;

    let pids = &common.server_pids;
    let cpu0 = procstat::cpu_sum(pids);
    let db0 = common.db_name.as_deref().map(pgstat::sample);
    let http0 = shared.http.snapshot();
    let measure_start = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs_f64(a.duration);
    let _ = go_tx.send(Some(Window {
        start,
        end,
        rate: a.rate,
    }));
    tokio::time::sleep_until(end).await;
    let drain_deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.drain);
    // Sends still in flight (a tick just before `end`) settle within a few ms.
    tokio::time::sleep(Duration::from_millis(50)).await;
    while tokio::time::Instant::now() < drain_deadline
        && shared.delivered.load(Relaxed) < shared.expected.load(Relaxed)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu1 = procstat::cpu_sum(pids);
    let db = db0.map(|d0| d0.delta(&pgstat::sample(common.db_name.as_deref().unwrap_or(""))));
    let http1 = shared.http.snapshot();
    let measured_secs = measure_start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);

    let mut lat: Vec<u64> = Vec::new();
    let mut cross: Vec<u64> = Vec::new();
    for t in tasks {
        if let Ok(mut v) = t.await {
            lat.append(&mut v.all);
            cross.append(&mut v.cross);
        }
    }
    lat.sort_unstable();
    cross.sort_unstable();
    let sent = shared.sent.load(Relaxed);
    let expected = shared.expected.load(Relaxed);
    let delivered = lat.len() as u64;

    let mut r = Report::new("fanout");
    r.add("transport", a.transport.as_str(), "");
    r.add("docs", a.docs, "");
    r.add("clients_per_doc", a.clients, "");
    r.add("connections", total, "");
    r.add("servers", spread.servers, "");
    r.num("rate_per_client", Some(a.rate), "updates/s");
    r.num("duration", Some(a.duration), "s");
    r.add("preload_bytes", a.preload_bytes, "B");
    r.add("connect_failures", shared.failed_connects.load(Relaxed), "");
    r.add(
        "unexpected_closes",
        shared.unexpected_closes.load(Relaxed),
        "",
    );
    r.num("setup_secs", Some(setup_secs), "s");
    r.num(
        "connects_per_sec",
        Some(ok as f64 / setup_secs.max(1e-9)),
        "conn/s",
    );
    r.add("updates_sent", sent, "");
    r.add("deliveries", delivered, "");
    r.add("deliveries_expected", expected, "");
    r.add("missing_deliveries", expected.saturating_sub(delivered), "");
    r.num(
        "deliveries_per_sec",
        Some(delivered as f64 / a.duration),
        "msg/s",
    );
    let ms = |p: f64| percentile(&lat, p).map(|v| v as f64 / 1e6);
    r.num("latency_p50_ms", ms(50.0), "ms");
    r.num("latency_p95_ms", ms(95.0), "ms");
    r.num("latency_p99_ms", ms(99.0), "ms");
    r.num("latency_max_ms", lat.last().map(|v| *v as f64 / 1e6), "ms");
    if spread.servers > 1 {
        let ms = |p: f64| percentile(&cross, p).map(|v| v as f64 / 1e6);
        r.add("cross_server_deliveries", cross.len(), "");
        r.num("cross_latency_p50_ms", ms(50.0), "ms");
        r.num("cross_latency_p99_ms", ms(99.0), "ms");
    }
    let errors = shared.failed_connects.load(Relaxed)
        + shared.unexpected_closes.load(Relaxed)
        + expected.saturating_sub(delivered);
    r.add("errors", errors, "");
    server_figures(&mut r, pids, cpu0, cpu1, delivered, sent);
    if let Some(db) = db {
        db_figures(
            &mut r,
            &db,
            cpu0.zip(cpu1).map(|(a, b)| a.delta_ns(&b)),
            delivered,
        );
    }
    if a.transport != Transport::Websocket {
        // Same window as the CPU figures: from the start signal to the end of the drain.
        let d = http1.since(&http0);
        r.num("measured_secs", Some(measured_secs), "s");
        r.add("http_posts", d.posts, "");
        r.add("http_up_messages", d.up_messages, "");
        r.add("http_polls", d.polls, "");
        r.num(
            "http_requests_per_sec",
            Some((d.posts + d.polls) as f64 / measured_secs.max(1e-9)),
            "req/s",
        );
        r.add("http_down_bytes", d.down_bytes, "B");
        r.num(
            "http_down_bytes_per_delivery",
            (delivered > 0).then(|| d.down_bytes as f64 / delivered as f64),
            "B",
        );
    }
    Ok(r)
}

/// Server CPU (total, per delivery, per sent update) and memory, summed over `pids`.
pub fn server_figures(
    r: &mut Report,
    pids: &[u32],
    cpu0: Option<procstat::CpuSample>,
    cpu1: Option<procstat::CpuSample>,
    delivered: u64,
    sent: u64,
) {
    let cpu_ns = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(a.delta_ns(&b)),
        _ => None,
    };
    r.num("server_cpu_ms", cpu_ns.map(|n| n as f64 / 1e6), "ms");
    r.num(
        "server_cpu_us_per_delivery",
        cpu_ns
            .filter(|_| delivered > 0)
            .map(|n| n as f64 / 1e3 / delivered as f64),
        "us",
    );
    r.num(
        "server_cpu_us_per_update",
        cpu_ns
            .filter(|_| sent > 0)
            .map(|n| n as f64 / 1e3 / sent as f64),
        "us",
    );
    r.add(
        "server_rss_kib",
        procstat::kib_sum(pids, procstat::rss_kib),
        "KiB",
    );
    r.add(
        "server_peak_rss_kib",
        procstat::kib_sum(pids, procstat::hwm_kib),
        "KiB",
    );
}

/// The database's CPU beside the server's (`pgstat`), per delivery, and both together.
pub fn db_figures(r: &mut Report, db: &pgstat::DbCpu, server_ns: Option<u64>, delivered: u64) {
    let per = |ns: u64| (delivered > 0).then(|| ns as f64 / 1e3 / delivered as f64);
    r.add("db_backends", db.backends, "");
    r.num("db_cpu_ms", Some(db.backend_ns as f64 / 1e6), "ms");
    r.num(
        "db_background_cpu_ms",
        Some(db.background_ns as f64 / 1e6),
        "ms",
    );
    r.num("db_cpu_us_per_delivery", per(db.backend_ns), "us");
    r.num(
        "db_background_cpu_us_per_delivery",
        per(db.background_ns),
        "us",
    );
    r.num(
        "server_and_db_cpu_us_per_delivery",
        server_ns.and_then(|s| per(s + db.backend_ns + db.background_ns)),
        "us",
    );
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn each_documents_clients_take_the_servers_in_turn() {
        let spread = Spread {
            docs: 4,
            servers: 3,
        };
        for d in 0..4u32 {
            // client c of document d is sender c * docs + d
            let servers: Vec<usize> = (0..3).map(|c| spread.server_of(c * 4 + d)).collect();
            let mut sorted = servers.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2], "document {d}: {servers:?}");
        }
        // the documents' first clients are spread too
        let first: Vec<usize> = (0..4).map(|d| spread.server_of(d)).collect();
        assert_eq!(first, [0, 1, 2, 0]);
        let one = Spread {
            docs: 4,
            servers: 1,
        };
        assert!((0..12).all(|s| one.server_of(s) == 0));
    }
}
