//! Opening a WebSocket (optionally from one of several 127.0.0.x source addresses) and
//! running the y-websocket / Hocuspocus handshake.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{tungstenite::protocol::WebSocketConfig, tungstenite::Message as Ws};
use yrs::{updates::decoder::Decode, Doc, ReadTxn, StateVector, Transact};

use crate::proto::{parse, Framing, Incoming};

pub type WsStream = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// URL template; `{doc}` is replaced by the document name.
    pub url: String,
    pub hocuspocus: bool,
    pub token: String,
    /// Spread client sockets over 127.0.0.1 .. 127.0.0.N.
    pub source_addrs: u8,
    pub timeout: Duration,
}

pub struct Conn {
    pub ws: WsStream,
    pub framing: Framing,
}

impl Conn {
    pub async fn send(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.ws.send(Ws::Binary(bytes.into())).await?;
        Ok(())
    }

    /// Queues without flushing (use `flush` after a batch).
    pub async fn feed(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.ws.feed(Ws::Binary(bytes.into())).await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<()> {
        self.ws.flush().await?;
        Ok(())
    }

    /// Next binary frame; `None` when the socket closed.
    pub async fn next_frame(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            match self.ws.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Ws::Binary(b))) => return Ok(Some(b.into())),
                Some(Ok(Ws::Close(_))) => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Answers what a peer is expected to answer (server step 1, Hocuspocus ping).
    pub async fn answer(&mut self, msg: &Incoming<'_>, doc: &Doc) -> Result<()> {
        match msg {
            Incoming::Step1(sv) => {
                let sv = StateVector::decode_v1(sv).unwrap_or_default();
                let update = doc.transact().encode_state_as_update_v1(&sv);
                let frame = self.framing.step2(update);
                self.send(frame).await
            }
            Incoming::Ping => {
                let frame = self.framing.pong();
                self.send(frame).await
            }
            _ => Ok(()),
        }
    }
}

impl Target {
    pub fn url_for(&self, doc: &str) -> String {
        self.url.replace("{doc}", doc)
    }

    fn socket_addr(&self, url: &str) -> Result<SocketAddr> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| anyhow!("only ws:// URLs are supported: {url}"))?;
        let hostport = rest.split('/').next().unwrap_or(rest);
        let hostport = hostport.replace("localhost", "127.0.0.1");
        hostport
            .parse()
            .with_context(|| format!("URL host must be IP:PORT, got {hostport}"))
    }

    /// Connects client number `index` to `doc` and completes the handshake: sends
    /// (auth and) step 1, answers the server's step 1, returns once step 2 arrived.
    /// Frames other than step 2 seen before it are dropped, except updates, which are
    /// applied to `doc` if given.
    pub async fn connect(&self, doc_name: &str, index: usize, doc: &Doc) -> Result<Conn> {
        tokio::time::timeout(self.timeout, self.connect_inner(doc_name, index, doc))
            .await
            .map_err(|_| anyhow!("connect/handshake timed out"))?
    }

    async fn connect_inner(&self, doc_name: &str, index: usize, doc: &Doc) -> Result<Conn> {
        let url = self.url_for(doc_name);
        let addr = self.socket_addr(&url)?;
        let socket = TcpSocket::new_v4()?;
        if self.source_addrs > 1 {
            let host = 1 + (index % self.source_addrs as usize) as u8;
            socket.bind(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)),
                0,
            ))?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
        let (ws, _) =
            tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(config)).await?;
        let framing = Framing::new(self.hocuspocus, doc_name);
        let mut conn = Conn { ws, framing };
        if self.hocuspocus {
            let frame = conn.framing.auth_token(&self.token);
            conn.feed(frame).await?;
        }
        let sv = doc.transact().state_vector();
        let frame = conn.framing.step1(&sv);
        conn.send(frame).await?;
        loop {
            let Some(frame) = conn.next_frame().await? else {
                bail!("closed during handshake");
            };
            let Some(msg) = parse(&frame, self.hocuspocus) else {
                continue;
            };
            match msg {
                Incoming::Step2(update) => {
                    if update.len() > 2 {
                        let u = yrs::Update::decode_v1(update)?;
                        doc.transact_mut().apply_update(u)?;
                    }
                    return Ok(conn);
                }
                Incoming::AuthDenied(reason) => bail!("permission denied: {reason}"),
                other => conn.answer(&other, doc).await?,
            }
        }
    }
}

/// Raises RLIMIT_NOFILE to the hard limit (at least tries); returns the new soft limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        let want = lim.rlim_max.max(1_048_576);
        let mut new = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &new) != 0 {
            new.rlim_cur = lim.rlim_max;
            new.rlim_max = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &new);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur
    }
}
