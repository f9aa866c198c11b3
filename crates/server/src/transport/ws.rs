//! WebSocket transport: the standard y-websocket protocol, one message per frame.

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use bytes::Bytes;
use futures::FutureExt;
use std::{future::Future, pin::Pin, sync::Arc};
use tokio::sync::mpsc;

use super::{
    close::{self, Ending, SocketError},
    socket_loop::{self, Endpoint, Read, Wire},
};
use crate::{
    auth::Grant,
    client_limits::OpenDocument,
    edge::{self, Authorized, ClientIp, Credentials, Enabled},
    error::ApiError,
    metric_names as m,
    names::DocName,
    peer::{new_peer, Access, CloseReason, Frame, PeerEnd, PeerId, Transport},
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

/// Not async: the setup runs when the upgrade completes, and what the connection's task
/// holds for its life is the loop's future alone. (An `async` body would keep the 368-byte
/// socket it captured next to the loop's copy.)
fn serve(
    socket: WebSocket,
    state: SharedState,
    doc: DocName,
    grant: Grant,
    hold: OpenDocument,
    client: std::net::IpAddr,
) -> impl std::future::Future<Output = ()> + Send {
    let access = grant.access;
    let (mut handle, end) = new_peer(
        Transport::WebSocket,
        grant.name,
        state.config.outbound_queue,
    );
    handle.client = Some(hold.client());
    let peer = handle.id;
    metrics::counter!(m::CONNECTIONS_TOTAL, "transport" => LABEL).increment(1);
    tracing::info!(%doc, peer, transport = LABEL, ?access, %client, "connection opened");
    let room = state.rooms.join(&doc, handle);
    let endpoint = Peer {
        id: peer,
        access,
        room,
        end,
        // A revoked link ends the connection it opened.
        revoked: Box::pin(state.revocations.watch(grant.link)),
        // A token's expiry ends the connection it opened, not only later upgrades.
        expiry: grant.exp.map(|exp| {
            let left = exp.saturating_sub(crate::auth::now_secs());
            Box::pin(tokio::time::sleep(std::time::Duration::from_secs(left)))
        }),
        _hold: hold,
    };
    let max = state.config.max_message_size;
    socket_loop::run(socket, endpoint, max).map(move |close| {
        tracing::info!(%doc, peer, transport = LABEL, code = close.code, reason = %close.reason, "connection closed");
    })
}

const LABEL: &str = "websocket";

/// A y-websocket peer: one room, one frame per message.
struct Peer {
    id: PeerId,
    access: Access,
    room: mpsc::Sender<Box<PeerEvent>>,
    end: PeerEnd,
    revoked: Pin<Box<dyn Future<Output = ()> + Send>>,
    expiry: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The document counts as open for this client until the connection ends.
    _hold: OpenDocument,
}

impl Peer {
    /// Why the room let go of this peer: a kick is sent just before the room drops its
    /// queue; without one, the room is shutting down.
    fn kicked(&mut self) -> Ending {
        Ending::Closed(
            self.end
                .kicked
                .try_recv()
                .unwrap_or_else(|_| CloseReason::going_away()),
        )
    }
}

impl Endpoint for Peer {
    type Wire = WebSocket;
    type Ready = Frame;
    const LABEL: &'static str = LABEL;
    const PROTOCOL: &'static str = "y-protocol";

    async fn ready(&mut self) -> Result<Frame, Ending> {
        let expiry = async {
            match self.expiry.as_mut() {
                Some(sleep) => sleep.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = expiry => Err(CloseReason::token_expired().into()),
            _ = &mut self.revoked => Err(crate::revocation::closed().into()),
            reason = &mut self.end.kicked => {
                Err(reason.unwrap_or_else(|_| CloseReason::going_away()).into())
            }
            frame = self.end.outbound.recv() => match frame {
                Some(frame) => Ok(frame),
                None => Err(self.kicked()),
            },
        }
    }

    async fn write(&mut self, socket: &mut WebSocket, first: Frame) -> Result<(), Ending> {
        write_batch(socket, first, &mut self.end.outbound)
            .await
            .map_err(|_| Ending::Broken(SocketError::Send))
    }

    async fn on_frame(&mut self, _: &mut WebSocket, data: Bytes) -> Result<(), Ending> {
        let (peer, access) = (self.id, self.access);
        let event = Box::new(PeerEvent::Message { peer, access, data });
        // The room has ended. If it said why (a delete: 4404), its reason is already
        // waiting: it kicks before it lets go.
        send_to_room(&self.room, event)
            .await
            .map_err(|()| self.kicked())
    }

    async fn leave(&mut self) {
        let peer = self.id;
        let _ = self.room.send(Box::new(PeerEvent::Leave { peer })).await;
    }
}

impl Wire for WebSocket {
    type Message = Message;
    type Failure = axum::Error;

    fn read(message: Message) -> Read {
        match message {
            Message::Binary(data) => Read::Binary(data),
            Message::Text(_) => Read::Text,
            Message::Close(_) => Read::Close,
            Message::Ping(_) | Message::Pong(_) => Read::Control,
        }
    }

    fn error(err: axum::Error) -> SocketError {
        let inner = err.into_inner();
        match inner.downcast_ref::<axum_tungstenite::Error>() {
            Some(e) if close::is_too_big!(axum_tungstenite, e) => SocketError::TooBig,
            _ => SocketError::Read(inner),
        }
    }

    fn close_frame(code: u16, reason: String) -> Message {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
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
/// small. Only y-protocol messages are written: this client knows no other events.
async fn write_batch<S: futures::Sink<Message> + Unpin>(
    socket: &mut S,
    first: Frame,
    queue: &mut mpsc::Receiver<Frame>,
) -> Result<(), S::Error> {
    use futures::SinkExt;
    let mut next = Some(first);
    let mut more = 64;
    std::future::poll_fn(|cx| {
        while next.is_some() {
            std::task::ready!(socket.poll_ready_unpin(cx))?;
            if let Some(frame) = next
                .take()
                .and_then(|f| Arc::unwrap_or_clone(f).into_message())
            {
                socket.start_send_unpin(Message::Binary(frame))?;
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

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
