//! Minting tokens with the admin key.

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};

use crate::openapi_parts::Refused;

use crate::{
    auth::{self, Claims},
    edge::Admin,
    error::ApiError,
    extract::JsonBody,
    names,
    peer::Access,
    state::SharedState,
};

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct TokenRequest {
    /// A document's name, a prefix followed by `*` (`team-*`), or `*` for every document.
    doc: String,
    /// `write` by default.
    #[serde(default = "default_access")]
    access: Access,
    /// Seconds until it expires: a day by default.
    #[serde(default = "default_expiry")]
    #[schema(default = 86400, minimum = 1)]
    expires_in: u64,
    /// Shown in presence for whoever uses the token.
    name: Option<String>,
    /// Whether the token may mint share links for its document.
    #[serde(default)]
    share: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MintedToken {
    /// The token: send it as `Authorization: Bearer ...` or `?token=`.
    token: String,
    /// What it grants, as signed into it.
    claims: Claims,
}

fn default_access() -> Access {
    Access::Write
}

fn default_expiry() -> u64 {
    86400
}

#[utoipa::path(
    post, path = "/api/tokens", tag = "access",
    summary = "Mint a token for a document or a prefix (admin key)",
    request_body = TokenRequest,
    responses((status = 201, body = MintedToken), Refused)
)]
pub(super) async fn mint_token(
    State(state): State<SharedState>,
    _: Admin,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<MintedToken>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(MintedToken { token, claims })))
}
