//! Presence across instances (cluster mode): awareness this room's peers send goes to the
//! other instances, theirs comes in renumbered past what this room knows, and an instance
//! that stops sending heartbeats takes its clients' presence with it. Also "deleted" and
//! "who is here?" messages.

use std::collections::HashMap;

use bytes::Bytes;
use yrs::{
    sync::{awareness::AwarenessUpdate, Message},
    ClientID,
};

use super::Room;
use crate::{cluster::Body, protocol};

/// Awareness client ids announced through another instance, and which one: their peers
/// own them there.
#[derive(Default)]
pub(super) struct RemoteClients(HashMap<ClientID, String>);

impl RemoteClients {
    /// Whether another instance announced `client`.
    pub(super) fn contains(&self, client: ClientID) -> bool {
        self.0.contains_key(&client)
    }

    fn announced(&mut self, client: ClientID, instance: &str) {
        self.0.insert(client, instance.to_string());
    }

    fn left(&mut self, client: ClientID) {
        self.0.remove(&client);
    }

    /// Forgets the clients of `instance`, and returns them.
    fn drop_instance(&mut self, instance: &str) -> Vec<ClientID> {
        let gone: Vec<ClientID> = self
            .0
            .iter()
            .filter(|(_, i)| i.as_str() == instance)
            .map(|(c, _)| *c)
            .collect();
        for c in &gone {
            self.0.remove(c);
        }
        gone
    }
}

impl Room {
    /// Tells the other instances that this document is gone.
    pub(super) fn publish_deleted(&self) {
        if let Some(cluster) = &self.ctx.cluster {
            cluster.publish(&self.name, Body::Deleted);
        }
    }

    /// Awareness this room relayed for its own peers goes to the other instances too.
    pub(super) fn publish_awareness(&self, frame: &Bytes) {
        if let Some(cluster) = &self.ctx.cluster {
            cluster.publish(&self.name, Body::Awareness(frame.clone()));
        }
    }

    /// Asks the other instances for their clients' awareness (a room that just loaded).
    pub(super) fn query_remote_awareness(&self) {
        if let Some(cluster) = &self.ctx.cluster {
            cluster.publish(&self.name, Body::AwarenessQuery);
        }
    }

    pub(super) fn answer_awareness_query(&self) {
        let local: Vec<ClientID> = self
            .awareness
            .iter()
            .filter(|(c, s)| s.data.is_some() && !self.remote.contains(*c))
            .map(|(c, _)| c)
            .collect();
        if local.is_empty() {
            return;
        }
        if let Ok(update) = self.awareness.update_with_clients(local) {
            self.publish_awareness(&protocol::awareness(update));
        }
    }

    /// Awareness of another instance's clients. Its clocks count on that instance, so each
    /// entry is renumbered past what this room knows; a client id one of this instance's
    /// own peers owns is left alone.
    pub(super) fn on_remote_awareness(&mut self, origin: String, frame: &[u8]) {
        let Ok(msgs) = protocol::decode_frame(frame) else {
            return;
        };
        for msg in msgs {
            let Message::Awareness(update) = msg else {
                continue;
            };
            let mut out = AwarenessUpdate {
                clients: HashMap::new(),
            };
            for (client, mut entry) in update.clients {
                if self.presence.is_owned(client) {
                    continue;
                }
                if let Some((clock, _)) = self.awareness.meta(client) {
                    entry.clock = clock.saturating_add(1);
                }
                if entry.json.as_ref() == "null" {
                    self.remote.left(client);
                } else {
                    self.remote.announced(client, &origin);
                }
                out.clients.insert(client, entry);
            }
            if out.clients.is_empty() {
                continue;
            }
            let relay = protocol::awareness(out.clone());
            if self.awareness.apply_update(out).is_ok() {
                self.broadcast(&relay);
            }
        }
    }

    /// An instance stopped sending heartbeats: its clients' presence goes.
    pub(super) fn drop_instance(&mut self, instance: &str) {
        let gone = self.remote.drop_instance(instance);
        let _ = self.remove_awareness(gone);
    }
}
