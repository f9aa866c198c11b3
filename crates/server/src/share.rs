//! Handing out access without the admin key: `POST /api/documents/{doc}/share`.
//!
//! A token with the `share` claim (or the admin key) may mint tokens for the same single
//! document, with equal or lower access, that expire within [`MAX_SHARE_SECS`] and never after
//! the sharer's own token. Minted tokens cannot share further, so a link passed on cannot
//! widen what its holder was given.
//!
//! A link carries a name for presence: its own `label` (say "Review team") and the
//! sharer's name, as "Review team (from Ann)"; without a label, "guest of Ann". A token
//! mints at most [`crate::share_quota::LINKS_PER_WINDOW`] links an hour (429 past it).

use axum::{extract::State, http::StatusCode, Json, Router};
use serde::{Deserialize, Serialize};

use crate::{
    auth::{self, Claims},
    edge::{Authorized, Credentials},
    error::{ApiError, ErrorBody},
    metric_names as m,
    peer::Access,
    route_table::route_table,
    state::SharedState,
};

/// Longest lifetime of a shared link: a week by default, a month at most.
pub(crate) const MAX_SHARE_SECS: u64 = 30 * 86400;
const DEFAULT_SHARE_SECS: u64 = 7 * 86400;

route_table! {
    post "/api/documents/{doc}/share" => share,
}

pub(crate) fn routes() -> Router<SharedState> {
    table()
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct ShareRequest {
    /// `read` by default; `write` only from a token that may write.
    #[serde(default = "default_access")]
    access: Access,
    /// Seconds until the link expires (a week by default, a month at most); never after
    /// the sharer's own token.
    #[serde(default = "default_expiry")]
    #[schema(minimum = 1, maximum = 2592000)]
    expires_in: u64,
    /// What the link is for, shown in presence with the sharer's name.
    label: Option<String>,
}

/// Longest label of a link, in characters.
const MAX_LABEL_CHARS: usize = 60;

/// The name a link's holder is shown under.
fn link_name(label: Option<&str>, sharer: Option<&str>) -> Option<String> {
    match (label, sharer) {
        (Some(label), Some(sharer)) => Some(format!("{label} (from {sharer})")),
        (Some(label), None) => Some(label.to_string()),
        (None, Some(sharer)) => Some(format!("guest of {sharer}")),
        (None, None) => None,
    }
}

fn check_label(label: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(label) = label
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
    else {
        return Ok(None);
    };
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::bad_request(format!(
            "label is longer than {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "a label may not contain control characters such as line breaks",
        ));
    }
    crate::names::check_visible(&label)
        .map_err(|e| ApiError::bad_request(format!("a label {e}")))?;
    Ok(Some(label))
}

/// A link's short id: 10 letters and digits (about 59 bits), unguessable enough that
/// `/s/<id>` hands out its token to whoever holds the address, as the long link does.
fn short_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..10)
        .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
        .collect()
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

/// A minted link's token and what it grants.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SharedLink {
    /// The token to put in the link (`?token=`).
    token: String,
    access: Access,
    /// When it expires, seconds since the Unix epoch.
    expires_at: u64,
    /// The name its holder is shown under.
    name: Option<String>,
    /// The link's id: `GET .../links` lists it, `DELETE .../links/{id}` revokes it.
    id: String,
    /// A short address (`/s/{id}`) that leads to the document with this token; absent when
    /// the store keeps no links.
    short_url: Option<String>,
}

#[utoipa::path(
    post, path = "/api/documents/{doc}/share", tag = "access",
    summary = "Mint a link to this document (a token with the share claim, or the admin key)",
    params(crate::openapi_parts::DocPath),
    request_body = ShareRequest,
    responses(
        (status = 201, body = SharedLink),
        (status = 403, description = "This credential may not share (so)", body = ErrorBody),
        crate::openapi_parts::Refused,
    )
)]
pub(crate) async fn share(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
    creds: Credentials,
    Json(req): Json<ShareRequest>,
) -> Result<(StatusCode, Json<SharedLink>), ApiError> {
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
    let label = check_label(req.label)?;
    if !grant.admin {
        if let Some(token) = auth::credential(creds.token.as_deref(), creds.bearer.as_deref()) {
            state.share_quota.take(token).map_err(|wait| {
                metrics::counter!(m::LIMIT_REFUSALS, "limit" => "share_links").increment(1);
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "this token has minted {} links within the hour, the most allowed; \
                         try again in {wait} s",
                        crate::share_quota::LINKS_PER_WINDOW
                    ),
                )
            })?;
        }
    }
    let name = link_name(label.as_deref(), grant.name.as_deref());
    let mut exp = auth::now_secs() + req.expires_in;
    if let Some(own) = grant.exp {
        exp = exp.min(own);
    }
    let link_id = short_id();
    let claims = Claims {
        doc: doc.to_string(),
        access: req.access,
        exp,
        name: name.clone(),
        share: false,
        by: grant.name.clone(),
        lid: Some(link_id.clone()),
    };
    let token = state
        .auth
        .mint(&claims)
        .ok_or_else(|| ApiError::unavailable("token signing failed"))?;
    let short_url = match state.store.links() {
        Some(links) => {
            links
                .create_link(&tandem_persistence::ShareLink {
                    id: link_id.clone(),
                    document: doc.to_string(),
                    access: match req.access {
                        Access::Read => "read",
                        Access::Write => "write",
                    }
                    .to_string(),
                    name: name.clone(),
                    created_by: grant.name.clone(),
                    created_at: auth::now_secs() as i64,
                    expires_at: exp as i64,
                    revoked_at: None,
                    token: token.clone(),
                })
                .await?;
            Some(format!("/s/{link_id}"))
        }
        None => None,
    };
    tracing::info!(doc = %doc, access = ?req.access, exp, admin = grant.admin, link = %link_id, "shared a link");
    Ok((
        StatusCode::CREATED,
        Json(SharedLink {
            token,
            access: req.access,
            expires_at: exp,
            name,
            id: link_id,
            short_url,
        }),
    ))
}
