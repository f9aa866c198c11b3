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
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

mod run;
mod target;
mod trace;

use run::run_mode;
use trace::keystrokes;

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
