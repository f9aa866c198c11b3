//! The HTTP API over documents and their history (see docs/PROTOCOL.md).
//!
//! Reads and edits go through the document's room, so they see exactly what connected
//! editors see, and an edit made here reaches them live.

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{any, get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use tandem_persistence::{DocumentInfo, VersionKind};

use crate::{
    auth::{self, AccessLevel, Claims},
    edge::{Admin, Authorized, BearerCredential, Doc, Write},
    error::{self, ApiError},
    extract::{BinaryBody, JsonBody},
    names,
    peer::Access,
    room::{Request, RoomInfo},
    state::SharedState,
};

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/config", get(config))
        .route("/api/documents", get(list).post(create))
        .route(
            "/api/documents/{doc}",
            get(show).patch(rename).delete(delete),
        )
        .route("/api/documents/{doc}/text", get(text))
        .route("/api/documents/{doc}/state", get(state_bytes))
        .route("/api/documents/{doc}/updates", post(apply_update))
        .route(
            "/api/documents/{doc}/versions",
            get(versions).post(create_version),
        )
        .route("/api/documents/{doc}/versions/{n}", get(version))
        .route(
            "/api/documents/{doc}/versions/{n}/state",
            get(version_state),
        )
        .route("/api/documents/{doc}/versions/{n}/restore", post(restore))
        .route("/api/tokens", post(mint_token))
        .route("/api", any(error::api_not_found))
        .route("/api/", any(error::api_not_found))
        .route("/api/{*rest}", any(error::api_not_found))
}

async fn config(State(state): State<SharedState>) -> Json<serde_json::Value> {
    use crate::config::TransportKind as T;
    let transports: Vec<&str> = [
        (T::Websocket, "websocket"),
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
        // Whether listing and deleting documents need the admin key (the editor hides what
        // the visitor cannot do).
        "admin": if state.auth.admin_open() { "open" } else { "key" },
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

#[derive(Serialize)]
struct DocumentView {
    #[serde(flatten)]
    info: DocumentInfo,
    connections: usize,
    users: Vec<String>,
}

/// Live presence for loaded documents; unloaded ones have nobody in them.
async fn presence(state: &SharedState, doc: &str) -> RoomInfo {
    if state.rooms.is_loaded(doc) {
        if let Some(info) = state.rooms.request(doc, Request::Info).await {
            return info;
        }
    }
    RoomInfo {
        connections: 0,
        users: Vec::new(),
    }
}

async fn list(
    State(state): State<SharedState>,
    _: Admin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let docs = state.store.list_documents().await?;
    let mut out = Vec::with_capacity(docs.len());
    for info in docs {
        let live = presence(&state, &info.name).await;
        out.push(DocumentView {
            info,
            connections: live.connections,
            users: live.users,
        });
    }
    Ok(Json(serde_json::json!({ "documents": out })))
}

/// `name` picks the URL-safe name; without it one is derived from `title` and made unique.
#[derive(Deserialize)]
struct CreateBody {
    name: Option<String>,
    title: Option<String>,
}

/// How many `-2`, `-3`, ... suffixes to try before a random one.
const NAME_ATTEMPTS: usize = 20;

async fn create(
    State(state): State<SharedState>,
    BearerCredential(bearer): BearerCredential,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    let title = names::validate_title(body.title.as_deref().unwrap_or(""))?;
    let info = match body.name.as_deref() {
        Some(name) => {
            names::validate(name)?;
            may_create(&state, name, bearer.as_deref())?;
            state.store.create_titled(name, title).await?
        }
        None if title.is_empty() => {
            return Err(ApiError::bad_request(
                "give the document a title (or a name)",
            ))
        }
        None => create_unique(&state, bearer.as_deref(), title).await?,
    };
    Ok((
        StatusCode::CREATED,
        Json(DocumentView {
            info,
            connections: 0,
            users: Vec::new(),
        }),
    ))
}

/// Creates a document named after its title: `meeting-notes`, then `meeting-notes-2`, ...
async fn create_unique(
    state: &SharedState,
    bearer: Option<&str>,
    title: &str,
) -> Result<DocumentInfo, ApiError> {
    let base = names::derive_name(title);
    let mut candidates: Vec<String> = (1..=NAME_ATTEMPTS)
        .map(|n| match n {
            1 => base.clone(),
            n => format!("{base}-{n}"),
        })
        .collect();
    candidates.push(format!("{base}-{:08x}", rand::random::<u32>()));
    for name in candidates {
        may_create(state, &name, bearer)?;
        // A name that is loaded but not stored yet is in use too.
        if state.rooms.is_loaded(&name) {
            continue;
        }
        match state.store.create_titled(&name, title).await {
            Ok(info) => return Ok(info),
            Err(tandem_persistence::StoreError::AlreadyExists(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        format!("could not find a free name for {title:?}; give one explicitly"),
    ))
}

#[derive(Deserialize)]
struct RenameBody {
    title: String,
}

/// Renames in place: only the title changes, so links (which use the name) keep working.
async fn rename(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized<Write>,
    Json(body): Json<RenameBody>,
) -> Result<Json<DocumentView>, ApiError> {
    let title = names::validate_title(&body.title)?;
    let info = state.store.set_title(&doc, title).await?;
    let live = presence(&state, &doc).await;
    Ok(Json(DocumentView {
        info,
        connections: live.connections,
        users: live.users,
    }))
}

/// A new document's name is in the body, not the path: the same check as
/// `Authorized<Write>`, without a `?token=`.
fn may_create(state: &SharedState, name: &str, bearer: Option<&str>) -> Result<(), ApiError> {
    let grant = state.auth.document(name, None, bearer)?;
    if grant.access == Access::Read {
        return Err(auth::AuthError::ReadOnly.into());
    }
    Ok(())
}

/// 404 unless the document is stored or loaded (a loaded one may not be written yet).
async fn must_exist(state: &SharedState, doc: &str) -> Result<Option<DocumentInfo>, ApiError> {
    let info = state.store.document(doc).await?;
    if info.is_none() && !state.rooms.is_loaded(doc) {
        return Err(ApiError::not_found(format!("document {doc:?}")));
    }
    Ok(info)
}

async fn show(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
) -> Result<Json<DocumentView>, ApiError> {
    let info = must_exist(&state, &doc).await?.unwrap_or_else(|| {
        let now = chrono::Utc::now();
        DocumentInfo {
            name: doc.to_string(),
            title: String::new(),
            created_at: now,
            updated_at: now,
            size_bytes: 0,
        }
    });
    let live = presence(&state, &doc).await;
    Ok(Json(DocumentView {
        info,
        connections: live.connections,
        users: live.users,
    }))
}

async fn delete(
    State(state): State<SharedState>,
    Doc(doc): Doc,
    _: Admin,
) -> Result<StatusCode, ApiError> {
    if state.rooms.delete(&doc).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("document {doc:?}")))
    }
}

async fn text(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
) -> Result<Response, ApiError> {
    let text = read_live(&state, &doc, Request::Text).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

async fn state_bytes(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
) -> Result<Response, ApiError> {
    let bytes = read_live(&state, &doc, Request::State).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Reads something from an existing document's room (loading it if needed).
async fn read_live<T>(
    state: &SharedState,
    doc: &str,
    make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Request,
) -> Result<T, ApiError> {
    must_exist(state, doc).await?;
    state
        .rooms
        .request(doc, make)
        .await
        .ok_or_else(|| ApiError::unavailable("document could not be loaded"))
}

async fn apply_update(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized<Write>,
    BinaryBody(body): BinaryBody,
) -> Result<StatusCode, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("empty body: send a Yjs update (v1)"));
    }
    // Before anything decodes it: `yrs` reserves memory for the counts an update claims.
    crate::yjs_bounds::check_update(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid Yjs update: {e}")))?;
    let update = body.to_vec();
    state
        .rooms
        .request(&doc, |done| Request::Apply { update, done })
        .await
        .ok_or_else(|| ApiError::unavailable("document is closing; retry"))??;
    Ok(StatusCode::NO_CONTENT)
}

async fn versions(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
) -> Result<Json<serde_json::Value>, ApiError> {
    must_exist(&state, &doc).await?;
    let versions = state.store.list_versions(&doc).await?;
    Ok(Json(serde_json::json!({ "versions": versions })))
}

fn parse_version(n: &str) -> Result<i64, ApiError> {
    n.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request("version must be a positive integer"))
}

async fn load_version(
    state: &SharedState,
    doc: &str,
    n: &str,
) -> Result<tandem_persistence::Version, ApiError> {
    let n = parse_version(n)?;
    state
        .store
        .version(doc, n)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("version {n} of {doc:?}")))
}

async fn version(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
    Path((_, n)): Path<(String, String)>,
) -> Result<Json<tandem_persistence::Version>, ApiError> {
    Ok(Json(load_version(&state, &doc, &n).await?))
}

async fn version_state(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
    Path((_, n)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let v = load_version(&state, &doc, &n).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        v.state,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
struct VersionBody {
    label: Option<String>,
}

async fn create_version(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized<Write>,
    body: Option<Json<VersionBody>>,
) -> Result<(StatusCode, Json<tandem_persistence::VersionInfo>), ApiError> {
    must_exist(&state, &doc).await?;
    let label = body.and_then(|b| b.0.label).map(|l| l.trim().to_string());
    if label.as_ref().is_some_and(|l| l.chars().count() > 200) {
        return Err(ApiError::bad_request("label is longer than 200 characters"));
    }
    let label = label.filter(|l| !l.is_empty());
    let max = state.config.max_named_versions;
    if max > 0 {
        let named = state
            .store
            .list_versions(&doc)
            .await?
            .iter()
            .filter(|v| v.kind == VersionKind::Named)
            .count();
        if named >= max {
            metrics::counter!(crate::metric_names::LIMIT_REFUSALS, "limit" => "named_versions")
                .increment(1);
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("this document has {named} named versions, the most allowed ({max})"),
            ));
        }
    }
    let info = state
        .rooms
        .request(&doc, |done| Request::CreateVersion {
            kind: VersionKind::Named,
            label,
            done,
        })
        .await
        .ok_or_else(|| ApiError::unavailable("document is closing; retry"))??;
    Ok((StatusCode::CREATED, Json(info)))
}

async fn restore(
    State(state): State<SharedState>,
    Doc(doc): Doc,
    _: Admin,
    Path((_, n)): Path<(String, String)>,
) -> Result<Json<tandem_persistence::VersionInfo>, ApiError> {
    let old = load_version(&state, &doc, &n).await?;
    let label = Some(format!("restored from version {}", old.info.version));
    let info = state
        .rooms
        .request(&doc, |done| Request::Restore {
            text: old.text,
            label,
            done,
        })
        .await
        .ok_or_else(|| ApiError::unavailable("document is closing; retry"))??;
    Ok(Json(info))
}

#[derive(Deserialize)]
struct TokenRequest {
    doc: String,
    #[serde(default = "default_access")]
    access: AccessLevel,
    #[serde(default = "default_expiry")]
    expires_in: u64,
    name: Option<String>,
    #[serde(default)]
    share: bool,
}

fn default_access() -> AccessLevel {
    AccessLevel::Write
}

fn default_expiry() -> u64 {
    86400
}

async fn mint_token(
    State(state): State<SharedState>,
    _: Admin,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let pattern = req.doc.strip_suffix('*').unwrap_or(&req.doc);
    if !(pattern.is_empty() && req.doc == "*") {
        names::validate(pattern)?;
    }
    let exp = auth::expiry_after(req.expires_in).ok_or_else(|| {
        ApiError::bad_request(format!(
            "expires_in must be at most {} seconds",
            auth::MAX_LIFETIME_SECS
        ))
    })?;
    let claims = Claims {
        doc: req.doc,
        access: req.access,
        exp,
        name: req.name,
        share: req.share,
    };
    let token = state.auth.mint(&claims).ok_or_else(|| {
        ApiError::bad_request("the server has no TANDEM_SECRET: tokens are not used")
    })?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "token": token, "claims": claims })),
    ))
}
