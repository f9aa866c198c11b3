//! The WebSocket transport: a y-websocket client over tokio-tungstenite. Its Yjs side is
//! the shared `YPeer` (reached through `Deref`: `client.text()`, `client.peers`).

use std::{
    ops::{Deref, DerefMut},
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{protocol::CloseFrame, Message as WsMessage},
    MaybeTlsStream, WebSocketStream,
};
use yrs::{
    sync::{Message, SyncMessage},
    updates::encoder::Encode,
    ReadTxn, Transact,
};

use super::{Peer, YPeer, WAIT};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A y-websocket client: keeps a local Y.Doc in sync with the server.
pub struct Client {
    pub ws: Ws,
    pub y: YPeer,
    pub closed: Option<(u16, String)>,
}

impl Deref for Client {
    type Target = YPeer;
    fn deref(&self) -> &YPeer {
        &self.y
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut YPeer {
        &mut self.y
    }
}

impl Peer for Client {
    fn y_mut(&mut self) -> &mut YPeer {
        &mut self.y
    }

    async fn send_message(&mut self, message: Vec<u8>) {
        self.send_raw(message).await;
    }
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        match Client::try_connect(url).await {
            Ok(c) => c,
            Err(closed) => panic!("connection closed while syncing: {closed:?}"),
        }
    }

    /// Connects and syncs; the close code and reason if the server closes the socket
    /// before the sync completes.
    pub async fn try_connect(url: &str) -> Result<Client, (u16, String)> {
        Client::try_connect_with(url, YPeer::new()).await
    }

    /// Connects with a document this client already holds (a reconnect, as y-websocket
    /// does it): the server's sync reply carries what it lacks, and the client's answer to
    /// the server's step 1 resends whatever of its own never reached the database.
    pub async fn try_connect_with(url: &str, mut y: YPeer) -> Result<Client, (u16, String)> {
        y.synced = false;
        // Nagle off, as browsers do for WebSockets: otherwise a small frame can wait for
        // the server's delayed ACK (up to 40 ms).
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .expect("connect");
        let mut c = Client {
            y,
            ..Client::from_socket(ws)
        };
        let sv = c.doc.transact().state_vector();
        c.send(Message::Sync(SyncMessage::SyncStep1(sv))).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while !c.synced {
            if let Some(closed) = c.closed.clone() {
                return Err(closed);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "no sync within {WAIT:?}");
            c.step(left).await;
        }
        Ok(c)
    }

    /// A client over an open socket that has not started syncing yet.
    pub fn from_socket(ws: Ws) -> Client {
        Client {
            ws,
            y: YPeer::new(),
            closed: None,
        }
    }

    pub async fn send(&mut self, msg: Message) {
        self.send_raw(msg.encode_v1()).await;
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        let _ = self.ws.send(WsMessage::Binary(bytes.into())).await;
    }

    /// Reads one frame (waiting at most `limit`) and handles it. False on timeout or close.
    pub async fn step(&mut self, limit: Duration) -> bool {
        if self.closed.is_some() {
            return false;
        }
        let frame = match tokio::time::timeout(limit, self.ws.next()).await {
            Err(_) => return false,
            Ok(None) => {
                self.closed = Some((1006, "eof".into()));
                return false;
            }
            Ok(Some(Err(e))) => {
                self.closed = Some((1006, e.to_string()));
                return false;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        match frame {
            WsMessage::Binary(data) => {
                if let Some(reply) = self.y.handle_bytes(&data) {
                    self.send_raw(reply).await;
                }
                true
            }
            WsMessage::Close(frame) => {
                let (code, reason) = frame
                    .map(|f: CloseFrame| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                self.closed = Some((code, reason));
                false
            }
            _ => true,
        }
    }

    /// Handles frames until `cond` holds; panics after `limit`.
    pub async fn pump_until(&mut self, cond: impl Fn(&Client) -> bool, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !cond(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                panic!(
                    "condition not met within {limit:?}; text={:?} closed={:?}",
                    self.text(),
                    self.closed
                );
            }
            if !self.step(left).await && self.closed.is_some() && !cond(self) {
                panic!("connection closed while waiting: {:?}", self.closed);
            }
        }
    }

    /// Handles frames until nothing arrives for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) {
        while self.step(quiet).await {}
    }

    /// Waits for the server to close the connection; returns the close code and reason.
    pub async fn closed_with(&mut self, limit: Duration) -> (u16, String) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.closed.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                panic!("server did not close the connection within {limit:?}");
            }
            self.step(left).await;
        }
        self.closed.clone().unwrap()
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Pumps all clients until they hold the same text; returns it.
pub async fn converge(clients: &mut [Client], limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        for c in clients.iter_mut() {
            c.drain(Duration::from_millis(30)).await;
        }
        let first = clients[0].text();
        if clients.iter().all(|c| c.text() == first) {
            return first;
        }
        if tokio::time::Instant::now() > deadline {
            let texts: Vec<String> = clients.iter().map(|c| c.text()).collect();
            panic!("clients did not converge: {texts:?}");
        }
    }
}

/// Pumps all clients until each holds every edit any of them made and they show the same
/// text; returns it. Every client's state vector must cover every client's own clock (two
/// clients can show the same text while an insert is still on its way to both); deletes
/// leave no trace in a state vector, but one still on its way shows as a difference in
/// text (unless every client already deleted the same thing).
pub async fn converge_complete(clients: &mut [Client], limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    let mut target = yrs::StateVector::default();
    for c in clients.iter() {
        let id = c.doc.client_id();
        target.set_max(id, c.state_vector().get(&id));
    }
    let has_all = |c: &Client| {
        let sv = c.state_vector();
        target.iter().all(|(id, clock)| sv.get(id) >= *clock)
    };
    loop {
        let first = clients[0].text();
        if clients.iter().all(|c| has_all(c) && c.text() == first) {
            return first;
        }
        if tokio::time::Instant::now() > deadline {
            let states: Vec<String> = clients
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let text: String = c.text().chars().take(120).collect();
                    format!(
                        "client {i}: complete={} closed={:?} text={text:?}...",
                        has_all(c),
                        c.closed,
                    )
                })
                .collect();
            panic!(
                "clients did not converge within {limit:?}:\n{}",
                states.join("\n")
            );
        }
        for c in clients.iter_mut() {
            // Whatever has arrived, without waiting on a quiet client.
            while c.step(Duration::ZERO).await {}
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
