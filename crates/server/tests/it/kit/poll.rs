//! The long-polling transport: POST to open, GET with a cursor to receive, POST to send.

use std::time::Duration;

use super::{with_token, Peer, TestServer, YPeer, WAIT};

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
        let http = super::http_client(token);
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

    pub async fn leave(&self) -> reqwest::StatusCode {
        self.http.delete(self.url()).send().await.unwrap().status()
    }
}

impl Peer for PollClient {
    fn y_mut(&mut self) -> &mut YPeer {
        &mut self.y
    }

    async fn send_message(&mut self, message: Vec<u8>) {
        self.send(message).await;
    }
}
