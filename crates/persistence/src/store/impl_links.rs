//! [`LinkStore`](crate::LinkStore) for both backends: the statements are the same in SQLite
//! and PostgreSQL, so they are written once, as [`super::impl_store`] is.

pub(super) const CREATE: &str = "INSERT INTO share_links
    (id, document, access, name, created_by, created_at, expires_at, revoked_at, token)
    VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)";
pub(super) const OF_DOCUMENT: &str = "SELECT * FROM share_links WHERE document = $1
    ORDER BY created_at DESC, id";
pub(super) const ONE: &str = "SELECT * FROM share_links WHERE id = $1";
pub(super) const REVOKED_SINCE: &str = "SELECT * FROM share_links
    WHERE revoked_at IS NOT NULL AND revoked_at >= $1 ORDER BY revoked_at, id";
pub(super) const REVOKE: &str = "UPDATE share_links SET revoked_at = COALESCE(revoked_at, $3)
    WHERE document = $1 AND id = $2";

/// Implements [`LinkStore`](crate::LinkStore) for a backend with a `pool` field whose rows
/// are `$row`.
macro_rules! impl_links {
    ($store:ty, $row:ty) => {
        fn share_link(row: &$row) -> $crate::Result<$crate::ShareLink> {
            use sqlx::Row;
            Ok($crate::ShareLink {
                id: row.try_get("id")?,
                document: row.try_get("document")?,
                access: row.try_get("access")?,
                name: row.try_get("name")?,
                created_by: row.try_get("created_by")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
                token: row.try_get("token")?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::LinkStore for $store {
            async fn create_link(&self, link: &$crate::ShareLink) -> $crate::Result<()> {
                sqlx::query(super::impl_links::CREATE)
                    .bind(&link.id)
                    .bind(&link.document)
                    .bind(&link.access)
                    .bind(&link.name)
                    .bind(&link.created_by)
                    .bind(link.created_at)
                    .bind(link.expires_at)
                    .bind(&link.token)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn links_of(&self, doc: &str) -> $crate::Result<Vec<$crate::ShareLink>> {
                let rows = sqlx::query(super::impl_links::OF_DOCUMENT)
                    .bind(doc)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(share_link).collect()
            }

            async fn link(&self, id: &str) -> $crate::Result<Option<$crate::ShareLink>> {
                let row = sqlx::query(super::impl_links::ONE)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(share_link).transpose()
            }

            async fn revoked_since(&self, since: i64) -> $crate::Result<Vec<$crate::ShareLink>> {
                let rows = sqlx::query(super::impl_links::REVOKED_SINCE)
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(share_link).collect()
            }

            async fn revoke_link(
                &self,
                doc: &str,
                id: &str,
                now: i64,
            ) -> $crate::Result<Option<$crate::ShareLink>> {
                sqlx::query(super::impl_links::REVOKE)
                    .bind(doc)
                    .bind(id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                let link = self.link(id).await?;
                Ok(link.filter(|l| l.document == doc))
            }
        }
    };
}

pub(super) use impl_links;
