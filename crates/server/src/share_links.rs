//! The links of a document: `GET /api/documents/{doc}/links` lists them,
//! `DELETE /api/documents/{doc}/links/{id}` revokes one (its open connections are closed,
//! `revocation.rs`), and `GET /s/{id}` is a link's short address, which sends the browser
//! on to the editor with the link's token. Listing and revoking take what sharing takes:
//! the share claim or the admin key.

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json, Router,
};
use serde::Serialize;
use tandem_persistence::{LinkStore, ShareLink};

use crate::{
    edge::Authorized,
    error::{ApiError, ErrorBody},
    openapi_parts::{DocPath, Refused},
    route_table::route_table,
    state::SharedState,
};

route_table! {
    get "/api/documents/{doc}/links" => list,
    delete "/api/documents/{doc}/links/{id}" => revoke,
    get "/s/{id}" => short,
}

pub(crate) fn routes() -> Router<SharedState> {
    table()
}

/// The `{id}` segment: a link's short id.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // described, never built: axum's `Path` reads the segment
pub(crate) struct LinkPath {
    /// The link's short id (from `POST .../share` or `GET .../links`).
    id: String,
}

/// One link of a document, as its sharer sees it (never its token).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LinkView {
    /// The short id: the link's address is `/s/{id}`.
    id: String,
    document: String,
    /// `read` or `write`.
    access: String,
    /// The name its holder is shown under.
    name: Option<String>,
    /// Who shared it, when their token had a name.
    created_by: Option<String>,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds.
    expires_at: i64,
    /// Unix seconds; absent while the link works.
    revoked_at: Option<i64>,
    /// `/s/{id}`.
    short_url: String,
}

/// A document's links, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LinkList {
    links: Vec<LinkView>,
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

fn view(link: &ShareLink) -> LinkView {
    LinkView {
        id: link.id.clone(),
        document: link.document.clone(),
        access: link.access.clone(),
        name: link.name.clone(),
        created_by: link.created_by.clone(),
        created_at: link.created_at,
        expires_at: link.expires_at,
        revoked_at: link.revoked_at,
        short_url: format!("/s/{}", link.id),
    }
}

#[utoipa::path(
    get, path = "/api/documents/{doc}/links", tag = "access",
    summary = "The document's share links (the share claim or the admin key)",
    params(DocPath),
    responses(
        (status = 200, body = LinkList),
        (status = 403, description = "This credential may not share the document", body = ErrorBody),
        Refused,
    )
)]
pub(crate) async fn list(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
) -> Result<Json<LinkList>, ApiError> {
    may_share(&grant)?;
    let links = store(&state)?.links_of(&doc).await?;
    Ok(Json(LinkList {
        links: links.iter().map(view).collect(),
    }))
}

#[utoipa::path(
    delete, path = "/api/documents/{doc}/links/{id}", tag = "access",
    summary = "Revoke a link: its token is refused from now on and what it has open is closed",
    params(DocPath, LinkPath),
    responses(
        (status = 200, body = LinkView),
        (status = 403, description = "This credential may not share the document", body = ErrorBody),
        (status = 404, description = "No such link of this document", body = ErrorBody),
        Refused,
    )
)]
pub(crate) async fn revoke(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<LinkView>, ApiError> {
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
#[utoipa::path(
    get, path = "/s/{id}", tag = "access",
    summary = "A share link's short address: redirects to the editor with the link's token",
    params(LinkPath),
    responses(
        (status = 303, description = "On to `/d/{doc}?token=...`",
            headers(("location" = String, description = "The editor's address with the token"))),
        (status = 404, description = "No such link", body = ErrorBody),
        (status = 503, description = "This server keeps no links", body = ErrorBody),
    ),
    security(())
)]
pub(crate) async fn short(State(state): State<SharedState>, Path(id): Path<String>) -> Response {
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
