//! Revoking a share link ends what it opened, not only what it would open next: new
//! requests are refused by the stored record (`edge::Authorized`), and the connections that
//! are already open are closed here, WebSockets through a broadcast of the link's id and
//! SSE or polling sessions by the token they were opened with.
//!
//! The checks against the store are in `link_checks.rs` (this module is part of the state).
//!
//! The broadcast reaches this instance's sockets only; on other instances of a cluster a
//! revoked link's open sockets last until their next request or their token's expiry.

use tokio::sync::broadcast;

use crate::peer::CloseReason;

pub(crate) struct Revocations {
    tx: broadcast::Sender<String>,
}

impl Default for Revocations {
    fn default() -> Self {
        Revocations {
            tx: broadcast::channel(256).0,
        }
    }
}

impl Revocations {
    /// Tells this instance's WebSockets of `link` that it was revoked.
    pub(crate) fn revoke(&self, link: &str) {
        let _ = self.tx.send(link.to_string());
    }

    /// Resolves when the link `link` is revoked; never for a token that is no stored link.
    pub(crate) fn watch(
        &self,
        link: Option<String>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            let Some(link) = link else {
                return std::future::pending().await;
            };
            loop {
                match rx.recv().await {
                    Ok(id) if id == link => return,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                }
            }
        }
    }
}

/// The close a revoked link's connections get.
pub(crate) fn closed() -> CloseReason {
    CloseReason::link_revoked()
}
