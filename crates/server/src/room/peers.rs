//! The room's shell for its peer set (`peer_set.rs`): joining, sending to one or all with
//! the metrics, and disconnecting (presence released, the idle clock started).

use bytes::Bytes;
use tokio::time::Instant;
use yrs::{ReadTxn, Transact};

use super::{
    apply_budget,
    mailbox::RoomError,
    peer_set::{Peer, Sent},
    rate::TokenBucket,
    Room,
};
use crate::{
    metric_names as m,
    peer::{CloseReason, Outgoing, PeerHandle, PeerId},
    protocol,
};

impl Room {
    pub(super) fn join(&mut self, handle: PeerHandle) {
        // A client over its apply-time budget is turned away before it costs more: the
        // server's step 1 holds an entry per client id of the document.
        if let Err(RoomError::RateLimited(why)) = self.within_apply_budget(handle.client.as_ref()) {
            let _ = handle.kick.send(CloseReason::work_limited(why));
            return;
        }
        let id = handle.id;
        metrics::gauge!(m::CONNECTIONS, "transport" => handle.transport.as_str()).increment(1.0);
        let doc = self.awareness.doc().clone();
        let (step1, cost) =
            apply_budget::measure(|| protocol::sync_step1(doc.transact().state_vector()));
        self.charge_apply(handle.client.as_ref(), cost, false);
        let awareness = protocol::all_awareness(&self.awareness);
        self.peers.insert(Peer {
            handle,
            told_read_only: false,
            messages: TokenBucket::new(self.ctx.settings.max_updates_per_sec, Instant::now()),
            awareness: TokenBucket::new(self.ctx.settings.max_awareness_per_sec, Instant::now()),
        });
        self.upkeep.rules.peer_joined();
        self.check_head_for_join();
        // The server's step 1 makes the client send back edits it made offline.
        self.send_to(id, step1);
        if let Some(frame) = awareness {
            self.send_to(id, frame);
        }
    }

    pub(super) fn send_to(&mut self, peer: PeerId, frame: impl Into<Outgoing>) {
        match self.peers.send(peer, frame.into()) {
            Sent::Queued(len) => metrics::counter!(m::BYTES_OUT).increment(len as u64),
            Sent::TooSlow => {
                metrics::counter!(m::QUEUE_DROPS).increment(1);
                self.kick(peer, CloseReason::too_slow());
            }
            Sent::Gone => self.leave(peer),
            Sent::Unknown => {}
        }
    }

    /// Sends the same bytes to every peer. Peers whose queue is full are disconnected.
    pub(super) fn broadcast(&mut self, frame: &Bytes) {
        let out = self.peers.broadcast(frame);
        let delivered = out.delivered as u64;
        metrics::counter!(m::BYTES_OUT).increment(delivered * frame.len() as u64);
        if frame.first() == Some(&0) {
            metrics::counter!(m::UPDATES_RELAYED).increment(delivered);
        }
        for id in out.too_slow {
            metrics::counter!(m::QUEUE_DROPS).increment(1);
            tracing::info!(doc = %self.name, peer = id, "disconnecting slow peer");
            self.kick(id, CloseReason::too_slow());
        }
        for id in out.gone {
            self.leave(id);
        }
    }

    pub(super) fn kick_all(&mut self, reason: &CloseReason) {
        for id in self.peers.ids() {
            self.kick(id, reason.clone());
        }
    }

    pub(super) fn kick(&mut self, peer: PeerId, reason: CloseReason) {
        if let Some(p) = self.remove_peer(peer) {
            let _ = p.handle.kick.send(reason);
        }
    }

    pub(super) fn leave(&mut self, peer: PeerId) {
        self.remove_peer(peer);
    }

    /// Removes a peer and broadcasts the removal of its awareness states, so its cursor
    /// disappears for everyone at once.
    fn remove_peer(&mut self, peer: PeerId) -> Option<Peer> {
        let (p, now_empty) = self.peers.remove(peer)?;
        metrics::gauge!(m::CONNECTIONS, "transport" => p.handle.transport.as_str()).decrement(1.0);
        self.commit.forget_peer(peer);
        let owned = self.presence.release(peer);
        if let Some(frame) = self.remove_awareness(owned) {
            self.publish_awareness(&frame);
        }
        if now_empty {
            self.upkeep.rules.peers_left(Instant::now());
        }
        Some(p)
    }
}
