//! `tandem check`: replays every stored document (snapshot and log, and every version)
//! with yrs and reports each row that does not decode or apply, by document and sequence
//! number or version. `--repair` rewrites only values derived from other stored bytes
//! (docs/operations-check.md, "Repair"); it never deletes or changes a log row, a
//! snapshot's state or a version's state, so nothing a document holds can be lost by it.
//!
//! Each document is read in its own short read transaction, so a live server keeps
//! writing while the check runs (SQLite readers never wait for its writer; PostgreSQL
//! reads a snapshot). A document edited during the check is checked as it was when read.

mod inspect;

use std::io::Write;

use clap::Args;
use tandem_persistence::Store;

pub use inspect::{Counts, Place, Problem};

use crate::{db_args::DbArgs, render::Fields};

#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 when nothing is wrong (or everything found was \
repaired), 1 when a problem remains or the database could not be read.\n\
Every problem is one line on stdout: `PROBLEM <document> <place>: <what>`, where place is \
`log seq N`, `snapshot (up to seq N)`, `version N`, `log replay` or `document row`.\n\
See docs/operations-check.md."
)]
pub struct CheckArgs {
    /// Rewrite what can be rewritten without losing anything: a document's `last_seq`
    /// (only raised) and `size_bytes`, a snapshot's state vector, a version's state vector
    /// and text, each recomputed from the stored bytes. Rows that do not decode or apply
    /// are only reported: they are the only copy of what they hold.
    #[arg(long)]
    pub repair: bool,
    /// Check only these documents (by name; repeat the flag). Default: every document.
    #[arg(long = "document", value_name = "NAME")]
    pub documents: Vec<String>,
    /// Where rich text is (see `serve --rich-text-fields`), to compare versions' texts.
    #[arg(long, env = "TANDEM_RICH_TEXT_FIELDS", value_delimiter = ',')]
    pub rich_text_fields: Vec<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

/// What a whole check found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub documents: u64,
    pub counts: Counts,
    pub problems: Vec<Problem>,
    /// Problems fixed by `--repair` (also in `problems`).
    pub repaired: usize,
}

impl Outcome {
    /// Problems still there after the repairs.
    pub fn remaining(&self) -> usize {
        self.problems.len() - self.repaired
    }
}

/// Checks (and with `repair`, repairs) `docs` (every document when empty), writing one
/// line per problem and per repair to `out`.
pub async fn check(
    store: &dyn Store,
    docs: &[String],
    fields: &Fields,
    repair: bool,
    out: &mut impl Write,
) -> anyhow::Result<Outcome> {
    let names: Vec<String> = if docs.is_empty() {
        store
            .list_documents()
            .await?
            .into_iter()
            .map(|d| d.name)
            .collect()
    } else {
        docs.to_vec()
    };
    let mut outcome = Outcome::default();
    for name in &names {
        let mut problems = Vec::new();
        let Some(counts) = inspect::log(store, name, &mut problems).await? else {
            if !docs.is_empty() {
                anyhow::bail!("document {name:?} not found");
            }
            continue;
        };
        let versions = inspect::versions(store, name, fields, &mut problems).await?;
        outcome.documents += 1;
        outcome.counts.log_rows += counts.log_rows;
        outcome.counts.snapshots += counts.snapshots;
        outcome.counts.versions += versions;
        for problem in problems {
            let fixable = if problem.fix.is_some() {
                " (repairable)"
            } else {
                ""
            };
            writeln!(
                out,
                "PROBLEM {:?} {}: {}{fixable}",
                problem.doc, problem.place, problem.what
            )?;
            if let (true, Some(fix)) = (repair, &problem.fix) {
                if store.repair(&problem.doc, fix).await? {
                    outcome.repaired += 1;
                    writeln!(out, "REPAIRED {:?} {}", problem.doc, problem.place)?;
                }
            }
            outcome.problems.push(problem);
        }
    }
    let fixable = outcome.problems.iter().filter(|p| p.fix.is_some()).count() - outcome.repaired;
    writeln!(
        out,
        "checked {} documents: {} log rows, {} snapshots, {} versions; {} problems, {} repaired, {} remaining{}",
        outcome.documents,
        outcome.counts.log_rows,
        outcome.counts.snapshots,
        outcome.counts.versions,
        outcome.problems.len(),
        outcome.repaired,
        outcome.remaining(),
        if fixable > 0 && !repair {
            format!(" ({fixable} repairable with --repair)")
        } else {
            String::new()
        }
    )?;
    Ok(outcome)
}

/// The command: opens the database, checks, and exits 1 if a problem remains.
pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    let url = args.db.url()?;
    // Opening a SQLite URL creates the file: a mistyped path would "check" a new, empty
    // database and pass.
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        anyhow::ensure!(
            path == ":memory:" || std::path::Path::new(path).exists(),
            "no database at {path}"
        );
    }
    let store = tandem_persistence::open(&url).await?;
    let fields = Fields::new(args.rich_text_fields);
    let mut out = std::io::stdout().lock();
    let outcome = check(
        store.as_ref(),
        &args.documents,
        &fields,
        args.repair,
        &mut out,
    )
    .await?;
    out.flush()?;
    if outcome.remaining() > 0 {
        std::process::exit(1);
    }
    Ok(())
}
