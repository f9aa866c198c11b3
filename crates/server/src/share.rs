//! Handing out access without the admin key: `POST /api/documents/{doc}/share`.
//!
//! A token with the `share` claim (or the admin key) may mint tokens for the same single
//! document, with equal or lower access, that expire within [`MAX_SHARE_SECS`] and never after
//! the sharer's own token. Minted tokens cannot share further, so a link passed on cannot
//! widen what its holder was given.

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    routing::post,
    Json, Router,
};
use serde::Deserialize;

use crate::{
    auth::{self, AccessLevel, Claims},
    error::ApiError,
    metrics as m, names,
    peer::Access,
    state::SharedState,
    transport::TokenQuery,
};

/// Longest lifetime of a shared link: a week by default, a month at most.
pub const MAX_SHARE_SECS: u64 = 30 * 86400;
const DEFAULT_SHARE_SECS: u64 = 7 * 86400;

pub fn routes() -> Router<SharedState> {
    Router::new().route("/api/documents/{doc}/share", post(share))
}

#[derive(Deserialize)]
struct ShareRequest {
    #[serde(default = "default_access")]
    access: AccessLevel,
    #[serde(default = "default_expiry")]
    expires_in: u64,
}

fn default_access() -> AccessLevel {
    AccessLevel::Read
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
    Path(doc): Path<String>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    Json(req): Json<ShareRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    names::validate(&doc)?;
    if !state.auth.token_mode() {
        return Err(ApiError::bad_request(
            "this server is open (no TANDEM_SECRET): anyone with the document's address can edit it",
        ));
    }
    let grant = state
        .auth
        .document(&doc, q.token.as_deref(), auth::bearer(&headers))?;
    if !grant.share {
        return Err(refuse(
            "your access token does not allow sharing (it needs the share claim)",
        ));
    }
    if req.access == AccessLevel::Write && grant.access == Access::Read {
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
        doc: doc.clone(),
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
