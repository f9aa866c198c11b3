//! Hocuspocus transport: `@hocuspocus/provider` clients on `GET /hocuspocus`.
//!
//! One socket carries many documents, each named in every frame (see [`crate::hocuspocus`]).
//! Each document the client authenticates for becomes an ordinary peer of that document's
//! room, so Hocuspocus and y-websocket clients share rooms. This module only multiplexes:
//! it checks each document's token, holds a document's frames until its token has passed,
//! strips the name on the way in and adds it on the way out.
//!
//! Rules per socket, not per document: a malformed frame closes the socket with 1007 (the
//! frame cannot be attributed safely), and a document whose outbound queue fills closes
//! the socket with 1013 like any slow client, because the documents share one TCP stream.
//! A refused token, a deleted document or the client's own close message end one document
//! only.

use std::{collections::HashMap, pin::Pin};

use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        State,
    },
    response::Response,
};
use bytes::Bytes;
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::{wrappers::ReceiverStream, StreamMap};

use crate::{
    edge::{self, Credentials, Enabled},
    error::ApiError,
    hocuspocus::{self as hp, DocMessage, Incoming},
    metric_names as m, names,
    peer::{new_peer, Access, CloseReason, Frame, PeerId, Transport},
    room::PeerEvent,
    state::SharedState,
};

/// Documents one socket may have open or waiting for their token. Hocuspocus caps
/// pending documents at 100 after a memory-exhaustion advisory; here the cap covers open
/// ones too, since each costs a room peer.
pub(crate) const MAX_DOCUMENTS: usize = 100;
/// Frames held for documents whose token has not arrived, summed over the socket.
pub(crate) const MAX_HELD_MESSAGES: usize = 1000;
/// Bytes of those frames.
pub(crate) const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;

/// A routing key is a document name (at most 128 characters) and, with the provider's
/// `sessionAwareness`, `\0` and a session id.
const MAX_KEY_LEN: usize = 256;

const LABEL: &str = "hocuspocus";

/// Connection-level credentials (`?token=` or `Authorization: Bearer`), used for a
/// document whose auth message carries an empty token.
#[derive(Default)]
struct Fallback {
    token: Option<String>,
    bearer: Option<String>,
}

pub(crate) async fn upgrade(
    State(state): State<SharedState>,
    _: Enabled<edge::WebSocket>,
    Credentials { token, bearer }: Credentials,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let fallback = Fallback { token, bearer };
    let max = state.config.max_message_size;
    Ok(ws
        .read_buffer_size(256)
        .write_buffer_size(16 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(socket, state, fallback)))
}

/// Where one document of the socket stands.
enum Doc {
    /// Frames that arrived before the token, in order.
    Waiting { held: Vec<Bytes> },
    /// The token was refused; frames are dropped until another token comes.
    Refused,
    Joined {
        stream: u64,
        peer: PeerId,
        access: Access,
        room: mpsc::Sender<Box<PeerEvent>>,
    },
}

/// What a joined document's room sends this socket.
enum DocEvent {
    Frame(Frame),
    /// The room ended the peer; `None` when the room went away without a reason.
    Kicked(Option<CloseReason>),
}

type DocStream = Pin<Box<dyn Stream<Item = DocEvent> + Send>>;

struct Conn {
    state: SharedState,
    fallback: Fallback,
    docs: HashMap<String, Doc>,
    /// Stream id -> routing key, for the frames coming back from rooms.
    keys: HashMap<u64, String>,
    streams: StreamMap<u64, DocStream>,
    next_stream: u64,
    held_messages: usize,
    held_bytes: usize,
}

async fn serve(mut socket: WebSocket, state: SharedState, fallback: Fallback) {
    metrics::counter!(m::CONNECTIONS_TOTAL, "transport" => LABEL).increment(1);
    let mut conn = Conn {
        state,
        fallback,
        docs: HashMap::new(),
        keys: HashMap::new(),
        streams: StreamMap::new(),
        next_stream: 0,
        held_messages: 0,
        held_bytes: 0,
    };
    tracing::info!(transport = LABEL, "connection opened");
    let close = loop {
        tokio::select! {
            Some(first) = conn.streams.next(), if !conn.streams.is_empty() => {
                match conn.write_ready(&mut socket, first).await {
                    Ok(()) => {}
                    Err(reason) => break reason,
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(data))) => {
                    metrics::counter!(m::BYTES_IN, "transport" => LABEL).increment(data.len() as u64);
                    if let Err(reason) = conn.on_frame(&mut socket, data).await {
                        break reason;
                    }
                }
                Some(Ok(Message::Text(_))) => {
                    metrics::counter!(m::BAD_MESSAGES, "reason" => "text_frame").increment(1);
                    break CloseReason::new(1003, "text frames are not supported: send binary Hocuspocus messages");
                }
                Some(Ok(Message::Close(_))) | None => break CloseReason::new(1000, "client closed"),
                Some(Ok(_)) => {} // ping/pong frames: answered by the library
                Some(Err(err)) => {
                    let text = err.to_string();
                    if text.contains("too long") || text.contains("too big") || text.contains("Space limit") {
                        metrics::counter!(m::BAD_MESSAGES, "reason" => "too_big").increment(1);
                        break CloseReason::new(1009, format!("message larger than {} bytes", conn.state.config.max_message_size));
                    }
                    break CloseReason::new(1006, format!("read failed: {text}"));
                }
            }
        }
    };
    conn.leave_all().await;
    if close.code != 1006 && close.reason != "client closed" {
        let frame = CloseFrame {
            code: close.code,
            reason: super::ws::close_reason_text(&close.reason).into(),
        };
        if socket.send(Message::Close(Some(frame))).await.is_ok() {
            // Read on until the client's close: dropping a socket with unread input resets
            // the TCP connection, and the client would see 1006 instead of our reason.
            let drain = async {
                while let Some(Ok(msg)) = socket.recv().await {
                    if matches!(msg, Message::Close(_)) {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
        }
    }
    tracing::info!(transport = LABEL, code = close.code, reason = %close.reason, "connection closed");
}

impl Conn {
    /// Writes `first` and whatever else the rooms have ready (up to a bound), then
    /// flushes once.
    async fn write_ready(
        &mut self,
        socket: &mut WebSocket,
        first: (u64, DocEvent),
    ) -> Result<(), CloseReason> {
        let mut next = Some(first);
        let mut budget = 64;
        while let Some((stream, event)) = next.take() {
            match event {
                DocEvent::Frame(frame) => {
                    if let Some(key) = self.keys.get(&stream) {
                        // Acknowledgements travel counted; the provider wants one each.
                        let (out, times) = match hp::saved_count(&frame) {
                            Some(n) => (hp::encode(key, &hp::sync_status(true)), n),
                            None => (hp::encode(key, &frame), 1),
                        };
                        for _ in 0..times {
                            socket
                                .feed(Message::Binary(out.clone()))
                                .await
                                .map_err(|_| CloseReason::new(1006, "send failed"))?;
                        }
                    }
                }
                DocEvent::Kicked(reason) => self.on_kicked(socket, stream, reason).await?,
            }
            if budget > 0 && !self.streams.is_empty() {
                budget -= 1;
                next = self.streams.next().now_or_never().flatten();
            }
        }
        socket
            .flush()
            .await
            .map_err(|_| CloseReason::new(1006, "send failed"))
    }

    /// A deleted document ends that document only; any other reason (slow client,
    /// invalid message, storage, shutdown) ends the socket, as it would a y-websocket one.
    async fn on_kicked(
        &mut self,
        socket: &mut WebSocket,
        stream: u64,
        reason: Option<CloseReason>,
    ) -> Result<(), CloseReason> {
        let Some(key) = self.keys.remove(&stream) else {
            return Ok(());
        };
        self.streams.remove(&stream);
        self.docs.remove(&key);
        match reason {
            Some(reason) if reason == CloseReason::deleted() => {
                send(socket, &key, &hp::close(&reason.reason)).await
            }
            Some(reason) => Err(reason),
            None => Err(CloseReason::going_away()),
        }
    }

    async fn on_frame(&mut self, socket: &mut WebSocket, data: Bytes) -> Result<(), CloseReason> {
        let (key, message) = match hp::decode(data) {
            Ok(Incoming::Pong) => return Ok(()),
            Ok(Incoming::Doc { key, message }) => (key, message),
            Err(err) => {
                metrics::counter!(m::BAD_MESSAGES, "reason" => "undecodable").increment(1);
                tracing::info!(transport = LABEL, error = %err, "closing connection: malformed frame");
                return Err(CloseReason::invalid(err));
            }
        };
        match message {
            DocMessage::Auth { token } => self.authenticate(socket, key, token).await,
            DocMessage::Close => {
                if let Some(Doc::Joined {
                    stream, peer, room, ..
                }) = self.remove_doc(&key)
                {
                    self.streams.remove(&stream);
                    self.keys.remove(&stream);
                    let _ = room.send(Box::new(PeerEvent::Leave { peer })).await;
                }
                Ok(())
            }
            DocMessage::Unknown(kind) => {
                metrics::counter!(m::UNKNOWN_MESSAGES).increment(1);
                tracing::debug!(transport = LABEL, kind, "skipping unknown message type");
                Ok(())
            }
            DocMessage::Room(body) => match self.docs.get_mut(&key) {
                Some(Doc::Joined {
                    peer, access, room, ..
                }) => {
                    let event = Box::new(PeerEvent::Message {
                        peer: *peer,
                        access: *access,
                        data: body,
                    });
                    // Awaiting a full room queue stops reading this socket: back-pressure.
                    room.send(event)
                        .await
                        .map_err(|_| CloseReason::going_away())
                }
                Some(Doc::Refused) => Ok(()),
                Some(Doc::Waiting { held }) => {
                    Self::hold(&mut self.held_messages, &mut self.held_bytes, held, body)
                }
                None => {
                    if let Err(reason) = check_key(&key, self.docs.len()) {
                        return send(socket, &key, &hp::permission_denied(&reason)).await;
                    }
                    let mut held = Vec::new();
                    Self::hold(
                        &mut self.held_messages,
                        &mut self.held_bytes,
                        &mut held,
                        body,
                    )?;
                    self.docs.insert(key, Doc::Waiting { held });
                    Ok(())
                }
            },
        }
    }

    fn hold(
        messages: &mut usize,
        bytes: &mut usize,
        held: &mut Vec<Bytes>,
        body: Bytes,
    ) -> Result<(), CloseReason> {
        let len = body.len();
        if *messages + 1 > MAX_HELD_MESSAGES || *bytes + len > MAX_HELD_BYTES {
            metrics::counter!(m::BAD_MESSAGES, "reason" => "held_before_auth").increment(1);
            return Err(CloseReason::new(
                1008,
                format!(
                    "too much sent before authentication (limit {MAX_HELD_MESSAGES} messages, {MAX_HELD_BYTES} bytes)"
                ),
            ));
        }
        *messages += 1;
        *bytes += len;
        held.push(body);
        Ok(())
    }

    fn remove_doc(&mut self, key: &str) -> Option<Doc> {
        let doc = self.docs.remove(key)?;
        if let Doc::Waiting { held } = &doc {
            self.release_held(held);
        }
        Some(doc)
    }

    fn release_held(&mut self, held: &[Bytes]) {
        self.held_messages -= held.len();
        self.held_bytes -= held.iter().map(|b| b.len()).sum::<usize>();
    }

    /// Checks a document's token and answers for that document alone: `authenticated`
    /// with the scope and a join, or `permission denied` with the reason.
    async fn authenticate(
        &mut self,
        socket: &mut WebSocket,
        key: String,
        token: String,
    ) -> Result<(), CloseReason> {
        match self.docs.get(&key) {
            // A token for a document already open: its access was settled at join.
            Some(Doc::Joined { .. }) => return Ok(()),
            Some(_) => {}
            None => {
                if let Err(reason) = check_key(&key, self.docs.len()) {
                    return send(socket, &key, &hp::permission_denied(&reason)).await;
                }
            }
        }
        let held = match self.remove_doc(&key) {
            Some(Doc::Waiting { held }) => held,
            _ => Vec::new(),
        };
        let doc = hp::document_of(&key).to_string();
        let token = (!token.is_empty())
            .then_some(token)
            .or_else(|| self.fallback.token.clone());
        let grant = self
            .state
            .auth
            .document(&doc, token.as_deref(), self.fallback.bearer.as_deref())
            .map_err(|e| e.to_string());
        let (access, name) = match grant {
            Ok(grant) => (grant.access, grant.name),
            Err(reason) => {
                tracing::info!(%doc, transport = LABEL, %reason, "document refused");
                self.docs.insert(key.clone(), Doc::Refused);
                return send(socket, &key, &hp::permission_denied(&reason)).await;
            }
        };
        send(socket, &key, &hp::authenticated(access)).await?;

        let (handle, end) = new_peer(
            Transport::Hocuspocus,
            access,
            name,
            self.state.config.outbound_queue,
        );
        let peer = handle.id;
        tracing::info!(%doc, peer, transport = LABEL, ?access, "document opened");
        let room = self.state.rooms.join(&doc, handle);
        let stream = self.next_stream;
        self.next_stream += 1;
        let kicked = end.kicked;
        let events: DocStream = Box::pin(futures::stream::select(
            ReceiverStream::new(end.outbound).map(DocEvent::Frame),
            futures::stream::once(async move { DocEvent::Kicked(kicked.await.ok()) }),
        ));
        self.streams.insert(stream, events);
        self.keys.insert(stream, key.clone());
        for data in held {
            let event = Box::new(PeerEvent::Message { peer, access, data });
            room.send(event)
                .await
                .map_err(|_| CloseReason::going_away())?;
        }
        self.docs.insert(
            key,
            Doc::Joined {
                stream,
                peer,
                access,
                room,
            },
        );
        Ok(())
    }

    async fn leave_all(&mut self) {
        for (_, doc) in self.docs.drain() {
            if let Doc::Joined { peer, room, .. } = doc {
                let _ = room.send(Box::new(PeerEvent::Leave { peer })).await;
            }
        }
    }
}

/// Whether a new document (routing key) may be held or opened on a socket that has `open`
/// documents already. Checked before anything is stored for it, so junk names cost nothing.
fn check_key(key: &str, open: usize) -> Result<(), String> {
    if open >= MAX_DOCUMENTS {
        return Err(format!(
            "too many documents on one connection (limit {MAX_DOCUMENTS})"
        ));
    }
    names::validate(hp::document_of(key)).map_err(|e| e.to_string())?;
    if key.len() > MAX_KEY_LEN {
        return Err(format!("document key longer than {MAX_KEY_LEN} bytes"));
    }
    Ok(())
}

async fn send(socket: &mut WebSocket, key: &str, body: &[u8]) -> Result<(), CloseReason> {
    socket
        .send(Message::Binary(hp::encode(key, body)))
        .await
        .map_err(|_| CloseReason::new(1006, "send failed"))
}
