//! The cluster bus from the outside: frames built from the documented layouts
//! (cluster/message.rs, cluster/seal.rs), independently of the server's code, a NATS
//! connection with the bus's credentials, and commits written straight to PostgreSQL that
//! no bus message announces (as from an instance that died before it could publish).

use bytes::Bytes;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use yrs::{
    sync::{Message, SyncMessage},
    updates::encoder::Encode,
    GetString, Text, Transact,
};

use super::{
    cluster::Cluster,
    nats::{NATS_PASSWORD, NATS_USER},
    new_doc,
};

/// A bus message as the server encodes it: version 1, kind, origin, clock, body.
pub fn message(origin: &str, kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![1, kind, origin.len() as u8];
    out.extend_from_slice(origin.as_bytes());
    out.extend_from_slice(&now_ms().to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A commit message: the log grew from `prev` to `last` with these y-sync frames.
pub fn commit(origin: &str, prev: i64, last: i64, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&prev.to_le_bytes());
    body.extend_from_slice(&last.to_le_bytes());
    body.extend_from_slice(&(frames.len() as u32).to_le_bytes());
    for f in frames {
        body.extend_from_slice(&(f.len() as u32).to_le_bytes());
        body.extend_from_slice(f);
    }
    message(origin, 1, &body)
}

/// `message` with the trailer: clock, boot id, sequence, HMAC-SHA256 under `key` over
/// context, subject length, subject, message and the rest of the trailer.
pub fn sign(key: &[u8], subject: &str, message: &[u8], boot: u64, seq: u64) -> Bytes {
    let mut signed = message.to_vec();
    signed.extend_from_slice(&now_ms().to_le_bytes());
    signed.extend_from_slice(&boot.to_le_bytes());
    signed.extend_from_slice(&seq.to_le_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(b"tandem cluster bus frame v1\0");
    mac.update(&(subject.len() as u64).to_le_bytes());
    mac.update(subject.as_bytes());
    mac.update(&signed);
    signed.extend_from_slice(&mac.finalize().into_bytes());
    Bytes::from(signed)
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn doc_subject(cluster: &Cluster, doc: &str) -> String {
    let hex: String = doc.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{}.doc.{hex}", cluster.prefix)
}

/// An attacker's connection to the cluster's NATS, with the bus's NATS credentials.
pub async fn attacker(cluster: &Cluster) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .user_and_password(NATS_USER.into(), NATS_PASSWORD.into())
        .connect(cluster.nats.url())
        .await
        .expect("connect to the test NATS")
}

/// The document's last sequence number in PostgreSQL.
pub async fn head(cluster: &Cluster, doc: &str) -> i64 {
    let store = tandem_persistence::open(&cluster.db.url).await.unwrap();
    let seqs = store.last_seqs(&[doc.to_string()]).await.unwrap();
    seqs.first().map(|(_, s)| *s).expect("document is stored")
}

/// A Yjs update that appends `text` to what the database holds of `doc`, from a client id
/// nobody uses: content no client ever wrote.
pub async fn append_update(cluster: &Cluster, doc: &str, text: &str) -> Vec<u8> {
    let store = tandem_persistence::open(&cluster.db.url).await.unwrap();
    let stored = store.load(doc).await.unwrap().unwrap();
    let forged = new_doc();
    assert!(tandem::text::replay(&forged, &stored).is_empty());
    let content = forged.get_or_insert_text("content");
    let mut txn = forged.transact_mut();
    let len = content.get_string(&txn).len() as u32;
    content.insert(&mut txn, len, text);
    txn.encode_update_v1()
}

/// [`append_update`] as a y-sync update message.
pub async fn forged_append(cluster: &Cluster, doc: &str, text: &str) -> Vec<u8> {
    Message::Sync(SyncMessage::Update(append_update(cluster, doc, text).await)).encode_v1()
}

/// Appends `text` to `doc` straight in PostgreSQL, as an instance would commit it, but with
/// no bus message: only a read from the database brings it to the instances. Returns the
/// document's new last sequence number.
pub async fn commit_unannounced(cluster: &Cluster, doc: &str, text: &str) -> i64 {
    let update = append_update(cluster, doc, text).await;
    let store = tandem_persistence::open(&cluster.db.url).await.unwrap();
    let appended = store
        .append(&[tandem_persistence::AppendItem {
            doc: doc.to_string(),
            doc_id: None,
            data: update,
            author: None,
        }])
        .await
        .unwrap();
    appended[0].last_seq
}

/// Makes sure commits cross between the instances of `a` and `b` over the bus, both ways,
/// and that the two clients hold the same text: a room subscribes to its document's
/// subject while it loads, and a commit published before that subscription reached NATS
/// is repaired only by the next message's `prev` or by the periodic check. So each side
/// types until one of its tokens crosses. Returns the text both hold.
pub async fn crossing(a: &mut super::Client, b: &mut super::Client) -> String {
    one_way(a, b, "x").await;
    one_way(b, a, "y").await;
    let deadline = tokio::time::Instant::now() + super::WAIT;
    loop {
        a.step(std::time::Duration::from_millis(20)).await;
        b.step(std::time::Duration::from_millis(20)).await;
        if a.text() == b.text() {
            return a.text();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no common text: {:?} / {:?}",
            a.text(),
            b.text()
        );
    }
}

async fn one_way(from: &mut super::Client, to: &mut super::Client, tag: &str) {
    use super::Peer;
    for i in 0..50 {
        let token = format!("<{tag}{i}>");
        from.append(&token).await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        while tokio::time::Instant::now() < deadline {
            to.step(std::time::Duration::from_millis(50)).await;
            if to.text().contains(&token) {
                return;
            }
        }
    }
    panic!("no commit crossed the bus: {:?}", to.text());
}
