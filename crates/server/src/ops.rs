//! Health, readiness and metrics endpoints for orchestrators and Prometheus.

use std::{sync::OnceLock, time::Duration};

use axum::{extract::State, http::StatusCode, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::{route_table::route_table, state::SharedState};

// Outside the JSON-error layer: probes and Prometheus get plain text, whatever happens.
route_table! {
    get "/healthz" => healthz,
    get "/readyz" => readyz,
    get "/metrics" => metrics_text,
}

pub(crate) fn routes() -> Router<SharedState> {
    table()
}

#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    summary = "Liveness: the process answers",
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String)),
    security(())
)]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// The process-wide Prometheus recorder (metrics macros write to one global recorder).
pub(crate) fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ])
                .expect("static buckets")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_ok() {
                crate::metric_names::describe();
                crate::metric_names::register_zeroes();
                crate::scrape_gauges::describe();
            }
            handle
        })
        .clone()
}

#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    summary = "Readiness: the database answers within 2 s and the server is not stopping",
    responses(
        (status = 200, description = "`ready` (in a cluster, with the bus's state)",
            content_type = "text/plain", body = String),
        (status = 503, description = "Why not", content_type = "text/plain", body = String),
    ),
    security(())
)]
pub(crate) async fn readyz(State(state): State<SharedState>) -> (StatusCode, String) {
    if state.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down".into());
    }
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        // A cluster instance without its bus still serves correctly (it converges through
        // the database, only slower), so it stays ready and says so.
        Ok(Ok(())) => match &state.cluster {
            Some(cluster) => (StatusCode::OK, format!("ready; bus {}", cluster.state())),
            None => (StatusCode::OK, "ready".into()),
        },
        Ok(Err(err)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database unreachable: {err}"),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable: no answer within 2 s".into(),
        ),
    }
}

#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    summary = "Prometheus metrics (text exposition format)",
    responses((status = 200, content_type = "text/plain", body = String)),
    security(())
)]
pub(crate) async fn metrics_text(State(state): State<SharedState>) -> String {
    crate::scrape_gauges::refresh(&state).await;
    state.prometheus.render()
}
