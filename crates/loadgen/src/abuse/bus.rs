//! The `bus` pattern: forged frames on a cluster's NATS, from someone who can publish there
//! (NATS credentials) but has no cluster key. Each batch mixes commits in today's layout
//! without a signature, the same with a trailer of random bytes where the HMAC goes (another
//! key), and heartbeats of instances that do not exist, on the subjects of the documents the
//! probe syncs and on the heartbeat subject. The server must drop them all (counted in
//! `tandem_bus_frames_rejected_total`) while the probe keeps its latency.

use std::{sync::atomic::Ordering::Relaxed, time::Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use rand::{rngs::StdRng, Rng};
use yrs::{updates::encoder::Encode, Doc, Text, Transact};

use super::attack::Attack;

/// Where the cluster's NATS is and how to log in to it (`--bus-*`).
#[derive(Debug, Clone)]
pub(crate) struct BusTarget {
    pub url: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// `--nats-subject-prefix` of the cluster.
    pub prefix: String,
    /// Names of the documents to forge frames for.
    pub docs: Vec<String>,
}

/// Frames published between two flushes.
const BATCH: usize = 256;

impl Attack {
    /// Floods forged frames until the deadline; one NATS connection per attacking task.
    pub(super) async fn bus(&self, rng: &mut StdRng) -> Result<()> {
        let target = self
            .bus
            .as_ref()
            .context("the bus pattern needs --bus-url")?;
        let mut opts = async_nats::ConnectOptions::new();
        if let (Some(u), Some(p)) = (&target.user, &target.password) {
            opts = opts.user_and_password(u.clone(), p.clone());
        }
        let nats = opts.connect(target.url.as_str()).await?;
        let subjects: Vec<String> = target
            .docs
            .iter()
            .map(|d| {
                let hex: String = d.bytes().map(|b| format!("{b:02x}")).collect();
                format!("{}.doc.{hex}", target.prefix)
            })
            .collect();
        let heartbeat = format!("{}.heartbeat", target.prefix);
        let update = forged_update();
        while Instant::now() < self.deadline {
            for i in 0..BATCH {
                let (subject, frame) = match i % 4 {
                    3 => (heartbeat.clone(), message(rng, 6, &[])),
                    k => {
                        let subject = subjects[rng.gen_range(0..subjects.len())].clone();
                        let seq: i64 = rng.gen_range(1..1_000_000);
                        let mut body = Vec::new();
                        body.extend_from_slice(&seq.to_le_bytes());
                        body.extend_from_slice(&(seq + 1).to_le_bytes());
                        body.extend_from_slice(&1u32.to_le_bytes());
                        body.extend_from_slice(&(update.len() as u32).to_le_bytes());
                        body.extend_from_slice(&update);
                        let mut frame = message(rng, 1, &body);
                        if k > 0 {
                            // clock, boot, sequence and a MAC no key made
                            frame.extend((0..56).map(|_| rng.gen::<u8>()));
                        }
                        (subject, frame)
                    }
                };
                nats.publish(subject, Bytes::from(frame)).await?;
                self.counters.sent.fetch_add(1, Relaxed);
            }
            nats.flush().await?;
        }
        Ok(())
    }
}

/// A bus message: version 1, kind, origin (a made-up instance), the sender's clock, body.
fn message(rng: &mut StdRng, kind: u8, body: &[u8]) -> Vec<u8> {
    let origin = format!("forger-{:04x}", rng.gen::<u16>());
    let mut out = vec![1, kind, origin.len() as u8];
    out.extend_from_slice(origin.as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    out.extend_from_slice(&now.to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A y-sync update frame inserting text nobody wrote.
fn forged_update() -> Vec<u8> {
    let doc = Doc::with_client_id(0xf0f0);
    let text = doc.get_or_insert_text("content");
    let update = {
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "FORGED over the bus ");
        txn.encode_update_v1()
    };
    yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(update)).encode_v1()
}
