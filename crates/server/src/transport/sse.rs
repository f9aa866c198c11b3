//! Server-Sent Events downstream, HTTP POST upstream.
//!
//! Event ids are `<session>:<seq>`, so the browser's automatic reconnect (which repeats
//! the same URL with `Last-Event-ID`) finds its session and resumes after the last event
//! it saw; if that is no longer buffered, it gets a new session and syncs afresh.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use base64::Engine;
use futures::Stream;

use crate::{
    edge::{self, Authorized, ClientIp, Credentials, Enabled},
    error::ApiError,
    peer::Transport,
    session::{Batch, Session},
    state::SharedState,
};

#[utoipa::path(
    get, path = "/sse/{doc}", tag = "transports",
    summary = "Server-Sent Events downstream: a `session` event, then base64 y-protocol messages",
    params(crate::openapi_parts::DocPath),
    responses(
        (status = 200, description = "An event stream (`Last-Event-ID` resumes a session)",
            content_type = "text/event-stream", body = String),
        crate::openapi_parts::Refused,
    )
)]
pub(crate) async fn open(
    State(state): State<SharedState>,
    _: Enabled<edge::Sse>,
    Authorized { doc, grant, .. }: Authorized,
    creds: Credentials,
    ClientIp(ip): ClientIp,
    claimed: crate::identity::ClaimedIdentity,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    crate::identity::check(&state, &doc, claimed).await?;
    let credential = super::credential(&creds);
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(':'))
        .and_then(|(id, seq)| Some((id.to_string(), seq.parse::<u64>().ok()?)))
        .map(|(id, seq)| {
            let (state, doc, access) = (&state, &doc, grant.access);
            async move {
                let s = state.sessions.get(doc, &id, credential).await.ok()?;
                (s.access == access && s.can_resume_from(seq)).then_some((s, seq))
            }
        });
    let resume = match resume {
        Some(found) => found.await,
        None => None,
    };
    let (session, cursor, fresh) = match resume {
        Some((s, seq)) => (s, seq, false),
        None => {
            let s = {
                let hold = super::admit(&state, ip, &creds, &grant, &doc)?;
                state.sessions.open(
                    &doc,
                    Transport::Sse,
                    grant.access,
                    grant.name.clone(),
                    super::owner(ip, &creds, &grant),
                    hold,
                )?
            };
            (s, 0, true)
        }
    };
    let stream = events(session, cursor, fresh);
    let mut res = Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("hb"),
        )
        .into_response();
    // nginx and friends buffer responses unless told otherwise.
    res.headers_mut()
        .insert("x-accel-buffering", "no".parse().expect("static header"));
    Ok(res)
}

fn events(
    session: Arc<Session>,
    mut cursor: u64,
    fresh: bool,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        let _attached = session.attach();
        if fresh {
            let data = serde_json::json!({ "session": session.id }).to_string();
            if tx
                .send(Event::default().event("session").data(data))
                .await
                .is_err()
            {
                return;
            }
        }
        loop {
            match session.take_after(cursor, false) {
                Batch::Closed(reason) => {
                    let data = serde_json::json!({ "code": reason.code, "reason": reason.reason });
                    let _ = tx
                        .send(Event::default().event("close").data(data.to_string()))
                        .await;
                    return;
                }
                Batch::Messages(messages) if messages.is_empty() => {
                    // Stop waiting when the client goes: staying attached to a dead
                    // stream would keep the session (and its awareness) alive forever.
                    tokio::select! {
                        _ = session.wait_after(cursor, Duration::from_secs(30)) => {}
                        _ = tx.closed() => return,
                    }
                }
                Batch::Messages(messages) => {
                    for (seq, frame) in messages {
                        let event = Event::default()
                            .id(format!("{}:{seq}", session.id))
                            .data(base64::engine::general_purpose::STANDARD.encode(&frame));
                        if tx.send(event).await.is_err() {
                            return;
                        }
                        cursor = seq;
                    }
                }
            }
        }
    })
}

/// A stream fed by a task through a small channel: the task ends when the client goes.
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Event>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(f(tx));
    futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(rx), Ok)
}

#[utoipa::path(
    post, path = "/sse/{doc}/{session}", tag = "transports",
    summary = "Send y-protocol messages upstream on an SSE session",
    params(crate::openapi_parts::DocPath, super::SessionPath),
    request_body(content = crate::openapi_parts::Binary, content_type = "application/octet-stream"),
    responses((status = 204, description = "Taken"), crate::openapi_parts::Refused)
)]
pub(crate) async fn send(
    State(state): State<SharedState>,
    _: Enabled<edge::Sse>,
    _: edge::Doc,
    Path((doc, id)): Path<(String, String)>,
    creds: Credentials,
    req: axum::extract::Request,
) -> Result<StatusCode, ApiError> {
    super::poll::deliver(&state, &doc, &id, super::credential(&creds), req).await
}

#[utoipa::path(
    delete, path = "/sse/{doc}/{session}", tag = "transports",
    summary = "End an SSE session now",
    params(crate::openapi_parts::DocPath, super::SessionPath),
    responses((status = 204, description = "Ended"), crate::openapi_parts::Refused)
)]
pub(crate) async fn close(
    state: State<SharedState>,
    doc: edge::Doc,
    path: Path<(String, String)>,
    creds: Credentials,
) -> Result<StatusCode, ApiError> {
    super::poll::close(state, doc, path, creds).await
}
