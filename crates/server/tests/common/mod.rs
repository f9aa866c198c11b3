//! Shared test harness: an in-process server on a free port, and a y-websocket client
//! built on tokio-tungstenite and yrs (independent of the server's own code paths).

#![allow(dead_code)]

use std::time::Duration;

use clap::Parser;
use futures::{SinkExt, StreamExt};
use tandem::{config::Cli, ServeConfig, Server};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{protocol::CloseFrame, Message as WsMessage},
    MaybeTlsStream, WebSocketStream,
};
use yrs::{
    encoding::read::Cursor,
    sync::{Awareness, AwarenessUpdate, Message, MessageReader, SyncMessage},
    updates::{
        decoder::{Decode, DecoderV1},
        encoder::Encode,
    },
    Doc, GetString, OffsetKind, Options, ReadTxn, Text, Transact, Update,
};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub server: Option<Server>,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
    pub fn ws(&self, doc: &str) -> String {
        format!("ws://{}/ws/{}", self.addr, doc)
    }
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// Settings as the CLI would parse them, with a fresh data directory; `extra` adds flags.
pub fn config(dir: &std::path::Path, extra: &[&str]) -> ServeConfig {
    let mut args = vec![
        "tandem".to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--web-dir".into(),
        dir.join("no-web").display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Cli::parse_from(args).serve
}

pub async fn start(extra: &[&str]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, extra).await
}

pub async fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> TestServer {
    let server = tandem::start(config(dir.path(), extra)).await.unwrap();
    TestServer {
        addr: server.addr,
        server: Some(server),
        dir,
    }
}

pub fn new_doc() -> Doc {
    Doc::with_options(Options {
        offset_kind: OffsetKind::Utf16,
        ..Options::default()
    })
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A minimal y-websocket client: keeps a local Y.Doc in sync with the server.
pub struct Client {
    pub ws: Ws,
    pub doc: Doc,
    pub awareness: Awareness,
    /// Awareness states seen from the server: client id -> JSON (None once removed).
    pub peers: std::collections::HashMap<u64, Option<String>>,
    pub synced: bool,
    pub closed: Option<(u16, String)>,
    pub denied: Option<String>,
    /// Updates received from the server (relays and echoes).
    pub received_updates: usize,
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let doc = new_doc();
        let mut c = Client {
            ws,
            awareness: Awareness::new(doc.clone()),
            doc,
            peers: Default::default(),
            synced: false,
            closed: None,
            denied: None,
            received_updates: 0,
        };
        let sv = c.doc.transact().state_vector();
        c.send(Message::Sync(SyncMessage::SyncStep1(sv))).await;
        c.pump_until(|c| c.synced, WAIT).await;
        c
    }

    pub async fn send(&mut self, msg: Message) {
        self.send_raw(msg.encode_v1()).await;
    }

    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        let _ = self.ws.send(WsMessage::Binary(bytes.into())).await;
    }

    pub fn text(&self) -> String {
        let txn = self.doc.transact();
        txn.get_text("content")
            .map(|t| t.get_string(&txn))
            .unwrap_or_default()
    }

    /// Edits the local document and sends the resulting update.
    pub async fn insert(&mut self, index: u32, chunk: &str) {
        let update = {
            let text = self.doc.get_or_insert_text("content");
            let mut txn = self.doc.transact_mut();
            text.insert(&mut txn, index, chunk);
            txn.encode_update_v1()
        };
        self.send(Message::Sync(SyncMessage::Update(update))).await;
    }

    pub async fn append(&mut self, chunk: &str) {
        let len = {
            let text = self.doc.get_or_insert_text("content");
            let txn = self.doc.transact();
            text.len(&txn)
        };
        self.insert(len, chunk).await;
    }

    pub async fn set_awareness(&mut self, json: &str) {
        self.awareness.set_local_state_raw(json.to_string());
        let update = self.awareness.update().unwrap();
        self.send(Message::Awareness(update)).await;
    }

    pub fn client_id(&self) -> u64 {
        self.doc.client_id().get()
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
                let mut decoder = DecoderV1::new(Cursor::new(&data));
                let msgs: Vec<Message> = MessageReader::new(&mut decoder)
                    .collect::<Result<_, _>>()
                    .expect("server sent an undecodable frame");
                assert_eq!(msgs.len(), 1, "server must send one message per frame");
                for msg in msgs {
                    self.handle(msg).await;
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

    async fn handle(&mut self, msg: Message) {
        match msg {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                let update = self.doc.transact().encode_diff_v1(&sv);
                self.send(Message::Sync(SyncMessage::SyncStep2(update)))
                    .await;
            }
            Message::Sync(SyncMessage::SyncStep2(update)) => {
                self.apply(&update);
                self.synced = true;
            }
            Message::Sync(SyncMessage::Update(update)) => {
                self.received_updates += 1;
                self.apply(&update);
            }
            Message::Awareness(update) => self.note_awareness(update),
            Message::Auth(reason) => self.denied = reason,
            _ => {}
        }
    }

    fn apply(&mut self, update: &[u8]) {
        let update = Update::decode_v1(update).expect("server sent a bad update");
        self.doc.transact_mut().apply_update(update).unwrap();
    }

    fn note_awareness(&mut self, update: AwarenessUpdate) {
        for (id, entry) in update.clients {
            let state = (entry.json.as_ref() != "null").then(|| entry.json.to_string());
            self.peers.insert(id.get(), state);
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

pub async fn get_text(server: &TestServer, doc: &str) -> String {
    reqwest::get(server.http(&format!("/api/documents/{doc}/text")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
