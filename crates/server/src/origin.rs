//! Which web pages may write: `--allowed-origins`.
//!
//! A browser lets any page open a WebSocket to any server, and send it simple POSTs,
//! carrying the visitor's network position (an intranet server, an open-mode server on
//! localhost) and any credentials the page holds. The `Origin` header names the page, and
//! browsers always send it on WebSocket handshakes and on cross-origin POST, PUT, PATCH and
//! DELETE. When origins are listed, such requests from other pages get 403.
//!
//! Not checked: requests without `Origin` (curl, servers, native clients: not a browser
//! page acting for a visitor), pages from the server's own host (the editor it serves),
//! and plain reads, whose answers a page from elsewhere cannot read: the server sends no
//! CORS headers.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{config::parse_origin, error::ApiError, metric_names as m, state::SharedState};

pub(crate) async fn check(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let allowed = &state.config.edge.allowed_origins;
    if allowed.is_empty() || !writes(&req) {
        return next.run(req).await;
    }
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return next.run(req).await;
    };
    let origin = origin.to_str().ok().and_then(|o| parse_origin(o).ok());
    match origin {
        Some(origin) if allowed.contains(&origin) || same_host(&origin, req.headers()) => {
            next.run(req).await
        }
        origin => {
            metrics::counter!(m::REFUSALS, "reason" => "origin").increment(1);
            let message = match origin {
                Some(o) => format!(
                    "pages from {} may not write to this server (not in its allowed origins)",
                    o.chars().take(100).collect::<String>()
                ),
                None => "malformed Origin header".to_string(),
            };
            ApiError::new(StatusCode::FORBIDDEN, message).into_response()
        }
    }
}

/// A request that changes something: any method but the reading ones, and the WebSocket
/// handshake (a GET that opens a connection able to write).
fn writes(req: &Request) -> bool {
    let reads = [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE];
    if !reads.contains(req.method()) {
        return true;
    }
    req.headers()
        .get_all(header::UPGRADE)
        .iter()
        .any(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// The page comes from the host the request is addressed to: the server's own editor.
fn same_host(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let Some((scheme, _)) = origin.split_once("://") else {
        return false;
    };
    // Normalised as the origin was (lower case, no default port).
    parse_origin(&format!("{scheme}://{host}")).is_ok_and(|h| h == origin)
}
