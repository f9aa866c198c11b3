//! Assembles the server: state, routes, static files, and start/stop.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Context;
use axum::{
    extract::{ConnectInfo, DefaultBodyLimit},
    Router,
};
use tandem_persistence::Store;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tower_http::trace::TraceLayer;

use crate::{
    api,
    auth::Auth,
    client_addr::TrustedProxies,
    client_limits::{ClientLimitSettings, ClientLimits},
    cluster::{Cluster, ClusterSettings, Members},
    config::ServeConfig,
    error, listener, ops, origin,
    peer::CloseReason,
    registry::Registry,
    room::{Control, RoomContext, RoomSettings},
    session::{SessionLimits, Sessions},
    state::{AppState, SharedState},
    transport,
    webhooks::Webhooks,
    writer::Writer,
};

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    state: SharedState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Graceful shutdown: refuse new work, write out and close every document (clients
    /// get 1001), then stop the listener.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }

    /// Whether a document is loaded in memory now.
    pub fn is_loaded(&self, doc: &str) -> bool {
        self.state.rooms.is_loaded(doc)
    }

    /// Resolves when the server stops by itself (it doesn't, short of a fatal error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Opens the store, binds the listener and starts serving.
pub async fn start(config: ServeConfig) -> anyhow::Result<Server> {
    let url = config.db.url()?;
    let store = tandem_persistence::open_with(&url, config.durability)
        .await
        .with_context(|| format!("opening database {}", redact(&url)))?;
    start_with_store(config, store).await
}

pub async fn start_with_store(
    config: ServeConfig,
    store: Arc<dyn Store>,
) -> anyhow::Result<Server> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    if config.secret.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "no TANDEM_SECRET set: anyone who can reach this address can read and edit every document"
        );
    }
    tracing::info!(
        backend = store.backend(),
        durability = %store.durability(),
        "database open"
    );
    // The recorder first: what starts below (the bus connecting, say) records metrics at
    // once, and a value recorded before the recorder exists is lost.
    let prometheus = ops::prometheus();
    let cluster = match ClusterSettings::from_args(&config.cluster)? {
        Some(_) if store.backend() != "postgres" => anyhow::bail!(
            "cluster mode needs PostgreSQL: --nats-url / TANDEM_NATS_URL is set but the \
             database is {} (set DATABASE_URL to a postgres:// URL, or run one instance)",
            store.backend()
        ),
        Some(settings) => {
            tracing::info!(
                instance = %settings.instance_id,
                nats = %redact(&settings.nats_url),
                auth = %settings.auth.describe(),
                "cluster mode; bus frames signed with the cluster key"
            );
            Some(Cluster::connect(settings).await?)
        }
        None => None,
    };
    crate::retention::spawn_sweep(
        store.clone(),
        config.retention,
        crate::config::RETENTION_SWEEP_EVERY,
    );
    let writer = Writer::spawn(store.clone(), Duration::from_millis(config.group_commit_ms));
    let client_limits = ClientLimits::new(
        ClientLimitSettings {
            per_ip: config.edge.max_documents_per_ip,
            per_token: config.edge.max_documents_per_token,
            memory_per_client: config.edge.max_memory_per_client,
            linger: Duration::from_secs(config.unload_grace_secs),
        },
        crate::usage::Usage::new(
            &config.usage,
            Duration::from_millis(config.max_apply_ms_per_sec.into()),
        ),
    );
    let ctx = Arc::new(RoomContext::new(
        store.clone(),
        writer,
        RoomSettings::from_config(&config),
        cluster.clone(),
        client_limits.clone(),
    ));
    let rooms = Registry::new(ctx);
    if let Some(cluster) = &cluster {
        let registry = rooms.clone();
        Members::spawn(cluster.clone(), move |instance| {
            registry.notify_all(|| Control::InstanceGone(instance.clone()))
        });
        tokio::spawn(check_heads(cluster.clone(), rooms.clone()));
    }
    let sessions = Sessions::new(
        rooms.clone(),
        Duration::from_secs(config.session_idle_secs),
        config.outbound_queue,
        SessionLimits {
            per_ip: config.max_sessions_per_ip,
            per_token: config.max_sessions_per_token,
            buffer_bytes: config.session_buffer_bytes,
        },
    );
    if !config.edge.trusted_proxies.is_empty() {
        let proxies: Vec<String> = config
            .edge
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        tracing::info!(proxies = %proxies.join(","), "client addresses from X-Forwarded-For / X-Real-IP of trusted proxies");
    }
    let owner = match &cluster {
        Some(c) => c.settings().instance_id.clone(),
        // One instance on its database: after a restart it takes its leases back at once.
        None => "single".to_string(),
    };
    let fields = crate::render::Fields::new(config.rich_text_fields.clone());
    let webhooks = Webhooks::start(store.clone(), &config.webhooks, owner, fields.clone())?;
    let feed = crate::feed::Feed::start(
        store.clone(),
        Duration::from_millis(config.feed_poll_ms),
        fields,
    )
    .await;
    let state = Arc::new(AppState {
        feed,
        auth: Auth::new(config.secret.as_deref(), config.admin_key.as_deref()),
        client_limits,
        unauthenticated: crate::unauthenticated::Unauthenticated::new(
            config.pre_auth.max_unauthenticated_per_ip,
        ),
        receiving: crate::receiving::Receiving::new(
            config.edge.max_receiving_bytes_per_ip,
            config.edge.max_receiving_bytes,
        ),
        share_quota: Default::default(),
        revocations: Default::default(),
        trusted_proxies: TrustedProxies::new(config.edge.trusted_proxies.clone()),
        config,
        rooms,
        store,
        sessions,
        shutting_down: AtomicBool::new(false),
        prometheus,
        cluster,
        webhooks,
    });
    if state.cluster.is_some() {
        crate::link_checks::spawn_sweep(
            state.clone(),
            Duration::from_millis(state.config.cluster.cluster_resync_ms.max(100)),
        );
    }
    let app = router(state.clone());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let shutdown_state = state.clone();
    let shutdown = async move {
        let _ = stop_rx.await;
        shutdown_state.shutting_down.store(true, Ordering::Relaxed);
        tracing::info!("shutting down: writing out documents");
        shutdown_state.sessions.close_all();
        if let Some(webhooks) = &shutdown_state.webhooks {
            webhooks.stop().await;
        }
        shutdown_state.feed.close_all();
        shutdown_state
            .rooms
            .close_all(CloseReason::going_away())
            .await;
        tracing::info!("all documents written");
    };
    let settings =
        listener::Settings::from_config(&state.config.edge, state.client_limits.usage().cooldown());
    let task = tokio::spawn(listener::serve(listener, app, settings, shutdown));
    Ok(Server {
        addr,
        state,
        stop: Some(stop_tx),
        task,
    })
}

pub(crate) fn router(state: SharedState) -> Router {
    let web_dir = state.config.web_dir.clone();
    let trusted = state.trusted_proxies.clone();
    let body_limit = DefaultBodyLimit::max(state.config.max_message_size);
    let hosts = crate::allowed_hosts::AllowedHosts::new(
        &state.config.hosts,
        state.config.listen.ip(),
        state.config.secret.is_some(),
    );
    let api = Router::new()
        .merge(api::routes())
        .merge(crate::share::routes())
        .merge(crate::share_links::routes())
        .merge(transport::routes())
        // Probes keep their plain-text answers; clients of the API get JSON errors.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::json_errors,
        ))
        // Outside the JSON-error layer: its refusal is JSON already.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::check,
        ))
        // Outermost: a request for a name the server does not answer to gets no further.
        .layer(axum::middleware::from_fn_with_state(
            hosts,
            crate::host_check::check,
        ))
        .merge(ops::routes())
        .layer(body_limit)
        .with_state(state);
    let web = crate::web::routes(web_dir);
    api.merge(web)
        .layer(TraceLayer::new_for_http().make_span_with(
            move |req: &axum::http::Request<axum::body::Body>| {
                // tower-http's default span, plus the client (behind a trusted proxy, the
                // address it forwarded).
                let client = req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(peer)| trusted.client_ip(peer.ip(), req.headers()));
                tracing::debug_span!(
                    "request",
                    method = %req.method(),
                    uri = %req.uri(),
                    version = ?req.version(),
                    client = ?client,
                )
            },
        ))
}

/// Compares every loaded document with the database now and then, and at once after the
/// bus reconnects (messages published meanwhile may be lost).
async fn check_heads(cluster: Arc<Cluster>, rooms: Arc<Registry>) {
    let every = cluster.settings().resync_every;
    check_every(every, || cluster.reconnected(), || rooms.check_heads()).await
}

/// Runs `check` every `every`, and at once whenever `reconnected` completes.
async fn check_every<R, C>(
    every: Duration,
    mut reconnected: impl FnMut() -> R,
    mut check: impl FnMut() -> C,
) where
    R: std::future::Future<Output = ()>,
    C: std::future::Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = reconnected() => {}
        }
        check().await;
    }
}

/// Hides a password in a database URL before it reaches a log line.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => {
                    format!("{}://{}:***{}", &url[..scheme], &creds[..colon], &url[at..])
                }
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::{mpsc, Notify};

    use super::*;

    #[tokio::test]
    async fn a_bus_reconnect_checks_the_database_at_once() {
        let reconnected = Arc::new(Notify::new());
        let (checked_tx, mut checked) = mpsc::unbounded_channel();
        let hour = Duration::from_secs(3600);
        let notify = reconnected.clone();
        let task = tokio::spawn(async move {
            check_every(
                hour,
                || notify.notified(),
                || {
                    let _ = checked_tx.send(());
                    async {}
                },
            )
            .await
        });
        for _ in 0..2 {
            reconnected.notify_one();
            // A bound on a failure, not a synchronisation: the check comes at once.
            let seen = tokio::time::timeout(Duration::from_secs(10), checked.recv()).await;
            assert!(seen.is_ok(), "no check within 10 s of a reconnect");
        }
        task.abort();
    }
}
