//! Long polling downstream: `POST /poll/{doc}` opens a session, then GETs with the cursor
//! are held by the server until something new exists (or ~25 s pass).

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Instant,
};

use anyhow::{anyhow, bail, Result};
use base64::Engine;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::http_down::{stamp, Down, HttpStats};

/// `POST {base}` (`.../poll/{doc}`) → the session id.
pub async fn open(client: &reqwest::Client, base: &str) -> Result<String> {
    let res = client.post(base).send().await?;
    let status = res.status();
    let body = res.bytes().await?;
    if !status.is_success() {
        bail!(
            "POST {base}: HTTP {status} {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    v.get("session")
        .and_then(|s| s.as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("POST {base}: no session in the answer"))
}

#[derive(Deserialize)]
struct Answer {
    cursor: u64,
    messages: Vec<String>,
}

/// Polls `url` (`.../poll/{doc}/{session}`) until the client goes or the session fails.
pub async fn receive(
    client: reqwest::Client,
    url: String,
    tx: mpsc::UnboundedSender<Down>,
    epoch: Instant,
    stats: Arc<HttpStats>,
) {
    let mut cursor = 0u64;
    loop {
        let answer = async {
            let res = client.get(format!("{url}?cursor={cursor}")).send().await?;
            let status = res.status();
            let body = res.bytes().await?;
            let at = stamp(epoch);
            stats.polls.fetch_add(1, Relaxed);
            stats.down_bytes.fetch_add(body.len() as u64, Relaxed);
            if !status.is_success() {
                bail!(
                    "poll GET: HTTP {status} {}",
                    String::from_utf8_lossy(&body).trim()
                );
            }
            let a: Answer = serde_json::from_slice(&body)?;
            Ok((at, a))
        }
        .await;
        let (at, a) = match answer {
            Ok(x) => x,
            Err(e) => {
                let _ = tx.send(Down::Failed(format!("{e:#}")));
                return;
            }
        };
        for m in &a.messages {
            let item = match base64::engine::general_purpose::STANDARD.decode(m) {
                Ok(bytes) => Down::Frame { at, bytes },
                Err(e) => Down::Failed(format!("poll: bad base64: {e}")),
            };
            let stop = matches!(item, Down::Failed(_));
            if tx.send(item).is_err() || stop {
                return;
            }
        }
        cursor = a.cursor.max(cursor);
        if tx.is_closed() {
            return;
        }
    }
}
