//! Share links as stored (migration 0007): what a sharer minted, for listing, revoking and
//! short addresses. Whether a link is honoured (token, expiry, revocation) is the server's.

use async_trait::async_trait;
use serde::Serialize;

use crate::Result;

/// One minted link.
#[derive(Debug, Clone, Serialize)]
pub struct ShareLink {
    /// The short id: the link's address is `/s/<id>`, and its token's `lid` claim.
    pub id: String,
    pub document: String,
    /// `read` or `write`.
    pub access: String,
    /// The name its holder is shown under ("guest of Ann").
    pub name: Option<String>,
    /// The sharer's name, when their token had one.
    pub created_by: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    #[serde(skip)]
    pub token: String,
}

#[async_trait]
pub trait LinkStore: Send + Sync {
    async fn create_link(&self, link: &ShareLink) -> Result<()>;
    /// The document's links, newest first.
    async fn links_of(&self, doc: &str) -> Result<Vec<ShareLink>>;
    async fn link(&self, id: &str) -> Result<Option<ShareLink>>;
    /// Marks the link revoked at `now` (kept if it already was); `None` when the document
    /// has no link with that id.
    /// Links revoked at or after `since` (Unix seconds): how other instances learn of a
    /// revocation made elsewhere, to close what the link has open with them.
    async fn revoked_since(&self, since: i64) -> Result<Vec<ShareLink>>;
    async fn revoke_link(&self, doc: &str, id: &str, now: i64) -> Result<Option<ShareLink>>;
}
