//! One socket's documents: where each stands (waiting for its token, refused, joined to
//! its room), the frames held before a token, and routing frames between the socket and
//! the rooms.

use std::{collections::HashMap, net::IpAddr, pin::Pin};

use bytes::Bytes;
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::{wrappers::ReceiverStream, StreamMap};
use tokio_tungstenite::tungstenite::Message;

use super::{
    send, Fallback, PreAuth, Socket, LABEL, MAX_DOCUMENTS, MAX_HELD_BYTES, MAX_HELD_MESSAGES,
    MAX_KEY_LEN,
};
use crate::{
    client_limits::OpenDocument,
    hocuspocus::{self as hp, DocMessage, Incoming},
    metric_names as m, names,
    peer::{new_peer, Access, CloseReason, Frame, PeerId, Transport},
    room::PeerEvent,
    state::SharedState,
    transport::close::{self, Ending, SocketError},
};

/// Where one document of the socket stands.
pub(super) enum Doc {
    /// Frames that arrived before the token, in order.
    Waiting { held: Vec<Bytes> },
    /// The token was refused; frames are dropped until another token comes.
    Refused,
    Joined {
        stream: u64,
        peer: PeerId,
        access: Access,
        room: mpsc::Sender<Box<PeerEvent>>,
        /// When its token expires (seconds since the epoch): the document closes then.
        exp: Option<u64>,
        /// The document counts as open for this client while it is joined.
        _hold: OpenDocument,
    },
}

/// What a joined document's room sends this socket.
pub(super) enum DocEvent {
    Frame(Frame),
    /// The room ended the peer; `None` when the room went away without a reason.
    Kicked(Option<CloseReason>),
}

type DocStream = Pin<Box<dyn Stream<Item = DocEvent> + Send>>;

pub(super) struct Conn {
    pub(super) state: SharedState,
    fallback: Fallback,
    /// The client's address, which its open documents are counted against.
    ip: IpAddr,
    pub(super) docs: HashMap<String, Doc>,
    /// Stream id -> routing key, for the frames coming back from rooms.
    pub(super) keys: HashMap<u64, String>,
    pub(super) streams: StreamMap<u64, DocStream>,
    next_stream: u64,
    held_messages: usize,
    held_bytes: usize,
    pub(super) pre_auth: PreAuth,
}

impl Conn {
    pub(super) fn new(
        state: SharedState,
        fallback: Fallback,
        ip: IpAddr,
        pre_auth: PreAuth,
    ) -> Conn {
        Conn {
            state,
            fallback,
            ip,
            docs: HashMap::new(),
            keys: HashMap::new(),
            streams: StreamMap::new(),
            next_stream: 0,
            held_messages: 0,
            held_bytes: 0,
            pre_auth,
        }
    }

    /// Writes `first` and whatever else the rooms have ready (up to a bound), then
    /// flushes once.
    pub(super) async fn write_ready(
        &mut self,
        socket: &mut Socket,
        first: (u64, DocEvent),
    ) -> Result<(), Ending> {
        let mut next = Some(first);
        let mut budget = 64;
        while let Some((stream, event)) = next.take() {
            match event {
                DocEvent::Frame(frame) => {
                    if let Some(key) = self.keys.get(&stream) {
                        let (out, times) = hp::encode_outgoing(key, &frame);
                        for _ in 0..times {
                            socket
                                .feed(Message::Binary(out.clone()))
                                .await
                                .map_err(|_| Ending::Broken(SocketError::Send))?;
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
            .map_err(|_| Ending::Broken(SocketError::Send))
    }

    /// A deleted document ends that document only; any other reason (slow client,
    /// invalid message, storage, shutdown) ends the socket, as it would a y-websocket one.
    async fn on_kicked(
        &mut self,
        socket: &mut Socket,
        stream: u64,
        reason: Option<CloseReason>,
    ) -> Result<(), Ending> {
        let Some(key) = self.keys.remove(&stream) else {
            return Ok(());
        };
        self.streams.remove(&stream);
        self.docs.remove(&key);
        match reason {
            Some(reason) if reason == CloseReason::deleted() => {
                send(socket, &key, &hp::close(&reason.reason)).await
            }
            Some(reason) => Err(reason.into()),
            None => Err(CloseReason::going_away().into()),
        }
    }

    pub(super) async fn on_frame(
        &mut self,
        socket: &mut Socket,
        data: Bytes,
    ) -> Result<(), Ending> {
        let (key, message) = match hp::decode(data) {
            Ok(Incoming::Pong) => return Ok(()),
            Ok(Incoming::Doc { key, message }) => (key, message),
            Err(err) => {
                metrics::counter!(m::BAD_MESSAGES, "reason" => "undecodable").increment(1);
                tracing::info!(transport = LABEL, error = %err, "closing connection: malformed frame");
                return Err(CloseReason::invalid(err).into());
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
                    // A room that has ended drops the frame; why it ended (a delete
                    // closes only this document) comes through the document's stream.
                    let _ = room.send(event).await;
                    Ok(())
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
    ) -> Result<(), Ending> {
        let len = body.len();
        if *messages + 1 > MAX_HELD_MESSAGES || *bytes + len > MAX_HELD_BYTES {
            metrics::counter!(m::BAD_MESSAGES, "reason" => "held_before_auth").increment(1);
            return Err(close::held_before_auth(MAX_HELD_MESSAGES, MAX_HELD_BYTES).into());
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
        socket: &mut Socket,
        key: String,
        token: String,
    ) -> Result<(), Ending> {
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
        let bearer = self.fallback.bearer.as_deref();
        let grant = self
            .state
            .auth
            .document(&doc, token.as_deref(), bearer)
            .map_err(|e| e.to_string())
            .and_then(|grant| {
                let credential = (!grant.admin)
                    .then(|| crate::auth::credential(token.as_deref(), bearer))
                    .flatten();
                let hold = self.state.client_limits.open(self.ip, credential, &doc);
                Ok((grant, hold.map_err(|e| e.to_string())?))
            });
        let (access, name, exp, hold) = match grant {
            Ok((grant, hold)) => (grant.access, grant.name, grant.exp, hold),
            Err(reason) => {
                tracing::info!(%doc, transport = LABEL, %reason, "document refused");
                self.docs.insert(key.clone(), Doc::Refused);
                return send(socket, &key, &hp::permission_denied(&reason)).await;
            }
        };
        self.pre_auth.open();
        send(socket, &key, &hp::authenticated(access)).await?;

        let (mut handle, end) = new_peer(
            Transport::Hocuspocus,
            name,
            self.state.config.outbound_queue,
        );
        handle.client = Some(hold.client());
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
            // As for later frames: a room that has ended reports why through the stream.
            let _ = room.send(event).await;
        }
        self.docs.insert(
            key,
            Doc::Joined {
                stream,
                peer,
                access,
                room,
                exp,
                _hold: hold,
            },
        );
        Ok(())
    }

    pub(super) async fn leave_all(&mut self) {
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
