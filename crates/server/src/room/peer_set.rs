//! The room's peers and the rules of sending to them, without the room: a full queue means
//! a peer too slow to keep up (it is cut off, never waited for: one slow reader must not
//! hold back the document), a closed queue means the peer is gone, and the last peer
//! leaving starts the room's idle clock. Channel sends here never wait, so the rules run
//! (and are tested) without a runtime; the room's shell (`peers.rs`) counts the metrics,
//! kicks and releases presence.

use std::{collections::HashMap, sync::Arc};

use bytes::Bytes;
use tokio::sync::mpsc::error::TrySendError;

use super::rate::TokenBucket;
use crate::peer::{Frame, Outgoing, PeerHandle, PeerId};

pub(super) struct Peer {
    pub(super) handle: PeerHandle,
    pub(super) told_read_only: bool,
    /// Document messages (sync, queries) this peer may still send now.
    pub(super) messages: TokenBucket,
    /// Awareness messages this peer may still send now.
    pub(super) awareness: TokenBucket,
}

/// What became of one frame sent to one peer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sent {
    /// Queued; this many bytes.
    Queued(usize),
    /// Its queue is full: cut it off as too slow.
    TooSlow,
    /// Its queue is closed (the transport ended): it has left.
    Gone,
    /// No such peer (it left before).
    Unknown,
}

/// What became of a frame sent to every peer.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Broadcast {
    pub(super) delivered: usize,
    pub(super) too_slow: Vec<PeerId>,
    pub(super) gone: Vec<PeerId>,
}

#[derive(Default)]
pub(super) struct PeerSet {
    peers: HashMap<PeerId, Peer>,
}

impl PeerSet {
    pub(super) fn insert(&mut self, peer: Peer) {
        self.peers.insert(peer.handle.id, peer);
    }

    /// The peer, if it is still here; and whether the set is now empty (the room's idle
    /// clock starts when the last one leaves).
    pub(super) fn remove(&mut self, id: PeerId) -> Option<(Peer, bool)> {
        let p = self.peers.remove(&id)?;
        Some((p, self.peers.is_empty()))
    }

    pub(super) fn get(&self, id: &PeerId) -> Option<&Peer> {
        self.peers.get(id)
    }

    pub(super) fn get_mut(&mut self, id: &PeerId) -> Option<&mut Peer> {
        self.peers.get_mut(id)
    }

    pub(super) fn contains(&self, id: &PeerId) -> bool {
        self.peers.contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub(super) fn ids(&self) -> Vec<PeerId> {
        self.peers.keys().copied().collect()
    }

    /// The peers other than `from` whose client takes stateless messages.
    pub(super) fn stateless_except(&self, from: PeerId) -> Vec<PeerId> {
        self.peers
            .iter()
            .filter(|(id, p)| **id != from && p.handle.features.stateless)
            .map(|(id, _)| *id)
            .collect()
    }

    pub(super) fn send(&self, id: PeerId, frame: Outgoing) -> Sent {
        let Some(p) = self.peers.get(&id) else {
            return Sent::Unknown;
        };
        let len = frame.len();
        match p.handle.outbound.try_send(Arc::new(frame)) {
            Ok(()) => Sent::Queued(len),
            Err(TrySendError::Full(_)) => Sent::TooSlow,
            Err(TrySendError::Closed(_)) => Sent::Gone,
        }
    }

    /// One allocation for every peer: they share the frame.
    pub(super) fn broadcast(&self, frame: &Bytes) -> Broadcast {
        let shared: Frame = Arc::new(Outgoing::Message(frame.clone()));
        let mut out = Broadcast::default();
        for (id, p) in &self.peers {
            match p.handle.outbound.try_send(shared.clone()) {
                Ok(()) => out.delivered += 1,
                Err(TrySendError::Full(_)) => out.too_slow.push(*id),
                Err(TrySendError::Closed(_)) => out.gone.push(*id),
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "peer_set_tests.rs"]
mod tests;
