//! Minting tokens with the admin key.

use axum::{extract::State, http::StatusCode, Json};
use serde::Deserialize;

use crate::{
    auth::{self, Claims},
    edge::Admin,
    error::ApiError,
    extract::JsonBody,
    names,
    peer::Access,
    state::SharedState,
};

#[derive(Deserialize)]
pub(super) struct TokenRequest {
    doc: String,
    #[serde(default = "default_access")]
    access: Access,
    #[serde(default = "default_expiry")]
    expires_in: u64,
    name: Option<String>,
    #[serde(default)]
    share: bool,
}

fn default_access() -> Access {
    Access::Write
}

fn default_expiry() -> u64 {
    86400
}

pub(super) async fn mint_token(
    State(state): State<SharedState>,
    _: Admin,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let pattern = req.doc.strip_suffix('*').unwrap_or(&req.doc);
    if !(pattern.is_empty() && req.doc == "*") {
        names::validate(pattern)?;
    }
    if req.expires_in == 0 {
        return Err(ApiError::bad_request(
            "expires_in must be at least 1 second: a token that expires at once is useless",
        ));
    }
    let exp = auth::expiry_after(req.expires_in).ok_or_else(|| {
        ApiError::bad_request(format!(
            "expires_in must be at most {} seconds",
            auth::MAX_LIFETIME_SECS
        ))
    })?;
    if let Some(name) = &req.name {
        names::check_visible(name).map_err(|e| ApiError::bad_request(format!("the name {e}")))?;
        if name.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "the name may not contain control characters such as line breaks",
            ));
        }
    }
    let claims = Claims {
        doc: req.doc,
        access: req.access,
        exp,
        name: req.name,
        share: req.share,
        by: None,
        lid: None,
    };
    let token = state.auth.mint(&claims).ok_or_else(|| {
        ApiError::bad_request("the server has no TANDEM_SECRET: tokens are not used")
    })?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({ "token": token, "claims": claims })),
    ))
}
