//! Awareness (cursors, names): who may speak for which client id, removal when a peer
//! leaves, and expiry of states that stop being renewed.
//!
//! The y-protocols awareness format lets anyone write any client id's state, and a state
//! with a higher clock wins. Relayed as it comes, one peer (read-only ones too) could
//! rewrite or remove another user's cursor and name, or pin a client id with a huge clock
//! so its owner's announcements are ignored from then on. So, here:
//!
//! - **Ownership.** A client id belongs to the peer that first announced it while nobody
//!   held it, until that peer leaves. Other peers' changes and removals of it are dropped
//!   (and counted); the rest of their message still applies.
//! - **Server clocks.** The server numbers the states it relays itself: each accepted change
//!   advances the client id's clock by exactly one, whatever clock the peer sent. No peer can
//!   push a clock ahead, so no client id can be pinned. Staleness is judged on the peer's own
//!   clocks (a change must carry a higher clock than the peer's previous one).
//! - **Names.** A peer whose token carries a user name is shown under that name:
//!   `user.name` in every state it announces is set to it.
//! - **Colours.** Editors put `user.color` (and `user.colorLight`) into the style of the
//!   remote caret, so a value that is not a colour (`red;position:fixed;inset:0`) would be
//!   CSS injected into everyone else's page. Only `#rgb` and `#rrggbb` pass (and, for the
//!   translucent `colorLight`, `#rrggbbaa`); any other value is removed from the state.
//! - **Caps.** A peer owns at most `max_clients_per_peer` client ids.
//!
//! Read-only peers follow the same rules: they may show their own presence (a viewer's
//! name and cursor) but, like everyone, cannot touch anyone else's.

use std::collections::HashMap;

use bytes::Bytes;

use yrs::{
    block::ClientID,
    sync::{awareness::AwarenessUpdateEntry, AwarenessUpdate},
};

use super::Room;
use crate::{
    metric_names as m,
    peer::{CloseReason, PeerId},
    protocol,
};

/// Why one entry of an awareness message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The client id belongs to another peer.
    NotOwner,
    /// The peer already owns as many client ids as it may.
    TooManyClients,
    /// A named peer's state is not a JSON object, so no name can be shown in it.
    NotAnObject,
}

impl Refusal {
    pub(super) fn label(self) -> &'static str {
        match self {
            Refusal::NotOwner => "not_owner",
            Refusal::TooManyClients => "too_many_clients",
            Refusal::NotAnObject => "not_an_object",
        }
    }
}

struct Binding {
    peer: PeerId,
    /// The owner's own clock in its last accepted change.
    peer_clock: u32,
}

/// Which peer owns which client id; no IO, so every rule is unit-tested.
pub(super) struct Ownership {
    owners: HashMap<ClientID, Binding>,
    max_clients_per_peer: usize,
}

/// What the room knows of a client id: its (server) clock and whether it has a state.
pub(super) type Known = Option<(u32, bool)>;

impl Ownership {
    pub(super) fn new(max_clients_per_peer: usize) -> Ownership {
        Ownership {
            owners: HashMap::new(),
            max_clients_per_peer: max_clients_per_peer.max(1),
        }
    }

    /// Keeps the entries of `update` that `peer` may make, renumbered with server clocks
    /// and named `name`; returns them and the refusals. Stale entries (a clock the peer
    /// already used, such as a client re-sending the states it knows) are dropped quietly.
    pub(super) fn admit(
        &mut self,
        peer: PeerId,
        name: Option<&str>,
        update: AwarenessUpdate,
        known: impl Fn(ClientID) -> Known,
    ) -> (AwarenessUpdate, Vec<Refusal>) {
        let mut out = AwarenessUpdate {
            clients: HashMap::new(),
        };
        let mut refused = Vec::new();
        // Sorted, so which entries a cap lets through does not depend on hash order.
        let mut entries: Vec<_> = update.clients.into_iter().collect();
        entries.sort_by_key(|(id, _)| id.get());
        for (client, entry) in entries {
            let removal = entry.json.as_ref() == "null";
            let state = known(client);
            match self.owners.get(&client) {
                Some(b) if b.peer != peer => {
                    // Re-sending what the server itself relayed is no attempt to change it.
                    if state.is_some_and(|(clock, _)| entry.clock > clock) {
                        refused.push(Refusal::NotOwner);
                    }
                    continue;
                }
                Some(b) => {
                    let same_clock_removal =
                        removal && entry.clock == b.peer_clock && state.is_some_and(|s| s.1);
                    if entry.clock <= b.peer_clock && !same_clock_removal {
                        continue;
                    }
                }
                None => {
                    // Removing a state nobody owns: whoever announced it has left, and the
                    // server already removed it then.
                    if removal {
                        continue;
                    }
                    if self.owned_by(peer) >= self.max_clients_per_peer {
                        refused.push(Refusal::TooManyClients);
                        continue;
                    }
                }
            }
            let json = if removal {
                entry.json
            } else {
                match shown(&entry.json, name) {
                    Ok(Some(json)) => json.into(),
                    Ok(None) => entry.json,
                    Err(refusal) => {
                        refused.push(refusal);
                        continue;
                    }
                }
            };
            // A client id first seen in this room keeps its clock: browsers that saw it in
            // an earlier session of the room remember a clock at most that high.
            let clock = match state {
                Some((clock, _)) => clock.saturating_add(1),
                None => entry.clock,
            };
            self.owners.insert(
                client,
                Binding {
                    peer,
                    peer_clock: entry.clock,
                },
            );
            out.clients
                .insert(client, AwarenessUpdateEntry { clock, json });
        }
        (out, refused)
    }

    /// How many client ids `peer` owns.
    pub(super) fn owned_by(&self, peer: PeerId) -> usize {
        self.owners.values().filter(|b| b.peer == peer).count()
    }

    /// Whether one of this instance's peers owns `client`.
    pub(super) fn is_owned(&self, client: ClientID) -> bool {
        self.owners.contains_key(&client)
    }

    /// Whether `client` is one of `peer`'s client ids.
    pub(super) fn owns(&self, peer: PeerId, client: ClientID) -> bool {
        self.owners.get(&client).is_some_and(|b| b.peer == peer)
    }

    /// A peer left: its client ids are free again. Returns them.
    pub(super) fn release(&mut self, peer: PeerId) -> Vec<ClientID> {
        let mut ids: Vec<ClientID> = self
            .owners
            .iter()
            .filter(|(_, b)| b.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_by_key(|id| id.get());
        for id in &ids {
            self.owners.remove(id);
        }
        ids
    }
}

/// A state as it is relayed: with `user.name` set to `name` (when the token names the
/// peer) and without colours that are not colours. `None`: relay it unchanged.
fn shown(json: &str, name: Option<&str>) -> Result<Option<String>, Refusal> {
    // Most states carry no colour field: they need no parsing when no name is set either.
    if name.is_none() && !json.contains("olor") {
        return Ok(None);
    }
    let refuse = || match name {
        Some(_) => Err(Refusal::NotAnObject),
        None => Ok(None), // not a JSON object: no editor reads a colour from it
    };
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(json) else {
        return refuse();
    };
    let Some(state) = value.as_object_mut() else {
        return refuse();
    };
    let mut changed = false;
    if let Some(user) = state.get_mut("user").and_then(|u| u.as_object_mut()) {
        for (field, alpha) in [("color", false), ("colorLight", true)] {
            if user.get(field).is_some_and(|c| !is_colour(c, alpha)) {
                user.remove(field);
                changed = true;
            }
        }
    }
    if let Some(name) = name {
        let user = state
            .entry("user")
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !user.is_object() {
            *user = serde_json::Value::Object(Default::default());
        }
        if let Some(user) = user.as_object_mut() {
            user.insert("name".into(), serde_json::Value::String(name.into()));
        }
        changed = true;
    }
    Ok(changed.then(|| value.to_string()))
}

/// `#rgb` or `#rrggbb`, and with `alpha` also `#rrggbbaa`.
fn is_colour(value: &serde_json::Value, alpha: bool) -> bool {
    let Some(hex) = value.as_str().and_then(|s| s.strip_prefix('#')) else {
        return false;
    };
    let len_ok = matches!(hex.len(), 3 | 6) || (alpha && hex.len() == 8);
    len_ok && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Room {
    pub(super) fn on_awareness(
        &mut self,
        peer: PeerId,
        update: AwarenessUpdate,
    ) -> Result<(), CloseReason> {
        // A peer that already left may still have an awareness frame in flight; applying
        // it would resurrect a cursor nobody will remove.
        let Some(p) = self.peers.get(&peer) else {
            return Ok(());
        };
        let name = p.handle.name.clone();
        // y-websocket clients send back every state they hear of: another instance's
        // clients' states coming back this way are no claim on them (they would stop that
        // instance's later changes from crossing here).
        let mut update = update;
        update.clients.retain(|c, _| !self.remote.contains(*c));
        let awareness = &self.awareness;
        let (update, refused) = self.presence.admit(peer, name.as_deref(), update, |id| {
            let (clock, _) = awareness.meta(id)?;
            let live = awareness.iter().any(|(c, s)| c == id && s.data.is_some());
            Some((clock, live))
        });
        for r in &refused {
            metrics::counter!(m::AWARENESS_REFUSED, "reason" => r.label()).increment(1);
        }
        if !refused.is_empty() {
            tracing::debug!(doc = %self.name, peer, refused = refused.len(), "awareness entries refused");
        }
        if update.clients.is_empty() {
            return Ok(());
        }
        let frame = protocol::awareness(update.clone());
        self.awareness
            .apply_update(update)
            .map_err(CloseReason::invalid)?;
        // Echoed to the sender too: the JS client's 30 s liveness check relies on it.
        self.broadcast(&frame);
        self.publish_awareness(&frame);
        Ok(())
    }

    /// Records who sent an edit: the name its connection shows in presence (the access
    /// token's name when the token has one, see "Names" above; else the name the user chose).
    pub(super) fn note_author(&mut self, peer: PeerId) {
        for (client, state) in self.awareness.iter() {
            if !self.presence.owns(peer, client) {
                continue;
            }
            let name = state
                .data
                .as_deref()
                .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
                .and_then(|v| Some(v.get("user")?.get("name")?.as_str()?.trim().to_string()));
            if let Some(name) = name.filter(|n| !n.is_empty()) {
                self.upkeep.edited_by(name);
            }
        }
    }

    /// Who a peer's edits are logged as: its token's name, else the first name it shows
    /// in presence; `None` when it has neither.
    pub(super) fn author_of(&self, peer: PeerId) -> Option<std::sync::Arc<str>> {
        let p = self.peers.get(&peer)?;
        if let Some(name) = &p.handle.name {
            return Some(name.as_str().into());
        }
        self.awareness
            .iter()
            .filter(|(client, _)| self.presence.owns(peer, *client))
            .find_map(|(_, state)| {
                let json: serde_json::Value = serde_json::from_str(state.data.as_deref()?).ok()?;
                let name = json.get("user")?.get("name")?.as_str()?.trim();
                (!name.is_empty()).then(|| name.into())
            })
    }

    /// The names of the users present, sorted, each once.
    pub(super) fn users(&self) -> Vec<String> {
        let mut users: Vec<String> = self
            .awareness
            .iter()
            .filter_map(|(_, state)| {
                let json = state.data.as_ref()?;
                let value: serde_json::Value = serde_json::from_str(json).ok()?;
                Some(value.get("user")?.get("name")?.as_str()?.to_string())
            })
            .collect();
        users.sort();
        users.dedup();
        users
    }

    /// Removes the live states among `clients` and tells everyone here; returns the frame
    /// that told them.
    pub(super) fn remove_awareness(&mut self, clients: Vec<ClientID>) -> Option<Bytes> {
        let live: Vec<ClientID> = self
            .awareness
            .iter()
            .filter(|(c, s)| s.data.is_some() && clients.contains(c))
            .map(|(c, _)| c)
            .collect();
        if live.is_empty() {
            return None;
        }
        for c in &live {
            self.awareness.remove_state(*c);
        }
        let update = self.awareness.update_with_clients(live).ok()?;
        let frame = protocol::awareness(update);
        self.broadcast(&frame);
        Some(frame)
    }

    pub(super) fn expire_awareness(&mut self) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let timeout = self.ctx.settings.awareness_timeout.as_millis() as u64;
        let stale: Vec<ClientID> = self
            .awareness
            .iter()
            .filter(|(_, s)| s.data.is_some() && now_ms.saturating_sub(s.last_updated) > timeout)
            .map(|(id, _)| id)
            .collect();
        // The owners keep their client ids: a renewal brings the state back.
        let _ = self.remove_awareness(stale);
    }
}

#[cfg(test)]
#[path = "presence_tests.rs"]
mod tests;
