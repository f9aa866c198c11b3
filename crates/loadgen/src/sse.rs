//! Server-Sent Events downstream: `GET /sse/{doc}` and an event-stream parser. Each
//! default event's `data` is one y-protocol message in standard base64.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Instant,
};

use anyhow::{bail, Result};
use base64::Engine;
use tokio::{sync::mpsc, task::JoinHandle};

use crate::http_down::{stamp, Down, HttpStats};

/// Opens the stream (`url` = `.../sse/{doc}`) and starts the task that reads it.
pub async fn open(
    client: &reqwest::Client,
    url: &str,
    tx: mpsc::UnboundedSender<Down>,
    epoch: Instant,
    stats: Arc<HttpStats>,
) -> Result<JoinHandle<()>> {
    let res = client
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await?;
    if !res.status().is_success() {
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        bail!("GET {url}: HTTP {status} {}", text.trim());
    }
    Ok(tokio::spawn(read(res, tx, epoch, stats)))
}

async fn read(
    mut res: reqwest::Response,
    tx: mpsc::UnboundedSender<Down>,
    epoch: Instant,
    stats: Arc<HttpStats>,
) {
    let mut parser = Parser::default();
    loop {
        let chunk = match res.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => {
                let _ = tx.send(Down::Failed("SSE stream ended".into()));
                return;
            }
            Err(e) => {
                let _ = tx.send(Down::Failed(format!("SSE stream: {e}")));
                return;
            }
        };
        let at = stamp(epoch);
        stats.down_bytes.fetch_add(chunk.len() as u64, Relaxed);
        let mut gone = false;
        parser.feed(&chunk, |event, data| {
            if gone {
                return;
            }
            let item = to_down(event, data, at);
            let stop = matches!(item, Down::Failed(_));
            gone = tx.send(item).is_err() || stop;
        });
        if gone {
            return;
        }
    }
}

fn to_down(event: &str, data: &str, at: u64) -> Down {
    match event {
        "" | "message" => match base64::engine::general_purpose::STANDARD.decode(data) {
            Ok(bytes) => Down::Frame { at, bytes },
            Err(e) => Down::Failed(format!("SSE: bad base64: {e}")),
        },
        "session" => {
            let id = serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|v| v.get("session")?.as_str().map(str::to_string));
            match id {
                Some(id) => Down::Session(id),
                None => Down::Failed(format!("SSE: bad session event {data}")),
            }
        }
        "close" => Down::Failed(format!("SSE: the server closed the session: {data}")),
        other => Down::Failed(format!("SSE: unexpected event {other}")),
    }
}

/// Incremental `text/event-stream` parser: lines end in LF or CRLF, a blank line ends an
/// event, `:` lines are comments (heartbeats), several `data` lines join with LF.
#[derive(Default)]
struct Parser {
    partial: Vec<u8>,
    event: String,
    data: String,
    has_data: bool,
}

impl Parser {
    fn feed(&mut self, chunk: &[u8], mut emit: impl FnMut(&str, &str)) {
        self.partial.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(len) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.partial[start..start + len];
            start += len + 1;
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if line.is_empty() {
                if self.has_data {
                    emit(&self.event, &self.data);
                }
                self.event.clear();
                self.data.clear();
                self.has_data = false;
                continue;
            }
            if line[0] == b':' {
                continue;
            }
            let line = String::from_utf8_lossy(line);
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_ref(), ""),
            };
            match field {
                "event" => {
                    self.event.clear();
                    self.event.push_str(value);
                }
                "data" => {
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                    self.has_data = true;
                }
                _ => {}
            }
        }
        self.partial.drain(..start);
    }
}

#[cfg(test)]
mod tests {
    use super::Parser;

    #[test]
    fn parses_events_split_across_chunks() {
        let stream = b"event: session\r\ndata: {\"session\": \"ab\"}\r\n\r\n: hb\n\nid: ab:1\ndata: AAEC\n\ndata: x\ndata: y\n\n";
        for split in 1..stream.len() {
            let mut p = Parser::default();
            let mut seen = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                p.feed(part, |e, d| seen.push((e.to_string(), d.to_string())));
            }
            assert_eq!(
                seen,
                vec![
                    ("session".into(), "{\"session\": \"ab\"}".into()),
                    (String::new(), "AAEC".into()),
                    (String::new(), "x\ny".into()),
                ],
                "split at {split}"
            );
        }
    }
}
