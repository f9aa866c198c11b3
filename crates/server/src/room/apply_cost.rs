//! The room's side of the apply-time budget (`apply_budget`): work for a client, or for
//! a document, that is over its budget is refused before it is done, and the time of the
//! work that is done is charged.

use std::time::{Duration, Instant};

use super::{
    apply_budget::{self, Over},
    mailbox::RoomError,
    Room,
};
use crate::{holds::ClientKey, peer::PeerId};

impl Room {
    /// Whether work for `from` may be done now; `update`: the work is applying an update,
    /// which also counts against the document (answering a sync request or a join only
    /// counts against the client, so a crowd reconnecting cannot lock a document).
    pub(super) fn within_apply_budget(
        &mut self,
        from: Option<&ClientKey>,
        update: bool,
    ) -> Result<(), RoomError> {
        let now = Instant::now();
        let settings = &self.ctx.settings;
        let over = if from.is_some_and(|c| self.ctx.costs.admits(c, now).is_err()) {
            Over::Client
        } else if update && self.cost.over(now, settings.max_apply_per_document) {
            Over::Document
        } else {
            return Ok(());
        };
        apply_budget::refused(over);
        tracing::debug!(doc = %self.name, limit = over.label(), "refusing work: apply-time budget");
        let message = match over {
            Over::Client => format!(
                "apply time limit: this client's edits took more than {} ms of server time per second",
                settings.max_apply_per_client.as_millis()
            ),
            Over::Document => format!(
                "apply time limit: edits to this document took more than {} ms of server time per second",
                settings.max_apply_per_document.as_millis()
            ),
        };
        Err(RoomError::RateLimited(message))
    }

    /// Charges `cost` to `from`, and to the document when the work applied an update.
    pub(super) fn charge_apply(&mut self, from: Option<&ClientKey>, cost: Duration, update: bool) {
        let now = Instant::now();
        if let Some(client) = from {
            self.ctx.costs.charge(client, cost, now);
        }
        if update {
            let rate = self.ctx.settings.max_apply_per_document;
            self.cost.charge(now, rate, cost);
        }
    }

    /// Who `peer` is for the per-client limits.
    pub(super) fn client_of(&self, peer: PeerId) -> Option<ClientKey> {
        self.peers.get(&peer).and_then(|p| p.handle.client.clone())
    }
}
