//! The clients of one run: connected before any typing starts, then driven by windows.

use std::{sync::Arc, time::Instant};

use tokio::{
    sync::{mpsc, watch, Semaphore},
    task::JoinHandle,
};

use super::{
    client::{client, Plan},
    Latencies, Shared, Spread, Window,
};
use crate::{report::progress, Common, Transport};

/// Documents, clients per document and how they connect.
pub(super) struct Layout {
    pub(super) transport: Transport,
    pub(super) docs: usize,
    pub(super) clients: usize,
    pub(super) preload: usize,
}

/// The clients of one run, connected and waiting for their first window.
pub(super) struct Crowd {
    pub(super) tasks: Vec<JoinHandle<Latencies>>,
    pub(super) go: watch::Sender<Option<Window>>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) spread: Spread,
    pub(super) total: usize,
    /// Clients that connected.
    pub(super) ok: usize,
    pub(super) setup_secs: f64,
}

/// Connects every client (`connect_concurrency` at a time) and waits until each is ready
/// or has failed.
pub(super) async fn gather(common: &Common, layout: &Layout, shared: &Arc<Shared>) -> Crowd {
    let targets = common.targets();
    let spread = Spread {
        docs: layout.docs,
        servers: targets.len(),
    };
    let prefix = common.prefix();
    let total = layout.docs * layout.clients;
    let sem = Arc::new(Semaphore::new(common.connect_concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<bool>();
    let (go_tx, go_rx) = watch::channel(None::<Window>);
    let (stop_tx, stop_rx) = watch::channel(false);
    let setup_start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    // Client-major order: every document gets its first client early.
    for c in 0..layout.clients {
        for d in 0..layout.docs {
            let index = c * layout.docs + d;
            let plan = Plan {
                target: targets[spread.server_of(index as u32)].clone(),
                transport: layout.transport,
                doc: format!("{prefix}-{d}"),
                index,
                sender: index as u32,
                first: c == 0,
                peers: (layout.clients - 1) as u64,
                preload: layout.preload,
                spread,
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
    Crowd {
        tasks,
        go: go_tx,
        stop: stop_tx,
        spread,
        total,
        ok,
        setup_secs,
    }
}
