//! The three ways a client reaches a room. Each is a thin adapter over [`crate::peer`]:
//! WebSocket maps frames one to one; SSE and long polling share [`crate::session`], a
//! buffered peer that outlives individual HTTP requests.

mod close;
mod handshake;
pub(crate) mod hocuspocus;
mod metered;
pub(crate) mod poll;
mod socket_loop;
pub(crate) mod sse;
pub(crate) mod ws;

use std::net::IpAddr;

use crate::{
    auth::Grant, client_limits::OpenDocument, edge::Credentials, error::ApiError, session::Owner,
    state::SharedState,
};
use axum::Router;

// Disabled transports are still routed, to answer with a clear refusal instead of the SPA
// fallback page. DELETE ends a session at once (a closing tab), instead of after the idle
// timeout. One POST carries messages like one WebSocket frame: the same size limit (413),
// set for every route in `app::router`.
crate::route_table::route_table! {
    get "/ws/{doc}" => ws::upgrade,
    get "/hocuspocus" => hocuspocus::upgrade,
    get "/sse/{doc}" => sse::open,
    post "/sse/{doc}/{session}" => sse::send,
    delete "/sse/{doc}/{session}" => sse::close,
    post "/poll/{doc}" => poll::open,
    get "/poll/{doc}/{session}" => poll::receive,
    post "/poll/{doc}/{session}" => poll::send,
    delete "/poll/{doc}/{session}" => poll::close,
}

pub(crate) fn routes() -> Router<SharedState> {
    table()
}

/// The `{session}` segment of the SSE and polling routes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // described, never built
pub(crate) struct SessionPath {
    /// The session's id, from the `session` event (SSE) or `POST /poll/{doc}`.
    session: String,
}

/// The credential a request on an existing session presents; it must be the one the
/// session was opened with.
pub(crate) fn credential(c: &Credentials) -> Option<[u8; 32]> {
    crate::auth::credential(c.token.as_deref(), c.bearer.as_deref())
}

/// Who opens a session: the client's address (`edge::ClientIp`) and credential, and when its token expires.
pub(crate) fn owner(ip: IpAddr, c: &Credentials, grant: &Grant) -> Owner {
    Owner {
        ip,
        credential: credential(c),
        expires: grant.exp,
    }
}

/// Counts `doc` as open for this client, by its address and its token (the admin key is
/// counted by address only), until the returned [`OpenDocument`] is dropped.
pub(crate) fn open_document(
    state: &SharedState,
    ip: IpAddr,
    c: &Credentials,
    grant: &Grant,
    doc: &str,
) -> Result<OpenDocument, ApiError> {
    let token = if grant.admin { None } else { credential(c) };
    Ok(state.client_limits.open(ip, token, doc)?)
}

/// [`open_document`] for a new connection or session. A client that has spent its message
/// allowance (`usage`) is refused first: reconnecting as fast as the last connection was
/// closed for flooding gains it nothing, not even a sync.
pub(crate) fn admit(
    state: &SharedState,
    ip: IpAddr,
    c: &Credentials,
    grant: &Grant,
    doc: &str,
) -> Result<OpenDocument, ApiError> {
    let token = if grant.admin { None } else { credential(c) };
    state.client_limits.usage().out_of_messages(ip, token)?;
    open_document(state, ip, c, grant, doc)
}
