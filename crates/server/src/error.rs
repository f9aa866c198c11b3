//! The one error type HTTP handlers return: a status and a message, sent as
//! `{"error": "..."}` so every client sees why a request failed.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use crate::{auth::AuthError, names::NameError, room::RoomError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        ApiError::new(e.status(), e.to_string())
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::InvalidUpdate(_) => ApiError::bad_request(e.to_string()),
            RoomError::Storage(_) | RoomError::Closed => ApiError::unavailable(e.to_string()),
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
