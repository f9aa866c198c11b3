//! Why a request was refused access: the reason for people (the message), the status, and
//! the `code` a client tells refusals apart by (an expired link is not a revoked one).

use axum::http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("an access token is required (?token= or Authorization: Bearer)")]
    Missing,
    #[error("access token is malformed or its signature is wrong")]
    Invalid,
    #[error("access token has expired")]
    Expired,
    #[error("this link was revoked by the person who shared it")]
    Revoked,
    #[error("access token does not grant access to this document")]
    WrongDocument,
    #[error("access token is read-only")]
    ReadOnly,
    #[error(
        "only the server's admin may do this: send the admin key as `Authorization: Bearer \
         <admin key>` (a document token, even with write access, is not enough)"
    )]
    AdminRequired,
    #[error(
        "only the server's admin may do this, and this server has no admin key \
         (start it with --admin-key or TANDEM_ADMIN_KEY)"
    )]
    NoAdminKey,
}

impl AuthError {
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::Missing | AuthError::Invalid | AuthError::Expired => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::WrongDocument
            | AuthError::Revoked
            | AuthError::ReadOnly
            | AuthError::AdminRequired
            | AuthError::NoAdminKey => StatusCode::FORBIDDEN,
        }
    }

    /// The `code` of the refusal's JSON body, which the editor tells apart.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "token_missing",
            AuthError::Invalid => "token_invalid",
            AuthError::Expired => "token_expired",
            AuthError::Revoked => "token_revoked",
            AuthError::WrongDocument => "wrong_document",
            AuthError::ReadOnly => "read_only",
            AuthError::AdminRequired | AuthError::NoAdminKey => "admin_required",
        }
    }

    pub(crate) fn label(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Invalid => "invalid",
            AuthError::Expired => "expired",
            AuthError::Revoked => "revoked",
            AuthError::WrongDocument => "wrong_document",
            AuthError::ReadOnly => "read_only",
            AuthError::AdminRequired | AuthError::NoAdminKey => "admin_required",
        }
    }
}
