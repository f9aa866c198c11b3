//! A document's identity, checked when a client connects.
//!
//! A document's stored id is never reused (see `DocumentInfo::id`), so an editor that keeps
//! an offline copy remembers the id of the document it copied and names it on every
//! connection (`?doc_id=`). If that document was deleted, possibly while the editor was
//! closed or offline, the name now holds nothing or another document: the connection is
//! refused with 410 and code `document_deleted`, before the client's sync step could write
//! the stale copy into it. Without a `doc_id` nothing is checked (a first visit, or a
//! client that keeps no copy).

use axum::{extract::FromRequestParts, extract::Query, http::request::Parts, http::StatusCode};
use serde::Deserialize;

use crate::{error::ApiError, state::SharedState};

#[derive(Deserialize)]
struct IdentityQuery {
    doc_id: Option<i64>,
}

/// The identity a client says its copy of the document has.
pub(crate) struct ClaimedIdentity(pub(crate) Option<i64>);

impl FromRequestParts<SharedState> for ClaimedIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let Query(q) = Query::<IdentityQuery>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("?doc_id= must be a document id (an integer)"))?;
        Ok(ClaimedIdentity(q.doc_id))
    }
}

/// The refusal a client holding a copy of a deleted document gets.
pub(crate) fn deleted(doc: &str) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        format!(
            "document {doc:?} was deleted: the copy this client holds belongs to it; \
             it is not written into the document now under that name"
        ),
    )
    .with_code("document_deleted")
}

/// Refuses a client whose copy is of another (deleted) incarnation of `doc`.
pub(crate) async fn check(
    state: &SharedState,
    doc: &str,
    ClaimedIdentity(claimed): ClaimedIdentity,
) -> Result<(), ApiError> {
    let Some(claimed) = claimed else {
        return Ok(());
    };
    let stored = state.store.document(doc).await?.and_then(|info| info.id);
    if stored == Some(claimed) {
        Ok(())
    } else {
        metrics::counter!(crate::metric_names::AUTH_REFUSED, "reason" => "document_deleted")
            .increment(1);
        Err(deleted(doc))
    }
}
