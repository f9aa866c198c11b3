//! The HTTP API over documents and their history (see docs/PROTOCOL.md).
//!
//! Reads and edits go through the document's room, so they see exactly what connected
//! editors see, and an edit made here reaches them live.

mod changes;
mod content;
mod documents;
mod export;
mod tokens;
mod versions;
mod webhooks;

use axum::{
    extract::State,
    routing::{any, get, post, put},
    Json, Router,
};
use tandem_persistence::DocumentInfo;

use crate::{
    error::{self, ApiError},
    state::SharedState,
};

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/config", get(config))
        .route(
            "/api/documents",
            get(documents::list).post(documents::create),
        )
        .route(
            "/api/documents/{doc}",
            get(documents::show)
                .patch(documents::rename)
                .delete(documents::delete),
        )
        .route("/api/documents/{doc}/text", get(documents::text))
        .route("/api/documents/{doc}/export", get(export::export))
        .route("/api/documents/{doc}/content", put(content::replace))
        .route("/api/documents/{doc}/changes", get(changes::document))
        .route("/api/changes", get(changes::all))
        .route("/api/documents/{doc}/state", get(documents::state_bytes))
        .route(
            "/api/documents/{doc}/updates",
            post(documents::apply_update),
        )
        .route(
            "/api/documents/{doc}/versions",
            get(versions::versions).post(versions::create_version),
        )
        .route("/api/documents/{doc}/versions/{n}", get(versions::version))
        .route(
            "/api/documents/{doc}/versions/{n}/state",
            get(versions::version_state),
        )
        .route(
            "/api/documents/{doc}/versions/{n}/restore",
            post(versions::restore),
        )
        .route("/api/tokens", post(tokens::mint_token))
        .route("/api/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/api/webhooks/{id}",
            get(webhooks::show).delete(webhooks::delete),
        )
        .route("/api/webhooks/{id}/test", post(webhooks::test))
        .route("/api/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/api", any(error::api_not_found))
        .route("/api/", any(error::api_not_found))
        .route("/api/{*rest}", any(error::api_not_found))
}

async fn config(State(state): State<SharedState>) -> Json<serde_json::Value> {
    use crate::peer::Transport as T;
    let transports: Vec<&str> = [
        (T::WebSocket, "websocket"),
        (T::Sse, "sse"),
        (T::Poll, "poll"),
    ]
    .into_iter()
    .filter(|(t, _)| state.config.transport_enabled(*t))
    .map(|(_, name)| name)
    .collect();
    Json(serde_json::json!({
        "transports": transports,
        "auth": if state.auth.token_mode() { "token" } else { "open" },
        // Whether listing and deleting documents need the admin key, or are impossible for
        // want of one (the editor asks for the key, or hides what nobody can do).
        "admin": if state.auth.admin_open() {
            "open"
        } else if state.auth.has_admin() {
            "key"
        } else {
            "none"
        },
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// 404 unless the document is stored or loaded (a loaded one may not be written yet).
async fn must_exist(state: &SharedState, doc: &str) -> Result<Option<DocumentInfo>, ApiError> {
    let info = state.store.document(doc).await?;
    if info.is_none() && !state.rooms.is_loaded(doc) {
        return Err(ApiError::not_found(format!("document {doc:?}")));
    }
    Ok(info)
}
