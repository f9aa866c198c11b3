//! Deleting a document from inside its room, so nothing of the room's writes it back.

use tandem_persistence::StoreError;
use tokio::{sync::mpsc, time::Instant};

use super::{
    mailbox::{turn_away, Control},
    Room,
};
use crate::peer::CloseReason;

/// How long a delete waits for the write in flight before giving up.
const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Room {
    /// Deletes the document once nothing of the room's can write it back: the write in
    /// flight has answered and background store work has finished. The room's peers hear
    /// the outcome afterwards; anyone arriving meanwhile is turned away with `reason`.
    pub(super) async fn delete(
        &mut self,
        ctrl: &mut mpsc::UnboundedReceiver<Control>,
        reason: &CloseReason,
    ) -> Result<bool, StoreError> {
        let mut also_deleting = Vec::new();
        let deadline = Instant::now() + WRITE_WAIT;
        while self.commit.is_writing() {
            let msg = match tokio::time::timeout_at(deadline, ctrl.recv()).await {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(_) => {
                    return Err(StoreError::Unavailable(
                        "a write to the document is still pending".into(),
                    ))
                }
            };
            match msg {
                Control::WriteDone(done) => self.commit.settle(done.id),
                other => {
                    if let Some(req) = turn_away(other, reason) {
                        also_deleting.push(req.done);
                    }
                }
            }
        }
        self.upkeep.settle_background().await;
        // Whatever is still queued is dropped with the document (or, if the delete fails,
        // resent by its clients when they reconnect); it no longer counts as unwritten.
        self.commit.drop_pending();
        let result = self.ctx.store.delete_document(&self.name).await;
        for done in also_deleting {
            // A second delete racing the first finds nothing left to delete.
            let _ = done.send(
                result
                    .as_ref()
                    .map(|_| false)
                    .map_err(|e| StoreError::Unavailable(e.to_string())),
            );
        }
        result
    }
}
