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

use crate::{metric_names as m, protocol::UpdateFrame};

/// The updates of one document waiting for their dependencies, oldest first.
#[derive(Default)]
pub(super) struct AwaitingDeps {
    updates: VecDeque<UpdateFrame>,
    bytes: usize,
}

impl AwaitingDeps {
    /// Keeps `update` until `take_ready` accepts it (admission has checked the bound).
    pub(super) fn push(&mut self, update: UpdateFrame) {
        self.bytes += update.len();
        metrics::gauge!(m::HELD_BYTES).increment(update.len() as f64);
        self.updates.push_back(update);
    }

    /// Removes and returns the oldest waiting update that `ready` accepts, with what
    /// `ready` found reading it (the room's walk, handed on so it is not walked again).
    pub(super) fn take_ready<T>(
        &mut self,
        mut ready: impl FnMut(&[u8]) -> Option<T>,
    ) -> Option<(UpdateFrame, T)> {
        let (i, found) = self
            .updates
            .iter()
            .enumerate()
            .find_map(|(i, u)| ready(u.update()).map(|found| (i, found)))?;
        let update = self.updates.remove(i)?;
        self.bytes -= update.len();
        metrics::gauge!(m::HELD_BYTES).decrement(update.len() as f64);
        Some((update, found))
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
        waiting.push(UpdateFrame::new(b"123456"));
        waiting.push(UpdateFrame::new(b"1234"));
        assert_eq!(waiting.bytes(), 10);
    }

    /// Takes an update starting with `c`, and finds its second byte.
    fn first_is(c: u8) -> impl FnMut(&[u8]) -> Option<u8> {
        move |u| (u[0] == c).then_some(u[1])
    }

    #[test]
    fn releases_the_oldest_ready_update_and_frees_its_bytes() {
        let mut waiting = AwaitingDeps::default();
        for u in [&b"a1"[..], b"b1", b"a2"] {
            waiting.push(UpdateFrame::new(u));
        }
        assert_eq!(waiting.take_ready(first_is(b'c')), None);
        // What the check found comes out with the update it found it in.
        assert_eq!(
            waiting.take_ready(first_is(b'a')),
            Some((UpdateFrame::new(b"a1"), b'1'))
        );
        assert_eq!(
            waiting.take_ready(first_is(b'a')),
            Some((UpdateFrame::new(b"a2"), b'2'))
        );
        assert_eq!(waiting.bytes(), 2);
        assert!(!waiting.is_empty());
        assert_eq!(
            waiting.take_ready(|_| Some(())).map(|(u, ())| u),
            Some(UpdateFrame::new(b"b1"))
        );
        assert!(waiting.is_empty());
        assert_eq!(waiting.bytes(), 0);
    }
}
