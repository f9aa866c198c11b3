//! Webhook endpoints, managed with the admin key (docs/webhooks.md).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_persistence::{Attempt, Endpoint, NewEndpoint};

use crate::openapi_parts::Refused;
use crate::{
    edge::Admin,
    error::ApiError,
    extract::JsonBody,
    names,
    state::SharedState,
    webhooks::{self, events, Webhooks},
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    /// Where to POST: `https://` (or `http://` when allowed), resolving to a public address.
    url: String,
    /// Follow the documents whose name starts with this ('' or left out: every document).
    #[serde(default)]
    prefix: String,
    /// Follow only this document.
    doc: Option<String>,
    /// The events to send (all of them by default).
    events: Option<Vec<String>>,
    /// A `whsec_...` signing secret; one is generated without it.
    secret: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateRequest {
    /// The new `whsec_...` secret; one is generated without it.
    secret: Option<String>,
    /// How long the old secret signs too, in seconds (a day by default, a week at most).
    #[schema(minimum = 0, maximum = 604800)]
    keep_old_secs: Option<u64>,
}

/// An endpoint as the API shows it: what is stored, without its secrets.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EndpointView {
    id: i64,
    url: String,
    /// Documents whose name starts with this ('' for every document).
    prefix: String,
    /// One exact document, when the endpoint follows only that one.
    document: Option<String>,
    events: Vec<String>,
    /// Until when (Unix ms) the secret before the last rotation signs too.
    previous_secret_until_ms: i64,
    created_at: chrono::DateTime<chrono::Utc>,
    disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    disabled_reason: Option<String>,
    /// Whether deliveries are made (an endpoint that keeps failing is disabled).
    enabled: bool,
    /// The signing secret: only when the endpoint is created or its secret rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EndpointList {
    webhooks: Vec<EndpointView>,
}

/// One endpoint with its latest delivery attempts.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EndpointDetail {
    #[serde(flatten)]
    endpoint: EndpointView,
    /// The latest attempts, newest first (at most 50).
    attempts: Vec<Attempt>,
}

/// What the receiver said to a `webhook.test` message.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TestResult {
    message_id: String,
    /// Whether it answered with a 2xx status.
    delivered: bool,
    /// The status it answered with, if it answered.
    status: Option<u16>,
    duration_ms: u64,
    /// Why it was not delivered.
    error: Option<String>,
}

/// How long the old secret signs too after a rotation, by default and at most.
const KEEP_OLD_SECS: u64 = 86_400;
const MAX_KEEP_OLD_SECS: u64 = 7 * 86_400;

/// Attempts shown with one endpoint.
const ATTEMPTS_SHOWN: i64 = 50;

fn service(state: &SharedState) -> Result<&Arc<Webhooks>, ApiError> {
    state
        .webhooks
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("this server's store keeps no webhooks"))
}

/// An endpoint without its secrets (the current one is shown only when it is created or
/// rotated).
fn view(e: &Endpoint) -> EndpointView {
    EndpointView {
        id: e.id,
        url: e.url.clone(),
        prefix: e.prefix.clone(),
        document: e.document.clone(),
        events: e.events.clone(),
        previous_secret_until_ms: e.previous_secret_until_ms,
        created_at: e.created_at,
        disabled_at: e.disabled_at,
        disabled_reason: e.disabled_reason.clone(),
        enabled: e.enabled(),
        secret: None,
    }
}

#[utoipa::path(
    post, path = "/api/webhooks", tag = "webhooks",
    summary = "Add an endpoint (admin key); the answer holds its secret, shown only here",
    request_body = CreateRequest,
    responses((status = 201, body = EndpointView), Refused)
)]
pub(super) async fn create(
    State(state): State<SharedState>,
    _: Admin,
    JsonBody(req): JsonBody<CreateRequest>,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    let hooks = service(&state)?;
    if !req.prefix.is_empty() {
        names::validate(&req.prefix).map_err(|e| ApiError::bad_request(format!("prefix: {e}")))?;
    }
    if let Some(doc) = &req.doc {
        names::validate(doc)?;
    }
    let events = match req.events {
        None => events::ALL.iter().map(|e| e.to_string()).collect(),
        Some(list) if list.is_empty() => {
            return Err(ApiError::bad_request("events: name at least one event"))
        }
        Some(list) => {
            if let Some(bad) = list.iter().find(|e| !events::ALL.contains(&e.as_str())) {
                return Err(ApiError::bad_request(format!(
                    "unknown event {bad:?}: expected one of {}",
                    events::ALL.join(", ")
                )));
            }
            list
        }
    };
    let secret = match req.secret {
        Some(s) => {
            webhooks::secret_key(&s).map_err(|e| ApiError::bad_request(e.to_string()))?;
            s
        }
        None => webhooks::generate_secret(),
    };
    hooks
        .check_url(&req.url)
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let endpoint = hooks
        .store()
        .create_endpoint(&NewEndpoint {
            url: req.url,
            prefix: req.prefix,
            document: req.doc,
            events,
            secret,
        })
        .await?;
    hooks.endpoint_added();
    tracing::info!(endpoint = endpoint.id, url = %endpoint.url, "webhook endpoint added");
    let mut body = view(&endpoint);
    body.secret = Some(endpoint.secret);
    Ok((StatusCode::CREATED, Json(body)))
}

#[utoipa::path(
    get, path = "/api/webhooks", tag = "webhooks",
    summary = "Every endpoint (admin key)",
    responses((status = 200, body = EndpointList), Refused)
)]
pub(super) async fn list(
    State(state): State<SharedState>,
    _: Admin,
) -> Result<Json<EndpointList>, ApiError> {
    let endpoints = service(&state)?.store().endpoints().await?;
    Ok(Json(EndpointList {
        webhooks: endpoints.iter().map(view).collect(),
    }))
}

/// The `{id}` segment of an endpoint's routes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // described, never built: axum's `Path<i64>` reads it
pub(crate) struct EndpointId {
    /// The endpoint's id (from `POST /api/webhooks`).
    id: i64,
}

#[utoipa::path(
    get, path = "/api/webhooks/{id}", tag = "webhooks",
    summary = "One endpoint and its latest delivery attempts (admin key)",
    params(EndpointId),
    responses((status = 200, body = EndpointDetail), Refused)
)]
pub(super) async fn show(
    State(state): State<SharedState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Json<EndpointDetail>, ApiError> {
    let store = service(&state)?.store();
    let endpoint = store
        .endpoint(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))?;
    let attempts = store.attempts(id, ATTEMPTS_SHOWN).await?;
    Ok(Json(EndpointDetail {
        endpoint: view(&endpoint),
        attempts,
    }))
}

#[utoipa::path(
    delete, path = "/api/webhooks/{id}", tag = "webhooks",
    summary = "Remove an endpoint (admin key)",
    params(EndpointId),
    responses((status = 204, description = "Removed"), Refused)
)]
pub(super) async fn delete(
    State(state): State<SharedState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if service(&state)?.store().delete_endpoint(id).await? {
        tracing::info!(endpoint = id, "webhook endpoint removed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("webhook {id}")))
    }
}

/// Sends a `webhook.test` message at once and answers with what the receiver said.
#[utoipa::path(
    post, path = "/api/webhooks/{id}/test", tag = "webhooks",
    summary = "Send a `webhook.test` message now (admin key)",
    params(EndpointId),
    responses((status = 200, body = TestResult), Refused)
)]
pub(super) async fn test(
    State(state): State<SharedState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Json<TestResult>, ApiError> {
    let hooks = service(&state)?;
    let endpoint = hooks
        .store()
        .endpoint(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (message_id, answer) = hooks
        .send_test(
            &endpoint.url,
            &endpoint.signing_secrets(now_ms),
            json!({ "endpoint": id }),
        )
        .await;
    Ok(Json(TestResult {
        message_id,
        delivered: answer.delivered(),
        status: answer.status,
        duration_ms: answer.took.as_millis() as u64,
        error: answer.error,
    }))
}

/// Replaces the signing secret (a given one, or a generated one); the old one signs too,
/// as a second signature, for `keep_old_secs` (default a day), so receivers switch keys
/// without refusing anything.
#[utoipa::path(
    post, path = "/api/webhooks/{id}/rotate", tag = "webhooks",
    summary = "Replace the signing secret; the old one signs too for a while (admin key)",
    params(EndpointId), request_body = RotateRequest,
    responses((status = 200, description = "The endpoint with its new secret",
        body = EndpointView), Refused)
)]
pub(super) async fn rotate(
    State(state): State<SharedState>,
    _: Admin,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<RotateRequest>,
) -> Result<Json<EndpointView>, ApiError> {
    let hooks = service(&state)?;
    let keep = req.keep_old_secs.unwrap_or(KEEP_OLD_SECS);
    if keep > MAX_KEEP_OLD_SECS {
        return Err(ApiError::bad_request(format!(
            "keep_old_secs must be at most {MAX_KEEP_OLD_SECS}"
        )));
    }
    let secret = match req.secret {
        Some(s) => {
            webhooks::secret_key(&s).map_err(|e| ApiError::bad_request(e.to_string()))?;
            s
        }
        None => webhooks::generate_secret(),
    };
    let until = chrono::Utc::now().timestamp_millis() + (keep * 1000) as i64;
    let endpoint = hooks
        .store()
        .rotate_secret(id, &secret, until)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))?;
    tracing::info!(
        endpoint = id,
        keep_old_secs = keep,
        "webhook secret rotated"
    );
    let mut out = view(&endpoint);
    out.secret = Some(endpoint.secret);
    Ok(Json(out))
}
