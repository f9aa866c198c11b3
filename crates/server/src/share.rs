//! Handing out access without the admin key: `POST /api/documents/{doc}/share`.
//!
//! A token with the `share` claim (or the admin key) may mint tokens for the same single
//! document, with equal or lower access, that expire within [`MAX_SHARE_SECS`] and never after
//! the sharer's own token. Minted tokens cannot share further, so a link passed on cannot
//! widen what its holder was given.

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use serde::Deserialize;

use crate::{
    auth::{self, Claims},
    edge::Authorized,
    error::ApiError,
    metric_names as m,
    peer::Access,
    state::SharedState,
};

/// Longest lifetime of a shared link: a week by default, a month at most.
pub(crate) const MAX_SHARE_SECS: u64 = 30 * 86400;
const DEFAULT_SHARE_SECS: u64 = 7 * 86400;

pub(crate) fn routes() -> Router<SharedState> {
    Router::new().route("/api/documents/{doc}/share", post(share))
}

#[derive(Deserialize)]
struct ShareRequest {
    #[serde(default = "default_access")]
    access: Access,
    #[serde(default = "default_expiry")]
    expires_in: u64,
}

fn default_access() -> Access {
    Access::Read
}

fn default_expiry() -> u64 {
    DEFAULT_SHARE_SECS
}

fn refuse(message: &str) -> ApiError {
    metrics::counter!(m::AUTH_REFUSED, "reason" => "share_denied").increment(1);
    ApiError::new(StatusCode::FORBIDDEN, message)
}

async fn share(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
    Json(req): Json<ShareRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    if !state.auth.token_mode() {
        return Err(ApiError::bad_request(
            "this server is open (no TANDEM_SECRET): anyone with the document's address can edit it",
        ));
    }
    if !grant.share {
        return Err(refuse(
            "your access token does not allow sharing (it needs the share claim)",
        ));
    }
    if req.access == Access::Write && grant.access == Access::Read {
        return Err(refuse("a read-only token can only share read access"));
    }
    if req.expires_in == 0 || req.expires_in > MAX_SHARE_SECS {
        return Err(ApiError::bad_request(format!(
            "expires_in must be between 1 and {MAX_SHARE_SECS} seconds"
        )));
    }
    let mut exp = auth::now_secs() + req.expires_in;
    if let Some(own) = grant.exp {
        exp = exp.min(own);
    }
    let claims = Claims {
        doc: doc.to_string(),
        access: req.access,
        exp,
        name: None,
        share: false,
    };
    let token = state
        .auth
        .mint(&claims)
        .ok_or_else(|| ApiError::unavailable("token signing failed"))?;
    tracing::info!(doc = %doc, access = ?req.access, exp, admin = grant.admin, "shared a link");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "token": token, "access": req.access, "expires_at": exp })),
    ))
}
