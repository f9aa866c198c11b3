//! A document's versions: listing, reading, naming one, restoring one.

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use tandem_persistence::VersionKind;

use super::must_exist;
use crate::{
    edge::{Admin, Authorized, ClientIp, Credentials, Doc, Write},
    error::ApiError,
    extract::JsonBody,
    room::Request,
    state::SharedState,
};

pub(super) async fn versions(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
) -> Result<Json<serde_json::Value>, ApiError> {
    must_exist(&state, &doc).await?;
    let versions = state.store.list_versions(&doc).await?;
    Ok(Json(serde_json::json!({ "versions": versions })))
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

pub(super) async fn version(
    State(state): State<SharedState>,
    Authorized { doc, .. }: Authorized,
    Path((_, n)): Path<(String, String)>,
) -> Result<Json<tandem_persistence::Version>, ApiError> {
    Ok(Json(load_version(&state, &doc, &n).await?))
}

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

#[derive(Deserialize, Default)]
pub(super) struct VersionBody {
    label: Option<String>,
}

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
    let _hold = crate::transport::hold(&state, ip, &creds, &grant, &doc)?;
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

pub(super) async fn restore(
    State(state): State<SharedState>,
    Doc(doc): Doc,
    _: Admin,
    ClientIp(ip): ClientIp,
    Path((_, n)): Path<(String, String)>,
) -> Result<Json<tandem_persistence::VersionInfo>, ApiError> {
    let old = load_version(&state, &doc, &n).await?;
    // The restored text is written again (an update and a version): the admin's address
    // pays for it in its write quota.
    state.holds.usage().write(ip, None, old.text.len() * 2)?;
    let label = Some(format!("restored from version {}", old.info.version));
    let info = state
        .rooms
        .request(&doc, |done| Request::Restore {
            state: old.state,
            label,
            done,
        })
        .await
        .ok_or_else(|| ApiError::unavailable("document is closing; retry"))??;
    Ok(Json(info))
}
