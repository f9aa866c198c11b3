//! What every request handler shares. A leaf: handlers import it, and `app` builds it
//! and the router from the handlers, so no handler depends on `app`.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use metrics_exporter_prometheus::PrometheusHandle;
use tandem_persistence::Store;

use crate::{
    auth::Auth, client_addr::TrustedProxies, client_limits::ClientLimits, cluster::Cluster,
    config::ServeConfig, feed::Feed, registry::Registry, session::Sessions,
    share_quota::ShareQuota, unauthenticated::Unauthenticated, webhooks::Webhooks,
};

pub(crate) struct AppState {
    pub config: ServeConfig,
    pub rooms: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub auth: Auth,
    pub sessions: Arc<Sessions>,
    /// The documents each client address and token has open.
    pub client_limits: Arc<ClientLimits>,
    /// Hocuspocus sockets waiting for their first accepted token, per address.
    pub unauthenticated: Arc<Unauthenticated>,
    /// Bytes of WebSocket messages being received, per address and in total.
    pub receiving: Arc<crate::receiving::Receiving>,
    /// Share links minted per token (`share.rs`).
    pub share_quota: ShareQuota,
    /// Revoked share links, to the WebSockets they opened (`revocation.rs`).
    pub revocations: crate::revocation::Revocations,
    /// Whose forwarding headers name the client (`--trusted-proxies`).
    pub trusted_proxies: TrustedProxies,
    pub shutting_down: AtomicBool,
    pub prometheus: PrometheusHandle,
    /// The bus to the other instances, in cluster mode.
    pub cluster: Option<Arc<Cluster>>,
    /// Webhook deliveries (`None` when the store keeps no webhooks).
    pub webhooks: Option<Arc<Webhooks>>,
    /// The change feed (`GET .../changes`).
    pub feed: Arc<Feed>,
}

pub(crate) type SharedState = Arc<AppState>;

impl AppState {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }
}
