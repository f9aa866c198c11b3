//! The hostile client of `abuse`: each pattern's attack, from its own loopback address.

use std::{
    sync::{atomic::Ordering::Relaxed, Arc},
    time::{Duration, Instant},
};

use anyhow::Result;
use futures::{SinkExt, StreamExt};
use rand::{rngs::StdRng, Rng, SeedableRng};
use tokio::{
    io::AsyncWriteExt,
    net::{TcpSocket, TcpStream},
};
use tokio_tungstenite::tungstenite::Message as Ws;
use yrs::{Doc, Map, ReadTxn, StateVector, Transact};

use super::{Counters, Pattern};
use crate::proto::write_var;

/// The address every attacking socket is bound to (the probe uses 127.0.0.1).
const ATTACKER: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 2);

/// A TCP connection to `hostport` from [`ATTACKER`].
pub(super) async fn attacker_connect(hostport: &str) -> std::io::Result<TcpStream> {
    let addr = tokio::net::lookup_host(hostport)
        .await?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| std::io::Error::other("no IPv4 address for the target"))?;
    let socket = TcpSocket::new_v4()?;
    socket.bind((ATTACKER, 0).into())?;
    socket.connect(addr).await
}

/// About 1.5 MiB of short map keys: many structs per byte of wire. Built once: making it
/// costs the load generator more CPU than sending it.
fn dense_frame() -> &'static [u8] {
    static FRAME: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FRAME.get_or_init(|| {
        let doc = Doc::with_client_id(1234);
        let map = doc.get_or_insert_map("m");
        {
            let mut txn = doc.transact_mut();
            for i in 0..150_000u32 {
                map.insert(&mut txn, format!("{i:x}"), true);
            }
        }
        let u = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let mut f = vec![0, 2];
        write_var(&mut f, u.len() as u64);
        f.extend_from_slice(&u);
        f
    })
}

pub(super) struct Attack {
    pub(super) pattern: Pattern,
    pub(super) url: String,
    pub(super) base: String,
    pub(super) doc: String,
    pub(super) seed: u64,
    pub(super) deadline: Instant,
    pub(super) counters: Arc<Counters>,
    pub(super) token: Option<String>,
    pub(super) bus: Option<super::bus::BusTarget>,
    /// Hostile tasks in all (some patterns share a rate between them).
    pub(super) attackers: usize,
}

impl Attack {
    pub(super) async fn run(self) {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .local_address(std::net::IpAddr::V4(ATTACKER))
            .build()
            .expect("HTTP client");
        let mut round = 0u64;
        while Instant::now() < self.deadline {
            round += 1;
            let outcome = match self.pattern {
                Pattern::Amplify => self.amplify(&http, round).await,
                Pattern::Malformed => {
                    let frames = (0..64)
                        .map(|_| {
                            let len = rng.gen_range(1..64);
                            (0..len).map(|_| rng.gen::<u8>()).collect()
                        })
                        .collect();
                    self.ws_frames(&self.doc, frames).await
                }
                Pattern::Flood => self.flood().await,
                Pattern::Presence => self.presence(&mut rng).await,
                Pattern::Sessions => self.sessions(&http, round).await,
                Pattern::Slowloris => self.slowloris().await,
                Pattern::Dense => self.dense(round).await,
                Pattern::Documents => {
                    let doc = format!("{}-{round}", self.doc);
                    // the attack is the connection (a document opened): count it
                    let opened = self.ws_frames(&doc, Vec::new()).await;
                    if opened.is_ok() {
                        self.counters.sent.fetch_add(1, Relaxed);
                    }
                    opened
                }
                Pattern::Versions => self.versions(&http, round).await,
                Pattern::HocuspocusPreauth => self.hocuspocus_preauth().await,
                Pattern::Bus => self.bus(&mut rng).await,
                Pattern::ApiMemory => self.api_memory(&http, round).await,
                Pattern::PreauthBodies => self.preauth_bodies(round).await,
                Pattern::SpreadFlood => self.spread_flood().await,
                Pattern::CostHeavy => self.costly(self.attackers).await,
            };
            if outcome.is_err() {
                self.counters.refused.fetch_add(1, Relaxed);
                // a refused connection is retried at once, but never in a hot loop
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }

    pub(super) fn ws_url(&self, doc: &str) -> String {
        let url = self.url.replace("{doc}", doc);
        match &self.token {
            Some(t) => format!("{url}?token={t}"),
            None => url,
        }
    }

    /// Opens a socket to `doc`, sends `frames` as fast as it takes them, then reads until
    /// the server closes or a short quiet spell.
    async fn ws_frames(&self, doc: &str, frames: Vec<Vec<u8>>) -> Result<()> {
        let url = self.ws_url(doc);
        let hostport = self.base.trim_start_matches("http://");
        let stream = attacker_connect(hostport).await?;
        let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await?;
        for f in frames {
            if ws.send(Ws::Binary(f.into())).await.is_err() {
                break;
            }
            self.counters.sent.fetch_add(1, Relaxed);
        }
        loop {
            match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
                Ok(Some(Ok(Ws::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                    self.counters.closed.fetch_add(1, Relaxed);
                    return Ok(());
                }
                Ok(Some(Ok(_))) => continue,
                Err(_) => return Ok(()),
            }
        }
    }

    async fn amplify(&self, http: &reqwest::Client, round: u64) -> Result<()> {
        // [sync][update] whose update claims 50 million clients
        let mut update = Vec::new();
        write_var(&mut update, 50_000_000);
        update.extend_from_slice(&[0, 0]);
        let mut frame = vec![0, 2];
        write_var(&mut frame, update.len() as u64);
        frame.extend_from_slice(&update);
        // [sync][step 1] whose state vector claims 50 million entries
        let sv = vec![0, 0, 4, 0x80, 0xe1, 0xeb, 0x17];
        // [awareness] claiming 50 million entries
        let aw = vec![1, 4, 0x80, 0xe1, 0xeb, 0x17];
        match round % 3 {
            0 => self.ws_frames(&self.doc, vec![frame, sv, aw]).await,
            1 => {
                let url = format!("{}/api/documents/{}/updates", self.base, self.doc);
                self.post(http, &url, update).await
            }
            _ => {
                // an upstream POST on a session id that does not exist
                let url = format!("{}/poll/{}/{:032x}", self.base, self.doc, round);
                self.post(http, &url, frame).await
            }
        }
    }

    pub(super) async fn post(
        &self,
        http: &reqwest::Client,
        url: &str,
        body: Vec<u8>,
    ) -> Result<()> {
        let mut req = http
            .post(url)
            .header("content-type", "application/octet-stream")
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        self.counters.sent.fetch_add(1, Relaxed);
        if !resp.status().is_success() {
            self.counters.refused.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    pub(super) async fn flood(&self) -> Result<()> {
        let doc = Doc::with_client_id(rand::random::<u32>() as u64);
        let text = {
            use yrs::Text;
            let t = doc.get_or_insert_text("content");
            move |d: &Doc, i: u32| {
                let before = d.transact().state_vector();
                t.insert(
                    &mut d.transact_mut(),
                    0,
                    if i.is_multiple_of(2) { "a" } else { "b" },
                );
                d.transact().encode_state_as_update_v1(&before)
            }
        };
        let frames = (0..2_000)
            .map(|i| {
                let u = text(&doc, i);
                let mut f = vec![0, 2];
                write_var(&mut f, u.len() as u64);
                f.extend_from_slice(&u);
                f
            })
            .collect();
        self.ws_frames(&self.doc, frames).await
    }

    async fn presence(&self, rng: &mut StdRng) -> Result<()> {
        let frames = (0..200)
            .map(|_| {
                let client = rng.gen_range(1..1_000_000u64);
                let json = r#"{"user":{"name":"impostor"}}"#;
                let mut entry = Vec::new();
                write_var(&mut entry, 1);
                write_var(&mut entry, client);
                write_var(&mut entry, u64::from(u32::MAX - 1));
                write_var(&mut entry, json.len() as u64);
                entry.extend_from_slice(json.as_bytes());
                let mut f = vec![1];
                write_var(&mut f, entry.len() as u64);
                f.extend_from_slice(&entry);
                f
            })
            .collect();
        self.ws_frames(&self.doc, frames).await
    }

    async fn sessions(&self, http: &reqwest::Client, round: u64) -> Result<()> {
        let mut req = http.post(format!("{}/poll/{}-{}", self.base, self.doc, round % 64));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        self.counters.sent.fetch_add(1, Relaxed);
        if !resp.status().is_success() {
            self.counters.refused.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    async fn slowloris(&self) -> Result<()> {
        let hostport = self.base.trim_start_matches("http://").to_string();
        let mut held = Vec::new();
        for _ in 0..200 {
            if Instant::now() >= self.deadline {
                break;
            }
            match attacker_connect(&hostport).await {
                Ok(mut s) => {
                    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
                    self.counters.sent.fetch_add(1, Relaxed);
                    held.push(s);
                }
                Err(_) => {
                    self.counters.refused.fetch_add(1, Relaxed);
                    break;
                }
            }
        }
        // hold them until the deadline or until the server drops them
        let rest = self.deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(rest.min(Duration::from_secs(5))).await;
        let mut buf = [0u8; 1];
        for s in &mut held {
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), s.peek(&mut buf)).await
            {
                self.counters.closed.fetch_add(1, Relaxed);
            }
        }
        Ok(())
    }

    async fn dense(&self, round: u64) -> Result<()> {
        let name = format!("{}-dense-{round}", self.doc);
        self.ws_frames(&name, vec![dense_frame().to_vec()]).await
    }

    async fn versions(&self, http: &reqwest::Client, round: u64) -> Result<()> {
        let url = format!("{}/api/documents/{}/versions", self.base, self.doc);
        let body = serde_json::json!({ "label": format!("v{round}") }).to_string();
        let mut req = http
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        self.counters.sent.fetch_add(1, Relaxed);
        if !resp.status().is_success() {
            self.counters.refused.fetch_add(1, Relaxed);
        }
        Ok(())
    }
}
