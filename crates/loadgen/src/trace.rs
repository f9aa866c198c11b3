//! `trace`: replays a sequential editing trace keystroke by keystroke through one writer,
//! as fast as the server acknowledges (its echo of each update, sent once committed; the
//! Hocuspocus sync-status message there), with up to `window` updates outstanding.
//! Readers keep every update they receive; after the run each applies them to a fresh
//! document and its text must equal the trace's `endContent`.

use std::{
    fs::File,
    io::BufReader,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use serde::Deserialize;
use tokio::sync::watch;
use yrs::{updates::decoder::Decode, Doc, GetString, OffsetKind, Options, Text, Transact, Update};

use crate::{
    conn::Conn,
    fanout::server_figures,
    procstat,
    proto::{parse, Incoming},
    report::{progress, Report},
    Common, TraceArgs,
};

#[derive(Deserialize)]
struct TraceFile {
    #[serde(rename = "endContent")]
    end_content: String,
    txns: Vec<Txn>,
}

#[derive(Deserialize)]
struct Txn {
    patches: Vec<(usize, usize, String)>,
}

fn doc() -> Doc {
    Doc::with_options(Options {
        offset_kind: OffsetKind::Utf16,
        ..Options::default()
    })
}

/// Builds one Yjs update per transaction. Positions are code points; for text without
/// characters above U+FFFF they equal UTF-16 offsets.
fn build_updates(trace: &TraceFile, limit: usize) -> Result<(Vec<Vec<u8>>, String, u64)> {
    let d = doc();
    let text = d.get_or_insert_text("content");
    let mut out = Vec::with_capacity(limit);
    let mut keystrokes = 0u64;
    for t in trace.txns.iter().take(limit) {
        let mut txn = d.transact_mut();
        for (pos, del, ins) in &t.patches {
            if ins.chars().any(|c| c as u32 > 0xFFFF) {
                bail!("trace has characters outside the BMP; use an ascii_only/ variant");
            }
            if *del > 0 {
                text.remove_range(&mut txn, *pos as u32, *del as u32);
            }
            if !ins.is_empty() {
                text.insert(&mut txn, *pos as u32, ins);
            }
            keystrokes += (*del + ins.chars().count()) as u64;
        }
        out.push(txn.encode_update_v1());
    }
    let expected = text.get_string(&d.transact());
    Ok((out, expected, keystrokes))
}

pub async fn run(common: &Common, a: &TraceArgs) -> Result<Report> {
    let file = File::open(&a.file).with_context(|| format!("open {}", a.file.display()))?;
    let trace: TraceFile = serde_json::from_reader(BufReader::new(GzDecoder::new(file)))
        .with_context(|| format!("parse {}", a.file.display()))?;
    let limit = a.limit.unwrap_or(trace.txns.len()).min(trace.txns.len());
    let (updates, expected, keystrokes) = build_updates(&trace, limit)?;
    if limit == trace.txns.len() && expected != trace.end_content {
        bail!("local replay does not match endContent");
    }
    progress(format!(
        "trace {}: {} txns, {} keystrokes, final text {} chars",
        a.file.display(),
        updates.len(),
        keystrokes,
        expected.chars().count()
    ));
    let target = common.target();
    let name = format!("{}-trace", common.prefix());
    let hp = target.hocuspocus;

    // Readers first, so the writer's edits all arrive as updates.
    let (stop_tx, stop_rx) = watch::channel(false);
    let last_rx = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let mut readers = Vec::new();
    let mut closes = 0u64;
    for i in 0..a.readers {
        let d = doc();
        let conn = target.connect(&name, i + 1, &d).await?;
        readers.push(tokio::spawn(reader(
            conn,
            d,
            stop_rx.clone(),
            last_rx.clone(),
            epoch,
        )));
    }
    let wdoc = doc();
    let mut writer = target.connect(&name, 0, &wdoc).await?;
    progress(format!("{} readers and the writer connected", a.readers));

    let pids: Vec<u32> = common.server_pid().into_iter().collect();
    let cpu0 = procstat::cpu_sum(&pids);
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(a.timeout);
    let total = updates.len();
    let mut sent = 0usize;
    let mut acked = 0usize;
    let mut timed_out = false;
    let mut next_progress = Instant::now() + Duration::from_secs(2);
    let mut iter = updates.into_iter();
    while acked < total {
        let mut fed = false;
        while sent < total && sent - acked < a.window {
            let frame = writer.framing.update(iter.next().expect("counted"));
            writer.feed(frame).await?;
            sent += 1;
            fed = true;
        }
        if fed {
            writer.flush().await?;
        }
        let frame = match tokio::time::timeout_at(deadline, writer.next_frame()).await {
            Err(_) => {
                timed_out = true;
                break;
            }
            Ok(Ok(Some(f))) => f,
            Ok(_) => {
                closes += 1;
                break;
            }
        };
        match parse(&frame, hp) {
            Some(Incoming::Update(_)) if !hp => acked += 1,
            Some(Incoming::SyncStatus(true)) => acked += 1,
            Some(m @ (Incoming::Step1(_) | Incoming::Ping)) => writer.answer(&m, &wdoc).await?,
            _ => {}
        }
        if Instant::now() >= next_progress {
            next_progress += Duration::from_secs(2);
            progress(format!("{acked}/{total} acknowledged"));
        }
    }
    let writer_secs = start.elapsed().as_secs_f64();
    // Readers: wait until they went quiet (all delivered) or the deadline.
    loop {
        let last = Duration::from_nanos(last_rx.load(Relaxed));
        let quiet = epoch.elapsed().saturating_sub(last);
        if quiet > Duration::from_millis(500) || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu1 = procstat::cpu_sum(&pids);
    let last = Duration::from_nanos(last_rx.load(Relaxed));
    let relay_secs = last
        .saturating_sub(start.duration_since(epoch))
        .as_secs_f64()
        .max(writer_secs);
    let _ = stop_tx.send(true);

    let mut matching = 0usize;
    let mut received = Vec::new();
    for r in readers {
        let (text, n, closed) = r.await?;
        closes += closed as u64;
        received.push(n);
        matching += (text == expected) as usize;
    }
    let min_received = received.iter().copied().min().unwrap_or(0);
    let done_keys = if acked == total {
        keystrokes
    } else {
        keystrokes * acked as u64 / total.max(1) as u64
    };

    let mut r = Report::new("trace");
    r.add("trace", a.file.display().to_string(), "");
    r.add("txns", total, "");
    r.add("keystrokes", keystrokes, "");
    r.add("readers", a.readers, "");
    r.add("window", a.window, "");
    r.add("acknowledged", acked, "");
    r.add("timed_out", timed_out, "");
    r.add("unexpected_closes", closes, "");
    r.num("writer_secs", Some(writer_secs), "s");
    r.num("relay_secs", Some(relay_secs), "s");
    r.num(
        "keystrokes_per_sec",
        Some(done_keys as f64 / relay_secs.max(1e-9)),
        "keys/s",
    );
    r.num(
        "updates_per_sec",
        Some(acked as f64 / relay_secs.max(1e-9)),
        "updates/s",
    );
    r.add("reader_min_updates_received", min_received, "");
    r.add("readers_matching_end_content", matching, "");
    r.add(
        "verified",
        acked == total && matching == a.readers && limit == trace.txns.len(),
        "",
    );
    server_figures(
        &mut r,
        &pids,
        cpu0,
        cpu1,
        acked as u64 * a.readers as u64,
        acked as u64,
    );
    Ok(r)
}

/// Collects every update until told to stop; then replays them into `d` and returns its
/// text, how many update messages arrived, and whether the socket closed early.
async fn reader(
    mut conn: Conn,
    d: Doc,
    mut stop: watch::Receiver<bool>,
    last: Arc<AtomicU64>,
    epoch: Instant,
) -> (String, usize, bool) {
    let hp = conn.framing.is_hocuspocus();
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut closed = false;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            frame = conn.next_frame() => {
                let Ok(Some(frame)) = frame else { closed = true; break };
                match parse(&frame, hp) {
                    Some(Incoming::Update(u)) => {
                        got.push(u.to_vec());
                        last.fetch_max(epoch.elapsed().as_nanos() as u64, Relaxed);
                    }
                    Some(m @ (Incoming::Step1(_) | Incoming::Ping)) => {
                        let _ = conn.answer(&m, &d).await;
                    }
                    _ => {}
                }
            }
        }
    }
    let n = got.len();
    let text = d.get_or_insert_text("content");
    {
        let mut txn = d.transact_mut();
        for u in got {
            if let Ok(u) = Update::decode_v1(&u) {
                let _ = txn.apply_update(u);
            }
        }
    }
    let s = text.get_string(&d.transact());
    (s, n, closed)
}
