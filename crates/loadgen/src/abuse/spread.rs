//! Patterns that spread one client's load where a per-connection limit does not see it:
//! edits through the HTTP API over many documents, bodies sent before any credential, and
//! a flood over many connections reopened as soon as they are closed.

use std::{
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use yrs::{Doc, ReadTxn, StateVector, Text, Transact};

use super::attack::{attacker_connect, Attack};

/// Connections of one attacking task in the multi-connection flood (4 tasks: 100).
const FLOOD_CONNECTIONS: usize = 25;

/// Bodies one attacking task announces at once in the pre-auth pattern.
const PREAUTH_BODIES: usize = 16;

/// About 256 KiB of text as one update, built once.
fn big_update() -> &'static [u8] {
    static UPDATE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    UPDATE.get_or_init(|| {
        let doc = Doc::with_client_id(4321);
        let text = doc.get_or_insert_text("content");
        text.insert(
            &mut doc.transact_mut(),
            0,
            &"spread ".repeat(256 * 1024 / 7),
        );
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        update
    })
}

impl Attack {
    /// `POST /api/documents/{doc}/updates` of 256 KiB, to a new document every time.
    pub(super) async fn api_memory(&self, http: &reqwest::Client, round: u64) -> Result<()> {
        let url = format!(
            "{}/api/documents/{}-api-{round}-{}/updates",
            self.base, self.doc, self.seed
        );
        self.post(http, &url, big_update().to_vec()).await
    }

    /// Announces 16 MiB bodies without a credential (a new document, a session upstream)
    /// on several connections at once, sends 64 KiB of each and waits for the answer.
    pub(super) async fn preauth_bodies(&self, round: u64) -> Result<()> {
        let hostport = self.base.trim_start_matches("http://").to_string();
        let one = |i: usize| {
            let hostport = hostport.clone();
            let path = match i % 3 {
                0 => "/api/documents".to_string(),
                1 => format!("/poll/{}/{:032x}", self.doc, round),
                _ => format!("/sse/{}/{:032x}", self.doc, round),
            };
            async move {
                let mut tcp = attacker_connect(&hostport).await?;
                let head = format!(
                    "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\n\r\n",
                    16 * 1024 * 1024
                );
                tcp.write_all(head.as_bytes()).await?;
                let _ = tcp.write_all(&[b' '; 64 * 1024]).await;
                self.counters.sent.fetch_add(1, Relaxed);
                let mut buf = [0u8; 512];
                match tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => {
                        self.counters.refused.fetch_add(1, Relaxed);
                    }
                    Ok(_) => {
                        self.counters.closed.fetch_add(1, Relaxed);
                    }
                    // Unanswered: the server is reading the body.
                    Err(_) => {}
                }
                anyhow::Ok(())
            }
        };
        let results = futures::future::join_all((0..PREAUTH_BODIES).map(one)).await;
        results.into_iter().collect()
    }

    /// The flood pattern on 25 connections at once per task, each reopened as soon as it
    /// is closed (after a refused one, 5 ms later), until the deadline.
    pub(super) async fn spread_flood(&self) -> Result<()> {
        let one = || async {
            while Instant::now() < self.deadline {
                if self.flood().await.is_err() {
                    self.counters.refused.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        futures::future::join_all((0..FLOOD_CONNECTIONS).map(|_| one())).await;
        Ok(())
    }
}
