//! WebSocket transport: the standard y-websocket protocol, one message per frame.

use axum::{
    extract::{Request, State},
    response::Response,
};
use bytes::Bytes;
use futures::FutureExt;
use std::{future::Future, pin::Pin, sync::Arc};
use tokio::sync::mpsc;
use tokio_tungstenite::{tungstenite::Message, WebSocketStream};

use super::{
    close::{Ending, SocketError},
    handshake::{Handshake, Upgraded},
    metered::Metered,
    socket_loop::{self, Endpoint},
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
    mut req: Request,
) -> Result<Response, ApiError> {
    let handshake = Handshake::of(&mut req)?;
    crate::identity::check(&state, &doc, claimed).await?;
    let hold = super::admit(&state, ip, &creds, &grant, &doc)?;
    let max = state.config.max_message_size;
    let account = state.receiving.account(ip);
    let wrap = move |stream: Upgraded| (Metered::new(stream, account, max), ());
    Ok(handshake.accept(max, wrap, move |socket, ()| {
        serve(socket, state, doc, grant, hold, ip)
    }))
}

/// A y-websocket socket: its frames pass the budget of messages being received
/// (`metered.rs`), then the WebSocket library.
type WebSocket = WebSocketStream<Metered<Upgraded>>;

/// Not async: the setup runs when the upgrade completes, and what the connection's task
/// holds for its life is the loop's future alone. (An `async` body would keep the socket
/// it captured next to the loop's copy.)
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
