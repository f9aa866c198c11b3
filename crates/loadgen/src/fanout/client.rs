//! One fan-out client: its connection on whichever transport, the optional preload, and
//! the loop that types on schedule and times every delivery from another client.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use anyhow::{bail, Result};
use rand::{rngs::StdRng as SmallRng, Rng, SeedableRng};
use tokio::sync::{mpsc, watch, Semaphore};
use yrs::{Doc, GetString, OffsetKind, Options, Text, Transact};

use super::{Latencies, Shared, Spread, Window};
use crate::{
    conn::{Conn, Target},
    http::HttpConn,
    proto::{marker, parse, scan_markers, Framing, Incoming},
    report::progress,
    Transport,
};

pub(super) struct Plan {
    pub(super) target: Target,
    pub(super) transport: Transport,
    pub(super) doc: String,
    pub(super) index: usize,
    pub(super) sender: u32,
    pub(super) first: bool,
    pub(super) peers: u64,
    pub(super) preload: usize,
    /// Which server each sender's client is on (`server_of`), to tell deliveries that
    /// crossed from one instance to another.
    pub(super) spread: Spread,
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

/// Random lowercase words, no marker characters.
fn filler(rng: &mut SmallRng, len: usize) -> String {
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

pub(super) async fn client(
    plan: Plan,
    shared: Arc<Shared>,
    sem: Arc<Semaphore>,
    ready: mpsc::UnboundedSender<bool>,
    mut go: watch::Receiver<Option<Window>>,
    mut stop: watch::Receiver<bool>,
) -> Latencies {
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
            return Latencies::default();
        }
    };
    let _ = ready.send(true);
    let Ok(mut window) = go.wait_for(|w| w.is_some()).await.map(|w| w.unwrap()) else {
        return Latencies::default();
    };
    let hp = plan.target.hocuspocus;
    let random_positions = plan.first && plan.preload > 0;
    // A random phase per window, so the clients' sends spread over each period.
    let offset = rng.gen::<f64>();
    let ticker = |w: &Window| {
        let period = Duration::from_secs_f64(1.0 / w.rate);
        let mut tick = tokio::time::interval_at(w.start + period.mul_f64(offset), period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tick
    };
    let mut tick = ticker(&window);
    // A capacity ramp sends further windows; `fanout` keeps its sender until the end.
    let mut more_windows = true;
    let mut sending = true;
    let mut lat = Latencies::default();
    let home = plan.spread.server_of(plan.sender);
    let epoch = shared.epoch;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            changed = go.changed(), if more_windows => {
                match changed {
                    Ok(()) => {
                        if let Some(w) = *go.borrow_and_update() {
                            window = w;
                            tick = ticker(&window);
                            sending = true;
                        }
                    }
                    Err(_) => more_windows = false,
                }
            }
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
                        let before = lat.all.len();
                        scan_markers(u, |sender, sent| {
                            if sender != me {
                                let took = now.saturating_sub(sent);
                                if let Some(steps) = &shared.steps {
                                    steps.record(sent, took);
                                } else {
                                    lat.all.push(took);
                                    if plan.spread.server_of(sender) != home {
                                        lat.cross.push(took);
                                    }
                                }
                            }
                        });
                        let n = (lat.all.len() - before) as u64;
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
