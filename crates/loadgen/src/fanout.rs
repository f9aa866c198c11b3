//! `fanout`: R documents x C clients, each typing U small updates per second. Every update
//! carries `@@<sender>:<nanos since the shared epoch>|`; receivers scan it out of the raw
//! update and record receive time - send time for every delivery to another client.
//! Clients speak WebSocket, SSE or long polling (`--transport`); an HTTP client's
//! receive time is when the bytes arrived (SSE chunk, poll answer), a WebSocket client's
//! when its loop reads the frame.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use rand::{rngs::StdRng as SmallRng, Rng, SeedableRng};
use tokio::sync::{mpsc, watch, Semaphore};
use yrs::{Doc, GetString, OffsetKind, Options, Text, Transact};

use crate::{
    conn::{Conn, Target},
    http::{HttpConn, HttpStats},
    procstat,
    proto::{marker, parse, scan_markers, Framing, Incoming},
    report::{percentile, progress, Report},
    Common, FanoutArgs, Transport,
};

struct Shared {
    epoch: Instant,
    sent: AtomicU64,
    expected: AtomicU64,
    delivered: AtomicU64,
    failed_connects: AtomicU64,
    unexpected_closes: AtomicU64,
    http: Arc<HttpStats>,
}

struct Plan {
    target: Target,
    transport: Transport,
    doc: String,
    index: usize,
    sender: u32,
    first: bool,
    peers: u64,
    rate: f64,
    preload: usize,
}

/// One client's connection, whatever the transport.
enum Link {
    Ws(Box<Conn>),
    Http(HttpConn),
}

impl Link {
    async fn open(plan: &Plan, doc: &Doc, shared: &Shared) -> Result<Link> {
        match plan.transport {
            Transport::Websocket => plan
                .target
                .connect(&plan.doc, plan.index, doc)
                .await
                .map(|c| Link::Ws(Box::new(c))),
            t => crate::http::connect(
                &plan.target,
                t,
                &plan.doc,
                plan.index,
                doc,
                shared.epoch,
                shared.http.clone(),
            )
            .await
            .map(Link::Http),
        }
    }

    fn framing(&self) -> &Framing {
        match self {
            Link::Ws(c) => &c.framing,
            Link::Http(c) => &c.framing,
        }
    }

    async fn send(&mut self, bytes: Vec<u8>) -> Result<()> {
        match self {
            Link::Ws(c) => c.send(bytes).await,
            Link::Http(c) => c.send(bytes),
        }
    }

    /// Next frame, with its arrival time when the transport recorded one.
    async fn next_frame(&mut self) -> Result<Option<(Option<u64>, Vec<u8>)>> {
        match self {
            Link::Ws(c) => Ok(c.next_frame().await?.map(|f| (None, f))),
            Link::Http(c) => Ok(c.next_frame().await?.map(|(at, f)| (Some(at), f))),
        }
    }

    async fn answer(&mut self, msg: &Incoming<'_>, doc: &Doc) -> Result<()> {
        match self {
            Link::Ws(c) => c.answer(msg, doc).await,
            Link::Http(c) => c.answer(msg, doc),
        }
    }
}

#[derive(Clone, Copy)]
struct Window {
    start: tokio::time::Instant,
    end: tokio::time::Instant,
}

pub async fn run(common: &Common, a: &FanoutArgs) -> Result<Report> {
    if a.docs == 0 || a.clients == 0 || a.rate <= 0.0 {
        bail!("--docs, --clients and --rate must be positive");
    }
    if a.transport != Transport::Websocket && common.hocuspocus {
        bail!("--hocuspocus needs --transport websocket");
    }
    let target = common.target();
    let prefix = common.prefix();
    let total = a.docs * a.clients;
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        sent: AtomicU64::new(0),
        expected: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        failed_connects: AtomicU64::new(0),
        unexpected_closes: AtomicU64::new(0),
        http: Arc::new(HttpStats::default()),
    });
    let sem = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<bool>();
    let (go_tx, go_rx) = watch::channel(None::<Window>);
    let (stop_tx, stop_rx) = watch::channel(false);

    progress(format!(
        "fanout ({}): {} docs x {} clients, {} updates/s each for {} s",
        a.transport.as_str(),
        a.docs,
        a.clients,
        a.rate,
        a.duration
    ));
    let setup_start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    // Client-major order: every document gets its first client early.
    for c in 0..a.clients {
        for d in 0..a.docs {
            let index = c * a.docs + d;
            let plan = Plan {
                target: target.clone(),
                transport: a.transport,
                doc: format!("{prefix}-{d}"),
                index,
                sender: index as u32,
                first: c == 0,
                peers: (a.clients - 1) as u64,
                rate: a.rate,
                preload: a.preload_bytes,
            };
            tasks.push(tokio::spawn(client(
                plan,
                shared.clone(),
                sem.clone(),
                ready_tx.clone(),
                go_rx.clone(),
                stop_rx.clone(),
            )));
        }
    }
    drop(ready_tx);
    let mut ready = 0usize;
    let mut ok = 0usize;
    let mut next_report = 1000usize;
    while ready < total {
        match ready_rx.recv().await {
            Some(good) => {
                ready += 1;
                ok += good as usize;
                if ready == next_report {
                    next_report += 1000;
                    progress(format!("{ready}/{total} connected"));
                }
            }
            None => break,
        }
    }
    let setup_secs = setup_start.elapsed().as_secs_f64();
    progress(format!("{ok}/{total} clients ready in {setup_secs:.2} s"));

    let pid = common.server_pid;
    let cpu0 = pid.and_then(procstat::cpu);
    let http0 = shared.http.snapshot();
    let measure_start = Instant::now();
    let start = tokio::time::Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs_f64(a.duration);
    let _ = go_tx.send(Some(Window { start, end }));
    tokio::time::sleep_until(end).await;
    let drain_deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.drain);
    // Sends still in flight (a tick just before `end`) settle within a few ms.
    tokio::time::sleep(Duration::from_millis(50)).await;
    while tokio::time::Instant::now() < drain_deadline
        && shared.delivered.load(Relaxed) < shared.expected.load(Relaxed)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu1 = pid.and_then(procstat::cpu);
    let http1 = shared.http.snapshot();
    let measured_secs = measure_start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);

    let mut lat: Vec<u64> = Vec::new();
    for t in tasks {
        if let Ok(mut v) = t.await {
            lat.append(&mut v);
        }
    }
    lat.sort_unstable();
    let sent = shared.sent.load(Relaxed);
    let expected = shared.expected.load(Relaxed);
    let delivered = lat.len() as u64;

    let mut r = Report::new("fanout");
    r.add("transport", a.transport.as_str(), "");
    r.add("docs", a.docs, "");
    r.add("clients_per_doc", a.clients, "");
    r.add("connections", total, "");
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
    let errors = shared.failed_connects.load(Relaxed)
        + shared.unexpected_closes.load(Relaxed)
        + expected.saturating_sub(delivered);
    r.add("errors", errors, "");
    server_figures(&mut r, pid, cpu0, cpu1, delivered, sent);
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

/// Server CPU (total, per delivery, per sent update) and memory.
pub fn server_figures(
    r: &mut Report,
    pid: Option<u32>,
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
    r.add("server_rss_kib", pid.and_then(procstat::rss_kib), "KiB");
    r.add(
        "server_peak_rss_kib",
        pid.and_then(procstat::hwm_kib),
        "KiB",
    );
}

/// Random lowercase words, no marker characters.
pub fn filler(rng: &mut SmallRng, len: usize) -> String {
    let mut s = String::with_capacity(len);
    while s.len() < len {
        let word = rng.gen_range(1..9);
        for _ in 0..word {
            s.push(rng.gen_range(b'a'..=b'z') as char);
        }
        s.push(if rng.gen_ratio(1, 12) { '\n' } else { ' ' });
    }
    s.truncate(len);
    s
}

async fn preload(conn: &mut Link, doc: &Doc, bytes: usize, rng: &mut SmallRng) -> Result<()> {
    let text = doc.get_or_insert_text("content");
    let hp = conn.framing().is_hocuspocus();
    let mut sent = 0usize;
    let mut done = 0usize;
    while done < bytes {
        let chunk = filler(rng, (bytes - done).min(64 * 1024));
        done += chunk.len();
        let update = {
            let mut txn = doc.transact_mut();
            let end = text.len(&txn);
            text.insert(&mut txn, end, &chunk);
            txn.encode_update_v1()
        };
        let frame = conn.framing().update(update);
        conn.send(frame).await?;
        sent += 1;
    }
    let mut acked = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked < sent {
        let frame = tokio::time::timeout_at(deadline, conn.next_frame()).await;
        let Ok(Ok(Some((_, frame)))) = frame else {
            bail!("no acknowledgement of the preload");
        };
        match parse(&frame, hp) {
            Some(Incoming::Update(_)) if !hp => acked += 1,
            Some(Incoming::SyncStatus(true)) => acked += 1,
            Some(m @ (Incoming::Step1(_) | Incoming::Ping)) => conn.answer(&m, doc).await?,
            _ => {}
        }
    }
    debug_assert!(text.get_string(&doc.transact()).len() == bytes);
    Ok(())
}

async fn client(
    plan: Plan,
    shared: Arc<Shared>,
    sem: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<bool>,
    mut go: watch::Receiver<Option<Window>>,
    mut stop: watch::Receiver<bool>,
) -> Vec<u64> {
    let mut rng = SmallRng::from_entropy();
    let doc = Doc::with_options(Options {
        client_id: yrs::block::ClientID::new(rng.gen::<u32>() as u64),
        offset_kind: OffsetKind::Utf16,
        ..Options::default()
    });
    let text = doc.get_or_insert_text("content");
    let connected = {
        let _permit = sem.acquire().await;
        match Link::open(&plan, &doc, &shared).await {
            Ok(mut c) => {
                if plan.first && plan.preload > 0 {
                    preload(&mut c, &doc, plan.preload, &mut rng)
                        .await
                        .map(|_| c)
                } else {
                    Ok(c)
                }
            }
            Err(e) => Err(e),
        }
    };
    let mut conn = match connected {
        Ok(c) => c,
        Err(e) => {
            if shared.failed_connects.fetch_add(1, Relaxed) < 5 {
                progress(format!("client {} ({}): {e:#}", plan.index, plan.doc));
            }
            let _ = ready.send(false);
            return Vec::new();
        }
    };
    let _ = ready.send(true);
    let Ok(window) = go.wait_for(|w| w.is_some()).await.map(|w| w.unwrap()) else {
        return Vec::new();
    };
    let hp = plan.target.hocuspocus;
    let random_positions = plan.first && plan.preload > 0;
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let phase = period.mul_f64(rng.gen::<f64>());
    let mut tick = tokio::time::interval_at(window.start + phase, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sending = true;
    let mut lat = Vec::new();
    let epoch = shared.epoch;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            frame = conn.next_frame() => {
                let (at, frame) = match frame {
                    Ok(Some(f)) => f,
                    other => {
                        if shared.unexpected_closes.fetch_add(1, Relaxed) < 5 {
                            let why = other.err().map(|e| format!("{e:#}"));
                            progress(format!(
                                "client {}: connection lost: {}",
                                plan.index,
                                why.as_deref().unwrap_or("closed")
                            ));
                        }
                        break;
                    }
                };
                match parse(&frame, hp) {
                    Some(Incoming::Update(u)) => {
                        let now = at.unwrap_or_else(|| epoch.elapsed().as_nanos() as u64);
                        let me = plan.sender;
                        let before = lat.len();
                        scan_markers(u, |sender, sent| {
                            if sender != me {
                                lat.push(now.saturating_sub(sent));
                            }
                        });
                        let n = (lat.len() - before) as u64;
                        if n > 0 {
                            shared.delivered.fetch_add(n, Relaxed);
                        }
                    }
                    Some(m @ (Incoming::Step1(_) | Incoming::Ping)) => {
                        let failed = conn.answer(&m, &doc).await.is_err();
                        if failed {
                            shared.unexpected_closes.fetch_add(1, Relaxed);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            _ = tick.tick(), if sending => {
                if tokio::time::Instant::now() >= window.end {
                    sending = false;
                    continue;
                }
                let update = {
                    let mut txn = doc.transact_mut();
                    let len = text.len(&txn);
                    let pos = if random_positions { rng.gen_range(0..=len) } else { len };
                    let nanos = epoch.elapsed().as_nanos() as u64;
                    text.insert(&mut txn, pos, &marker(plan.sender, nanos));
                    txn.encode_update_v1()
                };
                let frame = conn.framing().update(update);
                shared.expected.fetch_add(plan.peers, Relaxed);
                shared.sent.fetch_add(1, Relaxed);
                if conn.send(frame).await.is_err() {
                    shared.unexpected_closes.fetch_add(1, Relaxed);
                    break;
                }
            }
        }
    }
    lat
}
