//! Awareness (cursors, names): which peer announced which client ids, removal when a peer
//! leaves, and expiry of states that stop being renewed.

use yrs::sync::AwarenessUpdate;

use super::Room;
use crate::{
    peer::{CloseReason, PeerId},
    protocol,
};

impl Room {
    pub(super) fn on_awareness(
        &mut self,
        peer: PeerId,
        update: AwarenessUpdate,
    ) -> Result<(), CloseReason> {
        // A peer that already left may still have an awareness frame in flight; applying
        // it would resurrect a cursor nobody will remove.
        let Some(p) = self.peers.get_mut(&peer) else {
            return Ok(());
        };
        for (client, entry) in &update.clients {
            if entry.json.as_ref() == "null" {
                p.clients.remove(&client.get());
            } else {
                p.clients.insert(client.get());
            }
        }
        let frame = protocol::awareness(update.clone());
        self.awareness
            .apply_update(update)
            .map_err(CloseReason::invalid)?;
        // Echoed to the sender too: the JS client's 30 s liveness check relies on it.
        self.broadcast(&frame);
        Ok(())
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

    pub(super) fn remove_awareness(&mut self, clients: Vec<u64>) {
        let live: Vec<yrs::block::ClientID> = clients
            .into_iter()
            .map(yrs::block::ClientID::new)
            .filter(|c| self.awareness.meta(*c).is_some())
            .collect();
        if live.is_empty() {
            return;
        }
        for c in &live {
            self.awareness.remove_state(*c);
        }
        if let Ok(update) = self.awareness.update_with_clients(live) {
            self.broadcast(&protocol::awareness(update));
        }
    }

    pub(super) fn expire_awareness(&mut self) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let timeout = self.ctx.settings.awareness_timeout.as_millis() as u64;
        let stale: Vec<u64> = self
            .awareness
            .iter()
            .filter(|(_, s)| s.data.is_some() && now_ms.saturating_sub(s.last_updated) > timeout)
            .map(|(id, _)| id.get())
            .collect();
        if !stale.is_empty() {
            for p in self.peers.values_mut() {
                for c in &stale {
                    p.clients.remove(c);
                }
            }
            self.remove_awareness(stale);
        }
    }
}
