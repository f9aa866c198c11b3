//! Webhook settings (`tandem serve`) and the `tandem webhooks` command's arguments. Apart
//! from `config.rs` so the webhook deliverer and its command line read one small module.

use clap::{Args, Subcommand};

/// How webhooks are delivered (docs/webhooks.md).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Webhooks")]
pub struct WebhookArgs {
    /// Milliseconds a document must be quiet before its changes go out as one
    /// `document.changed`; also the least time between two for one document.
    #[arg(long, env = "TANDEM_WEBHOOK_DEBOUNCE_MS", default_value_t = 2000)]
    pub webhook_debounce_ms: u64,
    /// Milliseconds a change may wait for its `document.changed` while the document keeps
    /// changing.
    #[arg(long, env = "TANDEM_WEBHOOK_MAX_WAIT_MS", default_value_t = 10_000)]
    pub webhook_max_wait_ms: u64,
    /// Seconds a message is retried (exponential back-off with jitter) before it is given up.
    #[arg(long, env = "TANDEM_WEBHOOK_RETRY_SECS", default_value_t = 86_400)]
    pub webhook_retry_secs: u64,
    /// Seconds one delivery request may take (connect included).
    #[arg(long, env = "TANDEM_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
    pub webhook_timeout_secs: u64,
    /// Requests in flight at once to one endpoint.
    #[arg(long, env = "TANDEM_WEBHOOK_CONCURRENCY", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub webhook_concurrency: u32,
    /// Largest request body; a `document.changed` whose text would pass it is sent without
    /// the text (`text_omitted: true`).
    #[arg(long, env = "TANDEM_WEBHOOK_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub webhook_max_body_bytes: usize,
    /// Milliseconds between two reads of the log for new work.
    #[arg(long, env = "TANDEM_WEBHOOK_POLL_MS", default_value_t = 500)]
    pub webhook_poll_ms: u64,
    /// Networks (CIDR, comma separated) webhooks may reach although they are loopback,
    /// private, link-local or otherwise internal (refused by default).
    #[arg(
        long,
        env = "TANDEM_WEBHOOK_ALLOW_NETWORKS",
        value_delimiter = ',',
        value_parser = parse_network
    )]
    pub webhook_allow_networks: Vec<ipnet::IpNet>,
}

fn parse_network(raw: &str) -> Result<ipnet::IpNet, String> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{raw:?} is not a network like 10.0.0.0/8 or an address"))
}

/// `tandem webhooks ...`: manages endpoints through a running server's API.
#[derive(Debug, Args)]
pub struct WebhooksCommand {
    /// The server's base URL (as `tandem feed` takes it).
    #[arg(long, env = "TANDEM_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's admin key.
    #[arg(long, env = "TANDEM_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    #[command(subcommand)]
    pub action: WebhooksAction,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Adds an endpoint and prints it with its signing secret.
    Add {
        /// Where to POST the messages (`https://...`; internal addresses need
        /// `--webhook-allow-networks` on the server).
        url: String,
        /// Only documents whose name starts with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Only this document.
        #[arg(long)]
        doc: Option<String>,
        /// Event types, comma separated (default: all).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// A `whsec_...` secret to use instead of a generated one.
        #[arg(long)]
        secret: Option<String>,
    },
    /// Lists endpoints.
    List,
    /// Removes an endpoint.
    Remove {
        /// The endpoint's id, from `tandem webhooks list`.
        id: i64,
    },
    /// Sends a `webhook.test` message to an endpoint now and prints the answer.
    Test {
        /// The endpoint's id, from `tandem webhooks list`.
        id: i64,
    },
    /// Replaces an endpoint's secret and prints the new one; the old one signs too (a
    /// second signature) for `--keep-old-secs` (default a day).
    Rotate {
        /// The endpoint's id, from `tandem webhooks list`.
        id: i64,
        /// Seconds the old secret keeps signing beside the new one (default: a day).
        #[arg(long)]
        keep_old_secs: Option<u64>,
    },
}
