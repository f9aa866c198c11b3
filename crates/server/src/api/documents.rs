//! Documents: listing, creating, renaming, showing and deleting them. Their live content
//! (text, state, updates) is in `live.rs`.

use axum::{
    extract::{FromRequest, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use tandem_persistence::{ContentKind, DocumentInfo};

use super::must_exist;
use crate::openapi_parts::{DocPath, Refused};
use crate::{
    auth,
    edge::{Admin, Authorized, ClientIp, Credentials, Doc, Write},
    error::{ApiError, ErrorBody},
    extract::JsonBody,
    names,
    peer::Access,
    room::{Request, RoomInfo},
    state::SharedState,
};

/// A document as the API shows it: what is stored, and who is in it now.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DocumentView {
    #[serde(flatten)]
    info: DocumentInfo,
    /// Open connections (WebSocket, SSE, polling) to the document on this instance.
    connections: usize,
    /// The names of the people connected (from their tokens or what they typed).
    users: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DocumentList {
    documents: Vec<DocumentView>,
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
        kind: None,
    }
}

impl DocumentView {
    /// A loaded document's content says what kind it is; an empty or unloaded one goes by
    /// what is stored.
    fn new(mut info: DocumentInfo, live: RoomInfo) -> DocumentView {
        if let Some(kind) = live.kind {
            info.kind = kind;
        }
        DocumentView {
            info,
            connections: live.connections,
            users: live.users,
        }
    }
}

#[utoipa::path(
    get, path = "/api/documents", tag = "documents",
    summary = "Every stored document (admin key)",
    responses((status = 200, body = DocumentList), Refused)
)]
pub(super) async fn list(
    State(state): State<SharedState>,
    _: Admin,
) -> Result<Json<DocumentList>, ApiError> {
    let docs = state.store.list_documents().await?;
    let mut out = Vec::with_capacity(docs.len());
    for info in docs {
        let live = presence(&state, &info.name).await;
        out.push(DocumentView::new(info, live));
    }
    Ok(Json(DocumentList { documents: out }))
}

/// `name` picks the URL-safe name; without it one is derived from `title` and made unique.
/// `kind` ("text", the default, or "rich") says what an empty document is meant to hold.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct CreateBody {
    /// The document's name (as in its URL); without it, one is derived from the title.
    name: Option<String>,
    /// Free text for people, at most 200 characters.
    title: Option<String>,
    /// `text` (the default) or `rich`.
    kind: Option<String>,
}

fn parse_kind(kind: Option<&str>) -> Result<ContentKind, ApiError> {
    match kind {
        None | Some("text") => Ok(ContentKind::Text),
        Some("rich") => Ok(ContentKind::Rich),
        Some(_) => Err(ApiError::bad_request(
            "kind must be \"text\" (plain text) or \"rich\" (rich text)",
        )),
    }
}

/// What a new document's row costs on disk besides its name and title, for the write quota.
const ROW_BYTES: usize = 256;

/// How many `-2`, `-3`, ... suffixes to try before a random one.
const NAME_ATTEMPTS: usize = 20;

#[utoipa::path(
    post, path = "/api/documents", tag = "documents",
    summary = "Create a document, by name or from a title",
    request_body = CreateBody,
    responses(
        (status = 201, body = DocumentView, links(
            ("show" = (operation_id = "get_api_documents_doc",
                parameters(("doc" = "$response.body#/name")))),
            ("text" = (operation_id = "get_api_documents_doc_text",
                parameters(("doc" = "$response.body#/name")))),
            ("versions" = (operation_id = "get_api_documents_doc_versions",
                parameters(("doc" = "$response.body#/name")))),
            ("name_version" = (operation_id = "post_api_documents_doc_versions",
                parameters(("doc" = "$response.body#/name")))),
            ("poll" = (operation_id = "post_poll_doc",
                parameters(("doc" = "$response.body#/name")))),
        )),
        (status = 409, description = "The name is taken", body = ErrorBody),
        Refused,
    )
)]
pub(super) async fn create(
    State(state): State<SharedState>,
    ClientIp(ip): ClientIp,
    creds: Credentials,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<DocumentView>), ApiError> {
    // The credential before the body: a request without one is refused unread.
    let grant = state
        .auth
        .any_document(creds.token.as_deref(), creds.bearer.as_deref())?;
    if grant.access == Access::Read {
        return Err(auth::AuthError::ReadOnly.into());
    }
    let JsonBody(body) = JsonBody::<CreateBody>::from_request(req, &state).await?;
    let title = names::validate_title(body.title.as_deref().unwrap_or(""))?;
    let kind = parse_kind(body.kind.as_deref())?;
    // A new document is a row on disk: its name and title count against the write quota.
    let token = (!grant.admin)
        .then(|| crate::transport::credential(&creds))
        .flatten();
    let written = ROW_BYTES + body.name.as_ref().map_or(0, String::len) + title.len();
    state.client_limits.usage().write(ip, token, written)?;
    let info = match body.name.as_deref() {
        Some(name) => {
            names::validate(name)?;
            may_create(&state, name, &creds)?;
            state.store.create_of_kind(name, title, kind).await?
        }
        None if title.is_empty() => {
            return Err(ApiError::bad_request(
                "give the document a title (or a name)",
            ))
        }
        None => create_unique(&state, &creds, title, kind).await?,
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
    creds: &Credentials,
    title: &str,
    kind: ContentKind,
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
        may_create(state, &name, creds)?;
        // A name that is loaded but not stored yet is in use too.
        if state.rooms.is_loaded(&name) {
            continue;
        }
        match state.store.create_of_kind(&name, title, kind).await {
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

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RenameBody {
    /// The new title, at most 200 characters (empty: show the name).
    title: String,
}

/// Renames in place: only the title changes, so links (which use the name) keep working.
#[utoipa::path(
    patch, path = "/api/documents/{doc}", tag = "documents",
    summary = "Set a document's title",
    params(DocPath), request_body = RenameBody,
    responses((status = 200, body = DocumentView), Refused)
)]
pub(super) async fn rename(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized<Write>,
    JsonBody(body): JsonBody<RenameBody>,
) -> Result<Json<DocumentView>, ApiError> {
    let title = names::validate_title(&body.title)?;
    let info = state.store.set_title(&doc, title).await?;
    let live = presence(&state, &doc).await;
    Ok(Json(DocumentView::new(info, live)))
}

/// A new document's name is in the body, not the path: the same check as
/// `Authorized<Write>`, by `?token=` or bearer alike.
fn may_create(state: &SharedState, name: &str, creds: &Credentials) -> Result<(), ApiError> {
    let grant = state
        .auth
        .document(name, creds.token.as_deref(), creds.bearer.as_deref())?;
    if grant.access == Access::Read {
        return Err(auth::AuthError::ReadOnly.into());
    }
    Ok(())
}

#[utoipa::path(
    get, path = "/api/documents/{doc}", tag = "documents",
    summary = "A document's title, size, kind and who is in it",
    params(DocPath),
    responses((status = 200, body = DocumentView), Refused)
)]
pub(super) async fn show(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
) -> Result<Json<DocumentView>, ApiError> {
    let info = must_exist(&state, &doc).await?.unwrap_or_else(|| {
        let now = chrono::Utc::now();
        DocumentInfo {
            id: None,
            name: doc.to_string(),
            title: String::new(),
            created_at: now,
            updated_at: now,
            size_bytes: 0,
            kind: Default::default(),
        }
    });
    let live = presence(&state, &doc).await;
    Ok(Json(DocumentView::new(info, live)))
}

#[utoipa::path(
    delete, path = "/api/documents/{doc}", tag = "documents",
    summary = "Delete a document and its history (admin key)",
    params(DocPath),
    responses((status = 204, description = "Deleted; connected editors are closed"), Refused)
)]
pub(super) async fn delete(
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
