//! `tandem backup`, `tandem restore` and `tandem migrate`: whole-database copies, on top
//! of `tandem_persistence::copy` (docs/operations.md says when to use which).

mod backup;
mod migrate;
mod progress;
mod restore;
mod verify;

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::db_args::DbArgs;

pub use verify::compare;

/// What `tandem backup` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackupFormat {
    /// `sqlite` for a SQLite database, `portable` for PostgreSQL.
    Auto,
    /// A SQLite database file (SQLite's `VACUUM INTO`): open it with `sqlite3`, or point
    /// `--database-url sqlite://FILE` at a copy of it. SQLite sources only.
    Sqlite,
    /// JSON lines, one per row, that `tandem restore` brings into either database.
    Portable,
}

#[derive(Debug, Args)]
#[command(
    after_help = "The copy holds every change committed before the backup started \
    and none after; the server keeps running and writing meanwhile. The file appears under \
    its name only once complete (it is written as NAME.partial first). See \
    docs/operations.md, \"Backups\"."
)]
pub struct BackupArgs {
    /// Where to write the backup; it must not exist yet. `-` writes a portable backup to
    /// standard output.
    #[arg(long, short)]
    pub output: PathBuf,
    #[arg(long, value_enum, default_value_t = BackupFormat::Auto)]
    pub format: BackupFormat,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Stop the server that uses the target database first. The target's \
    schema is brought up to date, then every document, its log, snapshot, versions and \
    the webhook endpoints are written in, with the same names, numbers and authors. See \
    docs/operations.md, \"Restoring\"."
)]
pub struct RestoreArgs {
    /// A file written by `tandem backup` (either format; `-` reads a portable backup
    /// from standard input).
    pub backup: PathBuf,
    /// Restore into a database that already holds documents or webhooks: everything it
    /// holds is deleted first (documents, their history, webhook endpoints and their
    /// deliveries). Without it such a database is refused.
    #[arg(long)]
    pub replace_existing: bool,
    /// The database to restore into (default: the SQLite file in the data directory).
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Stop the server first. Each document is copied in one transaction; \
    run the same command again after an interruption and it skips the documents already \
    copied (and copies again any that changed since). At the end every document is loaded \
    from both databases and must render the same text and state vector, with the same \
    title and versions. See docs/operations.md, \"Moving from SQLite to PostgreSQL\"."
)]
pub struct MigrateArgs {
    /// The database to copy from, as `--database-url` takes it: `sqlite://PATH` or
    /// `postgres://...`.
    #[arg(long)]
    pub from: String,
    /// The database to copy into; its schema is created or brought up to date first.
    #[arg(long)]
    pub to: String,
    /// Copy into a database that holds documents or webhooks of its own: everything it
    /// holds is deleted first. Without it only an empty target, or one an interrupted
    /// run of this same migration left, is accepted.
    #[arg(long)]
    pub replace_existing: bool,
    /// Skip the final comparison of every document (it loads each one twice).
    #[arg(long)]
    pub no_verify: bool,
    /// For tests of resuming: stop (exit status 3) after copying this many documents, as
    /// an interruption would.
    #[arg(long, hide = true)]
    pub stop_after: Option<u64>,
}

pub use backup::backup;
pub use migrate::migrate;
pub use restore::restore;

/// Exit status of a migration stopped by `--stop-after`.
pub const STOPPED: i32 = 3;
