//! One measured run: the group-commit writer, the load that checks the text, and the
//! report.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use tandem_persistence::{AppendItem, Snapshot, Store};
use tokio::sync::mpsc;
use yrs::{
    updates::decoder::Decode, updates::encoder::Encode, GetString, ReadTxn, StateVector, Transact,
    Update,
};

use crate::{target::Target, trace::new_doc, Args, Mode, DOC, TEXT_FIELD};

pub(crate) struct WriteStats {
    elapsed: Duration,
    batches: usize,
    commit: Vec<Duration>,
    /// From a keystroke's arrival to the commit that made it durable.
    latency: Vec<Duration>,
}

/// Feeds keystrokes to a single group-commit writer and waits until all are durable.
pub(crate) async fn write_trace(
    store: Arc<dyn Store>,
    updates: Arc<Vec<Vec<u8>>>,
    mode: Mode,
    rate: f64,
    tick: Duration,
    max_batch: usize,
) -> Result<WriteStats> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let n = updates.len();
    let started = Instant::now();
    let producer = tokio::spawn(async move {
        match mode {
            Mode::Fast => {
                let now = Instant::now();
                for i in 0..n {
                    let _ = tx.send((i, now));
                }
            }
            Mode::Paced => {
                let mut sent = 0;
                let mut ticker = tokio::time::interval(tick);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while sent < n {
                    ticker.tick().await;
                    let due = ((started.elapsed().as_secs_f64() * rate) as usize).min(n);
                    let now = Instant::now();
                    for i in sent..due {
                        let _ = tx.send((i, now));
                    }
                    sent = sent.max(due);
                }
            }
        }
    });

    let mut stats = WriteStats {
        elapsed: Duration::ZERO,
        batches: 0,
        commit: Vec::new(),
        latency: Vec::with_capacity(n),
    };
    let mut batch: Vec<(usize, Instant)> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        // The server copies each update out of its shared buffer too.
        let items: Vec<AppendItem> = batch
            .iter()
            .map(|(i, _)| AppendItem {
                doc: DOC.to_string(),
                doc_id: None,
                data: updates[*i].clone(),
                author: None,
            })
            .collect();
        let t = Instant::now();
        store.append(&items).await?;
        let done = Instant::now();
        stats.commit.push(done - t);
        stats
            .latency
            .extend(batch.drain(..).map(|(_, arrived)| done - arrived));
        stats.batches += 1;
    }
    stats.elapsed = started.elapsed();
    producer.await?;
    Ok(stats)
}

pub(crate) struct Loaded {
    fetch: Duration,
    apply: Duration,
    rows: usize,
    last_seq: i64,
    doc: yrs::Doc,
}

/// Loads the document and rebuilds it like the server does, then checks the text.
pub(crate) async fn load_and_check(store: &dyn Store, expected: &str) -> Result<Loaded> {
    let t = Instant::now();
    let stored = store.load(DOC).await?.context("document missing")?;
    let fetch = t.elapsed();
    let t = Instant::now();
    let doc = new_doc();
    let text = doc.get_or_insert_text(TEXT_FIELD);
    {
        let mut txn = doc.transact_mut();
        for bytes in stored.snapshot.iter().chain(stored.updates.iter()) {
            txn.apply_update(Update::decode_v1(bytes)?)?;
        }
    }
    let got = text.get_string(&doc.transact());
    let apply = t.elapsed();
    if got != expected {
        let at = got
            .chars()
            .zip(expected.chars())
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(expected.len()));
        bail!(
            "LOADED TEXT DIFFERS: {} chars loaded vs {} expected, first difference at char {at}",
            got.chars().count(),
            expected.chars().count()
        );
    }
    Ok(Loaded {
        fetch,
        apply,
        rows: stored.updates.len() + usize::from(stored.snapshot.is_some()),
        last_seq: stored.last_seq,
        doc,
    })
}

/// Median of three loads: the first one pays for cold caches, which is not what we compare.
pub(crate) async fn timed_load(store: &dyn Store, expected: &str) -> Result<Loaded> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(load_and_check(store, expected).await?);
    }
    runs.sort_by_key(|l| l.fetch + l.apply);
    Ok(runs.swap_remove(1))
}

pub(crate) fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

pub(crate) fn kib(b: i64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

pub(crate) async fn run_mode(
    args: &Args,
    mode: Mode,
    updates: Arc<Vec<Vec<u8>>>,
    expected: &str,
) -> Result<()> {
    let target = Target::open(args).await?;
    let store = target.store.clone();
    let n = updates.len();
    let label = match mode {
        Mode::Fast => "fast (all keystrokes queued at once)".to_string(),
        Mode::Paced => format!(
            "paced ({:.0} keystrokes/s released every {} ms)",
            args.rate,
            args.tick.as_secs_f64() * 1e3
        ),
    };
    println!("\n== {:?} / {label}", args.backend);

    let mut w = write_trace(
        store.clone(),
        updates.clone(),
        mode,
        args.rate,
        args.tick,
        args.max_batch,
    )
    .await?;
    w.commit.sort();
    w.latency.sort();
    println!(
        "write:   {n} keystrokes in {:.2} s = {:.0} keystrokes/s persisted; {} commits, \
         {:.1} keystrokes/commit",
        w.elapsed.as_secs_f64(),
        n as f64 / w.elapsed.as_secs_f64(),
        w.batches,
        n as f64 / w.batches as f64
    );
    println!(
        "commit:  p50 {}  p99 {}  max {}",
        ms(pct(&w.commit, 0.5)),
        ms(pct(&w.commit, 0.99)),
        ms(pct(&w.commit, 1.0))
    );
    if mode == Mode::Paced {
        println!(
            "keystroke -> durable: p50 {}  p99 {}  max {}",
            ms(pct(&w.latency, 0.5)),
            ms(pct(&w.latency, 0.99)),
            ms(pct(&w.latency, 1.0))
        );
    }

    let logical_before = store.document(DOC).await?.context("document")?.size_bytes;
    let payload: i64 = updates.iter().map(|u| u.len() as i64).sum();
    if logical_before != payload {
        bail!("size_bytes {logical_before} != {payload} bytes appended");
    }
    let physical_before = target.physical_bytes().await?;
    let before = timed_load(store.as_ref(), expected).await?;
    println!(
        "before compaction: size_bytes {} ({} updates), tables {}; load {} + apply {} = {}",
        kib(logical_before),
        before.rows,
        kib(physical_before),
        ms(before.fetch),
        ms(before.apply),
        ms(before.fetch + before.apply)
    );

    let snapshot = {
        let txn = before.doc.transact();
        Snapshot {
            state: txn.encode_state_as_update_v1(&StateVector::default()),
            state_vector: txn.state_vector().encode_v1(),
            upto_seq: before.last_seq,
        }
    };
    let t = Instant::now();
    let stats = store.compact(DOC, &snapshot).await?;
    let compact_time = t.elapsed();
    if stats.updates_removed != n as u64 {
        bail!(
            "compaction removed {} of {n} updates",
            stats.updates_removed
        );
    }
    let logical_after = store.document(DOC).await?.context("document")?.size_bytes;
    let physical_after = target.physical_bytes().await?;
    let after = timed_load(store.as_ref(), expected).await?;
    println!(
        "after compaction:  size_bytes {} ({} row), tables {}; load {} + apply {} = {}; \
         compact() took {}",
        kib(logical_after),
        after.rows,
        kib(physical_after),
        ms(after.fetch),
        ms(after.apply),
        ms(after.fetch + after.apply),
        ms(compact_time)
    );
    println!("text verified: {} chars", expected.chars().count());
    drop(store);
    target.close().await
}
