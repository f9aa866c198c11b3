//! `PUT /api/documents/{doc}/content`: replaces a document's rich text with Markdown
//! (`Content-Type: text/markdown`) or ProseMirror JSON (`application/json`), as one edit
//! that connected editors see live. Same access and limits as `POST .../updates`: the edit
//! is computed against the current state and then applied exactly as a client's update.

use axum::{
    extract::{FromRequest, Request as HttpRequest, State},
    http::{header, StatusCode},
};
use yrs::{updates::decoder::Decode, Transact, Update};

use crate::openapi_parts::{DocPath, Refused};
use crate::{
    edge::{Authorized, ClientIp, Credentials, Write},
    error::{ApiError, ErrorBody},
    extract::read_body,
    import,
    render::{node::Node, Fields},
    room::Request,
    state::SharedState,
    text,
};

/// The body, read as the content it says it is.
pub(super) struct ContentBody(Node);

impl FromRequest<SharedState> for ContentBody {
    type Rejection = ApiError;

    async fn from_request(req: HttpRequest, state: &SharedState) -> Result<Self, ApiError> {
        let media = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        if media != "text/markdown" && media != "application/json" {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send Markdown as Content-Type: text/markdown or ProseMirror JSON as \
                 Content-Type: application/json",
            ));
        }
        // The message-size limit and the body deadline, as for `POST .../updates`.
        let body = read_body(state, req, state.config.max_message_size).await?;
        let node = if media == "text/markdown" {
            let source = std::str::from_utf8(&body)
                .map_err(|_| ApiError::bad_request("the Markdown is not valid UTF-8"))?;
            import::markdown::parse(source).map_err(|e| ApiError::bad_request(e.to_string()))?
        } else {
            import::json::parse(&body).map_err(|e| ApiError::bad_request(e.to_string()))?
        };
        Ok(ContentBody(node))
    }
}

#[utoipa::path(
    put, path = "/api/documents/{doc}/content", tag = "documents",
    summary = "Replace a rich document's content with Markdown or ProseMirror JSON",
    params(DocPath),
    request_body(
        description = "Markdown (`text/markdown`) or ProseMirror JSON (`application/json`)",
        content(
            (String = "text/markdown"),
            (Object = "application/json"),
        )
    ),
    responses(
        (status = 204, description = "Replaced (or already the same)"),
        (status = 415, description = "Neither Markdown nor JSON", body = ErrorBody),
        Refused,
    )
)]
pub(super) async fn replace(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized<Write>,
    ClientIp(ip): ClientIp,
    creds: Credentials,
    req: HttpRequest,
) -> Result<StatusCode, ApiError> {
    // Open, and the client's rate, before the body is read (as for `POST .../updates`).
    let hold = super::live::open_for_edit(&state, ip, &creds, &grant, &doc)?;
    let ContentBody(node) = ContentBody::from_request(req, &state).await?;
    let current = state
        .rooms
        .request(&doc, Request::State)
        .await
        .ok_or_else(|| ApiError::unavailable("document is closing; retry"))?;
    let fields = Fields::new(state.config.rich_text_fields.clone());
    // Decoding and re-encoding a large document is work for a blocking thread.
    let update = tokio::task::spawn_blocking(move || edit(&current, &fields, &node))
        .await
        .map_err(|_| ApiError::unavailable("the edit could not be computed"))??;
    let Some(update) = update else {
        return Ok(StatusCode::NO_CONTENT);
    };
    super::live::apply_while_open(&state, &doc, hold, grant.name.clone(), update).await
}

/// The update that turns the document whose state is `current` into one holding `node`;
/// `None` if it already does.
fn edit(current: &[u8], fields: &Fields, node: &Node) -> Result<Option<Vec<u8>>, ApiError> {
    let scratch = text::new_doc();
    let state = Update::decode_v1(current)
        .map_err(|_| ApiError::unavailable("the document's state does not decode"))?;
    scratch
        .transact_mut()
        .apply_update(state)
        .map_err(|_| ApiError::unavailable("the document's state does not apply"))?;
    let mut txn = scratch.transact_mut();
    import::replace_rich(&mut txn, fields, node)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    let update = txn.encode_update_v1();
    // An empty update is two zero counts (no structs, no deletions).
    Ok((update.len() > 2).then_some(update))
}
