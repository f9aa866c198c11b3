//! WebSocket transport: the standard y-websocket protocol, one message per frame.

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::{
    auth::Grant,
    client_limits::OpenDocument,
    edge::{self, Authorized, ClientIp, Credentials, Enabled},
    error::ApiError,
    metric_names as m,
    names::DocName,
    peer::{new_peer, CloseReason, Frame, Transport},
    room::PeerEvent,
    state::SharedState,
};

/// Everything that can refuse a client happens here, before the upgrade, so refusals are
/// plain HTTP statuses the client (and its logs) can see; y-websocket only retries on them.
#[utoipa::path(
    get, path = "/ws/{doc}", tag = "transports",
    summary = "A y-protocol WebSocket to the document (y-websocket compatible)",
    description = "A WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`); binary \
        frames carry y-protocol sync and awareness messages (docs/PROTOCOL.md).",
    params(crate::openapi_parts::DocPath),
    responses(
        (status = 101, description = "Switching protocols: the socket is open"),
        crate::openapi_parts::Refused,
    )
)]
pub(crate) async fn upgrade(
    State(state): State<SharedState>,
    _: Enabled<edge::WebSocket>,
    Authorized { doc, grant, .. }: Authorized,
    creds: Credentials,
    ClientIp(ip): ClientIp,
    claimed: crate::identity::ClaimedIdentity,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    crate::identity::check(&state, &doc, claimed).await?;
    let hold = super::admit(&state, ip, &creds, &grant, &doc)?;
    let max = state.config.max_message_size;
    // The library's defaults reserve (and zero) 128 KiB per connection for reading. y-protocol
    // frames are mostly tiny, and once a frame's header is read the buffer grows to hold the
    // whole frame, so a small start costs big frames nothing and idle connections little.
    Ok(ws
        .read_buffer_size(256)
        .write_buffer_size(16 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(socket, state, doc, grant, hold, ip)))
}

/// Not an `async fn`: the arguments of one are kept in the task next to the local copies
/// its body moves them into, so the 368-byte socket would be stored twice for the life of
/// every connection. An `async move` block uses the captured values in place.
#[allow(clippy::manual_async_fn)]
fn serve(
    mut socket: WebSocket,
    state: SharedState,
    doc: DocName,
    grant: Grant,
    hold: OpenDocument,
    client: std::net::IpAddr,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        // The document counts as open for this client until the connection ends.
        let _hold = hold;
        let access = grant.access;
        let (mut handle, mut end) = new_peer(
            Transport::WebSocket,
            grant.name,
            state.config.outbound_queue,
        );
        handle.client = Some(_hold.client());
        let peer = handle.id;
        metrics::counter!(m::CONNECTIONS_TOTAL, "transport" => "websocket").increment(1);
        tracing::info!(%doc, peer, transport = "websocket", ?access, %client, "connection opened");
        let room = state.rooms.join(&doc, handle);
        // A revoked link ends the connection it opened.
        let revoked = state.revocations.watch(grant.link.clone());
        tokio::pin!(revoked);
        // A token's expiry ends the connection it opened, not only later upgrades.
        let expiry = async move {
            match grant.exp {
                Some(exp) => {
                    let left = exp.saturating_sub(crate::auth::now_secs());
                    tokio::time::sleep(std::time::Duration::from_secs(left)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);

        let close: CloseReason = loop {
            tokio::select! {
                _ = &mut expiry => break CloseReason::token_expired(),
                _ = &mut revoked => break crate::revocation::closed(),
                // Unbiased, so neither direction starves the other. A kick is sent just before
                // the room drops our queue, so the `None` arm below looks for it too.
                reason = &mut end.kicked => {
                    break reason.unwrap_or_else(|_| CloseReason::going_away());
                }
                frame = end.outbound.recv() => match frame {
                    Some(frame) => {
                        if write_batch(&mut socket, frame, &mut end.outbound).await.is_err() {
                            break CloseReason::new(1006, "send failed");
                        }
                    }
                    // The room dropped us without a reason: it is shutting down.
                    None => break end.kicked.try_recv().unwrap_or_else(|_| CloseReason::going_away()),
                },
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Binary(data))) => {
                        metrics::counter!(m::BYTES_IN, "transport" => "websocket").increment(data.len() as u64);
                        let event = Box::new(PeerEvent::Message { peer, access, data });
                        if send_to_room(&room, event).await.is_err() {
                            // The room has ended. If it said why (a delete: 4404), its
                            // reason is already waiting: it kicks before it lets go.
                            break end.kicked.try_recv().unwrap_or_else(|_| CloseReason::going_away());
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        metrics::counter!(m::BAD_MESSAGES, "reason" => "text_frame").increment(1);
                        break CloseReason::new(1003, "text frames are not supported: send binary y-protocol messages");
                    }
                    Some(Ok(Message::Close(_))) | None => break CloseReason::new(1000, "client closed"),
                    Some(Ok(_)) => {} // ping/pong: answered by the library
                    Some(Err(err)) => {
                        let text = err.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                            metrics::counter!(m::BAD_MESSAGES, "reason" => "too_big").increment(1);
                            break CloseReason::new(1009, format!("message larger than {} bytes", state.config.max_message_size));
                        }
                        break CloseReason::new(1006, format!("read failed: {text}"));
                    }
                }
            }
        };

        let _ = room.send(Box::new(PeerEvent::Leave { peer })).await;
        if close.reason == "client closed" {
            // The library queued the echo of the client's close frame; send it, so the
            // client sees its own code rather than an abnormal 1006.
            let _ = futures::SinkExt::flush(&mut socket).await;
        } else if close.code != 1006 {
            let frame = CloseFrame {
                code: close.code,
                reason: close_reason_text(&close.reason).into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
        }
        tracing::info!(%doc, peer, transport = "websocket", code = close.code, reason = %close.reason, "connection closed");
    }
}

/// Hands a message to the room. Waiting for room in its queue is rare, so that future is
/// boxed: inline, it would make every connection's task larger for the whole of its life.
async fn send_to_room(
    room: &mpsc::Sender<Box<PeerEvent>>,
    event: Box<PeerEvent>,
) -> Result<(), ()> {
    match room.try_send(event) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(event)) => {
            Box::pin(room.send(event)).await.map_err(|_| ())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}

/// Writes `first` and whatever else is already queued (up to a bound), then flushes once:
/// under load one syscall carries many frames instead of one each. Written against the
/// `Sink` poll methods rather than `feed`/`flush` futures to keep the connection's task
/// small.
async fn write_batch(
    socket: &mut WebSocket,
    first: Frame,
    queue: &mut mpsc::Receiver<Frame>,
) -> Result<(), axum::Error> {
    use futures::SinkExt;
    let mut next = Some(first);
    let mut more = 64;
    std::future::poll_fn(|cx| {
        while next.is_some() {
            std::task::ready!(socket.poll_ready_unpin(cx))?;
            if let Some(frame) = next.take() {
                socket.start_send_unpin(Message::Binary(Arc::unwrap_or_clone(frame)))?;
            }
            if more > 0 {
                more -= 1;
                next = queue.try_recv().ok();
            }
        }
        socket.poll_flush_unpin(cx)
    })
    .await
}

/// A close frame's reason must fit in 123 bytes (RFC 6455 control frame limit).
pub(crate) fn close_reason_text(reason: &str) -> String {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}
