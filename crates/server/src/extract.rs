//! Request extractors whose refusals are the usual JSON errors, with messages written here
//! rather than passed through from axum or serde (those name internal types, buffer states
//! and parser positions).

use axum::{
    body::Bytes,
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::{header, HeaderMap, StatusCode},
    Json,
};
use serde::de::DeserializeOwned;

use crate::{error::ApiError, metric_names as m};

/// A binary request body (Yjs updates, y-protocol messages). It must be sent as
/// `application/octet-stream`: a cross-site form or `fetch` without a preflight can only
/// send `text/plain`, `multipart/form-data` or `application/x-www-form-urlencoded`, so
/// requiring this type keeps other web pages from writing to documents.
pub(crate) struct BinaryBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BinaryBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !has_content_type(req.headers(), "application/octet-stream") {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body with Content-Type: application/octet-stream",
            ));
        }
        Bytes::from_request(req, state)
            .await
            .map(BinaryBody)
            .map_err(|e| body_error(e.status()))
    }
}

/// A JSON request body. Malformed JSON and JSON of the wrong shape are told apart, but
/// serde's own message (types, line and column) is not echoed.
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(JsonBody(value)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body with Content-Type: application/json",
            )),
            Err(JsonRejection::JsonSyntaxError(_)) => Err(refuse(
                StatusCode::BAD_REQUEST,
                "bad_json",
                "the body is not valid JSON",
            )),
            Err(JsonRejection::JsonDataError(_)) => Err(refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_json",
                "the JSON body lacks a required field or has a value of the wrong type or range \
                 (see docs/PROTOCOL.md)",
            )),
            Err(other) => Err(body_error(other.status())),
        }
    }
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
