//! One Yjs peer for every transport: the document, awareness and what the server said,
//! and the edits a test makes, whatever carries the bytes.

use yrs::{
    encoding::read::Cursor,
    sync::{Awareness, Message, MessageReader, SyncMessage},
    updates::{
        decoder::{Decode, DecoderV1},
        encoder::Encode,
    },
    Doc, GetString, ReadTxn, Text, Transact, Update,
};

use super::new_doc;

/// Whether an awareness map (`YPeer::peers`) shows client `id` with a state naming `name`.
pub fn sees(peers: &std::collections::HashMap<u64, Option<String>>, id: u64, name: &str) -> bool {
    matches!(peers.get(&id), Some(Some(s)) if s.contains(name))
}

/// Whether an awareness map shows client `id` removed (known, with a null state).
pub fn removed(peers: &std::collections::HashMap<u64, Option<String>>, id: u64) -> bool {
    matches!(peers.get(&id), Some(None))
}

/// The y-protocol side of every test client: a local Y.Doc plus what the server has told
/// it. It only decodes and encodes; a transport (`ws`, `sse`, `poll`) moves the bytes.
pub struct YPeer {
    pub doc: Doc,
    pub awareness: Awareness,
    pub peers: std::collections::HashMap<u64, Option<String>>,
    /// The awareness clock last received for each client id.
    pub clocks: std::collections::HashMap<u64, u32>,
    pub synced: bool,
    pub denied: Option<String>,
    /// Permission-denied (auth) messages received.
    pub denied_count: usize,
    /// Updates received from the server (relays and echoes).
    pub received_updates: usize,
    /// Sync step 1 messages received from the server.
    pub step1_count: usize,
}

impl Default for YPeer {
    fn default() -> Self {
        Self::new()
    }
}

impl YPeer {
    pub fn new() -> YPeer {
        let doc = new_doc();
        YPeer {
            awareness: Awareness::new(doc.clone()),
            doc,
            peers: Default::default(),
            clocks: Default::default(),
            synced: false,
            denied: None,
            denied_count: 0,
            received_updates: 0,
            step1_count: 0,
        }
    }

    pub fn text(&self) -> String {
        let txn = self.doc.transact();
        txn.get_text("content")
            .map(|t| t.get_string(&txn))
            .unwrap_or_default()
    }

    pub fn client_id(&self) -> u64 {
        self.doc.client_id().get()
    }

    pub fn step1(&self) -> Vec<u8> {
        let sv = self.doc.transact().state_vector();
        Message::Sync(SyncMessage::SyncStep1(sv)).encode_v1()
    }

    /// Handles one message from the server (every transport carries exactly one per
    /// frame, event or list entry); returns the reply to send, if any.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut decoder = DecoderV1::new(Cursor::new(bytes));
        let msgs: Vec<Message> = MessageReader::new(&mut decoder)
            .collect::<Result<_, _>>()
            .expect("server sent an undecodable message");
        assert_eq!(msgs.len(), 1, "server must send one message per event");
        let mut reply = None;
        for msg in msgs {
            match msg {
                Message::Sync(SyncMessage::SyncStep1(sv)) => {
                    self.step1_count += 1;
                    let update = self.doc.transact().encode_diff_v1(&sv);
                    reply = Some(Message::Sync(SyncMessage::SyncStep2(update)).encode_v1());
                }
                Message::Sync(SyncMessage::SyncStep2(update)) => {
                    self.apply(&update);
                    self.synced = true;
                }
                Message::Sync(SyncMessage::Update(update)) => {
                    self.received_updates += 1;
                    self.apply(&update);
                }
                Message::Awareness(update) => {
                    for (id, entry) in update.clients {
                        let state = (entry.json.as_ref() != "null").then(|| entry.json.to_string());
                        self.peers.insert(id.get(), state);
                        self.clocks.insert(id.get(), entry.clock);
                    }
                }
                Message::Auth(reason) => {
                    self.denied_count += 1;
                    self.denied = reason;
                }
                _ => {}
            }
        }
        reply
    }

    fn apply(&mut self, update: &[u8]) {
        let update = Update::decode_v1(update).expect("server sent a bad update");
        self.doc.transact_mut().apply_update(update).unwrap();
    }

    /// Edits the local document; returns the update message to send.
    pub fn insert_message(&mut self, index: u32, chunk: &str) -> Vec<u8> {
        let update = {
            let text = self.doc.get_or_insert_text("content");
            let mut txn = self.doc.transact_mut();
            text.insert(&mut txn, index, chunk);
            txn.encode_update_v1()
        };
        Message::Sync(SyncMessage::Update(update)).encode_v1()
    }

    /// Removes `len` characters at `index`; returns the update message to send.
    pub fn delete_message(&mut self, index: u32, len: u32) -> Vec<u8> {
        let update = {
            let text = self.doc.get_or_insert_text("content");
            let mut txn = self.doc.transact_mut();
            text.remove_range(&mut txn, index, len);
            txn.encode_update_v1()
        };
        Message::Sync(SyncMessage::Update(update)).encode_v1()
    }

    /// Length of the shared text in the document's offsets (UTF-16 units).
    pub fn text_len(&self) -> u32 {
        let text = self.doc.get_or_insert_text("content");
        let txn = self.doc.transact();
        text.len(&txn)
    }

    /// What this peer's document holds, as a state vector (its own edits included).
    pub fn state_vector(&self) -> yrs::StateVector {
        self.doc.transact().state_vector()
    }

    pub fn append_message(&mut self, chunk: &str) -> Vec<u8> {
        let len = {
            let text = self.doc.get_or_insert_text("content");
            let txn = self.doc.transact();
            text.len(&txn)
        };
        self.insert_message(len, chunk)
    }

    /// Another client's awareness entry as this peer last received it, sent back: what
    /// the y-websocket client does with every change it sees (its awareness handler
    /// broadcasts all changed entries, not only its own).
    pub fn echo_awareness_message(&self, client: u64) -> Vec<u8> {
        use yrs::sync::{awareness::AwarenessUpdateEntry, AwarenessUpdate};
        let json = self.peers[&client].clone().unwrap_or_else(|| "null".into());
        let entry = AwarenessUpdateEntry {
            clock: self.clocks[&client],
            json: json.into(),
        };
        let clients = [(yrs::block::ClientID::new(client), entry)].into();
        Message::Awareness(AwarenessUpdate { clients }).encode_v1()
    }

    pub fn awareness_message(&mut self, json: &str) -> Vec<u8> {
        self.awareness.set_local_state_raw(json.to_string());
        Message::Awareness(self.awareness.update().unwrap()).encode_v1()
    }
}

/// A test client on some transport: edits go through its `YPeer` and out as one message.
#[allow(async_fn_in_trait)] // only used on concrete types, never behind `dyn`
pub trait Peer {
    fn y_mut(&mut self) -> &mut YPeer;

    /// Sends one encoded y-protocol message the transport's way.
    async fn send_message(&mut self, message: Vec<u8>);

    /// Inserts into the shared text and sends the update.
    async fn insert(&mut self, index: u32, chunk: &str) {
        let msg = self.y_mut().insert_message(index, chunk);
        self.send_message(msg).await;
    }

    async fn delete(&mut self, index: u32, len: u32) {
        let msg = self.y_mut().delete_message(index, len);
        self.send_message(msg).await;
    }

    async fn append(&mut self, chunk: &str) {
        let msg = self.y_mut().append_message(chunk);
        self.send_message(msg).await;
    }

    async fn set_awareness(&mut self, json: &str) {
        let msg = self.y_mut().awareness_message(json);
        self.send_message(msg).await;
    }
}
