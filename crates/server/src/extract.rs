//! Request extractors whose refusals are the usual JSON errors, with messages written here
//! rather than passed through from axum or serde (those name internal types, buffer states
//! and parser positions).

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, HeaderMap, StatusCode},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::{error::ApiError, metric_names as m, state::SharedState};

/// Largest body of the small JSON routes (create, rename, name a version, mint a token):
/// their fields are a name, a title or a label of a few hundred bytes at most.
pub(crate) const SMALL_BODY: usize = 64 * 1024;

/// Reads the body of `req`, at most `max` bytes, within the body deadline. A declared
/// length over `max` is refused before anything is read.
pub(crate) async fn read_body(
    state: &SharedState,
    req: Request,
    max: usize,
) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    let read = Limited::new(req.into_body(), max).collect();
    let secs = state.config.edge.body_read_timeout_secs;
    let collected = if secs == 0 {
        read.await
    } else {
        match tokio::time::timeout(Duration::from_secs(secs), read).await {
            Ok(done) => done,
            Err(_) => {
                return Err(refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    &format!(
                        "the request body did not arrive within {secs} s \
                         (setting --body-read-timeout-secs)"
                    ),
                ))
            }
        }
    };
    match collected {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large(max)),
        Err(_) => Err(body_error(StatusCode::BAD_REQUEST)),
    }
}

fn too_large(max: usize) -> ApiError {
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        &format!("request body is larger than this route accepts ({max} bytes)"),
    )
}

/// A binary request body (Yjs updates, y-protocol messages), of at most the message size
/// limit. It must be sent as
/// `application/octet-stream`: a cross-site form or `fetch` without a preflight can only
/// send `text/plain`, `multipart/form-data` or `application/x-www-form-urlencoded`, so
/// requiring this type keeps other web pages from writing to documents.
pub(crate) struct BinaryBody(pub Bytes);

impl FromRequest<SharedState> for BinaryBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &SharedState) -> Result<Self, ApiError> {
        if !has_content_type(req.headers(), "application/octet-stream") {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body with Content-Type: application/octet-stream",
            ));
        }
        let max = state.config.max_message_size;
        read_body(state, req, max).await.map(BinaryBody)
    }
}

/// A small JSON request body (at most [`SMALL_BODY`], and never more than the message
/// size limit). Malformed JSON and JSON of the
/// wrong shape are told apart, but serde's own message (types, line and column) is not
/// echoed.
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<SharedState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &SharedState) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(not_json());
        }
        JsonBody::read(req, state).await?.ok_or_else(bad_json)
    }
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// The body, or `None` when it is empty (for routes where every field is optional).
    pub(crate) async fn read(req: Request, state: &SharedState) -> Result<Option<Self>, ApiError> {
        let typed = is_json(req.headers());
        let max = SMALL_BODY.min(state.config.max_message_size);
        let bytes = read_body(state, req, max).await?;
        if bytes.is_empty() {
            return Ok(None);
        }
        if !typed {
            return Err(not_json());
        }
        parse(&bytes).map(|v| Some(JsonBody(v)))
    }
}

fn not_json() -> ApiError {
    refuse(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the body with Content-Type: application/json",
    )
}

fn bad_json() -> ApiError {
    refuse(
        StatusCode::BAD_REQUEST,
        "bad_json",
        "the body is not valid JSON",
    )
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_json",
            "the JSON body lacks a required field or has a value of the wrong type or range \
             (see docs/PROTOCOL.md)",
        ),
        _ => bad_json(),
    })
}

/// `application/json`, or a `+json` type, as axum's own JSON extractor takes.
fn is_json(headers: &HeaderMap) -> bool {
    has_content_type(headers, "application/json")
        || headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().to_ascii_lowercase().ends_with("+json"))
}

/// The refusal for a body that could not be read: too large, or cut off.
pub(crate) fn body_error(status: StatusCode) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        refuse(
            status,
            "body_too_large",
            "request body is larger than the server's message size limit",
        )
    } else {
        refuse(
            StatusCode::BAD_REQUEST,
            "body_unreadable",
            "the request body could not be read",
        )
    }
}

fn refuse(status: StatusCode, reason: &'static str, message: &str) -> ApiError {
    metrics::counter!(m::REFUSALS, "reason" => reason).increment(1);
    ApiError::new(status, message)
}

/// Whether the Content-Type's media type (parameters aside, any case) is `expected`.
fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_is_matched_by_media_type() {
        let mut h = HeaderMap::new();
        assert!(!has_content_type(&h, "application/octet-stream"));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!has_content_type(&h, "application/octet-stream"));
        h.insert(
            header::CONTENT_TYPE,
            "Application/Octet-Stream; x=1".parse().unwrap(),
        );
        assert!(has_content_type(&h, "application/octet-stream"));
    }
}
