//! How a room ends: shut down (written out or deleted), or abandoned without writing
//! (after a panic, or a delete made elsewhere); whatever is still queued is turned away.

use std::time::Duration;

use tokio::sync::mpsc;

use super::{
    mailbox::{turn_away, Control, PeerEvent, ShutdownRequest},
    Room,
};
use crate::{metric_names as m, peer::CloseReason};

impl Room {
    /// A panic while handling one event ends this room only. Its state may be half
    /// changed, so nothing more is written from it: it leaves the registry first (a client
    /// that reconnects gets a fresh room loaded from the database), then closes its peers
    /// with 1011. Updates not yet committed were relayed to nobody; their senders still
    /// have them and send them again when they resync.
    pub(super) fn crashed(&mut self, ctrl: &mut mpsc::UnboundedReceiver<Control>) {
        metrics::counter!(m::ROOM_PANICS).increment(1);
        tracing::error!(doc = %self.name, "document room panicked; its clients reconnect to a fresh copy");
        self.abandon(ctrl, CloseReason::internal_error());
    }

    /// The document was deleted through another instance (or its rows are gone): its
    /// peers hear 4404 as they would from a local delete, and nothing queued is written,
    /// which would bring the document back.
    pub(super) fn vanish(&mut self, ctrl: &mut mpsc::UnboundedReceiver<Control>) {
        tracing::info!(doc = %self.name, "document deleted elsewhere; closing its connections");
        self.abandon(ctrl, CloseReason::deleted());
    }

    /// Leaves without writing anything: out of the registry first, then every peer and
    /// everyone queued is turned away with `reason`.
    fn abandon(&mut self, ctrl: &mut mpsc::UnboundedReceiver<Control>, reason: CloseReason) {
        self.directory.remove(&self.name, self.generation);
        self.kick_all(&reason);
        self.commit.drop_pending();
        ctrl.close();
        while let Ok(msg) = ctrl.try_recv() {
            if let Some(req) = turn_away(msg, &reason) {
                // Nothing was written: the document is as the database has it.
                let _ = req.done.send(Ok(false));
            }
        }
    }

    pub(super) async fn shut_down(
        &mut self,
        req: ShutdownRequest,
        ctrl: &mut mpsc::UnboundedReceiver<Control>,
        data: &mut mpsc::Receiver<Box<PeerEvent>>,
    ) {
        let ShutdownRequest {
            reason,
            delete,
            done,
        } = req;
        let (result, reason) = if delete {
            // Peers stay attached (unread) until the outcome is known: a delete the
            // database refused must not tell them the document is gone.
            let result = self.delete(ctrl, &reason).await;
            if result.is_ok() {
                self.publish_deleted();
            }
            let reason = match &result {
                Ok(_) => reason,
                Err(_) => CloseReason::storage_unavailable(),
            };
            self.kick_all(&reason);
            (result, reason)
        } else {
            // Updates already read from sockets are taken in before closing.
            while let Ok(ev) = data.try_recv() {
                self.on_peer_event(*ev);
            }
            self.kick_all(&reason);
            self.write_out(Duration::from_secs(10)).await;
            (Ok(true), reason)
        };
        self.directory.remove(&self.name, self.generation);
        // Joins queued while the room finished get its peers' answer; dropped, they would
        // read as "server shutting down".
        // A second shutdown request is dropped: its caller hears that the room is gone.
        while let Ok(msg) = ctrl.try_recv() {
            let _ = turn_away(msg, &reason);
        }
        let _ = done.send(result);
    }
}
