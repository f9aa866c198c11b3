//! The change feed over plain HTTP (docs/change-feed.md): `GET /api/documents/{doc}/changes`
//! and `GET /api/changes`, as Server-Sent Events (`Accept: text/event-stream`) or as JSON
//! pages with long polling.

use std::{collections::HashMap, time::Duration};

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
};
use tandem_persistence::FeedFilter;

use crate::openapi_parts::{DocPath, Refused};
use crate::{
    auth::now_secs,
    edge::{Authorized, Credentials},
    error::ApiError,
    feed::{Follow, FollowError},
    state::SharedState,
};

/// How long `wait=` may hold a JSON request.
const MAX_WAIT_SECS: u64 = 60;
/// The reconnect delay `retry:` asks of EventSource, in milliseconds.
const RETRY_MS: u64 = 1000;

/// `after`, `include`, `wait`, `limit` (and `token`, read by the edge).
struct Params {
    after: Option<i64>,
    include_text: bool,
    wait: Duration,
    limit: usize,
}

fn params(query: &HashMap<String, String>, headers: &HeaderMap) -> Result<Params, ApiError> {
    let number = |name: &str, raw: &str| {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a position (a whole number >= 0)"))
            })
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    // EventSource repeats the URL on reconnect: its Last-Event-ID is the newer position.
    let after = match (last_event_id, query.get("after")) {
        (Some(id), _) => Some(number("Last-Event-ID", id)?),
        (None, Some(after)) => Some(number("after", after)?),
        (None, None) => None,
    };
    let include_text = match query.get("include").map(String::as_str) {
        None | Some("") => false,
        Some("text") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "include={other:?} is not known (only include=text)"
            )))
        }
    };
    let wait = match query.get("wait") {
        None => 0,
        Some(w) => (number("wait", w)? as u64).min(MAX_WAIT_SECS),
    };
    let limit = match query.get("limit") {
        None => 100,
        Some(l) => (number("limit", l)? as usize).clamp(1, 1000),
    };
    Ok(Params {
        after,
        include_text,
        wait: Duration::from_secs(wait),
        limit,
    })
}

/// The query both feeds take (read by [`params`]; described here).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // described, never built
pub(crate) struct FeedQuery {
    /// Send what came after this position (`Last-Event-ID` wins over it); without it, from now.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// `text`: every change carries the whole text too.
    #[param(pattern = "^(text)?$")]
    include: Option<String>,
    /// JSON only: seconds to hold the request while there is nothing new (at most 60).
    #[param(minimum = 0)]
    wait: Option<i64>,
    /// JSON only: most events in one page (1 to 1000, 100 by default).
    #[param(minimum = 0)]
    limit: Option<i64>,
}

/// One event of a JSON page: `type` and the fields its SSE `data:` has (docs/change-feed.md).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // described, never built: events are rendered once, as text
pub(crate) struct FeedEvent {
    /// `change` (an edit) or `snapshot` (the reader fell behind a compaction: the whole text).
    #[serde(rename = "type")]
    #[schema(pattern = "^(change|snapshot)$")]
    kind: String,
    /// The document's name.
    doc: String,
    /// The event's position.
    seq: i64,
    /// When it was committed (RFC 3339).
    at: String,
    /// `text` or `rich`.
    format: String,
    /// The text's length after the change, in characters.
    length: i64,
}

/// A page of the feed as JSON.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // described, never built: the page is written as text
pub(crate) struct FeedPage {
    changes: Vec<FeedEvent>,
    /// Where to ask next (`after=`).
    next: i64,
}

fn wants_sse(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// `GET /api/documents/{doc}/changes`: any grant that may read the document.
#[utoipa::path(
    get, path = "/api/documents/{doc}/changes", tag = "changes",
    summary = "One document's changes, as JSON pages or Server-Sent Events",
    params(DocPath, FeedQuery),
    responses(
        (status = 200, description = "`Accept: text/event-stream`: a stream of events; \
            otherwise a JSON page",
            content((FeedPage = "application/json"), (String = "text/event-stream"))),
        Refused,
    )
)]
pub(crate) async fn document(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = params(&query, &headers)?;
    let filter = FeedFilter::Doc(doc.to_string());
    respond(&state, filter, p, grant.exp, &headers).await
}

/// `GET /api/changes`: the admin key (every document), or a token, which sees the
/// documents its name or prefix covers.
#[utoipa::path(
    get, path = "/api/changes", tag = "changes",
    summary = "Every document's changes (admin key), or those a token covers",
    params(FeedQuery),
    responses(
        (status = 200, description = "`Accept: text/event-stream`: a stream of events; \
            otherwise a JSON page",
            content((FeedPage = "application/json"), (String = "text/event-stream"))),
        Refused,
    )
)]
pub(crate) async fn all(
    State(state): State<SharedState>,
    creds: Credentials,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let scope = state
        .auth
        .feed_scope(creds.token.as_deref(), creds.bearer.as_deref())?;
    let (filter, exp) = match scope {
        None => (FeedFilter::All, None),
        Some(claims) => {
            let filter = match claims.doc.strip_suffix('*') {
                Some("") => FeedFilter::All,
                Some(prefix) => FeedFilter::Prefix(prefix.to_string()),
                None => FeedFilter::Doc(claims.doc.clone()),
            };
            (filter, Some(claims.exp))
        }
    };
    let p = params(&query, &headers)?;
    respond(&state, filter, p, exp, &headers).await
}

async fn respond(
    state: &SharedState,
    filter: FeedFilter,
    p: Params,
    exp: Option<u64>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::unavailable("server shutting down"));
    }
    if wants_sse(headers) {
        let follow = Follow::new(&state.feed, filter, p.after);
        let closed = state.feed.closed();
        return Ok(stream(follow, p.include_text, exp, closed));
    }
    json_page(state, filter, p).await
}

/// `{changes: [...], next}`; with `wait`, held until there is something or the wait ends.
async fn json_page(
    state: &SharedState,
    filter: FeedFilter,
    p: Params,
) -> Result<Response, ApiError> {
    let sub = state.feed.subscribe(&filter);
    let mut rx = sub.rx;
    let after = p.after.unwrap_or(sub.head);
    let mut reader = state.feed.reader(filter.clone(), after);
    let deadline = tokio::time::Instant::now() + p.wait;
    let events = loop {
        let events = reader
            .next_page(p.limit, |_| true)
            .await
            .map_err(|e| ApiError::unavailable(format!("reading the change log: {e}")))?;
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            break events;
        }
        // Woken by the live feed (any event of this filter), or read again shortly, in case
        // the horizon held a change back.
        let tick = tokio::time::Instant::now() + Duration::from_millis(250);
        tokio::select! {
            _ = rx.recv() => {}
            _ = tokio::time::sleep_until(tick.min(deadline)) => {}
            _ = state.feed.closed() => break events,
        }
    };
    let changes: Vec<String> = events
        .iter()
        .map(|e| {
            let data = e.data(p.include_text);
            // The kind goes in front: `{"type":"change",` + the event's own fields.
            format!("{{\"type\":\"{}\",{}", e.kind.name(), &data[1..])
        })
        .collect();
    let body = format!(
        "{{\"changes\":[{}],\"next\":{}}}",
        changes.join(","),
        reader.after
    );
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// The SSE stream: `retry:` first, then one event per change (`id:` its position), comment
/// heartbeats while idle. Ends when the token expires or the reader falls too far behind
/// (EventSource then reconnects with `Last-Event-ID` and misses nothing).
fn stream(
    mut follow: Follow,
    include_text: bool,
    exp: Option<u64>,
    closed: impl std::future::Future<Output = ()> + Send + 'static,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    tokio::spawn(async move {
        let expiry = async {
            match exp {
                Some(exp) => {
                    let left = exp.saturating_sub(now_secs());
                    tokio::time::sleep(Duration::from_secs(left)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        tokio::pin!(closed);
        if tx
            .send(Event::default().retry(Duration::from_millis(RETRY_MS)))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let event = tokio::select! {
                next = follow.next() => next,
                _ = &mut expiry => {
                    let _ = tx.send(Event::default().event("close").data(
                        r#"{"reason":"access token has expired"}"#)).await;
                    return;
                }
                _ = tx.closed() => return,
                _ = &mut closed => {
                    let _ = tx.send(Event::default().event("close").data(
                        r#"{"reason":"server shutting down"}"#)).await;
                    return;
                }
            };
            match event {
                Ok(e) => {
                    let sse = Event::default()
                        .id(e.position.to_string())
                        .event(e.kind.name())
                        .data(e.data(include_text));
                    if tx.send(sse).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    if matches!(err, FollowError::Store(_)) {
                        tracing::warn!(error = %err, "change feed reader stopped");
                    }
                    let _ = tx.send(Event::default().comment(err.to_string())).await;
                    return;
                }
            }
        }
    });
    let events = futures::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(rx),
        Ok::<_, std::convert::Infallible>,
    );
    let mut res = Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("hb"),
        )
        .into_response();
    // nginx and friends buffer responses unless told otherwise.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}
