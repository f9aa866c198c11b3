//! The SSE transport: a streaming GET downstream, POSTs upstream; the event-stream format
//! parsed here, independently of the server's code.

use std::time::Duration;

use futures::StreamExt;

use super::{with_token, Peer, TestServer, YPeer, WAIT};

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
            http: super::http_client(token),
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
}

impl Peer for SseClient {
    fn y_mut(&mut self) -> &mut YPeer {
        &mut self.y
    }

    async fn send_message(&mut self, message: Vec<u8>) {
        self.send(message).await;
    }
}
