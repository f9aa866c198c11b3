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
    let (message_id, answer) = hooks
        .send_test(&endpoint.url, &endpoint.secret, json!({ "endpoint": id }))
        .await;
    Ok(Json(json!({
        "message_id": message_id,
        "delivered": answer.delivered(),
        "status": answer.status,
        "duration_ms": answer.took.as_millis() as u64,
        "error": answer.error,
    })))
}
