//! Refuses requests for host names the server does not answer to (`allowed_hosts.rs`):
//! 421 with a JSON message, before the origin check, whose same-host exemption would
//! otherwise trust the name. The probes (`/healthz`, `/metrics`) and the editor's static
//! files are not checked.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{allowed_hosts::AllowedHosts, error::ApiError, metric_names as m};

pub(crate) async fn check(
    State(allowed): State<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"))
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if !allowed.allows(host) => {
            metrics::counter!(m::REFUSALS, "reason" => "host").increment(1);
            let shown: String = host.chars().take(100).collect();
            ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "this server does not answer to the host {shown:?}: list it in \
                     --allowed-hosts / TANDEM_ALLOWED_HOSTS"
                ),
            )
            .into_response()
        }
        // No Host at all: not a browser (they always send one).
        _ => next.run(req).await,
    }
}
