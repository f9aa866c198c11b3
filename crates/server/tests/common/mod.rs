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

    /// The server's SQLite database file (the default store).
    pub fn sqlite_path(&self) -> std::path::PathBuf {
        self.dir.path().join("tandem.db")
    }

    /// Whether the document is loaded in memory now.
    pub fn is_loaded(&self, doc: &str) -> bool {
        self.server
            .as_ref()
            .expect("server running")
            .state
            .rooms
            .is_loaded(doc)
    }

    /// Waits until the document has been unloaded from memory.
    pub async fn wait_unloaded(&self, doc: &str) {
        wait_for(&format!("{doc} to unload"), || async {
            (!self.is_loaded(doc)).then_some(())
        })
        .await
    }

    /// One series from `/metrics`, e.g. `tandem_updates_received_total` or
    /// `tandem_connections{transport="websocket"}`; 0 when not reported yet.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(self.http("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metric_in(&text, series)
    }

    /// Waits until `series` satisfies `pred`; returns its value.
    pub async fn wait_metric(&self, series: &str, pred: impl Fn(f64) -> bool) -> f64 {
        wait_for(&format!("metric {series}"), || async {
            let v = self.metric(series).await;
            pred(v).then_some(v)
        })
        .await
    }
}

/// The value of one series in a Prometheus text exposition; 0 when absent.
pub fn metric_in(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("numeric metric"))
        .unwrap_or(0.0)
}

/// Polls `probe` until it yields a value; fails after `WAIT`. For state only visible by
/// asking (a row, a metric, a flag), where there is no message to wait on.
pub async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A write lock on a SQLite database, taken from outside the server: its commits wait
/// (up to the store's busy timeout) until the lock is released. Lets a test hold a commit
/// "in flight" for exactly as long as it needs, instead of hoping one is slow.
pub struct SqliteWriteLock(sqlx::SqliteConnection);

impl SqliteWriteLock {
    pub async fn take(path: &std::path::Path) -> SqliteWriteLock {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("open SQLite");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .expect("take the write lock");
        SqliteWriteLock(conn)
    }

    pub async fn release(mut self) {
        use sqlx::Connection;
        sqlx::query("ROLLBACK").execute(&mut self.0).await.unwrap();
        self.0.close().await.unwrap();
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

/// The text a stored document holds: its snapshot and logged updates replayed, as the
/// server would load it.
pub fn stored_text(stored: &tandem_persistence::StoredDoc) -> String {
    let doc = new_doc();
    {
        let mut txn = doc.transact_mut();
        for bytes in stored.snapshot.iter().chain(stored.updates.iter()) {
            txn.apply_update(Update::decode_v1(bytes).expect("stored update decodes"))
                .expect("stored update applies");
        }
    }
    tandem::text::render_doc(&doc)
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
        match Client::try_connect(url).await {
            Ok(c) => c,
            Err(closed) => panic!("connection closed while syncing: {closed:?}"),
        }
    }

    /// Connects and syncs; the close code and reason if the server closes the socket
    /// before the sync completes.
    pub async fn try_connect(url: &str) -> Result<Client, (u16, String)> {
        // Nagle off, as browsers do for WebSockets: otherwise a small frame can wait for
        // the server's delayed ACK (up to 40 ms) and timing-based checks see a slow server.
        let (ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .expect("connect");
        let mut c = Client::from_socket(ws);
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
        let doc = new_doc();
        Client {
            ws,
            awareness: Awareness::new(doc.clone()),
            doc,
            peers: Default::default(),
            synced: false,
            closed: None,
            denied: None,
            received_updates: 0,
        }
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

// ----- HTTP transports: SSE and long-polling clients ------------------------------------

/// The y-protocol side of the HTTP clients: a local Y.Doc plus what the server has told it.
/// Unlike the WebSocket client it only decodes and encodes; the transport moves the bytes.
pub struct YPeer {
    pub doc: Doc,
    pub awareness: Awareness,
    pub peers: std::collections::HashMap<u64, Option<String>>,
    pub synced: bool,
    pub denied: Option<String>,
    /// Permission-denied (auth) messages received.
    pub denied_count: usize,
    /// Updates received from the server (relays and echoes).
    pub received_updates: usize,
    /// Sync step 1 messages received from the server.
    pub step1_count: usize,
}

impl Default for YPeer {
    fn default() -> Self {
        Self::new()
    }
}

impl YPeer {
    pub fn new() -> YPeer {
        let doc = new_doc();
        YPeer {
            awareness: Awareness::new(doc.clone()),
            doc,
            peers: Default::default(),
            synced: false,
            denied: None,
            denied_count: 0,
            received_updates: 0,
            step1_count: 0,
        }
    }

    pub fn text(&self) -> String {
        let txn = self.doc.transact();
        txn.get_text("content")
            .map(|t| t.get_string(&txn))
            .unwrap_or_default()
    }

    pub fn client_id(&self) -> u64 {
        self.doc.client_id().get()
    }

    pub fn step1(&self) -> Vec<u8> {
        let sv = self.doc.transact().state_vector();
        Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1()
    }

    /// Handles one message from the server (the HTTP transports carry exactly one per
    /// event / list entry); returns the reply to send, if any.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut decoder = DecoderV1::new(Cursor::new(bytes));
        let msgs: Vec<Message> = MessageReader::new(&mut decoder)
            .collect::<Result<_, _>>()
            .expect("server sent an undecodable message");
        assert_eq!(msgs.len(), 1, "server must send one message per event");
        let mut reply = None;
        for msg in msgs {
            match msg {
                Message::Sync(SyncMessage::SyncStep1(sv)) => {
                    self.step1_count += 1;
                    let update = self.doc.transact().encode_diff_v1(&sv);
                    reply = Some(Message::Sync(SyncMessage::SyncStep2(update)).encode_v1());
                }
                Message::Sync(SyncMessage::SyncStep2(update)) => {
                    self.apply(&update);
                    self.synced = true;
                }
                Message::Sync(SyncMessage::Update(update)) => {
                    self.received_updates += 1;
                    self.apply(&update);
                }
                Message::Awareness(update) => {
                    for (id, entry) in update.clients {
                        let state = (entry.json.as_ref() != "null").then(|| entry.json.to_string());
                        self.peers.insert(id.get(), state);
                    }
                }
                Message::Auth(reason) => {
                    self.denied_count += 1;
                    self.denied = reason;
                }
                _ => {}
            }
        }
        reply
    }

    fn apply(&mut self, update: &[u8]) {
        let update = Update::decode_v1(update).expect("server sent a bad update");
        self.doc.transact_mut().apply_update(update).unwrap();
    }

    /// Edits the local document; returns the update message to send.
    pub fn insert(&mut self, index: u32, chunk: &str) -> Vec<u8> {
        let update = {
            let text = self.doc.get_or_insert_text("content");
            let mut txn = self.doc.transact_mut();
            text.insert(&mut txn, index, chunk);
            txn.encode_update_v1()
        };
        Message::Sync(SyncMessage::Update(update)).encode_v1()
    }

    pub fn append(&mut self, chunk: &str) -> Vec<u8> {
        let len = {
            let text = self.doc.get_or_insert_text("content");
            let txn = self.doc.transact();
            text.len(&txn)
        };
        self.insert(len, chunk)
    }

    pub fn awareness_message(&mut self, json: &str) -> Vec<u8> {
        self.awareness.set_local_state_raw(json.to_string());
        Message::Awareness(self.awareness.update().unwrap()).encode_v1()
    }
}

/// Appends `?token=` when a token is given.
pub fn with_token(url: String, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("{url}?token={t}"),
        None => url,
    }
}

/// One parsed server-sent event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    /// `message` unless the event names another type.
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

type ByteStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// An SSE client: a streaming GET for the downstream, POSTs upstream. Parses the
/// `text/event-stream` format itself.
pub struct SseClient {
    pub http: reqwest::Client,
    pub base: String,
    pub doc_name: String,
    pub token: Option<String>,
    pub session: Option<String>,
    /// `id` of the last message event handled.
    pub last_id: Option<String>,
    pub y: YPeer,
    /// Every event read since the last (re)connect, in order.
    pub events: Vec<SseEvent>,
    /// Data of a `close` event, if the server ended the session.
    pub closed: Option<String>,
    stream: Option<ByteStream>,
    buf: Vec<u8>,
}

impl SseClient {
    /// Opens the event stream; `Err(status)` if the server refuses it.
    pub async fn open(
        server: &TestServer,
        doc: &str,
        token: Option<&str>,
    ) -> Result<SseClient, reqwest::StatusCode> {
        let mut c = SseClient {
            http: reqwest::Client::new(),
            base: server.http(""),
            doc_name: doc.to_string(),
            token: token.map(str::to_string),
            session: None,
            last_id: None,
            y: YPeer::new(),
            events: Vec::new(),
            closed: None,
            stream: None,
            buf: Vec::new(),
        };
        c.reconnect(None).await?;
        Ok(c)
    }

    /// Opens the stream and syncs (session event, step 1 out, step 2 back).
    pub async fn connect(server: &TestServer, doc: &str) -> SseClient {
        let mut c = SseClient::open(server, doc, None).await.expect("sse open");
        c.pump_until(|c| c.y.synced, WAIT).await;
        c
    }

    pub fn stream_url(&self) -> String {
        with_token(
            format!("{}/sse/{}", self.base, self.doc_name),
            self.token.as_deref(),
        )
    }

    /// Drops the current stream (if any) and opens a new one, sending `Last-Event-ID`
    /// when given. Clears the event log.
    pub async fn reconnect(
        &mut self,
        last_event_id: Option<&str>,
    ) -> Result<(), reqwest::StatusCode> {
        self.disconnect();
        let mut req = self.http.get(self.stream_url());
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = req.send().await.expect("sse request");
        if !res.status().is_success() {
            return Err(res.status());
        }
        let ct = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        self.stream = Some(Box::pin(res.bytes_stream()));
        self.events.clear();
        self.closed = None;
        Ok(())
    }

    /// Drops the stream, as a dead network connection would.
    pub fn disconnect(&mut self) {
        self.stream = None;
        self.buf.clear();
    }

    /// Reads the next event (comments skipped); None on timeout or end of stream.
    pub async fn next_event(&mut self, limit: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(event) = self.parse_buffered() {
                return Some(event);
            }
            let stream = self.stream.as_mut()?;
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Err(_) => return None,
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Some(Err(_))) | Ok(None) => {
                    self.stream = None;
                    return None;
                }
            }
        }
    }

    /// Takes one complete event out of the buffer, skipping comment-only blocks.
    fn parse_buffered(&mut self) -> Option<SseEvent> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let block: Vec<u8> = self.buf.drain(..end + 2).collect();
            let block = String::from_utf8(block).expect("event stream is UTF-8");
            let mut event = SseEvent {
                event: "message".into(),
                ..Default::default()
            };
            let mut data: Vec<&str> = Vec::new();
            for line in block.lines() {
                if line.is_empty() || line.starts_with(':') {
                    continue;
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "event" => event.event = value.to_string(),
                    "id" => event.id = Some(value.to_string()),
                    "data" => data.push(value),
                    _ => {}
                }
            }
            if data.is_empty() && event.id.is_none() && event.event == "message" {
                continue; // a heartbeat comment
            }
            event.data = data.join("\n");
            return Some(event);
        }
    }

    pub async fn post(&mut self, body: Vec<u8>) -> reqwest::Response {
        let session = self.session.as_deref().expect("no session yet");
        self.http
            .post(format!("{}/sse/{}/{}", self.base, self.doc_name, session))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("sse post")
    }

    pub async fn send(&mut self, body: Vec<u8>) {
        let res = self.post(body).await;
        assert_eq!(res.status(), 204, "sse post: {:?}", res.text().await);
    }

    /// Reads and handles one event. False on timeout or end of stream.
    pub async fn step(&mut self, limit: Duration) -> bool {
        let Some(event) = self.next_event(limit).await else {
            return false;
        };
        self.events.push(event.clone());
        match event.event.as_str() {
            "session" => {
                let v: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                self.session = Some(v["session"].as_str().unwrap().to_string());
                // A fresh session: sync from the start.
                let step1 = self.y.step1();
                self.send(step1).await;
            }
            "close" => self.closed = Some(event.data),
            "message" => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&event.data)
                    .expect("event data is base64");
                self.last_id = event.id.clone();
                if let Some(reply) = self.y.handle_bytes(&bytes) {
                    self.send(reply).await;
                }
            }
            other => panic!("unexpected event type {other:?}"),
        }
        true
    }

    pub async fn pump_until(&mut self, cond: impl Fn(&SseClient) -> bool, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !cond(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                panic!(
                    "sse: condition not met within {limit:?}; text={:?} closed={:?}",
                    self.y.text(),
                    self.closed
                );
            }
            if !self.step(left).await && self.stream.is_none() && !cond(self) {
                panic!("sse stream ended while waiting: {:?}", self.closed);
            }
        }
    }

    pub async fn drain(&mut self, quiet: Duration) {
        while self.step(quiet).await {}
    }

    pub async fn insert(&mut self, index: u32, chunk: &str) {
        let msg = self.y.insert(index, chunk);
        self.send(msg).await;
    }

    pub async fn append(&mut self, chunk: &str) {
        let msg = self.y.append(chunk);
        self.send(msg).await;
    }

    pub async fn set_awareness(&mut self, json: &str) {
        let msg = self.y.awareness_message(json);
        self.send(msg).await;
    }
}

/// A long-polling batch as the server sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct PollBatch {
    pub cursor: u64,
    pub messages: Vec<Vec<u8>>,
}

/// A long-polling client: POST to open, GET with a cursor to receive, POST to send.
pub struct PollClient {
    pub http: reqwest::Client,
    pub base: String,
    pub doc_name: String,
    pub session: String,
    pub cursor: u64,
    pub y: YPeer,
}

impl PollClient {
    /// Opens a session; `Err(status)` if the server refuses.
    pub async fn open(
        server: &TestServer,
        doc: &str,
        token: Option<&str>,
    ) -> Result<PollClient, reqwest::StatusCode> {
        let http = reqwest::Client::new();
        let res = http
            .post(with_token(server.http(&format!("/poll/{doc}")), token))
            .send()
            .await
            .expect("poll open");
        if res.status() != 201 {
            return Err(res.status());
        }
        let v: serde_json::Value = res.json().await.unwrap();
        Ok(PollClient {
            http,
            base: server.http(""),
            doc_name: doc.to_string(),
            session: v["session"].as_str().expect("session id").to_string(),
            cursor: 0,
            y: YPeer::new(),
        })
    }

    /// Opens a session and syncs.
    pub async fn connect(server: &TestServer, doc: &str) -> PollClient {
        let mut c = PollClient::open(server, doc, None)
            .await
            .expect("poll open");
        c.start().await;
        c
    }

    /// Sends sync step 1 and polls until synced.
    pub async fn start(&mut self) {
        let step1 = self.y.step1();
        self.send(step1).await;
        self.pump_until(|c| c.y.synced, WAIT).await;
    }

    pub fn url(&self) -> String {
        format!("{}/poll/{}/{}", self.base, self.doc_name, self.session)
    }

    /// One raw GET: the status and, on 200, the batch.
    pub async fn get(
        &self,
        cursor: u64,
        timeout: Option<f64>,
    ) -> (reqwest::StatusCode, Option<PollBatch>) {
        let mut url = format!("{}?cursor={cursor}", self.url());
        if let Some(t) = timeout {
            url.push_str(&format!("&timeout={t}"));
        }
        let res = self.http.get(url).send().await.expect("poll get");
        let status = res.status();
        if status != 200 {
            return (status, None);
        }
        let v: serde_json::Value = res.json().await.unwrap();
        use base64::Engine;
        let messages = v["messages"]
            .as_array()
            .expect("messages array")
            .iter()
            .map(|m| {
                base64::engine::general_purpose::STANDARD
                    .decode(m.as_str().expect("base64 string"))
                    .expect("valid base64")
            })
            .collect();
        let cursor = v["cursor"].as_u64().expect("cursor");
        (status, Some(PollBatch { cursor, messages }))
    }

    /// Handles a batch and advances the cursor; returns how many messages it held.
    pub async fn handle(&mut self, batch: PollBatch) -> usize {
        let n = batch.messages.len();
        for m in &batch.messages {
            if let Some(reply) = self.y.handle_bytes(m) {
                self.send(reply).await;
            }
        }
        self.cursor = batch.cursor;
        n
    }

    /// Polls once from the cursor; panics unless 200. Returns the number of messages.
    pub async fn poll(&mut self, timeout: Option<f64>) -> usize {
        let (status, batch) = self.get(self.cursor, timeout).await;
        assert_eq!(status, 200, "poll get");
        self.handle(batch.unwrap()).await
    }

    pub async fn post(&self, body: Vec<u8>) -> reqwest::Response {
        self.http
            .post(self.url())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .expect("poll post")
    }

    pub async fn send(&self, body: Vec<u8>) {
        let res = self.post(body).await;
        assert_eq!(res.status(), 204, "poll post: {:?}", res.text().await);
    }

    pub async fn pump_until(&mut self, cond: impl Fn(&PollClient) -> bool, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !cond(self) {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "poll: condition not met within {limit:?}; text={:?}",
                    self.y.text()
                );
            }
            self.poll(Some(0.2)).await;
        }
    }

    /// Polls until a poll comes back empty.
    pub async fn drain(&mut self, quiet: Duration) {
        while self.poll(Some(quiet.as_secs_f64())).await > 0 {}
    }

    pub async fn insert(&mut self, index: u32, chunk: &str) {
        let msg = self.y.insert(index, chunk);
        self.send(msg).await;
    }

    pub async fn append(&mut self, chunk: &str) {
        let msg = self.y.append(chunk);
        self.send(msg).await;
    }

    pub async fn set_awareness(&mut self, json: &str) {
        let msg = self.y.awareness_message(json);
        self.send(msg).await;
    }

    pub async fn leave(&self) -> reqwest::StatusCode {
        self.http.delete(self.url()).send().await.unwrap().status()
    }
}

/// Asserts an error response: the status and a JSON body with an `error` string.
pub async fn expect_error(res: reqwest::Response, status: u16) -> String {
    let got = res.status();
    let body = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "body: {body}");
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("error body is not JSON: {body:?}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {body}"))
        .to_string()
}

/// The `tandem` binary as a child process: `serve` on a free loopback port, its stderr
/// collected line by line so tests can wait for a log line. Killed when dropped.
pub struct BinServer {
    pub child: std::process::Child,
    pub addr: String,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl BinServer {
    /// Runs `tandem serve --listen 127.0.0.1:0 --web-dir /nonexistent ARGS`, with no
    /// database URL or secret inherited from the caller's environment.
    pub fn spawn(args: &[&str]) -> BinServer {
        BinServer::spawn_on("127.0.0.1:0", args)
    }

    pub fn spawn_on(listen: &str, args: &[&str]) -> BinServer {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["serve", "--listen", listen, "--web-dir", "/nonexistent"])
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("TANDEM_SECRET")
            .env_remove("TANDEM_ADMIN_KEY")
            .env_remove("TANDEM_LOG_FORMAT")
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn tandem");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line.trim().strip_prefix("listening on http://") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "server did not start: {line:?}\n{}",
                stderr.lock().unwrap().join("\n")
            );
        };
        let addr = addr.to_string();
        BinServer {
            child,
            addr,
            stderr,
        }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws(&self, doc: &str) -> String {
        format!("ws://{}/ws/{}", self.addr, doc)
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a stderr line matching `pred`; returns it.
    pub async fn wait_log(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_for(what, || async {
            self.stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| pred(l))
                .cloned()
        })
        .await
    }

    /// Sends SIGTERM, as `docker stop` or systemd would.
    pub fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit by itself; its exit status.
    pub async fn exited(&mut self) -> std::process::ExitStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not exit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for BinServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
