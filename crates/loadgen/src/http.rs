//! The HTTP transports of docs/PROTOCOL.md (Server-Sent Events and long polling) seen
//! through the same interface as a WebSocket: frames in, frames out.
//!
//! Each client has its own `reqwest::Client` (its own keep-alive connections, like a
//! separate browser). A receiver task (the SSE stream in `sse.rs`, the held GETs in
//! `poll.rs`) turns what arrives into [`Down`] items stamped with the time the bytes
//! came in; an uploader task POSTs outgoing messages in order, one request per message
//! unless several are queued (then one request carries them all, as the web client does).

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Instant,
};

use anyhow::{anyhow, bail, Context, Result};
use tokio::{sync::mpsc, task::JoinHandle};
use yrs::{updates::decoder::Decode, Doc, ReadTxn, StateVector, Transact};

use crate::{
    conn::Target,
    http_down::{Down, HttpStats},
    proto::{parse, Framing, Incoming},
    Transport,
};

pub struct HttpConn {
    pub framing: Framing,
    down: mpsc::UnboundedReceiver<Down>,
    up: mpsc::UnboundedSender<Vec<u8>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for HttpConn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl HttpConn {
    /// Queues a message for the uploader (never blocks).
    pub fn send(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.up.send(bytes).map_err(|_| anyhow!("uploader stopped"))
    }

    /// Next message and its arrival time; `None` when the receiver ended.
    pub async fn next_frame(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        match self.down.recv().await {
            None => Ok(None),
            Some(Down::Frame { at, bytes }) => Ok(Some((at, bytes))),
            Some(Down::Failed(e)) => Err(anyhow!(e)),
            Some(Down::Session(_)) => Err(anyhow!("the server started a new session")),
        }
    }

    /// Answers the server's sync step 1 with step 2.
    pub fn answer(&mut self, msg: &Incoming<'_>, doc: &Doc) -> Result<()> {
        if let Incoming::Step1(sv) = msg {
            let sv = StateVector::decode_v1(sv).unwrap_or_default();
            let update = doc.transact().encode_state_as_update_v1(&sv);
            let frame = self.framing.step2(update);
            self.send(frame)?;
        }
        Ok(())
    }
}

/// `http://host:port` from the `--url` template (`ws://host:port/...`).
pub fn origin(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| anyhow!("only ws:// or http:// URLs are supported: {url}"))?;
    let hostport = rest.split('/').next().unwrap_or(rest);
    if hostport.is_empty() {
        bail!("no host in {url}");
    }
    Ok(format!("http://{hostport}"))
}

/// Connects client number `index` to `doc` over SSE or long polling and completes the
/// handshake (our step 1 POSTed, the server's step 1 answered, its step 2 applied).
pub async fn connect(
    target: &Target,
    transport: Transport,
    doc_name: &str,
    index: usize,
    doc: &Doc,
    epoch: Instant,
    stats: Arc<HttpStats>,
) -> Result<HttpConn> {
    tokio::time::timeout(
        target.timeout,
        connect_inner(target, transport, doc_name, index, doc, epoch, stats),
    )
    .await
    .map_err(|_| anyhow!("connect/handshake timed out"))?
}

async fn connect_inner(
    target: &Target,
    transport: Transport,
    doc_name: &str,
    index: usize,
    doc: &Doc,
    epoch: Instant,
    stats: Arc<HttpStats>,
) -> Result<HttpConn> {
    let origin = origin(&target.url)?;
    let mut builder = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4);
    if target.source_addrs > 1 {
        let host = 1 + (index % target.source_addrs as usize) as u8;
        builder = builder.local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)));
    }
    let client = builder.build()?;
    let (down_tx, mut down) = mpsc::unbounded_channel::<Down>();
    let mut tasks = Vec::with_capacity(2);
    let base = match transport {
        Transport::Sse => format!("{origin}/sse/{doc_name}"),
        Transport::Poll => format!("{origin}/poll/{doc_name}"),
        Transport::Websocket => bail!("not an HTTP transport"),
    };
    let session = match transport {
        Transport::Sse => {
            tasks.push(
                crate::sse::open(&client, &base, down_tx.clone(), epoch, stats.clone()).await?,
            );
            // The stream's first event names the session.
            match down.recv().await {
                Some(Down::Session(id)) => id,
                Some(Down::Failed(e)) => bail!("SSE: {e}"),
                Some(Down::Frame { .. }) => bail!("SSE: a message before the session event"),
                None => bail!("SSE: stream ended before the session event"),
            }
        }
        _ => {
            let id = crate::poll::open(&client, &base).await?;
            let url = format!("{base}/{id}");
            tasks.push(tokio::spawn(crate::poll::receive(
                client.clone(),
                url,
                down_tx.clone(),
                epoch,
                stats.clone(),
            )));
            id
        }
    };
    let (up, up_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tasks.push(tokio::spawn(upload(
        client,
        format!("{base}/{session}"),
        up_rx,
        down_tx,
        stats,
    )));
    let mut conn = HttpConn {
        framing: Framing::Plain,
        down,
        up,
        tasks,
    };
    let sv = doc.transact().state_vector();
    let frame = conn.framing.step1(&sv);
    conn.send(frame)?;
    loop {
        let Some((_, frame)) = conn.next_frame().await.context("handshake")? else {
            bail!("closed during handshake");
        };
        match parse(&frame, false) {
            Some(Incoming::Step2(update)) => {
                if update.len() > 2 {
                    let u = yrs::Update::decode_v1(update)?;
                    doc.transact_mut().apply_update(u)?;
                }
                return Ok(conn);
            }
            Some(other) => conn.answer(&other, doc)?,
            None => {}
        }
    }
}

/// POSTs queued messages in order; whatever queued up during one request goes out
/// together in the next (the body may hold several concatenated messages).
async fn upload(
    client: reqwest::Client,
    url: String,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    failed: mpsc::UnboundedSender<Down>,
    stats: Arc<HttpStats>,
) {
    while let Some(mut body) = rx.recv().await {
        let mut n = 1;
        while let Ok(more) = rx.try_recv() {
            body.extend_from_slice(&more);
            n += 1;
        }
        stats.posts.fetch_add(1, Relaxed);
        stats.up_messages.fetch_add(n, Relaxed);
        let res = client
            .post(&url)
            .header("content-type", "application/octet-stream")
            .body(body)
            .send()
            .await;
        let problem = match res {
            Ok(r) if r.status().is_success() => continue,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                format!("POST: HTTP {status} {}", text.trim())
            }
            Err(e) => format!("POST: {e}"),
        };
        let _ = failed.send(Down::Failed(problem));
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origin_from_the_url_template() {
        assert_eq!(
            origin("ws://127.0.0.1:8080/ws/{doc}").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(origin("http://127.0.0.1:9").unwrap(), "http://127.0.0.1:9");
        assert!(origin("wss://x/").is_err());
    }
}
