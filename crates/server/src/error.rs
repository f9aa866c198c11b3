//! The one error type HTTP handlers return: a status and a message, sent as
//! `{"error": "..."}` so every client sees why a request failed.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};

use crate::{
    auth::AuthError, client_limits::ClientLimitError, names::NameError, room::RoomError,
    session::SessionError, state::SharedState,
};

#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// A machine-readable reason (`"token_expired"`, `"document_deleted"`, ...), sent as
    /// `"code"` beside the message, for refusals a client must tell apart: an expired link
    /// and a deleted document both end a session, but the editor says different things.
    pub code: Option<&'static str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: None,
        }
    }
    pub(crate) fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }
    pub(crate) fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

/// The body of every refusal on the API's routes (`GET /api/openapi.json` calls it
/// `ErrorBody`): one message for people, and a code where a client must tell refusals
/// apart (an expired link from a revoked one, a deleted document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// Why the request was refused.
    pub(crate) error: String,
    /// `token_missing`, `token_invalid`, `token_expired`, `token_revoked`, `wrong_document`,
    /// `read_only`, `admin_required` or `document_deleted`; absent for other refusals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<&'static str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
                code: self.code,
            }),
        )
            .into_response()
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<crate::names::TitleError> for ApiError {
    fn from(e: crate::names::TitleError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let status = match e {
            SessionError::Full => StatusCode::SERVICE_UNAVAILABLE,
            SessionError::PerIp(_) | SessionError::PerToken(_) => StatusCode::TOO_MANY_REQUESTS,
            SessionError::Unknown => StatusCode::GONE,
            SessionError::NotYours => StatusCode::FORBIDDEN,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<ClientLimitError> for ApiError {
    fn from(e: ClientLimitError) -> Self {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
    }
}

impl From<crate::usage::UsageError> for ApiError {
    fn from(e: crate::usage::UsageError) -> Self {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::new(e.status(), e.to_string()).with_code(e.code())
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::InvalidUpdate(_) => ApiError::bad_request(e.to_string()),
            RoomError::Storage(_) | RoomError::Closed => ApiError::unavailable(e.to_string()),
            RoomError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()),
            RoomError::MissingDependencies(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            RoomError::RateLimited(_)
            | RoomError::ClientMemory(_)
            | RoomError::WriteQuota(_)
            | RoomError::ClientRate(_) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.to_string())
            }
            RoomError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

impl From<tandem_persistence::StoreError> for ApiError {
    fn from(e: tandem_persistence::StoreError) -> Self {
        use tandem_persistence::StoreError as E;
        match e {
            E::AlreadyExists(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            _ => {
                tracing::warn!(error = %e, "database error in API request");
                ApiError::unavailable(format!("database unavailable: {e}"))
            }
        }
    }
}

/// Answers `/api/...` paths that name nothing, instead of the editor's page.
pub(crate) async fn api_not_found() -> ApiError {
    metrics::counter!(crate::metric_names::REFUSALS, "reason" => "unknown_api_path").increment(1);
    ApiError::not_found("API endpoint")
}

/// Turns any error response that is not already JSON (axum's own refusals: wrong method,
/// unreadable path or query, a failed upgrade) into the JSON error every client expects,
/// with a fixed message: the original text can name internal types and parser positions.
///
/// Refusals for want of a credential (401, 403) are logged too, at INFO, so the log limit
/// bounds them: a client probing for tokens is visible without flooding the log. The
/// query is left out of the line (it may carry a token).
pub(crate) async fn json_errors(
    State(state): State<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| state.trusted_proxies.client_ip(peer.ip(), req.headers()));
    let res = next.run(req).await;
    let status = res.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        tracing::info!(%method, %path, status = status.as_u16(), client = ?client, "request refused");
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let message = match status {
        StatusCode::BAD_REQUEST => "malformed request: check the path, query and headers",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this path",
        StatusCode::PAYLOAD_TOO_LARGE => {
            "request body is larger than the server's message size limit"
        }
        StatusCode::UPGRADE_REQUIRED => "this path needs a WebSocket upgrade",
        s if s.is_server_error() => "internal error",
        s => s.canonical_reason().unwrap_or("request refused"),
    };
    let mut out = ApiError::new(status, message).into_response();
    // Keep headers such as `Allow` or `Retry-After`, but not the old body's description.
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    out
}
