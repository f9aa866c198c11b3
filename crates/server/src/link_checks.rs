//! The stored side of revoking a share link (`revocation.rs` has the live side): a token
//! whose link was revoked is refused, and revoking closes what the link has open.

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
