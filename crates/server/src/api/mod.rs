//! The HTTP API over documents and their history (see docs/PROTOCOL.md).
//!
//! Reads and edits go through the document's room, so they see exactly what connected
//! editors see, and an edit made here reaches them live.

mod changes;
mod content;
mod documents;
mod export;
mod live;
pub(crate) mod openapi;
mod tokens;
mod versions;
mod webhooks;

use axum::{extract::State, routing::any, Json, Router};
use serde::Serialize;
use tandem_persistence::DocumentInfo;

use crate::{
    error::{self, ApiError},
    route_table::route_table,
    state::SharedState,
};

route_table! {
    get "/api/config" => config,
    get "/api/openapi.json" => openapi::document,
    get "/api/documents" => documents::list,
    post "/api/documents" => documents::create,
    get "/api/documents/{doc}" => documents::show,
    patch "/api/documents/{doc}" => documents::rename,
    delete "/api/documents/{doc}" => documents::delete,
    get "/api/documents/{doc}/text" => live::text,
    get "/api/documents/{doc}/export" => export::export,
    put "/api/documents/{doc}/content" => content::replace,
    get "/api/documents/{doc}/changes" => changes::document,
    get "/api/changes" => changes::all,
    get "/api/documents/{doc}/state" => live::state_bytes,
    post "/api/documents/{doc}/updates" => live::apply_update,
    get "/api/documents/{doc}/versions" => versions::versions,
    post "/api/documents/{doc}/versions" => versions::create_version,
    get "/api/documents/{doc}/versions/{n}" => versions::version,
    get "/api/documents/{doc}/versions/{n}/state" => versions::version_state,
    post "/api/documents/{doc}/versions/{n}/restore" => versions::restore,
    post "/api/tokens" => tokens::mint_token,
    get "/api/webhooks" => webhooks::list,
    post "/api/webhooks" => webhooks::create,
    get "/api/webhooks/{id}" => webhooks::show,
    delete "/api/webhooks/{id}" => webhooks::delete,
    post "/api/webhooks/{id}/test" => webhooks::test,
    post "/api/webhooks/{id}/rotate" => webhooks::rotate,
}

/// The table's routes, and JSON 404s for `/api/...` paths that name nothing (not
/// endpoints: they are left out of the table and the document).
pub(crate) fn routes() -> Router<SharedState> {
    table()
        .route("/api", any(error::api_not_found))
        .route("/api/", any(error::api_not_found))
        .route("/api/{*rest}", any(error::api_not_found))
}

/// What the web editor asks the server before it shows anything.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ServerConfig {
    /// The transports switched on: `websocket`, `sse`, `poll`.
    transports: Vec<&'static str>,
    /// `token` (a token is needed to open a document) or `open`.
    #[schema(value_type = String, pattern = "^(token|open)$")]
    auth: &'static str,
    /// Whether listing and deleting documents need the admin key (`key`), anyone may
    /// (`open`), or nobody can for want of one (`none`).
    #[schema(value_type = String, pattern = "^(open|key|none)$")]
    admin: &'static str,
    /// The server's version.
    version: &'static str,
}

#[utoipa::path(
    get, path = "/api/config", tag = "server",
    summary = "What the server offers: transports, auth mode, admin mode, version",
    responses((status = 200, body = ServerConfig), crate::openapi_parts::Refused),
    security(())
)]
async fn config(State(state): State<SharedState>) -> Json<ServerConfig> {
    use crate::peer::Transport as T;
    let transports: Vec<&'static str> = [
        (T::WebSocket, "websocket"),
        (T::Sse, "sse"),
        (T::Poll, "poll"),
    ]
    .into_iter()
    .filter(|(t, _)| state.config.transport_enabled(*t))
    .map(|(_, name)| name)
    .collect();
    Json(ServerConfig {
        transports,
        auth: if state.auth.token_mode() {
            "token"
        } else {
            "open"
        },
        // Whether listing and deleting documents need the admin key, or are impossible for
        // want of one (the editor asks for the key, or hides what nobody can do).
        admin: if state.auth.admin_open() {
            "open"
        } else if state.auth.has_admin() {
            "key"
        } else {
            "none"
        },
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// 404 unless the document is stored or loaded (a loaded one may not be written yet).
async fn must_exist(state: &SharedState, doc: &str) -> Result<Option<DocumentInfo>, ApiError> {
    let info = state.store.document(doc).await?;
    if info.is_none() && !state.rooms.is_loaded(doc) {
        return Err(ApiError::not_found(format!("document {doc:?}")));
    }
    Ok(info)
}
