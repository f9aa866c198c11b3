//! The [`Store`](super::Store) implementation, written once for both sqlx drivers over the
//! statements in [`super::sql`] (the log's part is in [`super::log_sql`]).

/// Implements [`Store`](super::Store) for a backend type (whose rows are `$row`) with a
/// `pool` field (reads), a `writes` field (write transactions), a `durability` field,
/// a `CONCURRENT_APPENDS` constant and these associated functions, the parts that differ:
/// - `begin_load(&mut tx)`: makes the load's reads see one instant;
/// - `begin_write(&self)`: begins a write transaction on `writes`;
/// - `append_batch(&self, items)`: [`Store::append`](super::Store::append): PostgreSQL's
///   one statement (`postgres/append.rs`), SQLite's append thread (`sqlite_append.rs`) or,
///   for an in-memory SQLite database, `append_items` from `log_sql::impl_append!`;
/// - `feed_horizon(&self)`: the change feed's horizon (`None` while it cannot settle).
///
/// `$conn` is the driver's connection type (what a transaction dereferences to).
macro_rules! impl_store {
    ($store:ty, $row:ty, $conn:ty, $backend:literal) => {
        super::log_sql::impl_log!($store);
        super::feed_sql::impl_feed!($store);
        super::check_sql::impl_check!($store);

        impl $store {
            /// Adds a version of the document with id `id`, numbered after its latest.
            async fn insert_version(
                conn: &mut $conn,
                id: i64,
                version: &$crate::NewVersion,
                now: chrono::DateTime<chrono::Utc>,
            ) -> $crate::Result<$crate::VersionInfo> {
                let row = sqlx::query($crate::store::sql::CREATE_VERSION)
                    .bind(id)
                    .bind(version.kind.as_str())
                    .bind(&version.label)
                    .bind(&version.state)
                    .bind(&version.state_vector)
                    .bind(&version.text)
                    .bind(version.state.len() as i64)
                    .bind(now)
                    .bind($crate::store::authors_json(&version.authors))
                    .bind(version.format.map($crate::ContentKind::as_str))
                    .fetch_one(&mut *conn)
                    .await?;
                if let Some(format) = version.format {
                    sqlx::query($crate::store::sql::SET_KIND)
                        .bind(id)
                        .bind(format.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                version_info(&row)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            fn durability(&self) -> $crate::Durability {
                self.durability
            }

            fn concurrent_appends(&self) -> usize {
                Self::CONCURRENT_APPENDS
            }

            async fn load(&self, doc: &str) -> $crate::Result<Option<$crate::StoredDoc>> {
                self.read_doc(doc, 0).await
            }

            async fn load_since(
                &self,
                doc: &str,
                after_seq: i64,
            ) -> $crate::Result<Option<$crate::StoredDoc>> {
                self.read_doc(doc, after_seq).await
            }

            async fn last_seqs(&self, docs: &[String]) -> $crate::Result<Vec<(String, i64)>> {
                Self::read_last_seqs(&self.pool, docs).await
            }

            async fn append(
                &self,
                items: &[$crate::AppendItem],
            ) -> $crate::Result<Vec<$crate::Appended>> {
                self.append_batch(items).await
            }

            async fn changes_after(
                &self,
                after: i64,
                filter: &$crate::FeedFilter,
                limit: usize,
            ) -> $crate::Result<$crate::ChangePage> {
                self.read_changes(after, filter, limit).await
            }

            async fn load_until(
                &self,
                doc: &str,
                upto: i64,
            ) -> $crate::Result<Option<$crate::StoredDoc>> {
                self.read_until(doc, upto).await
            }

            async fn change_authors(
                &self,
                doc_id: i64,
                after: i64,
                upto: i64,
            ) -> $crate::Result<Vec<String>> {
                self.read_authors(doc_id, after, upto).await
            }

            async fn feed_head(&self) -> $crate::Result<i64> {
                self.feed_horizon().await?.ok_or_else(|| {
                    $crate::StoreError::Unavailable("writers still in flight".into())
                })
            }

            async fn compact(
                &self,
                doc: &str,
                snapshot: &$crate::Snapshot,
            ) -> $crate::Result<$crate::CompactStats> {
                self.compact_doc(doc, snapshot).await
            }

            async fn create_of_kind(
                &self,
                doc: &str,
                title: &str,
                kind: $crate::ContentKind,
            ) -> $crate::Result<$crate::DocumentInfo> {
                let row = sqlx::query($crate::store::sql::CREATE_DOCUMENT)
                    .bind(doc)
                    .bind(title)
                    .bind(chrono::Utc::now())
                    .bind(kind.as_str())
                    .fetch_optional(&self.writes)
                    .await?;
                match row {
                    Some(row) => document_info(&row),
                    None => Err($crate::StoreError::AlreadyExists(doc.to_string())),
                }
            }

            async fn set_title(
                &self,
                doc: &str,
                title: &str,
            ) -> $crate::Result<$crate::DocumentInfo> {
                let row = sqlx::query($crate::store::sql::SET_TITLE)
                    .bind(doc)
                    .bind(title)
                    .bind(chrono::Utc::now())
                    .fetch_one(&self.writes)
                    .await?;
                document_info(&row)
            }

            async fn document(&self, doc: &str) -> $crate::Result<Option<$crate::DocumentInfo>> {
                let row = sqlx::query($crate::store::sql::DOCUMENT)
                    .bind(doc)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(document_info).transpose()
            }

            async fn list_documents(&self) -> $crate::Result<Vec<$crate::DocumentInfo>> {
                let rows = sqlx::query($crate::store::sql::LIST_DOCUMENTS)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(document_info).collect()
            }

            async fn delete_document(&self, doc: &str) -> $crate::Result<bool> {
                let done = sqlx::query($crate::store::sql::DELETE_DOCUMENT)
                    .bind(doc)
                    .execute(&self.writes)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_version(
                &self,
                doc: &str,
                version: &$crate::NewVersion,
            ) -> $crate::Result<$crate::VersionInfo> {
                use $crate::store::sql;
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(sql::DOCUMENT_ID)
                    .bind(doc)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let info = Self::insert_version(&mut tx, id, version, now).await?;
                tx.commit().await?;
                Ok(info)
            }

            async fn create_auto_version(
                &self,
                doc: &str,
                version: &$crate::NewVersion,
                unchanged: &(dyn for<'s> Fn(&'s [u8], &'s str) -> bool + Send + Sync),
            ) -> $crate::Result<Option<$crate::VersionInfo>> {
                use $crate::store::sql;
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                let Some(id) = sqlx::query_scalar::<_, i64>(sql::LOCK_DOCUMENT)
                    .bind(doc)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Ok(None);
                };
                if !Self::try_lock(&mut tx, $crate::store::LockKind::Versions, id).await? {
                    return Ok(None);
                }
                let latest = sqlx::query(sql::LATEST_VERSION_SV)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = latest {
                    use sqlx::Row;
                    let sv: Vec<u8> = row.try_get("state_vector")?;
                    let text: String = row.try_get("text")?;
                    if unchanged(&sv, &text) {
                        return Ok(None);
                    }
                }
                let info = Self::insert_version(&mut tx, id, version, now).await?;
                tx.commit().await?;
                Ok(Some(info))
            }

            async fn create_named_version(
                &self,
                doc: &str,
                version: &$crate::NewVersion,
                unchanged: &(dyn for<'s> Fn(&'s [u8], &'s str) -> bool + Send + Sync),
            ) -> $crate::Result<$crate::VersionInfo> {
                use sqlx::Row;
                use $crate::store::sql;
                let now = chrono::Utc::now();
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(sql::DOCUMENT_ID)
                    .bind(doc)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                let latest = sqlx::query(sql::LATEST_VERSION)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let same = match &latest {
                    Some(row) => {
                        let sv: Vec<u8> = row.try_get("state_vector")?;
                        let text: String = row.try_get("text")?;
                        unchanged(&sv, &text).then(|| row.try_get::<i64, _>("version"))
                    }
                    None => None,
                };
                let info = match same {
                    Some(n) => {
                        let row = sqlx::query(sql::NAME_VERSION)
                            .bind(id)
                            .bind(n?)
                            .bind(&version.label)
                            .fetch_one(&mut *tx)
                            .await?;
                        version_info(&row)?
                    }
                    None => Self::insert_version(&mut tx, id, version, now).await?,
                };
                tx.commit().await?;
                Ok(info)
            }

            async fn list_versions(&self, doc: &str) -> $crate::Result<Vec<$crate::VersionInfo>> {
                let rows = sqlx::query($crate::store::sql::LIST_VERSIONS)
                    .bind(doc)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(version_info).collect()
            }

            async fn version(
                &self,
                doc: &str,
                version: i64,
            ) -> $crate::Result<Option<$crate::Version>> {
                use sqlx::Row;
                let row = sqlx::query($crate::store::sql::VERSION)
                    .bind(doc)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(row) => Ok(Some($crate::Version {
                        info: version_info(&row)?,
                        text: row.try_get("text")?,
                        state: row.try_get("state")?,
                    })),
                }
            }

            async fn log_rows(&self, doc: &str) -> $crate::Result<Option<$crate::LogRows>> {
                self.read_log_rows(doc).await
            }

            async fn repair(&self, doc: &str, repair: &$crate::Repair) -> $crate::Result<bool> {
                self.apply_repair(doc, repair).await
            }

            async fn prune_versions(
                &self,
                doc: Option<&str>,
                keep: &$crate::VersionRetention,
            ) -> $crate::Result<u64> {
                self.prune_auto_versions(doc, keep).await
            }

            fn webhooks(&self) -> Option<&dyn $crate::WebhookStore> {
                Some(self)
            }

            fn links(&self) -> Option<&dyn $crate::LinkStore> {
                Some(self)
            }

            async fn ping(&self) -> $crate::Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }

        fn document_info(row: &$row) -> $crate::Result<$crate::DocumentInfo> {
            use sqlx::Row;
            Ok($crate::DocumentInfo {
                id: Some(row.try_get("id")?),
                name: row.try_get("name")?,
                title: row.try_get("title")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                size_bytes: row.try_get("size_bytes")?,
                kind: $crate::ContentKind::parse(&row.try_get::<String, _>("kind")?),
            })
        }

        fn version_info(row: &$row) -> $crate::Result<$crate::VersionInfo> {
            use sqlx::Row;
            Ok($crate::VersionInfo {
                version: row.try_get("version")?,
                created_at: row.try_get("created_at")?,
                // The CHECK constraint only admits the three known kinds.
                kind: $crate::VersionKind::parse(&row.try_get::<String, _>("kind")?)
                    .unwrap_or($crate::VersionKind::Auto),
                label: row.try_get("label")?,
                size_bytes: row.try_get("size_bytes")?,
                text_length: row.try_get("text_length")?,
                authors: $crate::store::parse_authors(&row.try_get::<String, _>("authors")?),
                format: $crate::ContentKind::parse(&row.try_get::<String, _>("format")?),
            })
        }
    };
}

pub(super) use impl_store;
