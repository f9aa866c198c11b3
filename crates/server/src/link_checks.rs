//! The stored side of revoking a share link (`revocation.rs` has the live side): a token
//! whose link was revoked is refused, and revoking closes what the link has open, on this
//! instance at once and, in cluster mode, on the others at their next sweep.

use std::{collections::HashMap, time::Duration};

use crate::{auth::AuthError, error::ApiError, state::SharedState};

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
    state.revocations.revoke(link);
    if let Some(credential) = crate::auth::credential(Some(token), None) {
        state
            .sessions
            .end_credential(credential, crate::revocation::closed())
            .await;
    }
}

/// In cluster mode: every `every`, closes this instance's connections of links revoked on
/// another instance (the database has the revocation; the instance that took it closed its
/// own at once). New requests are refused everywhere from the start, by [`check`].
pub(crate) fn spawn_sweep(state: SharedState, every: Duration) {
    tokio::spawn(async move {
        let Some(store) = state.store.links() else {
            return;
        };
        // Links already closed here, by id, with when they were revoked.
        let mut done: HashMap<String, i64> = HashMap::new();
        let mut since = crate::auth::now_secs() as i64;
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if state
                .shutting_down
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                return;
            }
            // A second back: a revocation in the second of the previous read is read again.
            let links = match store.revoked_since(since - 1).await {
                Ok(links) => links,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read revoked links");
                    continue;
                }
            };
            for link in links {
                let at = link.revoked_at.unwrap_or(since);
                since = since.max(at);
                if done.insert(link.id.clone(), at).is_none() {
                    close_open(&state, &link.id, &link.token).await;
                }
            }
            done.retain(|_, at| *at >= since - 60);
        }
    });
}
