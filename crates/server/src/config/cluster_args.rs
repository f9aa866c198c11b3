//! The settings of cluster mode: where NATS is, how an instance proves itself to it, and
//! the key that signs every bus frame (SECURITY.md "The cluster bus").

use std::path::PathBuf;

/// Cluster mode: several instances on one PostgreSQL database, NATS between them
/// (docs/deployment.md, "Running several instances").
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Several instances (cluster mode)")]
pub struct ClusterArgs {
    /// NATS server to share commits, presence and heartbeats with the other instances
    /// (e.g. `nats://127.0.0.1:4222`, `tls://nats.internal:4222`). Turns cluster mode on;
    /// needs PostgreSQL and `--cluster-key`.
    #[arg(long, env = "TANDEM_NATS_URL")]
    pub nats_url: Option<String>,
    /// Shared secret that signs every bus frame (HMAC-SHA256), at least 32 bytes, the same
    /// on every instance of the cluster. Frames that do not verify are dropped. Required in
    /// cluster mode. Generate one with `openssl rand -hex 32`.
    #[arg(long, env = "TANDEM_CLUSTER_KEY", hide_env_values = true)]
    pub cluster_key: Option<String>,
    /// User name for NATS (with `--nats-password`).
    #[arg(long, env = "TANDEM_NATS_USER", requires = "nats_password")]
    pub nats_user: Option<String>,
    /// Password for NATS (with `--nats-user`).
    #[arg(
        long,
        env = "TANDEM_NATS_PASSWORD",
        hide_env_values = true,
        requires = "nats_user"
    )]
    pub nats_password: Option<String>,
    /// Token for NATS (`authorization { token: ... }` on the server).
    #[arg(long, env = "TANDEM_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// NKey seed (`SU...`) for NATS nkey authentication.
    #[arg(long, env = "TANDEM_NATS_NKEY_SEED", hide_env_values = true)]
    pub nats_nkey_seed: Option<String>,
    /// PEM file of the certificate authority that signed the NATS server's certificate.
    /// Setting any `--nats-tls-*` requires TLS to NATS.
    #[arg(long, env = "TANDEM_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// PEM client certificate for NATS (mutual TLS, with `--nats-tls-key`).
    #[arg(long, env = "TANDEM_NATS_TLS_CERT", requires = "nats_tls_key")]
    pub nats_tls_cert: Option<PathBuf>,
    /// PEM private key of `--nats-tls-cert`.
    #[arg(long, env = "TANDEM_NATS_TLS_KEY", requires = "nats_tls_cert")]
    pub nats_tls_key: Option<PathBuf>,
    /// This instance's name in the cluster (default: host name, process id and a random
    /// suffix, so a restarted instance is a new member).
    #[arg(long, env = "TANDEM_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// First part of every NATS subject, so several clusters can share one NATS server.
    #[arg(long, env = "TANDEM_NATS_SUBJECT_PREFIX", default_value = "tandem")]
    pub nats_subject_prefix: String,
    /// How often each loaded document is compared with the database, to catch up on
    /// commits no bus message announced (milliseconds).
    #[arg(long, env = "TANDEM_CLUSTER_RESYNC_MS", default_value_t = 2000)]
    pub cluster_resync_ms: u64,
    /// How often an instance says it is alive; three missed and the others drop its
    /// clients' presence (milliseconds).
    #[arg(long, env = "TANDEM_CLUSTER_HEARTBEAT_MS", default_value_t = 1000)]
    pub cluster_heartbeat_ms: u64,
    /// Tests only: drop this percentage of received bus messages.
    #[arg(long, env = "TANDEM_TEST_BUS_DROP_PERCENT", hide = true, default_value_t = 0,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    pub test_bus_drop_percent: u8,
}
