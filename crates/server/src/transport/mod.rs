//! The three ways a client reaches a room. Each is a thin adapter over [`crate::peer`]:
//! WebSocket maps frames one to one; SSE and long polling share [`crate::session`], a
//! buffered peer that outlives individual HTTP requests.

pub(crate) mod hocuspocus;
pub(crate) mod poll;
pub(crate) mod sse;
pub(crate) mod ws;

use std::net::IpAddr;

use crate::{
    auth::Grant, edge::Credentials, error::ApiError, holds::Hold, session::Owner,
    state::SharedState,
};
use axum::{
    routing::{get, post},
    Router,
};

pub(crate) fn routes() -> Router<SharedState> {
    let mut router = Router::new();
    // Disabled transports are still routed, to answer with a clear refusal instead of the
    // SPA fallback page.
    router = router.route("/ws/{doc}", get(ws::upgrade));
    router = router.route("/hocuspocus", get(hocuspocus::upgrade));
    router = router
        .route("/sse/{doc}", get(sse::open))
        // DELETE ends the session at once (a closing tab), instead of after the idle timeout.
        .route("/sse/{doc}/{session}", post(sse::send).delete(poll::close));
    router = router.route("/poll/{doc}", post(poll::open)).route(
        "/poll/{doc}/{session}",
        get(poll::receive).post(poll::send).delete(poll::close),
    );
    // One POST carries messages like one WebSocket frame: the same size limit (413), set
    // for every route in `app::router`.
    router
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
/// counted by address only), until the returned hold is dropped.
pub(crate) fn hold(
    state: &SharedState,
    ip: IpAddr,
    c: &Credentials,
    grant: &Grant,
    doc: &str,
) -> Result<Hold, ApiError> {
    let token = if grant.admin { None } else { credential(c) };
    Ok(state.holds.hold(ip, token, doc)?)
}

/// [`hold`] for a new connection or session. A client that has spent its message
/// allowance (`usage`) is refused first: reconnecting as fast as the last connection was
/// closed for flooding gains it nothing, not even a sync.
pub(crate) fn admit(
    state: &SharedState,
    ip: IpAddr,
    c: &Credentials,
    grant: &Grant,
    doc: &str,
) -> Result<Hold, ApiError> {
    let token = if grant.admin { None } else { credential(c) };
    state.holds.usage().out_of_messages(ip, token)?;
    hold(state, ip, c, grant, doc)
}
