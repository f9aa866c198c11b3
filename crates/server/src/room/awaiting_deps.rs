//! Updates that build on changes the room does not have yet.
//!
//! A client may send an update before the one it builds on: right after a reconnect, a
//! keystroke can overtake the sync step 2 that carries the edits the server lost. `yrs`
//! would keep the unapplicable part as "pending" structs, without bound, and its code that
//! retries them was found by fuzzing to use freed memory. So the room never hands `yrs` an
//! update with a gap (see `yjs_bounds::missing_dependency`): it keeps the update here and
//! applies it once what it builds on has arrived. Waiting updates are neither stored nor
//! relayed, so nobody has seen them; they are dropped with the room (the client still has
//! them and sends them again when it resyncs). Their bound per document
//! (`--max-pending-bytes`) is a rule of `admission`.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::metric_names as m;

/// The updates of one document waiting for their dependencies, oldest first.
#[derive(Default)]
pub(super) struct AwaitingDeps {
    updates: VecDeque<Bytes>,
    bytes: usize,
}

impl AwaitingDeps {
    /// Keeps `update` until `take_ready` accepts it (admission has checked the bound).
    pub(super) fn push(&mut self, update: Bytes) {
        self.bytes += update.len();
        metrics::gauge!(m::HELD_BYTES).increment(update.len() as f64);
        self.updates.push_back(update);
    }

    /// Removes and returns the oldest waiting update that `ready` accepts.
    pub(super) fn take_ready(&mut self, mut ready: impl FnMut(&[u8]) -> bool) -> Option<Bytes> {
        let i = self.updates.iter().position(|u| ready(u))?;
        let update = self.updates.remove(i)?;
        self.bytes -= update.len();
        metrics::gauge!(m::HELD_BYTES).decrement(update.len() as f64);
        Some(update)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// Bytes of the waiting updates.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for AwaitingDeps {
    fn drop(&mut self) {
        metrics::gauge!(m::HELD_BYTES).decrement(self.bytes as f64);
    }
}

/// Bytes of structs and deletions `yrs` itself holds back until changes they depend on
/// arrive. Only a log written before updates were checked for gaps can leave any.
pub(super) fn yrs_pending_bytes(txn: &yrs::TransactionMut) -> usize {
    use yrs::{updates::encoder::Encode, ReadTxn};
    let store = txn.store();
    let structs = store
        .pending_update()
        .map_or(0, |p| p.update.encode_v1().len());
    let deletes = store.pending_ds().map_or(0, |ds| ds.encode_v1().len());
    structs + deletes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_waits() {
        let mut waiting = AwaitingDeps::default();
        waiting.push(Bytes::from_static(b"123456"));
        waiting.push(Bytes::from_static(b"1234"));
        assert_eq!(waiting.bytes(), 10);
    }

    #[test]
    fn releases_the_oldest_ready_update_and_frees_its_bytes() {
        let mut waiting = AwaitingDeps::default();
        for u in [&b"a1"[..], b"b1", b"a2"] {
            waiting.push(Bytes::copy_from_slice(u));
        }
        assert_eq!(waiting.take_ready(|u| u[0] == b'c'), None);
        assert_eq!(
            waiting.take_ready(|u| u[0] == b'a').as_deref(),
            Some(&b"a1"[..])
        );
        assert_eq!(
            waiting.take_ready(|u| u[0] == b'a').as_deref(),
            Some(&b"a2"[..])
        );
        assert_eq!(waiting.bytes(), 2);
        assert!(!waiting.is_empty());
        assert_eq!(waiting.take_ready(|_| true).as_deref(), Some(&b"b1"[..]));
        assert!(waiting.is_empty());
        assert_eq!(waiting.bytes(), 0);
    }
}
