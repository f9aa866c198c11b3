//! Each client's clock in a room's document, kept up to date as the document changes, so
//! that checking an update costs the clients it names, not the clients the document has.
//!
//! `yrs` offers a client's clock only inside a full state vector, which it builds afresh
//! (a map entry per client id the document has ever seen) on every call. One update of
//! 1.7 MB can give a document 100,000 client ids, and the room used to build that map for
//! every tiny update it checked. Here an observer of every transaction on the document
//! (the room's own applies, loads, catch-ups from the database, restores, whatever comes
//! later) raises the clock of each client it inserted for, which costs the clients of that
//! transaction. The clocks are those of `yrs`'s state vector: the end of what was
//! integrated, excluding structs `yrs` holds back as pending (which the room never lets it
//! keep, see `awaiting_deps`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use yrs::Doc;

/// The key of the observer on the document.
const OBSERVER: &str = "tandem-clocks";

pub(super) struct Clocks {
    known: Arc<Mutex<HashMap<u64, u32>>>,
}

fn lock(known: &Mutex<HashMap<u64, u32>>) -> MutexGuard<'_, HashMap<u64, u32>> {
    known.lock().unwrap_or_else(|e| e.into_inner())
}

impl Clocks {
    /// Starts following `doc`, which must still be empty (a new room's document).
    pub(super) fn follow(doc: &Doc) -> Clocks {
        let known: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
        let sink = known.clone();
        doc.observe_after_transaction(OBSERVER, move |txn| {
            let inserted = txn.insert_set();
            if inserted.is_empty() {
                return;
            }
            let mut known = lock(&sink);
            for (client, ranges) in inserted.iter() {
                if let Some(end) = ranges.iter().map(|r| r.end).max() {
                    let clock = known.entry(client.get()).or_insert(0);
                    *clock = (*clock).max(end);
                }
            }
        })
        // Only fails while a transaction is open, and nobody has the new document yet.
        .expect("a new document has no open transaction");
        Clocks { known }
    }

    /// A view for one check: `clock(client)` is how far the document has `client`'s changes.
    pub(super) fn view(&self) -> View<'_> {
        View(lock(&self.known))
    }
}

pub(super) struct View<'a>(MutexGuard<'a, HashMap<u64, u32>>);

impl View<'_> {
    pub(super) fn clock(&self, client: u64) -> u64 {
        self.0.get(&client).copied().map_or(0, u64::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::{updates::decoder::Decode, ReadTxn, StateVector, Text, Transact, Update};

    fn agrees_with_yrs(doc: &Doc, clocks: &Clocks, clients: &[u64]) {
        let sv = doc.transact().state_vector();
        let view = clocks.view();
        for &c in clients {
            let want = u64::from(sv.get(&yrs::block::ClientID::new(c)));
            assert_eq!(view.clock(c), want, "client {c}");
        }
        assert_eq!(view.0.len(), sv.len());
    }

    #[test]
    fn follows_local_edits_remote_updates_and_deletions() {
        let doc = crate::text::new_doc();
        let clocks = Clocks::follow(&doc);
        // remote authors, in two transactions of several updates each
        let mut updates = Vec::new();
        for client in [7u64, 8, 9] {
            let author = yrs::Doc::with_client_id(client);
            let text = author.get_or_insert_text("content");
            text.insert(&mut author.transact_mut(), 0, "hello");
            let sv = author.transact().state_vector();
            text.insert(&mut author.transact_mut(), 2, "--");
            text.remove_range(&mut author.transact_mut(), 0, 1);
            updates.push(
                author
                    .transact()
                    .encode_state_as_update_v1(&StateVector::default()),
            );
            updates.push(author.transact().encode_state_as_update_v1(&sv));
        }
        {
            let mut txn = doc.transact_mut();
            for u in &updates[..3] {
                txn.apply_update(Update::decode_v1(u).unwrap()).unwrap();
            }
        }
        agrees_with_yrs(&doc, &clocks, &[7, 8, 9]);
        {
            let mut txn = doc.transact_mut();
            for u in &updates[3..] {
                txn.apply_update(Update::decode_v1(u).unwrap()).unwrap();
            }
        }
        agrees_with_yrs(&doc, &clocks, &[7, 8, 9]);
        // a local edit (a restore) under the document's own client id
        let own = doc.client_id().get();
        crate::text::text_ref(&doc).insert(&mut doc.transact_mut(), 0, "restored ");
        agrees_with_yrs(&doc, &clocks, &[7, 8, 9, own]);
        // a duplicate changes nothing
        doc.transact_mut()
            .apply_update(Update::decode_v1(&updates[0]).unwrap())
            .unwrap();
        agrees_with_yrs(&doc, &clocks, &[7, 8, 9, own]);
        assert_eq!(clocks.view().clock(12345), 0);
    }
}
