//! Webhook endpoints, managed with the admin key (docs/webhooks.md).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};
use tandem_persistence::{Endpoint, NewEndpoint};

use crate::{
    edge::Admin,
    error::ApiError,
    extract::JsonBody,
    names,
    state::SharedState,
    webhooks::{self, events, Webhooks},
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateRequest {
    url: String,
    #[serde(default)]
    prefix: String,
    doc: Option<String>,
    events: Option<Vec<String>>,
    secret: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateRequest {
    secret: Option<String>,
    keep_old_secs: Option<u64>,
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

/// An endpoint without its secret (shown only when it is created).
fn view(e: &Endpoint) -> Value {
    let mut v = json!(e);
    if let Some(obj) = v.as_object_mut() {
        obj.remove("secret");
        obj.remove("previous_secret");
        obj.insert("enabled".into(), json!(e.enabled()));
    }
    v
}

pub(super) async fn create(
    State(state): State<SharedState>,
    _: Admin,
    JsonBody(req): JsonBody<CreateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
    body["secret"] = json!(endpoint.secret);
    Ok((StatusCode::CREATED, Json(body)))
}

pub(super) async fn list(
    State(state): State<SharedState>,
    _: Admin,
) -> Result<Json<Value>, ApiError> {
    let endpoints = service(&state)?.store().endpoints().await?;
    Ok(Json(
        json!({ "webhooks": endpoints.iter().map(view).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn show(
    State(state): State<SharedState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let store = service(&state)?.store();
    let endpoint = store
        .endpoint(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("webhook {id}")))?;
    let attempts = store.attempts(id, ATTEMPTS_SHOWN).await?;
    let mut body = view(&endpoint);
    body["attempts"] = json!(attempts);
    Ok(Json(body))
}

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
pub(super) async fn test(
    State(state): State<SharedState>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "message_id": message_id,
        "delivered": answer.delivered(),
        "status": answer.status,
        "duration_ms": answer.took.as_millis() as u64,
        "error": answer.error,
    })))
}

/// Replaces the signing secret (a given one, or a generated one); the old one signs too,
/// as a second signature, for `keep_old_secs` (default a day), so receivers switch keys
/// without refusing anything.
pub(super) async fn rotate(
    State(state): State<SharedState>,
    _: Admin,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<RotateRequest>,
) -> Result<Json<Value>, ApiError> {
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
    out["secret"] = json!(endpoint.secret);
    Ok(Json(out))
}
