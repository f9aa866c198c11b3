//! Revoking a share link ends what it opened, not only what it would open next: new
//! requests are refused by the stored record (`edge::Authorized`), and the connections that
//! are already open are closed here, WebSockets through a broadcast of the link's id and
//! SSE or polling sessions by the token they were opened with.
//!
//! The broadcast reaches this instance's sockets only; on other instances of a cluster a
//! revoked link's open sockets last until their next request or their token's expiry.

use tokio::sync::broadcast;

use crate::{auth::AuthError, error::ApiError, peer::CloseReason, state::SharedState};

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
    CloseReason::new(4403, "link revoked")
}

/// Refuses a token whose stored link was revoked.
pub(crate) async fn check(state: &SharedState, link: Option<&str>) -> Result<(), ApiError> {
    let (Some(link), Some(store)) = (link, state.store.links()) else {
        return Ok(());
    };
    if store
        .link(link)
        .await?
        .is_some_and(|l| l.revoked_at.is_some())
    {
        metrics::counter!(crate::metric_names::AUTH_REFUSED, "reason" => "revoked").increment(1);
        return Err(AuthError::Revoked.into());
    }
    Ok(())
}

/// Ends this instance's open connections of a link just revoked.
pub(crate) async fn close_open(state: &SharedState, link: &str, token: &str) {
    let _ = state.revocations.tx.send(link.to_string());
    if let Some(credential) = crate::auth::credential(Some(token), None) {
        state.sessions.end_credential(credential, closed()).await;
    }
}
