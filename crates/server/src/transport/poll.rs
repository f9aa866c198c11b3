//! Long polling: a session, POSTs upstream, and GETs that wait up to ~25 s for news.
//!
//! The cursor makes it lossless and duplicate-free: a GET with `cursor=N` acknowledges
//! everything up to N and returns what came after, so a retried GET (say, after a
//! network error) gets the same messages again rather than losing them.

use std::time::Duration;

use axum::{
    extract::{rejection::QueryRejection, FromRequest, Path, Query, Request, State},
    http::StatusCode,
    Json,
};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::extract::BinaryBody;
use crate::{
    edge::{self, Authorized, ClientIp, Credentials, Enabled},
    error::{ApiError, ErrorBody},
    peer::Transport,
    session::Batch,
    state::SharedState,
};

/// Longest a GET is held open with nothing to say; under common proxy timeouts (30-60 s).
const MAX_WAIT: Duration = Duration::from_secs(25);

/// Pause after a held poll wakes, so it answers with a burst rather than its first message.
const COALESCE: Duration = Duration::from_millis(5);

/// A new long-polling session.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PollSession {
    /// The session's id, for `/poll/{doc}/{session}`.
    session: String,
}

/// What a poll brings: base64 y-protocol messages, and the cursor to send next.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PollBatch {
    /// The position of the last message here; send it as `cursor` next.
    cursor: u64,
    /// y-protocol messages, each base64 (standard alphabet).
    messages: Vec<String>,
}

#[utoipa::path(
    post, path = "/poll/{doc}", tag = "transports",
    summary = "Open a long-polling session to the document",
    params(crate::openapi_parts::DocPath),
    responses(
        (status = 201, body = PollSession, links(
            ("receive" = (operation_id = "get_poll_doc_session", parameters(
                ("doc" = "$request.path.doc"), ("session" = "$response.body#/session")))),
            ("send" = (operation_id = "post_poll_doc_session", parameters(
                ("doc" = "$request.path.doc"), ("session" = "$response.body#/session")))),
            ("close" = (operation_id = "delete_poll_doc_session", parameters(
                ("doc" = "$request.path.doc"), ("session" = "$response.body#/session")))),
        )),
        crate::openapi_parts::Refused,
    )
)]
pub(crate) async fn open(
    State(state): State<SharedState>,
    _: Enabled<edge::Poll>,
    Authorized { doc, grant, .. }: Authorized,
    creds: Credentials,
    ClientIp(ip): ClientIp,
    claimed: crate::identity::ClaimedIdentity,
) -> Result<(StatusCode, Json<PollSession>), ApiError> {
    crate::identity::check(&state, &doc, claimed).await?;
    let session = state.sessions.open(
        &doc,
        Transport::Poll,
        grant.access,
        grant.name.clone(),
        super::owner(ip, &creds, &grant),
        super::admit(&state, ip, &creds, &grant, &doc)?,
    )?;
    Ok((
        StatusCode::CREATED,
        Json(PollSession {
            session: session.id.clone(),
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PollQuery {
    /// The last position received (acknowledges everything up to it); 0 at first.
    #[serde(default)]
    #[param(minimum = 0)]
    cursor: u64,
    /// Seconds to hold the request when there is nothing new (at most 25).
    #[param(minimum = 0, maximum = 25)]
    timeout: Option<f64>,
}

#[utoipa::path(
    get, path = "/poll/{doc}/{session}", tag = "transports",
    summary = "What came after `cursor`, held up to `timeout` seconds while there is nothing",
    params(crate::openapi_parts::DocPath, super::SessionPath, PollQuery),
    responses(
        (status = 200, body = PollBatch),
        (status = 410, description = "The session has ended, with why", body = ErrorBody),
        crate::openapi_parts::Refused,
    )
)]
pub(crate) async fn receive(
    State(state): State<SharedState>,
    _: Enabled<edge::Poll>,
    // A bad name is refused as one, before the session is looked up.
    _: edge::Doc,
    Path((doc, id)): Path<(String, String)>,
    creds: Credentials,
    q: Result<Query<PollQuery>, QueryRejection>,
) -> Result<Json<PollBatch>, ApiError> {
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("query must be ?cursor=<number>&timeout=<seconds>"))?;
    let session = state
        .sessions
        .get(&doc, &id, super::credential(&creds))
        .await?;
    let _attached = session.attach();
    // A held GET ends when the session's token expires: nothing written after that is
    // for this reader.
    let left = session
        .owner
        .expires
        .map(|exp| Duration::from_secs(exp.saturating_sub(crate::auth::now_secs())));
    let wait = q
        .timeout
        .filter(|t| t.is_finite() && *t >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(MAX_WAIT)
        .min(MAX_WAIT)
        .min(left.unwrap_or(MAX_WAIT));
    let mut batch = session.take_after(q.cursor, true);
    if matches!(&batch, Batch::Messages(m) if m.is_empty()) {
        session.wait_after(q.cursor, wait).await;
        // Messages come in bursts (an edit, its echo, awareness): a short pause lets one
        // answer carry the burst instead of one request per message.
        tokio::time::sleep(COALESCE).await;
        batch = session.take_after(q.cursor, true);
    }
    // An ended session answers with why it ended, whatever it still buffers: once its
    // token has expired (or the session was closed) its messages are no longer the
    // reader's to see, and a reader starting at cursor 0 must not take it for a live one.
    if session.token_expired(crate::auth::now_secs()) {
        state
            .sessions
            .get(&doc, &id, super::credential(&creds))
            .await?;
    }
    if let Some(reason) = session.closed() {
        batch = Batch::Closed(reason);
    }
    match batch {
        Batch::Closed(reason) => Err(gone(&format!("session closed: {}", reason.reason))),
        Batch::Messages(messages) => {
            let cursor = messages.last().map(|(seq, _)| *seq).unwrap_or(q.cursor);
            let encoded: Vec<String> = messages
                .iter()
                .map(|(_, m)| base64::engine::general_purpose::STANDARD.encode(m))
                .collect();
            Ok(Json(PollBatch {
                cursor,
                messages: encoded,
            }))
        }
    }
}

#[utoipa::path(
    post, path = "/poll/{doc}/{session}", tag = "transports",
    summary = "Send y-protocol messages upstream on a polling session",
    params(crate::openapi_parts::DocPath, super::SessionPath),
    request_body(content = crate::openapi_parts::Binary, content_type = "application/octet-stream"),
    responses((status = 204, description = "Taken"), crate::openapi_parts::Refused)
)]
pub(crate) async fn send(
    State(state): State<SharedState>,
    _: Enabled<edge::Poll>,
    // A bad name is refused as one, before the session is looked up.
    _: edge::Doc,
    Path((doc, id)): Path<(String, String)>,
    creds: Credentials,
    req: Request,
) -> Result<StatusCode, ApiError> {
    deliver(&state, &doc, &id, super::credential(&creds), req).await
}

/// Shared by the SSE and polling upstreams: the body holds one or more y-protocol messages.
pub(crate) async fn deliver(
    state: &SharedState,
    doc: &str,
    id: &str,
    credential: Option<[u8; 32]>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    // Look the session up, with the credential it was opened with, before reading the
    // body, so strangers can neither hold the server's memory with bodies nor make it
    // decode anything.
    let session = state.sessions.get(doc, id, credential).await?;
    let BinaryBody(body) = BinaryBody::from_request(req, state).await?;
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty body: send y-protocol messages",
        ));
    }
    // Refuse malformed input here with a clear 400 instead of killing the session later.
    // `decode_frame` bounds every claimed size before `yrs` allocates for it.
    let messages = crate::protocol::decode_frame(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid y-protocol message: {e}")))?;
    for msg in &messages {
        use yrs::sync::{Message, SyncMessage};
        use yrs::updates::decoder::Decode;
        if let Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u)) = msg {
            yrs::Update::decode_v1(u)
                .map_err(|e| ApiError::bad_request(format!("invalid Yjs update: {e}")))?;
        }
    }
    session
        .send(body)
        .await
        .map_err(|reason| gone(&format!("session closed: {}", reason.reason)))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete, path = "/poll/{doc}/{session}", tag = "transports",
    summary = "End a polling session now",
    params(crate::openapi_parts::DocPath, super::SessionPath),
    responses((status = 204, description = "Ended"), crate::openapi_parts::Refused)
)]
pub(crate) async fn close(
    State(state): State<SharedState>,
    _: edge::Doc,
    Path((doc, id)): Path<(String, String)>,
    creds: Credentials,
) -> Result<StatusCode, ApiError> {
    state
        .sessions
        .get(&doc, &id, super::credential(&creds))
        .await?;
    state
        .sessions
        .remove(&id, super::close::client_closed())
        .await;
    Ok(StatusCode::NO_CONTENT)
}

fn gone(message: &str) -> ApiError {
    ApiError::new(StatusCode::GONE, message)
}
