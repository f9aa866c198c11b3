//! `tandem-loadgen`: load generator for y-websocket servers.
//!
//! Modes: `fanout` (many clients typing, end-to-end fan-out latency, over WebSocket, SSE
//! or long polling), `trace` (replay of
//! a real keystroke trace through one writer, N readers verify the result) and `idle`
//! (many idle connections; server memory per connection and per document), `abuse` (a
//! hostile client's attack while a probe measures what a legitimate user sees),
//! `capacity` (the update rate rises step by step until deliveries come late or not at
//! all: the highest delivery rate the server sustains).

mod abuse;
mod conn;
mod fanout;
mod http;
mod http_down;
mod idle;
mod pgstat;
mod poll;
mod procstat;
mod proto;
mod report;
mod sse;
mod trace;

use std::{path::PathBuf, time::Duration};

use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "tandem-loadgen", version, about)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Clone, Args)]
pub struct Common {
    /// WebSocket URL; `{doc}` is replaced by the document name. Hocuspocus: any path.
    /// `fanout` takes several (`--url A --url B`, instances of one cluster) and spreads
    /// each document's clients over them in turn; the other modes take one.
    #[arg(
        long = "url",
        value_name = "URL",
        global = true,
        default_value = "ws://127.0.0.1:8080/ws/{doc}"
    )]
    urls: Vec<String>,
    /// Speak the Hocuspocus provider's framing (doc-name prefix, auth first).
    #[arg(long, global = true)]
    hocuspocus: bool,
    /// Token sent in the Hocuspocus auth message.
    #[arg(long, global = true, default_value = "loadgen")]
    token: String,
    /// Server process id, for CPU time and memory figures from /proc; repeated for
    /// several servers (`fanout`), whose figures are then summed.
    #[arg(long = "server-pid", value_name = "PID", global = true)]
    server_pids: Vec<u32>,
    /// The server's PostgreSQL database: the CPU of its backends (and of the cluster's
    /// WAL writer, checkpointer and background writer) is reported beside the server's
    /// (`fanout`, `capacity`). The cluster must run on this host.
    #[arg(long, value_name = "NAME", global = true)]
    db_name: Option<String>,
    /// Print one JSON object instead of the table.
    #[arg(long, global = true)]
    json: bool,
    /// Prefix of the document names (default: unique per run).
    #[arg(long, global = true)]
    doc_prefix: Option<String>,
    /// Spread client sockets over this many source addresses 127.0.0.1..N.
    #[arg(long, global = true, default_value_t = 1)]
    source_addrs: u8,
    /// Connections opened at the same time while setting up.
    #[arg(long, global = true, default_value_t = 64)]
    connect_concurrency: usize,
    /// Seconds allowed for one connect + handshake.
    #[arg(long, global = true, default_value_t = 30)]
    connect_timeout: u64,
    /// Label copied into the output (e.g. the system's name).
    #[arg(long, global = true, default_value = "")]
    label: String,
}

impl Common {
    /// The server (the first, for modes that use one).
    pub fn target(&self) -> conn::Target {
        self.target_at(0)
    }

    /// Every server given, in order.
    pub fn targets(&self) -> Vec<conn::Target> {
        (0..self.urls.len()).map(|i| self.target_at(i)).collect()
    }

    /// The first URL.
    pub fn url(&self) -> &str {
        &self.urls[0]
    }

    /// The first server process id.
    pub fn server_pid(&self) -> Option<u32> {
        self.server_pids.first().copied()
    }

    /// Modes other than `fanout` measure one server.
    fn check_single(&self, mode: &str) -> Result<()> {
        if self.urls.len() > 1 || self.server_pids.len() > 1 {
            anyhow::bail!(
                "{mode} takes one --url and one --server-pid (only fanout spreads over several)"
            );
        }
        Ok(())
    }

    fn target_at(&self, i: usize) -> conn::Target {
        conn::Target {
            url: self.urls[i].clone(),
            hocuspocus: self.hocuspocus,
            token: self.token.clone(),
            source_addrs: self.source_addrs.max(1),
            timeout: Duration::from_secs(self.connect_timeout),
        }
    }

    pub fn prefix(&self) -> String {
        self.doc_prefix.clone().unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            format!("lg-{}-{t}", std::process::id())
        })
    }
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// R documents x C clients, each sending U small updates per second for S seconds.
    Fanout(FanoutArgs),
    /// Replay a sequential editing trace through one writer, with N readers.
    Trace(TraceArgs),
    /// N idle connections across M documents; server memory per connection / document.
    Idle(IdleArgs),
    /// One hostile client runs an attack pattern while a probe measures a legitimate
    /// user's sync time on another document and `/healthz`.
    Abuse(AbuseArgs),
    /// R documents x C clients; the update rate rises step by step until a step's p99
    /// passes the limit or a delivery is missing: the highest sustained deliveries/s.
    Capacity(CapacityArgs),
}

/// How fan-out clients reach the server (docs/PROTOCOL.md, "Sync transports").
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// `--url` as given (y-websocket, or Hocuspocus with `--hocuspocus`).
    Websocket,
    /// `GET /sse/{doc}` + `POST /sse/{doc}/{session}` on `--url`'s host:port.
    Sse,
    /// `POST /poll/{doc}`, held `GET`s with a cursor, `POST`s upstream.
    Poll,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Websocket => "websocket",
            Transport::Sse => "sse",
            Transport::Poll => "poll",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct FanoutArgs {
    /// Transport of every client (Tandem only for sse / poll).
    #[arg(long, value_enum, default_value_t = Transport::Websocket)]
    transport: Transport,
    /// Documents (R).
    #[arg(long, default_value_t = 1)]
    docs: usize,
    /// Clients per document (C).
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Updates per second per client (U).
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Seconds of sending (S).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds to wait for the last deliveries after sending stops.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Before the run, the first client of each document inserts this many bytes of
    /// text (in 64 KiB updates); its later edits then go to random positions in it.
    #[arg(long, default_value_t = 0)]
    preload_bytes: usize,
}

#[derive(Debug, Clone, Args)]
pub struct CapacityArgs {
    /// Documents (R).
    #[arg(long, default_value_t = 100)]
    docs: usize,
    /// Clients per document (C).
    #[arg(long, default_value_t = 5)]
    clients: usize,
    /// Updates per second per client at the first step.
    #[arg(long, default_value_t = 4.0)]
    start_rate: f64,
    /// Each step multiplies the rate by this until a step fails (twice: the first failure
    /// is repeated once); then rates between the best passing and the lowest failing one
    /// are tried (their geometric middle).
    #[arg(long, default_value_t = 1.25)]
    factor: f64,
    /// The search ends when the lowest failing rate is within this fraction of the best
    /// passing one.
    #[arg(long, default_value_t = 0.05)]
    resolution: f64,
    /// Seconds of sending per step.
    #[arg(long, default_value_t = 3.0)]
    step_secs: f64,
    /// Seconds a step's last deliveries may take after its sending stops; what has not
    /// arrived by then is missing (the step fails).
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    /// A step passes when its p99 delivery latency is at most this (ms) and no delivery
    /// is missing.
    #[arg(long, default_value_t = 50.0)]
    p99_limit_ms: f64,
    /// Steps at most (a failed step repeated while the rate still rises counts twice).
    #[arg(long, default_value_t = 16)]
    max_steps: usize,
}

#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// A sequential trace (`.json.gz`).
    #[arg(
        long,
        default_value = "/work/shared/traces/sequential_traces/ascii_only/automerge-paper.json.gz"
    )]
    file: PathBuf,
    /// Reader clients watching the document.
    #[arg(long, default_value_t = 10)]
    readers: usize,
    /// Updates sent but not yet acknowledged, at most.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Replay only the first N transactions.
    #[arg(long)]
    limit: Option<usize>,
    /// Give up after this many seconds (reports what was done).
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
}

#[derive(Debug, Clone, Args)]
pub struct IdleArgs {
    /// Connections in total (N).
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Documents (M); connection i joins document i mod M.
    #[arg(long, default_value_t = 100)]
    docs: usize,
    /// Seconds to hold all connections open after they are up.
    #[arg(long, default_value_t = 10.0)]
    hold: f64,
    /// Seconds between awareness renewals of each connection.
    #[arg(long, default_value_t = 15.0)]
    awareness_interval: f64,
    /// Seconds to let the server settle before each memory reading.
    #[arg(long, default_value_t = 2.0)]
    settle: f64,
}

#[derive(Debug, Clone, Args)]
pub struct AbuseArgs {
    /// What the hostile client does.
    #[arg(long, value_enum)]
    pattern: abuse::Pattern,
    /// Hostile tasks running the pattern at once.
    #[arg(long, default_value_t = 4)]
    attackers: usize,
    /// Seconds of attack.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Milliseconds between two probes (one health check and one fresh sync each).
    #[arg(long, default_value_t = 50)]
    probe_interval_ms: u64,
    /// Run the probe on the attack's runtime, as before it had a thread of its own: it
    /// then also measures how long it waits behind the attack's tasks.
    #[arg(long)]
    probe_on_attack_runtime: bool,
    /// Token the hostile client presents (e.g. a read-only one); none by default.
    #[arg(long)]
    attack_token: Option<String>,
    /// Pattern `bus`: the cluster's NATS server (`nats://127.0.0.1:4222`).
    #[arg(long)]
    bus_url: Option<String>,
    /// Pattern `bus`: NATS user (the attacker has the bus's NATS credentials).
    #[arg(long)]
    bus_user: Option<String>,
    /// Pattern `bus`: NATS password.
    #[arg(long)]
    bus_password: Option<String>,
    /// Pattern `bus`: the cluster's `--nats-subject-prefix`.
    #[arg(long, default_value = "tandem")]
    bus_prefix: String,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let nofile = conn::raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        match &cli.mode {
            Mode::Fanout(a) => fanout::run(&cli.common, a).await,
            Mode::Trace(a) => {
                cli.common.check_single("trace")?;
                trace::run(&cli.common, a).await
            }
            Mode::Idle(a) => {
                cli.common.check_single("idle")?;
                idle::run(&cli.common, a, nofile).await
            }
            Mode::Abuse(a) => {
                cli.common.check_single("abuse")?;
                abuse::run(&cli.common, a).await
            }
            Mode::Capacity(a) => fanout::capacity::run(&cli.common, a).await,
        }
    })?;
    report.print(&cli.common.label, cli.common.json);
    // Thousands of sockets: skip the orderly teardown.
    rt.shutdown_timeout(Duration::from_millis(100));
    Ok(())
}
