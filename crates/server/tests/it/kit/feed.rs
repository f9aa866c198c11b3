//! A change-feed reader for the tests: the event-stream format and Quill deltas parsed
//! here, independently of the server's code.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use super::WAIT;

/// A feed reader's rebuilt text: Quill deltas (UTF-16 counts) applied in order.
#[derive(Default)]
pub struct Rebuilt {
    pub text: Vec<u16>,
    pub ids: Vec<i64>,
    pub snapshots: usize,
}

impl Rebuilt {
    pub fn take(&mut self, kind: &str, id: Option<&str>, data: &Value) {
        if let Some(id) = id {
            self.ids.push(id.parse().expect("id is a position"));
        }
        if kind == "snapshot" {
            self.snapshots += 1;
            self.text = data["text"].as_str().unwrap().encode_utf16().collect();
            return;
        }
        let mut at = 0usize;
        for op in data["delta"].as_array().expect("delta") {
            if let Some(n) = op["retain"].as_u64() {
                at += n as usize;
            } else if let Some(n) = op["delete"].as_u64() {
                self.text.drain(at..at + n as usize);
            } else if let Some(s) = op["insert"].as_str() {
                let units: Vec<u16> = s.encode_utf16().collect();
                self.text.splice(at..at, units.iter().copied());
                at += units.len();
            }
        }
        assert_eq!(
            data["length"].as_u64().unwrap() as usize,
            self.text.len(),
            "{data}"
        );
    }

    pub fn string(&self) -> String {
        String::from_utf16(&self.text).unwrap()
    }

    pub fn assert_once_each(&self) {
        assert!(
            self.ids.windows(2).all(|w| w[0] < w[1]),
            "ids not increasing: {:?}",
            self.ids
        );
    }
}

type Bytes = std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A minimal EventSource: `(event, id, data)` blocks, comments skipped.
pub struct Stream {
    body: Bytes,
    buf: Vec<u8>,
}

impl Stream {
    pub async fn open(url: &str, last_id: Option<i64>) -> Result<Stream, (u16, String)> {
        let mut req = reqwest::Client::new()
            .get(url)
            .header("Accept", "text/event-stream");
        if let Some(id) = last_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let res = req.send().await.unwrap();
        if !res.status().is_success() {
            let status = res.status().as_u16();
            return Err((status, res.text().await.unwrap()));
        }
        Ok(Stream {
            body: Box::pin(res.bytes_stream()),
            buf: Vec::new(),
        })
    }

    /// The next event; None at the end of the stream or after `limit`.
    pub async fn next(&mut self, limit: Duration) -> Option<(String, Option<String>, String)> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let block = String::from_utf8(block).unwrap();
                let (mut event, mut id, mut data) = ("message".to_string(), None, Vec::new());
                for line in block.lines().filter(|l| !l.starts_with(':')) {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value).to_string();
                    match field {
                        "event" => event = value,
                        "id" => id = Some(value),
                        "data" => data.push(value),
                        _ => {}
                    }
                }
                if !data.is_empty() {
                    return Some((event, id, data.join("\n")));
                }
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buf.extend_from_slice(&chunk),
                _ => return None,
            }
        }
    }

    /// Reads events into `into` until `done` holds.
    pub async fn follow_until(&mut self, into: &mut Rebuilt, done: impl Fn(&Rebuilt) -> bool) {
        while !done(into) {
            let Some((event, id, data)) = self.next(WAIT).await else {
                panic!(
                    "no feed event in time; rebuilt so far: {:?} {:?}",
                    into.string(),
                    into.ids
                );
            };
            into.take(&event, id.as_deref(), &serde_json::from_str(&data).unwrap());
        }
    }
}
