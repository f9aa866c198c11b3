//! Updates that build on changes the room does not have yet.
//!
//! A client may send an update before the one it builds on: right after a reconnect, a
//! keystroke can overtake the sync step 2 that carries the edits the server lost. `yrs`
//! would keep the unapplicable part as "pending" structs, without bound, and its code that
//! retries them was found by fuzzing to use freed memory. So the room never hands `yrs` an
//! update with a gap (see `yjs_bounds::missing_dependency`): it holds the update here and
//! applies it once what it builds on has arrived. Held updates are neither stored nor
//! relayed, so nobody has seen them; they are bounded in bytes per document, and dropped
//! with the room (the client still has them and sends them again when it resyncs). The
//! bound is `--max-pending-bytes`.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::metric_names as m;

/// The held updates of one document, oldest first.
pub(super) struct Held {
    updates: VecDeque<Bytes>,
    bytes: usize,
    cap: usize,
}

/// Holding the update would pass the per-document bound.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct HeldFull;

impl Held {
    pub(super) fn new(cap: usize) -> Held {
        Held {
            updates: VecDeque::new(),
            bytes: 0,
            cap,
        }
    }

    pub(super) fn hold(&mut self, update: Bytes) -> Result<(), HeldFull> {
        if self.bytes + update.len() > self.cap {
            return Err(HeldFull);
        }
        self.bytes += update.len();
        metrics::gauge!(m::HELD_BYTES).increment(update.len() as f64);
        self.updates.push_back(update);
        Ok(())
    }

    /// Removes and returns the oldest held update that `ready` accepts.
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

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        metrics::gauge!(m::HELD_BYTES).decrement(self.bytes as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_within_the_bound_and_refuses_past_it() {
        let mut held = Held::new(10);
        held.hold(Bytes::from_static(b"123456")).unwrap();
        assert_eq!(held.hold(Bytes::from_static(b"12345")), Err(HeldFull));
        held.hold(Bytes::from_static(b"1234")).unwrap();
        assert_eq!(held.bytes(), 10);
    }

    #[test]
    fn releases_the_oldest_ready_update_and_frees_its_bytes() {
        let mut held = Held::new(100);
        for u in [&b"a1"[..], b"b1", b"a2"] {
            held.hold(Bytes::copy_from_slice(u)).unwrap();
        }
        assert_eq!(held.take_ready(|u| u[0] == b'c'), None);
        assert_eq!(
            held.take_ready(|u| u[0] == b'a').as_deref(),
            Some(&b"a1"[..])
        );
        assert_eq!(
            held.take_ready(|u| u[0] == b'a').as_deref(),
            Some(&b"a2"[..])
        );
        assert_eq!(held.bytes(), 2);
        assert!(!held.is_empty());
        assert_eq!(held.take_ready(|_| true).as_deref(), Some(&b"b1"[..]));
        assert!(held.is_empty());
        assert_eq!(held.bytes(), 0);
    }
}
