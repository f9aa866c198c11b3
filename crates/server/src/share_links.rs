//! The links of a document: `GET /api/documents/{doc}/links` lists them,
//! `DELETE /api/documents/{doc}/links/{id}` revokes one (its open connections are closed,
//! `revocation.rs`), and `GET /s/{id}` is a link's short address, which sends the browser
//! on to the editor with the link's token. Listing and revoking take what sharing takes:
//! the share claim or the admin key.

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get},
    Json, Router,
};
use tandem_persistence::{LinkStore, ShareLink};

use crate::{edge::Authorized, error::ApiError, state::SharedState};

pub(crate) fn routes() -> Router<SharedState> {
    Router::new()
        .route("/api/documents/{doc}/links", get(list))
        .route("/api/documents/{doc}/links/{id}", delete(revoke))
        .route("/s/{id}", get(short))
}

fn store(state: &SharedState) -> Result<&dyn LinkStore, ApiError> {
    state
        .store
        .links()
        .ok_or_else(|| ApiError::unavailable("this server's store keeps no share links"))
}

fn may_share(grant: &crate::auth::Grant) -> Result<(), ApiError> {
    if grant.share {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "only who may share this document sees and revokes its links (the share claim)",
        )
        .with_code("share_denied"))
    }
}

fn view(link: &ShareLink) -> serde_json::Value {
    let mut v = serde_json::to_value(link).unwrap_or_default();
    v["short_url"] = format!("/s/{}", link.id).into();
    v
}

async fn list(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
) -> Result<Json<serde_json::Value>, ApiError> {
    may_share(&grant)?;
    let links = store(&state)?.links_of(&doc).await?;
    Ok(Json(
        serde_json::json!({ "links": links.iter().map(view).collect::<Vec<_>>() }),
    ))
}

async fn revoke(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    may_share(&grant)?;
    let now = crate::auth::now_secs() as i64;
    let link = store(&state)?
        .revoke_link(&doc, &id, now)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("link {id:?} of document {doc:?}")))?;
    crate::link_checks::close_open(&state, &link.id, &link.token).await;
    tracing::info!(doc = %doc, link = %link.id, "revoked a link");
    Ok(Json(view(&link)))
}

/// A short address: on to the editor with the link's token. A revoked or expired link is
/// sent on too, so the editor says which it is.
async fn short(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
    let link = match store(&state) {
        Ok(links) => links.link(&id).await,
        Err(e) => return e.into_response(),
    };
    match link {
        Ok(Some(link)) => {
            let to = format!(
                "/d/{}?token={}",
                encode(&link.document),
                encode(&link.token)
            );
            (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
        }
        Ok(None) => ApiError::not_found(format!("link {id:?}")).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Percent-encodes all but URL-safe characters (a token is already URL-safe).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
