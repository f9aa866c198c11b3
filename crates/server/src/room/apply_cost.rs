//! The room's side of the apply-time budget (`apply_budget`): work for a client, or for
//! a document, that is over its budget is refused before it is done, and the time of the
//! work that is done is charged.

use std::time::{Duration, Instant};

use super::{admission, apply_budget::Over, mailbox::RoomError, Room};
use crate::{client_limits::ClientKey, peer::PeerId};

impl Room {
    /// Whether work other than applying an update (answering a sync request or a join)
    /// may be done for `from` now. It counts against the client only, so a crowd
    /// reconnecting cannot lock a document; updates pass `admission`, which also asks the
    /// document's account.
    pub(super) fn within_apply_budget(
        &mut self,
        from: Option<&ClientKey>,
    ) -> Result<(), RoomError> {
        let usage = self.ctx.client_limits.usage();
        if from.is_none_or(|c| usage.apply_admits(c.ip(), c.token())) {
            return Ok(());
        }
        Err(self.refused(&admission::apply_time(&self.limits(), Over::Client)))
    }

    /// Charges `cost` to `from`, and to the document when the work applied an update.
    pub(super) fn charge_apply(&mut self, from: Option<&ClientKey>, cost: Duration, update: bool) {
        let now = Instant::now();
        if let Some(c) = from {
            let usage = self.ctx.client_limits.usage();
            usage.charge_apply(c.ip(), c.token(), cost);
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
