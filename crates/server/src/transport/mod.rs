//! The three ways a client reaches a room. Each is a thin adapter over [`crate::peer`]:
//! WebSocket maps frames one to one; SSE and long polling share [`crate::session`], a
//! buffered peer that outlives individual HTTP requests.

pub mod hocuspocus;
pub mod poll;
pub mod sse;
pub mod ws;

use axum::{
    routing::{get, post},
    Router,
};
use serde::Deserialize;

use crate::{config::TransportKind, state::SharedState};

/// `?token=` on transport URLs: browsers can't set headers on WebSocket or EventSource.
#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    pub token: Option<String>,
}

pub fn routes() -> Router<SharedState> {
    let mut router = Router::new();
    // Disabled transports are still routed, to answer with a clear refusal instead of the
    // SPA fallback page.
    router = router.route("/ws/{doc}", get(ws::upgrade));
    router = router.route("/hocuspocus", get(hocuspocus::upgrade));
    router = router
        .route("/sse/{doc}", get(sse::open))
        // DELETE ends the session at once (a closing tab), instead of after the idle timeout.
        .route("/sse/{doc}/{session}", post(sse::send).delete(poll::close));
    router = router.route("/poll/{doc}", post(poll::open)).route(
        "/poll/{doc}/{session}",
        get(poll::receive).post(poll::send).delete(poll::close),
    );
    // One POST carries messages like one WebSocket frame: the same size limit (413), set
    // for every route in `app::router`.
    router
}

pub fn ensure_enabled(
    state: &SharedState,
    kind: TransportKind,
) -> Result<(), crate::error::ApiError> {
    if state.is_shutting_down() {
        return Err(crate::error::ApiError::unavailable("server shutting down"));
    }
    if !state.config.transport_enabled(kind) {
        return Err(crate::error::ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            format!("the {kind:?} transport is disabled on this server").to_lowercase(),
        ));
    }
    Ok(())
}
