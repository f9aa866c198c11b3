//! Cluster settings as the bus uses them: checked once at start, so an instance without a
//! cluster key (or with one too short to resist guessing) refuses to start instead of
//! joining a bus that anyone could write to.

use std::{fmt, path::PathBuf, time::Duration};

use super::seal::MIN_KEY_BYTES;

/// Cluster settings, from `--nats-url` and friends.
#[derive(Debug, Clone)]
pub(crate) struct ClusterSettings {
    pub nats_url: String,
    pub key: ClusterKey,
    pub auth: NatsAuth,
    pub instance_id: String,
    pub subject_prefix: String,
    pub resync_every: Duration,
    pub heartbeat_every: Duration,
    /// Tests only: the share of received messages to drop, in percent.
    pub drop_percent: u8,
}

/// The cluster key; never printed.
#[derive(Clone)]
pub(crate) struct ClusterKey(pub Vec<u8>);

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(***)")
    }
}

/// How the instance proves itself to NATS and checks NATS in turn; never printed in full.
#[derive(Clone, Default)]
pub(crate) struct NatsAuth {
    user_password: Option<(String, String)>,
    token: Option<String>,
    nkey_seed: Option<String>,
    tls_ca: Option<PathBuf>,
    tls_client: Option<(PathBuf, PathBuf)>,
}

impl fmt::Debug for NatsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl NatsAuth {
    /// What is in use, for the start-up log line: `user tandem, tls` (no secrets).
    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((user, _)) = &self.user_password {
            parts.push(format!("user {user}"));
        }
        if self.token.is_some() {
            parts.push("token".into());
        }
        if self.nkey_seed.is_some() {
            parts.push("nkey".into());
        }
        if self.tls_required() {
            parts.push("tls".into());
        }
        if parts.is_empty() {
            "no credentials".into()
        } else {
            parts.join(", ")
        }
    }

    fn tls_required(&self) -> bool {
        self.tls_ca.is_some() || self.tls_client.is_some()
    }

    /// The client options for these credentials.
    pub(crate) fn apply(&self, mut opts: async_nats::ConnectOptions) -> async_nats::ConnectOptions {
        if let Some((user, password)) = &self.user_password {
            opts = opts.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &self.token {
            opts = opts.token(token.clone());
        }
        if let Some(seed) = &self.nkey_seed {
            opts = opts.nkey(seed.clone());
        }
        if let Some(ca) = &self.tls_ca {
            opts = opts.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.tls_client {
            opts = opts.add_client_certificate(cert.clone(), key.clone());
        }
        if self.tls_required() {
            opts = opts.require_tls(true);
        }
        opts
    }
}

/// Why cluster settings were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SettingsError {
    #[error(
        "cluster mode needs a cluster key: --nats-url / TANDEM_NATS_URL is set but \
         --cluster-key / TANDEM_CLUSTER_KEY is not. Every instance signs its bus frames with \
         it and drops frames that do not verify; give every instance the same secret of at \
         least {MIN_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)"
    )]
    MissingKey,
    #[error(
        "--cluster-key / TANDEM_CLUSTER_KEY is {0} bytes; it must be at least \
         {MIN_KEY_BYTES} (e.g. `openssl rand -hex 32`)"
    )]
    ShortKey(usize),
    #[error("NATS TLS files not found: {0}")]
    TlsFile(String),
}

impl ClusterSettings {
    /// Cluster settings from the command line; `Ok(None)` outside cluster mode.
    pub(crate) fn from_args(
        args: &crate::config::ClusterArgs,
    ) -> Result<Option<ClusterSettings>, SettingsError> {
        let Some(nats_url) = args.nats_url.clone() else {
            return Ok(None);
        };
        let key = args
            .cluster_key
            .as_deref()
            .ok_or(SettingsError::MissingKey)?;
        if key.len() < MIN_KEY_BYTES {
            return Err(SettingsError::ShortKey(key.len()));
        }
        let missing: Vec<String> = [&args.nats_tls_ca, &args.nats_tls_cert, &args.nats_tls_key]
            .into_iter()
            .flatten()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(SettingsError::TlsFile(missing.join(", ")));
        }
        let auth = NatsAuth {
            user_password: args.nats_user.clone().zip(args.nats_password.clone()),
            token: args.nats_token.clone(),
            nkey_seed: args.nats_nkey_seed.clone(),
            tls_ca: args.nats_tls_ca.clone(),
            tls_client: args.nats_tls_cert.clone().zip(args.nats_tls_key.clone()),
        };
        let instance_id = args.instance_id.clone().unwrap_or_else(default_instance_id);
        Ok(Some(ClusterSettings {
            nats_url,
            key: ClusterKey(key.as_bytes().to_vec()),
            auth,
            instance_id,
            subject_prefix: args.nats_subject_prefix.clone(),
            resync_every: Duration::from_millis(args.cluster_resync_ms.max(50)),
            heartbeat_every: Duration::from_millis(args.cluster_heartbeat_ms.max(50)),
            drop_percent: args.test_bus_drop_percent,
        }))
    }
}

/// Host name, process id and a random suffix: unique even for two processes in one
/// container, and new on every start (a restarted instance is a new member).
fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tandem".into());
    let suffix: u32 = rand::random();
    format!("{host}-{}-{suffix:08x}", std::process::id())
}
