//! A document's live content through its room: the text and the Yjs state as connected
//! editors see them, and updates applied as an editor's edit (which reach those editors
//! live). The documents themselves (list, create, rename, delete) are in `documents.rs`.

use axum::{
    extract::{FromRequest, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};

use super::must_exist;
use crate::openapi_parts::{Binary, DocPath, Refused};
use crate::{
    edge::{Authorized, ClientIp, Credentials, Write},
    error::ApiError,
    extract::BinaryBody,
    room::Request,
    state::SharedState,
};

#[utoipa::path(
    get, path = "/api/documents/{doc}/text", tag = "documents",
    summary = "The document's text",
    params(DocPath),
    responses(
        (status = 200, description = "The plain text", content_type = "text/plain", body = String),
        Refused,
    )
)]
pub(super) async fn text(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
    ClientIp(ip): ClientIp,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let _hold = crate::transport::open_document(&state, ip, &creds, &grant, &doc)?;
    let text = read_live(&state, &doc, Request::Text).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

#[utoipa::path(
    get, path = "/api/documents/{doc}/state", tag = "documents",
    summary = "The document's Yjs state (an update, v1 encoding)",
    params(DocPath),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Binary,
            description = "Apply it to an empty Y.Doc to get the document"),
        Refused,
    )
)]
pub(super) async fn state_bytes(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
    ClientIp(ip): ClientIp,
    creds: Credentials,
) -> Result<Response, ApiError> {
    let _hold = crate::transport::open_document(&state, ip, &creds, &grant, &doc)?;
    let bytes = read_live(&state, &doc, Request::State).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Reads something from an existing document's room (loading it if needed).
pub(super) async fn read_live<T>(
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

/// An edit loads its document like a connection does: for as long as the request lasts it
/// is one of the client's open documents (it lingers for the unload grace after), its
/// update counts against the client's memory, message rate and write quota, and all of
/// that is checked before the body is read.
#[utoipa::path(
    post, path = "/api/documents/{doc}/updates", tag = "documents",
    summary = "Apply a Yjs update (v1), as an editor's edit",
    params(DocPath),
    request_body(content = Binary, content_type = "application/octet-stream"),
    responses((status = 204, description = "Applied and stored"), Refused)
)]
pub(super) async fn apply_update(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized<Write>,
    ClientIp(ip): ClientIp,
    creds: Credentials,
    req: axum::extract::Request,
) -> Result<StatusCode, ApiError> {
    let hold = open_for_edit(&state, ip, &creds, &grant, &doc)?;
    let BinaryBody(body) = BinaryBody::from_request(req, &state).await?;
    if body.is_empty() {
        return Err(ApiError::bad_request("empty body: send a Yjs update (v1)"));
    }
    // Before anything decodes it: `yrs` reserves memory for the counts an update claims.
    crate::yjs_bounds::check_update(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid Yjs update: {e}")))?;
    apply_while_open(&state, &doc, hold, grant.name.clone(), body.to_vec()).await
}

/// Opens the document for an HTTP edit (`POST .../updates`, `PUT .../content`) and takes
/// one message from its client's rate, both before the body is read.
pub(super) fn open_for_edit(
    state: &SharedState,
    ip: std::net::IpAddr,
    creds: &Credentials,
    grant: &crate::auth::Grant,
    doc: &str,
) -> Result<crate::client_limits::OpenDocument, ApiError> {
    let open = crate::transport::open_document(state, ip, creds, grant, doc)?;
    let client = open.client();
    state
        .client_limits
        .usage()
        .message(client.ip(), client.token())?;
    Ok(open)
}

/// Applies an HTTP edit as the client that has the document open: the room counts it
/// against that client's limits like a socket's update; the document stays open for it
/// until the room has answered.
pub(super) async fn apply_while_open(
    state: &SharedState,
    doc: &str,
    hold: crate::client_limits::OpenDocument,
    author: Option<String>,
    update: Vec<u8>,
) -> Result<StatusCode, ApiError> {
    let client = hold.client();
    state
        .rooms
        .request(doc, |done| Request::Apply {
            update,
            client,
            author,
            done,
        })
        .await
        .ok_or_else(|| ApiError::unavailable("document is closing; retry"))??;
    drop(hold);
    Ok(StatusCode::NO_CONTENT)
}
