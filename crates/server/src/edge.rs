//! The HTTP edge: what a document route checks before its handler runs, done once here
//! as extractors so handlers take typed, already-checked arguments.
//!
//! - [`Enabled`]: the transport is switched on and the server is not shutting down.
//! - [`Authorized`]: the `{doc}` path segment is a valid [`DocName`] and the caller may
//!   read it (or, as `Authorized<Write>`, edit it), by `?token=` or a bearer credential.
//! - [`Admin`]: the caller holds the admin key (or the server is a private, open one).
//! - [`ClientIp`]: the client's address, forwarded by a trusted proxy or the TCP peer's.
//!
//! Axum runs extractors in argument order, so a handler lists them in the order the checks
//! must happen: a disabled transport is refused before a bad name, a bad name before auth.

use std::{
    marker::PhantomData,
    net::{IpAddr, SocketAddr},
};

use axum::{
    extract::{ConnectInfo, FromRequestParts, Query, RawPathParams},
    http::{request::Parts, StatusCode},
};
use axum_extra::{
    headers::{authorization::Bearer, Authorization},
    TypedHeader,
};
use serde::Deserialize;

use crate::{
    auth::{AuthError, Grant},
    error::ApiError,
    names::DocName,
    peer::{self, Access},
    state::SharedState,
};

/// `?token=` on document URLs: browsers can't set headers on WebSocket or EventSource.
#[derive(Debug, Default, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// What a request may prove itself with: a `?token=`, and a bearer credential (a token or
/// the admin key) when it sent a well-formed `Authorization` header.
pub(crate) struct Credentials {
    pub(crate) token: Option<String>,
    pub(crate) bearer: Option<String>,
}

impl FromRequestParts<SharedState> for Credentials {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let Query(query) = Query::<TokenQuery>::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::bad_request("malformed query string: ?token= must appear at most once")
            })?;
        Ok(Credentials {
            token: query.token,
            bearer: bearer(parts, state).await,
        })
    }
}

/// A malformed `Authorization` header counts as none.
async fn bearer(parts: &mut Parts, state: &SharedState) -> Option<String> {
    let TypedHeader(Authorization(bearer)) =
        TypedHeader::<Authorization<Bearer>>::from_request_parts(parts, state)
            .await
            .ok()?;
    Some(bearer.token().trim().to_string())
}

/// The validated `{doc}` segment of the route.
pub(crate) struct Doc(pub(crate) DocName);

impl FromRequestParts<SharedState> for Doc {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("the path is not valid percent-encoded UTF-8"))?;
        let raw = params
            .iter()
            .find(|(key, _)| *key == "doc")
            .map(|(_, value)| value.to_string())
            .ok_or_else(|| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "route has no {doc}")
            })?;
        Ok(Doc(DocName::parse(raw)?))
    }
}

/// What a route needs of the caller's grant.
pub(crate) trait Need {
    const ACCESS: Access;
}

/// Reading: any grant will do.
pub(crate) struct Read;
/// Editing: a read-only grant is refused with 403.
pub(crate) struct Write;

impl Need for Read {
    const ACCESS: Access = Access::Read;
}

impl Need for Write {
    const ACCESS: Access = Access::Write;
}

/// A document the caller may use as `N` says; open servers let everyone.
pub(crate) struct Authorized<N = Read> {
    pub(crate) doc: DocName,
    pub(crate) grant: Grant,
    need: PhantomData<N>,
}

impl<N: Need> FromRequestParts<SharedState> for Authorized<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let Doc(doc) = Doc::from_request_parts(parts, state).await?;
        let Credentials { token, bearer } = Credentials::from_request_parts(parts, state).await?;
        let grant = state
            .auth
            .document(&doc, token.as_deref(), bearer.as_deref())?;
        crate::link_checks::check(state, grant.link.as_deref()).await?;
        if N::ACCESS == Access::Write && grant.access == Access::Read {
            return Err(AuthError::ReadOnly.into());
        }
        Ok(Authorized {
            doc,
            grant,
            need: PhantomData,
        })
    }
}

/// The caller holds the admin key.
pub(crate) struct Admin;

impl FromRequestParts<SharedState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let bearer = bearer(parts, state).await;
        state.auth.admin(bearer.as_deref())?;
        Ok(Admin)
    }
}

/// A transport, as a type, for [`Enabled`].
pub(crate) trait Transport {
    const KIND: peer::Transport;
}

pub(crate) struct WebSocket;
pub(crate) struct Sse;
pub(crate) struct Poll;

impl Transport for WebSocket {
    const KIND: peer::Transport = peer::Transport::WebSocket;
}

impl Transport for Sse {
    const KIND: peer::Transport = peer::Transport::Sse;
}

impl Transport for Poll {
    const KIND: peer::Transport = peer::Transport::Poll;
}

/// The transport `T` is enabled and the server takes new work.
pub(crate) struct Enabled<T>(PhantomData<T>);

impl<T: Transport> FromRequestParts<SharedState> for Enabled<T> {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        if state.is_shutting_down() {
            return Err(ApiError::unavailable("server shutting down"));
        }
        let kind = T::KIND;
        if !state.config.transport_enabled(kind) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("the {kind:?} transport is disabled on this server").to_lowercase(),
            ));
        }
        Ok(Enabled(PhantomData))
    }
}

/// The client's address, what limits per address count against (`client_addr.rs`).
pub(crate) struct ClientIp(pub(crate) IpAddr);

impl FromRequestParts<SharedState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no client address"))?;
        Ok(ClientIp(
            state.trusted_proxies.client_ip(peer.ip(), &parts.headers),
        ))
    }
}
