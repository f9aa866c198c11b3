//! A document's token expiring ends that document on the socket, as it ends a WebSocket
//! (4401): the peer leaves its room, so nothing more is written or received for it, and
//! the provider is told `permission denied` with the reason (it may send a fresh token).

use std::time::Duration;

use super::{
    documents::{Conn, Doc},
    send, Socket, LABEL,
};
use crate::{
    auth::now_secs, hocuspocus as hp, peer::CloseReason, room::PeerEvent, transport::close::Ending,
};

/// Resolves when the token of `next` expires; never without one.
pub(super) async fn sleep(next: Option<u64>) {
    match next {
        // Whole seconds from the current (truncated) second: never before the expiry.
        Some(exp) => tokio::time::sleep(Duration::from_secs(exp.saturating_sub(now_secs()))).await,
        None => std::future::pending().await,
    }
}

impl Conn {
    /// The earliest expiry among the joined documents.
    pub(super) fn next_expiry(&self) -> Option<u64> {
        self.docs
            .values()
            .filter_map(|doc| match doc {
                Doc::Joined { exp, .. } => *exp,
                _ => None,
            })
            .min()
    }

    /// Ends every joined document whose token has expired.
    pub(super) async fn expire(&mut self, socket: &mut Socket) -> Result<(), Ending> {
        let now = now_secs();
        let expired: Vec<String> = self
            .docs
            .iter()
            .filter(|(_, doc)| matches!(doc, Doc::Joined { exp: Some(exp), .. } if *exp <= now))
            .map(|(key, _)| key.clone())
            .collect();
        let reason = CloseReason::token_expired().reason;
        for key in expired {
            if let Some(Doc::Joined {
                stream, peer, room, ..
            }) = self.docs.remove(&key)
            {
                self.streams.remove(&stream);
                self.keys.remove(&stream);
                let _ = room.send(Box::new(PeerEvent::Leave { peer })).await;
                tracing::info!(doc = %hp::document_of(&key), peer, transport = LABEL, "document closed: access token expired");
                send(socket, &key, &hp::permission_denied(&reason)).await?;
            }
        }
        Ok(())
    }
}
