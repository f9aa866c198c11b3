//! Messages from peers: the y-sync protocol, the read-only policy and accepting updates.

use std::sync::Arc;

use bytes::Bytes;
use yrs::{
    sync::{Message, SyncMessage},
    updates::decoder::Decode,
    ReadTxn, StateVector, Transact, Update,
};

use super::{
    apply_budget, heavy,
    mailbox::{PeerEvent, RoomError},
    weight, Room, Waiter,
};
use crate::{
    hocuspocus,
    holds::{ClientKey, HoldError},
    metric_names as m,
    peer::{Access, CloseReason, PeerId, Transport},
    protocol, yjs_bounds,
};

impl Room {
    pub(super) fn on_peer_event(&mut self, ev: PeerEvent) {
        match ev {
            PeerEvent::Leave { peer } => self.leave(peer),
            PeerEvent::Message { peer, access, data } => {
                // A peer that was closed (a limit, bad input) may have more frames queued
                // behind the one that closed it: they are dropped, not applied.
                if !self.peers.contains_key(&peer) {
                    return;
                }
                let msgs = match protocol::decode_frame(&data) {
                    Ok(msgs) => msgs,
                    Err(err) => {
                        metrics::counter!(m::BAD_MESSAGES, "reason" => "undecodable").increment(1);
                        tracing::info!(doc = %self.name, peer, error = %err, "closing peer: undecodable message");
                        self.kick(peer, CloseReason::invalid(err));
                        return;
                    }
                };
                for msg in msgs {
                    match self.within_rate(peer, &msg) {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(reason) => {
                            self.kick(peer, reason);
                            return;
                        }
                    }
                    if let Err(reason) = self.on_message(peer, access, msg) {
                        self.kick(peer, reason);
                        return;
                    }
                }
            }
        }
    }

    fn on_message(
        &mut self,
        peer: PeerId,
        access: Access,
        msg: Message,
    ) -> Result<(), CloseReason> {
        match msg {
            Message::Sync(SyncMessage::SyncStep1(sv)) => {
                // The answer costs the whole document: it counts against the client.
                let client = self.client_of(peer);
                if let Err(RoomError::RateLimited(why)) =
                    self.within_apply_budget(client.as_ref(), false)
                {
                    return Err(CloseReason::work_limited(why));
                }
                if self.replica.gated() {
                    self.replica.defer(peer, sv);
                } else {
                    self.answer_step1(peer, &sv);
                }
            }
            Message::Sync(SyncMessage::SyncStep2(update))
            | Message::Sync(SyncMessage::Update(update)) => {
                let acks = self.is_hocuspocus(peer);
                if access == Access::Read && acks {
                    // Nothing new is "saved"; a real edit is refused, as the provider expects.
                    let saved = update.as_slice() == [0, 0];
                    self.send_to(peer, hocuspocus::sync_status(saved));
                    return Ok(());
                }
                if access == Access::Read {
                    self.refuse_read_only(peer, &update);
                    return Ok(());
                }
                // An empty step 2 (a client with nothing new) is no update.
                let edit = update.as_slice() != [0, 0];
                if edit {
                    metrics::counter!(m::UPDATES_RECEIVED).increment(1);
                }
                let client = self.client_of(peer);
                let author = self.author_of(peer);
                match self.accept_update(Bytes::from(update), client.as_ref(), author) {
                    Ok(()) if edit => self.note_author(peer),
                    Ok(()) => {}
                    Err(RoomError::InvalidUpdate(e)) => {
                        metrics::counter!(m::BAD_MESSAGES, "reason" => "bad_update").increment(1);
                        return Err(CloseReason::invalid(format!("update does not decode: {e}")));
                    }
                    Err(RoomError::TooLarge(max)) => {
                        return Err(CloseReason::document_too_large(max))
                    }
                    Err(RoomError::ClientMemory(max)) => {
                        return Err(CloseReason::client_memory(max))
                    }
                    Err(RoomError::MissingDependencies(max)) => {
                        return Err(CloseReason::missing_dependencies(max))
                    }
                    Err(RoomError::WriteQuota(why)) => return Err(CloseReason::client_quota(why)),
                    Err(RoomError::RateLimited(why)) => return Err(CloseReason::work_limited(why)),
                    Err(_) => return Err(CloseReason::storage_unavailable()),
                }
                if acks {
                    // "Saved" once this update and every one before it is committed.
                    if let Some(Waiter::Ack(peer)) = self.commit.when_committed(Waiter::Ack(peer)) {
                        self.send_to(peer, hocuspocus::saved(1));
                    }
                }
            }
            Message::Awareness(update) => self.on_awareness(peer, update)?,
            Message::AwarenessQuery => {
                if let Some(frame) = protocol::all_awareness(&self.awareness) {
                    self.send_to(peer, frame);
                }
            }
            Message::Auth(_) => {}
            Message::Custom(tag, payload) if u64::from(tag) == hocuspocus::STATELESS => {
                self.relay_stateless(peer, protocol::encode(&Message::Custom(tag, payload)));
            }
            Message::Custom(0x7f, _)
                if self.ctx.settings.test_panic_doc.as_deref() == Some(&self.name) =>
            {
                panic!("panic requested for {} (--test-panic-doc)", self.name);
            }
            Message::Custom(tag, _) => {
                metrics::counter!(m::UNKNOWN_MESSAGES).increment(1);
                tracing::debug!(doc = %self.name, peer, tag, "skipping unknown message type");
            }
        }
        Ok(())
    }

    /// Sends `peer` what it lacks. The diff may hold updates not yet committed: it waits
    /// until they are. Its time is charged to the peer's client.
    pub(super) fn answer_step1(&mut self, peer: PeerId, sv: &StateVector) {
        let doc = self.awareness.doc();
        let (update, cost) = apply_budget::measure(|| doc.transact().encode_diff_v1(sv));
        let client = self.client_of(peer);
        self.charge_apply(client.as_ref(), cost, false);
        let frame = protocol::sync_step2(update);
        if let Some(frame) = self.commit.hold_until_relayed(peer, frame) {
            self.send_to(peer, frame);
        }
    }

    /// Changes from elsewhere may complete updates held for what they build on.
    pub(super) fn after_remote_change(&mut self) {
        self.release_held();
    }

    fn is_hocuspocus(&self, peer: PeerId) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.handle.transport == Transport::Hocuspocus)
    }

    /// Stateless messages go to the document's other Hocuspocus peers only: other clients
    /// have no such message type. A full queue is the slow-client rule as for updates.
    fn relay_stateless(&mut self, from: PeerId, frame: Bytes) {
        if !self.is_hocuspocus(from) {
            metrics::counter!(m::UNKNOWN_MESSAGES).increment(1);
            return;
        }
        let to: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, p)| **id != from && p.handle.transport == Transport::Hocuspocus)
            .map(|(id, _)| *id)
            .collect();
        for id in to {
            self.send_to(id, frame.clone());
        }
    }

    /// Takes one message from the peer's rate allowance. Awareness past its rate is dropped
    /// (`Ok(false)`): presence is ephemeral and the next change carries the latest state,
    /// while closing would cut off a user dragging a selection. Other messages past theirs
    /// close the connection: the room cannot stall its shared queue for one peer, and a
    /// client that reconnects resyncs without losing anything.
    fn within_rate(&mut self, peer: PeerId, msg: &Message) -> Result<bool, CloseReason> {
        let Some(p) = self.peers.get_mut(&peer) else {
            return Ok(true);
        };
        let now = tokio::time::Instant::now();
        // Every message also counts for its client over all its connections (`usage`).
        let client = p.handle.client.as_ref();
        let usage = self.ctx.holds.usage();
        if matches!(msg, Message::Awareness(_)) {
            let ok =
                p.awareness.take(now) && client.is_none_or(|c| usage.awareness(c.ip(), c.token()));
            if !ok {
                metrics::counter!(m::LIMIT_REFUSALS, "limit" => "awareness_rate").increment(1);
            }
            return Ok(ok);
        }
        if p.messages.take(now) {
            return match client.map_or(Ok(()), |c| usage.message(c.ip(), c.token())) {
                Ok(()) => Ok(true),
                Err(err) => {
                    tracing::info!(doc = %self.name, peer, "closing peer: message rate limit of its client");
                    Err(CloseReason::new(1008, err.to_string()))
                }
            };
        }
        metrics::counter!(m::LIMIT_REFUSALS, "limit" => "update_rate").increment(1);
        if let Some(c) = client {
            usage.strike(c.ip());
        }
        tracing::info!(doc = %self.name, peer, "closing peer: message rate limit");
        Err(CloseReason::rate_limited(
            self.ctx.settings.max_updates_per_sec,
        ))
    }

    /// A read-only peer tried to edit: it is told once, and the edit goes nowhere.
    fn refuse_read_only(&mut self, peer: PeerId, update: &[u8]) {
        // Every client answers the server's step 1 with a step 2, empty when it has
        // nothing new: that is no edit, so no refusal (the one-time notice is kept for a
        // real attempt).
        if update == [0, 0] {
            return;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            if !p.told_read_only {
                p.told_read_only = true;
                let frame = protocol::permission_denied("read-only access");
                self.send_to(peer, frame);
            }
        }
    }

    /// Checks, applies and queues one update from a client or the API (`from`: who sent
    /// it, for the per-client memory limit and apply-time budget). An update that builds
    /// on changes the room does not have is held until they arrive (see `held`).
    pub(super) fn accept_update(
        &mut self,
        update: Bytes,
        from: Option<&ClientKey>,
        author: Option<Arc<str>>,
    ) -> Result<(), RoomError> {
        // A sync step 2 from a client with nothing new is an empty update: nothing to
        // store or relay.
        if update.as_ref() == [0, 0] {
            return Ok(());
        }
        self.within_apply_budget(from, true)?;
        // Whatever is accepted is written: it counts against its sender's write quota.
        if let Some(c) = from {
            let usage = self.ctx.holds.usage();
            usage
                .write(c.ip(), c.token(), update.len())
                .map_err(|e| RoomError::WriteQuota(e.to_string()))?;
        }
        let (structs, missing) = self.check_dependencies(&update)?;
        if let Some((client, clock)) = missing {
            tracing::debug!(doc = %self.name, client, clock, "holding an update until what it builds on arrives");
            metrics::counter!(m::UPDATES_HELD).increment(1);
            self.held.hold(update).map_err(|_| {
                metrics::counter!(m::LIMIT_REFUSALS, "limit" => "pending").increment(1);
                tracing::info!(doc = %self.name, client, clock, "refusing an update: too many wait for missing changes");
                RoomError::MissingDependencies(self.ctx.settings.max_pending_bytes)
            })?;
            return Ok(());
        }
        self.apply_and_enqueue(update, structs, from, author)?;
        self.release_held();
        Ok(())
    }

    /// The update's struct count and the first change it builds on that the document does
    /// not have, in one walk, asking the document's clocks only about the clients the
    /// update names (never a full state vector: see `clocks`).
    fn check_dependencies(&self, update: &[u8]) -> Result<(u64, Option<(u64, u64)>), RoomError> {
        let clocks = self.clocks.view();
        yjs_bounds::check_dependencies(update, |c| clocks.clock(c))
            .map(|(shape, missing)| (shape.structs, missing))
            .map_err(|e| RoomError::InvalidUpdate(e.to_string()))
    }

    /// Every limit is checked before `yrs` decodes anything: decoding is most of the work.
    /// `structs`: how many the update holds (from its walk).
    fn apply_and_enqueue(
        &mut self,
        update: Bytes,
        structs: u64,
        from: Option<&ClientKey>,
        author: Option<Arc<str>>,
    ) -> Result<(), RoomError> {
        self.admits(update.len())?;
        let max = self.ctx.settings.max_document_bytes;
        if max > 0 && self.upkeep.doc_bytes + update.len() > max {
            metrics::counter!(m::LIMIT_REFUSALS, "limit" => "document_size").increment(1);
            tracing::info!(doc = %self.name, size = self.upkeep.doc_bytes, "refusing update: document size limit");
            return Err(RoomError::TooLarge(max));
        }
        let extra = weight::estimate(update.len(), structs);
        let grown = self.upkeep.weight().saturating_add(extra);
        let (holds, name) = (&self.ctx.holds, self.name.as_str());
        let doc = self.awareness.doc().clone();
        // The memory check and the new weight happen inside `heavy::run_if`: large (or
        // expensive) updates are applied one at a time, so several of one client's cannot
        // all pass the check before any of them is counted.
        let heavy = update.len() >= heavy::LARGE || self.cost.expensive();
        let (changed, cost) = heavy::run_if(heavy, || {
            if let Some(client) = from {
                if let Err(HoldError::Memory(max)) = holds.admits(client, name, extra) {
                    tracing::info!(doc = %name, "refusing update: memory limit of its client");
                    return Err(RoomError::ClientMemory(max));
                }
            }
            let (changed, cost) = apply_budget::measure(|| {
                let decoded = Update::decode_v1(&update)
                    .map_err(|e| RoomError::InvalidUpdate(e.to_string()))?;
                let mut txn = doc.transact_mut();
                txn.apply_update(decoded)
                    .map_err(|e| RoomError::InvalidUpdate(e.to_string()))?;
                // A duplicate (a client resending what the room has) changes nothing: it
                // is logged and relayed as usual, but is no reason for a new version.
                // (What the transaction inserted or deleted, not its state vectors before
                // and after, which cost a map entry per client id of the document.)
                Ok::<_, RoomError>(txn.has_changes())
            });
            let changed = changed?;
            if changed {
                holds.set_weight(name, grown);
            }
            Ok((changed, cost))
        })?;
        self.charge_apply(from, cost, true);
        if changed {
            self.upkeep.edited(update.len(), structs);
        }
        self.enqueue(update, author);
        Ok(())
    }

    /// Tells `holds` what the document weighs now (see `weight`).
    pub(super) fn report_weight(&self) {
        self.ctx.holds.set_weight(&self.name, self.upkeep.weight());
    }

    /// Applies every held update that has become complete, oldest first.
    fn release_held(&mut self) {
        if self.held.is_empty() {
            return;
        }
        loop {
            let clocks = self.clocks.view();
            let ready = self.held.take_ready(|u| {
                matches!(
                    yjs_bounds::check_dependencies(u, |c| clocks.clock(c)),
                    Ok((_, None))
                )
            });
            drop(clocks);
            let Some(update) = ready else { break };
            let structs = weight::structs(&update);
            // Its sender is not known any more; it was within its limits when it came.
            if let Err(err) = self.apply_and_enqueue(update, structs, None, None) {
                // Its sender still has it and sends it again when it resyncs.
                tracing::info!(doc = %self.name, error = %err, "dropping a held update");
            }
        }
    }
}

/// Bytes of structs and deletions `yrs` holds back until changes they depend on arrive.
/// Only a log written before updates were checked for gaps can leave any (see `held`).
pub(super) fn pending_bytes(txn: &yrs::TransactionMut) -> usize {
    use yrs::updates::encoder::Encode;
    let store = txn.store();
    let structs = store
        .pending_update()
        .map_or(0, |p| p.update.encode_v1().len());
    let deletes = store.pending_ds().map_or(0, |ds| ds.encode_v1().len());
    structs + deletes
}
