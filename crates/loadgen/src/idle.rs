//! `idle`: N connections across M documents that handshake, announce an awareness state
//! and then only renew it. Phase 1 opens one connection per document, phase 2 the rest;
//! the server's RSS after each phase gives memory per loaded document and per connection.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use rand::{rngs::StdRng as SmallRng, Rng, SeedableRng};
use tokio::{
    sync::{mpsc, watch, Semaphore},
    task::JoinHandle,
};
use yrs::Doc;

use crate::{
    conn::Target,
    procstat,
    proto::Incoming,
    report::{progress, Report},
    Common, IdleArgs,
};

struct Shared {
    failed: AtomicU64,
    closes: AtomicU64,
    awareness_sent: AtomicU64,
}

pub async fn run(common: &Common, a: &IdleArgs, nofile: u64) -> Result<Report> {
    if a.docs == 0 || a.connections < a.docs {
        bail!("need --connections >= --docs > 0");
    }
    if nofile < a.connections as u64 + 64 {
        progress(format!(
            "warning: RLIMIT_NOFILE is {nofile}, too low for {} connections",
            a.connections
        ));
    }
    let target = common.target();
    let prefix = common.prefix();
    let pid = common.server_pid();
    let shared = Arc::new(Shared {
        failed: AtomicU64::new(0),
        closes: AtomicU64::new(0),
        awareness_sent: AtomicU64::new(0),
    });
    let sem = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let settle = Duration::from_secs_f64(a.settle);
    let rss = || pid.and_then(procstat::rss_kib);

    let rss0 = rss();
    let mut tasks = Vec::with_capacity(a.connections);
    progress(format!("idle: phase 1, {} documents", a.docs));
    let t1 = Instant::now();
    open(
        &mut tasks,
        0..a.docs,
        a,
        &target,
        &prefix,
        &shared,
        &sem,
        &stop_rx,
    )
    .await;
    let phase1_secs = t1.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let rss1 = rss();
    progress(format!(
        "idle: phase 2, {} more connections",
        a.connections - a.docs
    ));
    let t2 = Instant::now();
    open(
        &mut tasks,
        a.docs..a.connections,
        a,
        &target,
        &prefix,
        &shared,
        &sem,
        &stop_rx,
    )
    .await;
    let phase2_secs = t2.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let rss2 = rss();
    progress(format!("idle: holding for {} s", a.hold));
    tokio::time::sleep(Duration::from_secs_f64(a.hold)).await;
    let rss3 = rss();
    let hwm = pid.and_then(procstat::hwm_kib);
    let closes_during_hold = shared.closes.load(Relaxed);
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }

    let failed = shared.failed.load(Relaxed);
    let open_conns = a.connections as u64 - failed;
    let phase2_conns = (a.connections - a.docs) as f64;
    let per_conn = match (rss1, rss2) {
        (Some(x), Some(y)) if phase2_conns > 0.0 => {
            Some((y as f64 - x as f64) * 1024.0 / phase2_conns)
        }
        _ => None,
    };
    // Phase 1 added one document and one connection per document.
    let per_doc = match (rss0, rss1, per_conn) {
        (Some(x), Some(y), Some(c)) => Some((y as f64 - x as f64) * 1024.0 / a.docs as f64 - c),
        _ => None,
    };
    let mut r = Report::new("idle");
    r.add("connections", a.connections, "");
    r.add("docs", a.docs, "");
    r.add("open_connections", open_conns, "");
    r.add("connect_failures", failed, "");
    r.add("unexpected_closes", closes_during_hold, "");
    r.add("errors", failed + closes_during_hold, "");
    r.num(
        "connects_per_sec",
        Some(phase2_conns / phase2_secs.max(1e-9)),
        "conn/s",
    );
    r.num("phase1_secs", Some(phase1_secs), "s");
    r.num("phase2_secs", Some(phase2_secs), "s");
    r.add("awareness_sent", shared.awareness_sent.load(Relaxed), "");
    r.add("server_rss_start_kib", rss0, "KiB");
    r.add("server_rss_docs_kib", rss1, "KiB");
    r.add("server_rss_all_kib", rss2, "KiB");
    r.add("server_rss_end_kib", rss3, "KiB");
    r.add("server_peak_rss_kib", hwm, "KiB");
    r.num("bytes_per_connection", per_conn, "B");
    r.num("bytes_per_document", per_doc, "B");
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
async fn open(
    tasks: &mut Vec<JoinHandle<()>>,
    range: std::ops::Range<usize>,
    a: &IdleArgs,
    target: &Target,
    prefix: &str,
    shared: &Arc<Shared>,
    sem: &Arc<Semaphore>,
    stop: &watch::Receiver<bool>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let n = range.len();
    for i in range {
        let doc_name = format!("{prefix}-{}", i % a.docs);
        tasks.push(tokio::spawn(idle_client(
            i,
            doc_name,
            target.clone(),
            shared.clone(),
            sem.clone(),
            stop.clone(),
            tx.clone(),
            Duration::from_secs_f64(a.awareness_interval),
        )));
    }
    drop(tx);
    let mut done = 0;
    let mut next_report = 2000;
    while done < n && rx.recv().await.is_some() {
        done += 1;
        if done == next_report {
            next_report += 2000;
            progress(format!("{done}/{n} connected"));
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn idle_client(
    index: usize,
    doc_name: String,
    target: Target,
    shared: Arc<Shared>,
    sem: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    ready: mpsc::UnboundedSender<()>,
    interval: Duration,
) {
    let mut rng = SmallRng::from_entropy();
    let client_id = rng.gen::<u32>() as u64;
    let doc = Doc::with_client_id(client_id);
    let json = format!(
        r##"{{"user":{{"name":"idle-{index}","color":"#30bced","colorLight":"#30bced33"}}}}"##
    );
    let conn = {
        let _permit = sem.acquire().await;
        target.connect(&doc_name, index, &doc).await
    };
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => {
            if shared.failed.fetch_add(1, Relaxed) < 5 {
                progress(format!("connection {index}: {e:#}"));
            }
            let _ = ready.send(());
            return;
        }
    };
    let mut clock = 1u32;
    let frame = conn.framing.awareness(client_id, clock, &json);
    if conn.send(frame).await.is_err() {
        shared.failed.fetch_add(1, Relaxed);
        let _ = ready.send(());
        return;
    }
    shared.awareness_sent.fetch_add(1, Relaxed);
    let _ = ready.send(());
    let hp = target.hocuspocus;
    let first = tokio::time::Instant::now() + interval.mul_f64(rng.gen::<f64>());
    let mut tick = tokio::time::interval_at(first, interval);
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            frame = conn.next_frame() => {
                let Ok(Some(frame)) = frame else {
                    if !*stop.borrow() {
                        shared.closes.fetch_add(1, Relaxed);
                    }
                    break;
                };
                if let Some(m @ (Incoming::Step1(_) | Incoming::Ping)) = crate::proto::parse(&frame, hp) {
                    let _ = conn.answer(&m, &doc).await;
                }
            }
            _ = tick.tick() => {
                clock += 1;
                let frame = conn.framing.awareness(client_id, clock, &json);
                if conn.send(frame).await.is_err() {
                    shared.closes.fetch_add(1, Relaxed);
                    break;
                }
                shared.awareness_sent.fetch_add(1, Relaxed);
            }
        }
    }
}
