//! A document's versions: listing, reading, naming one, restoring one.

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use tandem_persistence::{Version, VersionInfo, VersionKind};

use super::must_exist;
use crate::openapi_parts::{Binary, DocPath, Refused};
use crate::{
    edge::{Admin, Authorized, ClientIp, Credentials, Doc, Write},
    error::{ApiError, ErrorBody},
    extract::JsonBody,
    room::Request,
    state::SharedState,
};

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct VersionList {
    /// Oldest first.
    versions: Vec<VersionInfo>,
}

/// The `{n}` segment: a version's number, from 1.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // described, never built: parsed by `parse_version`
pub(crate) struct VersionPath {
    /// The version's number (a positive integer; anything else is refused with 400).
    #[param(minimum = 1, example = 1)]
    n: i64,
}

#[utoipa::path(
    get, path = "/api/documents/{doc}/versions", tag = "versions",
    summary = "A document's versions",
    params(DocPath),
    responses((status = 200, body = VersionList), Refused)
)]
pub(super) async fn versions(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
) -> Result<Json<VersionList>, ApiError> {
    must_exist(&state, &doc).await?;
    let versions = state.store.list_versions(&doc).await?;
    Ok(Json(VersionList { versions }))
}

fn parse_version(n: &str) -> Result<i64, ApiError> {
    n.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request("version must be a positive integer"))
}

pub(super) async fn load_version(
    state: &SharedState,
    doc: &str,
    n: &str,
) -> Result<tandem_persistence::Version, ApiError> {
    let n = parse_version(n)?;
    state
        .store
        .version(doc, n)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("version {n} of {doc:?}")))
}

#[utoipa::path(
    get, path = "/api/documents/{doc}/versions/{n}", tag = "versions",
    summary = "One version, with its text",
    params(DocPath, VersionPath),
    responses((status = 200, body = Version), Refused)
)]
pub(super) async fn version(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
    Path((_, n)): Path<(String, String)>,
) -> Result<Json<tandem_persistence::Version>, ApiError> {
    Ok(Json(load_version(&state, &doc, &n).await?))
}

#[utoipa::path(
    get, path = "/api/documents/{doc}/versions/{n}/state", tag = "versions",
    summary = "One version's Yjs state (v1 encoding)",
    params(DocPath, VersionPath),
    responses(
        (status = 200, content_type = "application/octet-stream", body = Binary),
        Refused,
    )
)]
pub(super) async fn version_state(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
    Path((_, n)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let v = load_version(&state, &doc, &n).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        v.state,
    )
        .into_response())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub(crate) struct VersionBody {
    /// The version's name, at most 200 characters (the body may be left out).
    label: Option<String>,
}

#[utoipa::path(
    post, path = "/api/documents/{doc}/versions", tag = "versions",
    summary = "Name the document's current state as a version",
    params(DocPath),
    request_body(content = Option<VersionBody>, content_type = "application/json"),
    responses(
        (status = 201, body = VersionInfo, links(
            ("read" = (operation_id = "get_api_documents_doc_versions_n", parameters(
                ("doc" = "$request.path.doc"), ("n" = "$response.body#/version")))),
            ("state" = (operation_id = "get_api_documents_doc_versions_n_state", parameters(
                ("doc" = "$request.path.doc"), ("n" = "$response.body#/version")))),
        )),
        (status = 409, description = "Too many named versions", body = ErrorBody),
        Refused,
    )
)]
pub(super) async fn create_version(
    State(state): State<SharedState>,
    Authorized { doc, grant, .. }: Authorized<Write>,
    ClientIp(ip): ClientIp,
    creds: Credentials,
    req: axum::extract::Request,
) -> Result<(StatusCode, Json<tandem_persistence::VersionInfo>), ApiError> {
    let body = JsonBody::<VersionBody>::read(req, &state).await?;
    must_exist(&state, &doc).await?;
    // Taking the version loads the document: it counts as one the client has open.
    let _hold = crate::transport::open_document(&state, ip, &creds, &grant, &doc)?;
    let label = body.and_then(|b| b.0.label).map(|l| l.trim().to_string());
    if label.as_ref().is_some_and(|l| l.chars().count() > 200) {
        return Err(ApiError::bad_request("label is longer than 200 characters"));
    }
    if let Some(l) = &label {
        crate::names::check_visible(l)
            .map_err(|e| ApiError::bad_request(format!("a label {e}")))?;
    }
    let label = label.filter(|l| !l.is_empty());
    let max = state.config.max_named_versions;
    if max > 0 {
        let named = state
            .store
            .list_versions(&doc)
            .await?
            .iter()
            .filter(|v| v.kind == VersionKind::Named)
            .count();
        if named >= max {
            metrics::counter!(crate::metric_names::LIMIT_REFUSALS, "limit" => "named_versions")
                .increment(1);
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("this document has {named} named versions, the most allowed ({max})"),
            ));
        }
    }
    let info = state
        .rooms
        .request(&doc, |done| Request::CreateVersion {
            kind: VersionKind::Named,
            label,
            done,
        })
        .await
        .ok_or_else(|| ApiError::unavailable("document is closing; retry"))??;
    Ok((StatusCode::CREATED, Json(info)))
}

/// Who restores, when the credential names nobody (the admin key, an open server).
#[derive(Deserialize, Default, utoipa::ToSchema)]
pub(crate) struct RestoreBody {
    /// The name the restorer shows in presence, at most 64 characters (the body may be left
    /// out).
    author: Option<String>,
}

#[utoipa::path(
    post, path = "/api/documents/{doc}/versions/{n}/restore", tag = "versions",
    summary = "Make an old version the document's content again (admin key)",
    params(DocPath, VersionPath),
    request_body(content = Option<RestoreBody>, content_type = "application/json"),
    responses((status = 200, description = "The version the restore made", body = VersionInfo),
        Refused)
)]
pub(super) async fn restore(
    State(state): State<SharedState>,
    Doc(doc): Doc,
    _: Admin,
    ClientIp(ip): ClientIp,
    Path((_, n)): Path<(String, String)>,
    req: axum::extract::Request,
) -> Result<Json<tandem_persistence::VersionInfo>, ApiError> {
    let body = JsonBody::<RestoreBody>::read(req, &state).await?;
    let author = body
        .and_then(|b| b.0.author)
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    if let Some(a) = &author {
        if a.chars().count() > 64 {
            return Err(ApiError::bad_request("author is longer than 64 characters"));
        }
        crate::names::check_visible(a)
            .map_err(|e| ApiError::bad_request(format!("an author {e}")))?;
    }
    let old = load_version(&state, &doc, &n).await?;
    // The restored text is written again (an update and a version): the admin's address
    // pays for it in its write quota.
    state
        .client_limits
        .usage()
        .write(ip, None, old.text.len() * 2)?;
    let label = Some(format!("restored from version {}", old.info.version));
    let info = state
        .rooms
        .request(&doc, |done| Request::Restore {
            state: old.state,
            label,
            author,
            done,
        })
        .await
        .ok_or_else(|| ApiError::unavailable("document is closing; retry"))??;
    Ok(Json(info))
}
