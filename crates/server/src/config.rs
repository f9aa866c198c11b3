//! Command line and environment settings. Every flag has an environment variable so the
//! same binary is configured the same way by hand, by systemd and by docker-compose.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use tandem_persistence::Durability;

use crate::peer::Transport;

mod cluster_args;
mod edge_limits;
#[cfg(test)]
mod reference;
mod retention;
pub use crate::db_args::DbArgs;
pub use cluster_args::ClusterArgs;
pub use edge_limits::{parse_origin, EdgeLimits};
pub use retention::{RetentionArgs, SWEEP_EVERY as RETENTION_SWEEP_EVERY};

/// Removes settings given with an empty value (`TANDEM_SECRET=`), so they mean "not set".
///
/// clap takes an empty environment variable as a value, which then fails to parse (or, for
/// a secret, would be used as one). An empty value is what `.env` files and compose's
/// `${VAR:-}` produce for a setting somebody meant to leave alone. Call this before any
/// other thread starts: changing the environment is only sound while single-threaded.
pub fn ignore_empty_env() -> Vec<String> {
    let empty: Vec<String> = std::env::vars_os()
        .filter_map(|(key, value)| {
            let key = key.into_string().ok()?;
            let ours = key.starts_with("TANDEM_") || key == "DATABASE_URL";
            (ours && value.is_empty()).then_some(key)
        })
        .collect();
    for key in &empty {
        std::env::remove_var(key);
    }
    empty
}

#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about = "Real-time collaborative editing server for Yjs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(Box<ServeConfig>),
    /// List a document's versions.
    History {
        /// The document's name (its address: `/d/<name>`).
        doc: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print a document's text (current, or of one version) or its Yjs state.
    Export {
        /// The document's name (its address: `/d/<name>`).
        doc: String,
        /// A version number from `tandem history`.
        #[arg(long)]
        version: Option<i64>,
        /// `text` (or `txt`) prints the plain text, `md` Markdown, `html` escaped HTML,
        /// `json` ProseMirror JSON; `yjs` writes the binary Yjs update to stdout.
        #[arg(long, value_enum, default_value_t = ExportFormat::Text)]
        format: ExportFormat,
        /// Where rich text is (see `serve --rich-text-fields`).
        #[arg(long, env = "TANDEM_RICH_TEXT_FIELDS", value_delimiter = ',')]
        rich_text_fields: Vec<String>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Replay every stored document (snapshot, log and versions) and report each row that
    /// does not decode or apply; exit 1 if anything is wrong (docs/operations-check.md).
    Check(crate::check::CheckArgs),
    /// Add, list, remove or test webhook endpoints on a running server (admin key).
    Webhooks(crate::webhook_config::WebhooksCommand),
    /// Mint an access token (needs the server's secret).
    Token(crate::auth::TokenArgs),
    /// Follow a running server's change feed and print one line per change: one document,
    /// or every document the credential may see (docs/change-feed.md).
    Feed(crate::feed_client::FeedArgs),
    /// Write a consistent copy of the database, also while the server runs: a SQLite file
    /// (SQLite) or the portable format (either database). See docs/operations.md.
    Backup(crate::data_commands::BackupArgs),
    /// Bring a backup (either format) into an empty database of either kind.
    Restore(crate::data_commands::RestoreArgs),
    /// Copy every document with its log, snapshots, versions, titles and authors from one
    /// database to another (SQLite to PostgreSQL and back); resumable, checked at the end.
    Migrate(crate::data_commands::MigrateArgs),
    /// Exit 0 if the server on TANDEM_LISTEN answers /healthz (for container health checks).
    Healthcheck {
        #[arg(long, env = "TANDEM_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    #[value(alias = "txt")]
    Text,
    #[value(name = "md", alias = "markdown")]
    Markdown,
    Html,
    Json,
    Yjs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the chosen address is printed).
    #[arg(long, env = "TANDEM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    /// Built web editor to serve at `/` (nothing is served there if the directory is missing).
    #[arg(long, env = "TANDEM_WEB_DIR", default_value = "web/dist")]
    pub web_dir: PathBuf,
    /// Log lines as readable text or as JSON objects (one per line). Filter with `RUST_LOG`.
    #[arg(long, env = "TANDEM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// INFO lines one place in the code may write per second, in bursts of ten seconds'
    /// worth (connections opening and closing, peers closed for bad input); the rest are
    /// dropped and counted, with a warning every 10 s. Warnings and errors always pass.
    /// 0: no limit.
    #[arg(long, env = "TANDEM_LOG_LINES_PER_SEC", default_value_t = 20)]
    pub log_lines_per_sec: u32,
    /// Largest accepted message (WebSocket frame or HTTP body), in bytes. Bigger WebSocket
    /// frames are closed with 1009, bigger HTTP bodies refused with 413.
    #[arg(long, env = "TANDEM_MAX_MESSAGE_SIZE", default_value_t = 16 * 1024 * 1024)]
    pub max_message_size: usize,
    /// Messages that may wait for one client before it is disconnected as too slow.
    #[arg(long, env = "TANDEM_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,
    /// Seconds a document stays loaded after its last client leaves.
    #[arg(long, env = "TANDEM_UNLOAD_GRACE_SECS", default_value_t = 10)]
    pub unload_grace_secs: u64,
    /// What a commit must survive before an update is relayed: `process` (a crash of
    /// Tandem; no fsync per commit) or `disk` (also an operating system crash; every
    /// commit waits for the disk). See docs/guarantees.md.
    #[arg(long, env = "TANDEM_DURABILITY", default_value_t = Durability::default())]
    pub durability: Durability,
    /// Milliseconds the writer waits for more updates before a commit. 0 (the default):
    /// commit at once, batching whatever queued up during the previous commit.
    #[arg(long, env = "TANDEM_GROUP_COMMIT_MS", default_value_t = 0)]
    pub group_commit_ms: u64,
    /// Milliseconds between the change feed's reads of the log (docs/change-feed.md): the
    /// delay a feed reader sees at most, on top of the commit, for a few cheap queries.
    #[arg(long, env = "TANDEM_FEED_POLL_MS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub feed_poll_ms: u64,
    /// Compact a document's log into a snapshot after this many updates ...
    #[arg(long, env = "TANDEM_COMPACT_UPDATES", default_value_t = 1000)]
    pub compact_updates: u64,
    /// ... or after this many logged bytes.
    #[arg(long, env = "TANDEM_COMPACT_BYTES", default_value_t = 1024 * 1024)]
    pub compact_bytes: u64,
    /// Take an automatic version once editing has paused for this many seconds ...
    #[arg(long, env = "TANDEM_VERSION_IDLE_SECS", default_value_t = 30)]
    pub version_idle_secs: u64,
    /// ... and at least this often during long editing sessions.
    #[arg(long, env = "TANDEM_VERSION_INTERVAL_SECS", default_value_t = 600)]
    pub version_interval_secs: u64,
    /// How many automatic versions are kept (docs/operations-check.md, "Retention").
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Update bytes held in memory while the database is unreachable; past it, edits are
    /// refused (clients keep them and resend on reconnect).
    #[arg(long, env = "TANDEM_MAX_UNWRITTEN_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_unwritten_bytes: usize,
    /// Seconds after which an awareness state (cursor, presence) that is not renewed is
    /// dropped. Clients renew every 15 s; 30 s matches the JavaScript implementation.
    #[arg(long, env = "TANDEM_AWARENESS_TIMEOUT_SECS", default_value_t = 30)]
    pub awareness_timeout_secs: u64,
    /// Awareness client ids (cursors) one connection may announce. A browser tab uses one.
    #[arg(long, env = "TANDEM_MAX_AWARENESS_CLIENTS", default_value_t = 4)]
    pub max_awareness_clients: usize,
    /// Document messages (updates, sync requests) per second one connection may send, in
    /// bursts of up to ten seconds' worth; past it the connection is closed with 1008.
    /// 0: no limit.
    #[arg(long, env = "TANDEM_MAX_UPDATES_PER_SEC", default_value_t = 200)]
    pub max_updates_per_sec: u32,
    /// Awareness (cursor) messages per second one connection may send, in bursts of up to
    /// ten seconds' worth; the excess is dropped. 0: no limit.
    #[arg(long, env = "TANDEM_MAX_AWARENESS_PER_SEC", default_value_t = 30)]
    pub max_awareness_per_sec: u32,
    /// Largest document, in bytes (its stored state plus the updates since); an update that
    /// would take it past this is refused (close 4413, HTTP 413). 0: no limit.
    #[arg(long, env = "TANDEM_MAX_DOCUMENT_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_document_bytes: usize,
    /// Bytes of updates one document may hold back while changes they build on are missing
    /// (they are applied once those arrive); past it the sender is closed with 1008.
    #[arg(long, env = "TANDEM_MAX_PENDING_BYTES", default_value_t = 1024 * 1024)]
    pub max_pending_bytes: usize,
    /// Milliseconds of CPU per second that applying one client's updates (and answering
    /// its sync requests) may take, per address and per token, in bursts of ten seconds'
    /// worth; past it its updates are refused (close 1013, HTTP 429). 0: no limit.
    #[arg(long, env = "TANDEM_MAX_APPLY_MS_PER_SEC", default_value_t = 250)]
    pub max_apply_ms_per_sec: u32,
    /// The same for all updates to one document together.
    #[arg(
        long,
        env = "TANDEM_MAX_DOCUMENT_APPLY_MS_PER_SEC",
        default_value_t = 500
    )]
    pub max_document_apply_ms_per_sec: u32,
    /// Named versions one document may have; more are refused with 409. 0: no limit.
    #[arg(long, env = "TANDEM_MAX_NAMED_VERSIONS", default_value_t = 100)]
    pub max_named_versions: usize,
    /// Seconds between two named versions of one document; sooner ones get 429.
    #[arg(long, env = "TANDEM_NAMED_VERSION_INTERVAL_SECS", default_value_t = 5)]
    pub named_version_interval_secs: u64,
    /// Root names of the `Y.XmlFragment`s holding rich text (ProseMirror, Tiptap),
    /// comma separated: the first with content is rendered, restored and imported into. None
    /// given: `default` (Tiptap's).
    #[arg(long, env = "TANDEM_RICH_TEXT_FIELDS", value_delimiter = ',')]
    pub rich_text_fields: Vec<String>,
    /// Microseconds of handling events a room may take before it lets its worker thread
    /// run other tasks (other documents, handshakes, `/healthz`); 0: only when tokio makes
    /// it. For benchmarks of the room's scheduling.
    #[arg(
        long,
        env = "TANDEM_ROOM_SLICE_US",
        default_value_t = 2000,
        hide = true
    )]
    pub room_slice_us: u64,
    /// For tests of panic isolation only: the room of this document panics when a client
    /// sends it a message of type 0x7f.
    #[arg(long, env = "TANDEM_TEST_PANIC_DOC", hide = true)]
    pub test_panic_doc: Option<String>,
    /// Transports to refuse, comma separated (e.g. `websocket`).
    #[arg(
        long,
        env = "TANDEM_DISABLE_TRANSPORTS",
        value_enum,
        value_delimiter = ','
    )]
    pub disable_transports: Vec<Transport>,
    /// Seconds an SSE or long-polling session survives without the client.
    #[arg(long, env = "TANDEM_SESSION_IDLE_SECS", default_value_t = 60)]
    pub session_idle_secs: u64,
    /// SSE and long-polling sessions one client address may hold at once (429 past it).
    #[arg(long, env = "TANDEM_MAX_SESSIONS_PER_IP", default_value_t = 4096)]
    pub max_sessions_per_ip: usize,
    /// SSE and long-polling sessions one access token may hold at once (429 past it).
    #[arg(long, env = "TANDEM_MAX_SESSIONS_PER_TOKEN", default_value_t = 64)]
    pub max_sessions_per_token: usize,
    /// Bytes of undelivered messages one SSE or long-polling session may buffer before it
    /// is ended as too slow (one message of any size is always kept).
    #[arg(long, env = "TANDEM_SESSION_BUFFER_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub session_buffer_bytes: usize,
    /// Connections, timeouts, origins and documents per client (SECURITY.md).
    #[command(flatten)]
    pub edge: EdgeLimits,
    /// Hocuspocus sockets before their first accepted token (`unauthenticated.rs`).
    #[command(flatten)]
    pub pre_auth: crate::unauthenticated::PreAuthArgs,
    /// Host names answered, against DNS rebinding (`allowed_hosts.rs`).
    #[command(flatten)]
    pub hosts: crate::allowed_hosts::HostArgs,
    /// Messages and written bytes per client over time (`usage.rs`).
    #[command(flatten)]
    pub usage: crate::usage::UsageLimits,
    /// Secret for signing access tokens. Without it the server is open: anyone may edit.
    #[arg(long, env = "TANDEM_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Key for the admin API (list, delete, restore, mint tokens), sent as
    /// `Authorization: Bearer <key>`. Needed in token mode.
    #[arg(long, env = "TANDEM_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub webhooks: crate::webhook_config::WebhookArgs,
}

impl ServeConfig {
    pub fn transport_enabled(&self, t: Transport) -> bool {
        !self.disable_transports.contains(&t)
    }
}
