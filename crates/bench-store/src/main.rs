//! Replays a recorded editing trace through the `Store` the way the server persists edits.
//!
//! Every keystroke becomes its own Yjs update (as it would coming from a browser), and a
//! single writer appends them with group commit: each `append` carries whatever arrived
//! while the previous commit was in flight. That is the write pattern whose throughput,
//! storage growth and load time decide whether per-keystroke durability is affordable, so
//! it is what we measure, on both backends, before and after compaction.
//!
//! ```text
//! cargo run --release -p bench-store -- --backend sqlite|postgres [--trace PATH] [--limit N]
//!     [--mode fast|paced|both] [--rate KEYSTROKES_PER_S] [--tick-ms MS] [--max-batch N]
//!     [--pg-url ADMIN_URL]
//! ```

use std::{
    io::Read,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sqlx::Connection;
use tandem_persistence::{AppendItem, Snapshot, Store};
use tokio::sync::mpsc;
use yrs::{
    updates::decoder::Decode, updates::encoder::Encode, GetString, ReadTxn, StateVector, Text,
    Transact, Update,
};

const DEFAULT_TRACE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/traces/sequential_traces/automerge-paper.json.gz"
);
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DOC: &str = "trace";
/// Same root name as the server, so a stored document would open there unchanged.
const TEXT_FIELD: &str = "content";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// Every keystroke is ready at once: measures the ceiling of group commit.
    Fast,
    /// Keystrokes arrive at a steady rate, released every tick: the latency a typist sees.
    Paced,
}

struct Args {
    backend: Backend,
    trace: PathBuf,
    limit: Option<usize>,
    modes: Vec<Mode>,
    rate: f64,
    tick: Duration,
    max_batch: usize,
    pg_url: String,
    durability: tandem_persistence::Durability,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        backend: Backend::Sqlite,
        trace: PathBuf::from(DEFAULT_TRACE),
        limit: None,
        modes: vec![Mode::Fast, Mode::Paced],
        rate: 20_000.0,
        tick: Duration::from_millis(2),
        // The server's writer folds at most 512 requests into one transaction.
        max_batch: 512,
        pg_url: std::env::var("TANDEM_BENCH_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into()),
        durability: tandem_persistence::Durability::Disk,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--backend" => {
                args.backend = match value()?.as_str() {
                    "sqlite" => Backend::Sqlite,
                    "postgres" | "postgresql" => Backend::Postgres,
                    other => bail!("unknown backend {other:?}: sqlite or postgres"),
                }
            }
            "--trace" => args.trace = PathBuf::from(value()?),
            "--limit" => args.limit = Some(value()?.parse()?),
            "--mode" => {
                args.modes = match value()?.as_str() {
                    "fast" => vec![Mode::Fast],
                    "paced" => vec![Mode::Paced],
                    "both" => vec![Mode::Fast, Mode::Paced],
                    other => bail!("unknown mode {other:?}: fast, paced or both"),
                }
            }
            "--rate" => args.rate = value()?.parse()?,
            "--tick-ms" => args.tick = Duration::from_secs_f64(value()?.parse::<f64>()? / 1e3),
            "--max-batch" => args.max_batch = value()?.parse()?,
            "--pg-url" => args.pg_url = value()?,
            "--durability" => args.durability = value()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "bench-store --backend sqlite|postgres [--trace PATH] [--limit N] \
                     [--mode fast|paced|both] [--rate N] [--tick-ms MS] [--max-batch N] \
                     [--pg-url URL] [--durability disk|process]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
    }
    if args.max_batch == 0 || args.rate <= 0.0 || args.tick.is_zero() {
        bail!("--max-batch, --rate and --tick-ms must be positive");
    }
    Ok(args)
}

#[derive(Deserialize)]
struct Trace {
    #[serde(rename = "endContent")]
    end_content: String,
    txns: Vec<TraceTxn>,
}

#[derive(Deserialize)]
struct TraceTxn {
    /// `[position, deleted, inserted]`, positions in Unicode code points.
    patches: Vec<(u32, u32, String)>,
}

fn new_doc() -> yrs::Doc {
    yrs::Doc::with_options(yrs::Options {
        offset_kind: yrs::OffsetKind::Utf16,
        ..Default::default()
    })
}

/// Plays the trace into a Yjs document, one transaction per patch, and returns each
/// patch's update together with the text they should add up to.
fn keystrokes(args: &Args) -> Result<(Vec<Vec<u8>>, String)> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(&args.trace)
            .with_context(|| format!("opening trace {}", args.trace.display()))?,
    )
    .read_to_end(&mut raw)?;
    let trace: Trace = serde_json::from_slice(&raw).context("parsing trace")?;
    // Code points equal UTF-16 units only for ASCII; other traces would need a conversion.
    let ascii = trace.end_content.is_ascii()
        && trace
            .txns
            .iter()
            .all(|t| t.patches.iter().all(|p| p.2.is_ascii()));
    if !ascii {
        bail!("trace has non-ASCII text; positions would need code point to UTF-16 mapping");
    }

    let doc = new_doc();
    let text = doc.get_or_insert_text(TEXT_FIELD);
    let patches = trace.txns.iter().flat_map(|t| t.patches.iter());
    let total = trace.txns.iter().map(|t| t.patches.len()).sum::<usize>();
    let n = args.limit.unwrap_or(total).min(total);
    let mut updates = Vec::with_capacity(n);
    for (pos, del, ins) in patches.take(n) {
        let mut txn = doc.transact_mut();
        if *del > 0 {
            text.remove_range(&mut txn, *pos, *del);
        }
        if !ins.is_empty() {
            text.insert(&mut txn, *pos, ins);
        }
        updates.push(txn.encode_update_v1());
    }
    let produced = text.get_string(&doc.transact());
    if n == total && produced != trace.end_content {
        bail!("replaying the trace into yrs does not give endContent: the trace reader is wrong");
    }
    Ok((updates, produced))
}

/// A fresh store: a temp dir for SQLite, a throwaway database for PostgreSQL.
struct Target {
    store: Arc<dyn Store>,
    raw: Raw,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl Target {
    async fn open(args: &Args) -> Result<Target> {
        match args.backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
                let store = tandem_persistence::open_with(&url, args.durability).await?;
                let raw = sqlx::SqlitePool::connect(&url).await?;
                Ok(Target {
                    store,
                    raw: Raw::Sqlite(raw),
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let admin = args.pg_url.clone();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .with_context(|| format!("PostgreSQL unreachable at {admin}"))?;
                let name = format!("tandem_bench_{:016x}", rand::random::<u64>());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let url = with_database(&admin, &name);
                let store = tandem_persistence::open_with(&url, args.durability).await?;
                let raw = sqlx::PgPool::connect(&url).await?;
                Ok(Target {
                    store,
                    raw: Raw::Pg(raw),
                    _dir: None,
                    pg: Some((admin, name)),
                })
            }
        }
    }

    /// Bytes the tables really occupy on disk, as opposed to the payload sum the store keeps.
    async fn physical_bytes(&self) -> Result<i64> {
        match &self.raw {
            Raw::Sqlite(pool) => {
                // Fold the WAL in so the main file's pages are the whole story; freed
                // pages are excluded since SQLite reuses them before growing the file.
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await?;
                let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                    .fetch_one(pool)
                    .await?;
                let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                    .fetch_one(pool)
                    .await?;
                let size: i64 = sqlx::query_scalar("PRAGMA page_size")
                    .fetch_one(pool)
                    .await?;
                Ok((pages - free) * size)
            }
            Raw::Pg(pool) => {
                // Deleted rows only give their space back to the OS through VACUUM FULL.
                sqlx::query("VACUUM FULL updates, snapshots")
                    .execute(pool)
                    .await?;
                Ok(sqlx::query_scalar(
                    "SELECT (pg_total_relation_size('updates')
                           + pg_total_relation_size('snapshots'))::bigint",
                )
                .fetch_one(pool)
                .await?)
            }
        }
    }

    async fn close(self) -> Result<()> {
        let Target { raw, pg, store, .. } = self;
        drop(store);
        match raw {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Pg(pool) => pool.close().await,
        }
        if let Some((admin, name)) = pg {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
        Ok(())
    }
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[start..].find('/') {
        Some(slash) => &base[..start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

struct WriteStats {
    elapsed: Duration,
    batches: usize,
    commit: Vec<Duration>,
    /// From a keystroke's arrival to the commit that made it durable.
    latency: Vec<Duration>,
}

/// Feeds keystrokes to a single group-commit writer and waits until all are durable.
async fn write_trace(
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

struct Loaded {
    fetch: Duration,
    apply: Duration,
    rows: usize,
    last_seq: i64,
    doc: yrs::Doc,
}

/// Loads the document and rebuilds it like the server does, then checks the text.
async fn load_and_check(store: &dyn Store, expected: &str) -> Result<Loaded> {
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
async fn timed_load(store: &dyn Store, expected: &str) -> Result<Loaded> {
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(load_and_check(store, expected).await?);
    }
    runs.sort_by_key(|l| l.fetch + l.apply);
    Ok(runs.swap_remove(1))
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn kib(b: i64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

async fn run_mode(
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

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let t = Instant::now();
    let (updates, expected) = keystrokes(&args)?;
    println!(
        "trace {}: {} keystrokes, {} update bytes, final text {} chars (encoded in {:.2} s)",
        args.trace.display(),
        updates.len(),
        updates.iter().map(Vec::len).sum::<usize>(),
        expected.chars().count(),
        t.elapsed().as_secs_f64()
    );
    let updates = Arc::new(updates);
    for &mode in &args.modes {
        run_mode(&args, mode, updates.clone(), &expected).await?;
    }
    Ok(())
}
