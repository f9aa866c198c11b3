//! [`WebhookStore`](crate::WebhookStore) for both backends over the statements in
//! [`super::webhook_sql`], written once as a macro as [`super::impl_store`] is.

/// Implements [`WebhookStore`](crate::WebhookStore) for a backend with `pool` (reads) and
/// `writes` (write transactions) fields, whose rows are `$row` and connections `$conn`.
macro_rules! impl_webhooks {
    ($store:ty, $row:ty, $conn:ty) => {
        impl $store {
            /// Records the attempt as number `made + 1`, `made` being the attempts the
            /// stored message counts (`None`: the message is gone, and its recorded
            /// attempts count instead).
            async fn record_attempt(
                conn: &mut $conn,
                message: &$crate::Message,
                attempt: &$crate::Attempt,
                made: Option<i64>,
            ) -> $crate::Result<()> {
                let made = match made {
                    Some(made) => made,
                    None => {
                        sqlx::query_scalar(webhook_sql::LAST_ATTEMPT)
                            .bind(&message.id)
                            .fetch_one(&mut *conn)
                            .await?
                    }
                };
                sqlx::query(webhook_sql::RECORD_ATTEMPT)
                    .bind(message.endpoint_id)
                    .bind(&attempt.message_id)
                    .bind(&attempt.event)
                    .bind(&attempt.document)
                    .bind(made + 1)
                    .bind(&attempt.outcome)
                    .bind(attempt.status)
                    .bind(attempt.duration_ms)
                    .bind(&attempt.error)
                    .bind(attempt.at)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// Drops an answered (or abandoned) message and moves the cursor past it.
            async fn settle(
                &self,
                message: &$crate::Message,
                attempt: &$crate::Attempt,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let before: Option<i64> = sqlx::query_scalar(webhook_sql::DROP_MESSAGE)
                    .bind(&message.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                // Numbered from the stored row, which counts every attempt recorded so far.
                Self::record_attempt(&mut tx, message, attempt, before).await?;
                // Gone already (the endpoint was deleted): nothing to move.
                if before.is_some() {
                    if message.event == "document.deleted" {
                        sqlx::query(webhook_sql::DROP_CURSOR)
                            .bind(message.endpoint_id)
                            .bind(message.document_id)
                            .execute(&mut *tx)
                            .await?;
                    } else {
                        sqlx::query(webhook_sql::SET_CURSOR)
                            .bind(message.endpoint_id)
                            .bind(message.document_id)
                            .bind(&message.document)
                            .bind(message.upto_seq)
                            .bind(message.upto_version)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::WebhookStore for $store {
            async fn create_endpoint(
                &self,
                new: &$crate::NewEndpoint,
            ) -> $crate::Result<$crate::Endpoint> {
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(webhook_sql::CREATE_ENDPOINT)
                    .bind(&new.url)
                    .bind(&new.prefix)
                    .bind(&new.document)
                    .bind(serde_json::to_string(&new.events).unwrap_or_else(|_| "[]".into()))
                    .bind(&new.secret)
                    .bind(chrono::Utc::now())
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query(webhook_sql::BASELINE)
                    .bind(id)
                    .bind(new.prefix.chars().count() as i32)
                    .bind(&new.prefix)
                    .bind(&new.document)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query(&format!("{} WHERE id = $1", webhook_sql::ENDPOINT_COLUMNS))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                endpoint(&row)
            }

            async fn endpoints(&self) -> $crate::Result<Vec<$crate::Endpoint>> {
                let rows = sqlx::query(&format!("{} ORDER BY id", webhook_sql::ENDPOINT_COLUMNS))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(endpoint).collect()
            }

            async fn endpoint(&self, id: i64) -> $crate::Result<Option<$crate::Endpoint>> {
                let row = sqlx::query(&format!("{} WHERE id = $1", webhook_sql::ENDPOINT_COLUMNS))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(endpoint).transpose()
            }

            async fn delete_endpoint(&self, id: i64) -> $crate::Result<bool> {
                let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                    .bind(id)
                    .execute(&self.writes)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn disable_endpoint(&self, id: i64, reason: &str) -> $crate::Result<()> {
                sqlx::query(
                    "UPDATE webhook_endpoints SET disabled_at = $1, disabled_reason = $2,
                         lease_owner = NULL, lease_until_ms = 0 WHERE id = $3",
                )
                .bind(chrono::Utc::now())
                .bind(reason)
                .bind(id)
                .execute(&self.writes)
                .await?;
                Ok(())
            }

            async fn rotate_secret(
                &self,
                id: i64,
                secret: &str,
                keep_until_ms: i64,
            ) -> $crate::Result<Option<$crate::Endpoint>> {
                let row = sqlx::query(webhook_sql::ROTATE_SECRET)
                    .bind(keep_until_ms)
                    .bind(secret)
                    .bind(id)
                    .fetch_optional(&self.writes)
                    .await?;
                match row {
                    Some(_) => self.endpoint(id).await,
                    None => Ok(None),
                }
            }

            async fn take_lease(
                &self,
                id: i64,
                owner: &str,
                now_ms: i64,
                until_ms: i64,
            ) -> $crate::Result<bool> {
                let row = sqlx::query(webhook_sql::TAKE_LEASE)
                    .bind(owner)
                    .bind(until_ms)
                    .bind(id)
                    .bind(now_ms)
                    .fetch_optional(&self.writes)
                    .await?;
                Ok(row.is_some())
            }

            async fn release_lease(&self, id: i64, owner: &str) -> $crate::Result<()> {
                sqlx::query(webhook_sql::RELEASE_LEASE)
                    .bind(id)
                    .bind(owner)
                    .execute(&self.writes)
                    .await?;
                Ok(())
            }

            async fn work(
                &self,
                endpoint: &$crate::Endpoint,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::DocWork>> {
                use sqlx::Row;
                let rows = sqlx::query(webhook_sql::WORK)
                    .bind(endpoint.id)
                    .bind(endpoint.prefix.chars().count() as i32)
                    .bind(&endpoint.prefix)
                    .bind(&endpoint.document)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let document_id: i64 = row.try_get("document_id")?;
                    let last_version: i64 = sqlx::query_scalar(webhook_sql::MAX_VERSION)
                        .bind(document_id)
                        .fetch_one(&self.pool)
                        .await?;
                    let seq: Option<i64> = row.try_get("cursor_seq")?;
                    let version: Option<i64> = row.try_get("cursor_version")?;
                    out.push($crate::DocWork {
                        document_id,
                        document: row.try_get("document")?,
                        last_seq: row.try_get("last_seq")?,
                        last_version,
                        cursor: seq.zip(version),
                    });
                }
                Ok(out)
            }

            async fn deleted_documents(
                &self,
                endpoint_id: i64,
            ) -> $crate::Result<Vec<(i64, String)>> {
                use sqlx::Row;
                let rows = sqlx::query(webhook_sql::DELETED)
                    .bind(endpoint_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("document_id")?, r.try_get("document")?)))
                    .collect()
            }

            async fn set_cursor(
                &self,
                endpoint_id: i64,
                document_id: i64,
                document: &str,
                seq: i64,
                version: i64,
            ) -> $crate::Result<()> {
                sqlx::query(webhook_sql::SET_CURSOR)
                    .bind(endpoint_id)
                    .bind(document_id)
                    .bind(document)
                    .bind(seq)
                    .bind(version)
                    .execute(&self.writes)
                    .await?;
                Ok(())
            }

            async fn drop_cursor(&self, endpoint_id: i64, document_id: i64) -> $crate::Result<()> {
                sqlx::query(webhook_sql::DROP_CURSOR)
                    .bind(endpoint_id)
                    .bind(document_id)
                    .execute(&self.writes)
                    .await?;
                Ok(())
            }

            async fn enqueue(&self, m: &$crate::Message) -> $crate::Result<()> {
                sqlx::query(webhook_sql::ENQUEUE)
                    .bind(&m.id)
                    .bind(m.endpoint_id)
                    .bind(m.document_id)
                    .bind(&m.document)
                    .bind(&m.event)
                    .bind(m.upto_seq)
                    .bind(m.upto_version)
                    .bind(&m.body)
                    .bind(m.created_at)
                    .bind(m.attempts)
                    .bind(m.next_attempt_ms)
                    .execute(&self.writes)
                    .await?;
                Ok(())
            }

            async fn pending(&self, endpoint_id: i64) -> $crate::Result<Vec<$crate::Message>> {
                use sqlx::Row;
                let rows = sqlx::query(webhook_sql::PENDING)
                    .bind(endpoint_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::Message {
                            id: r.try_get("id")?,
                            endpoint_id: r.try_get("endpoint_id")?,
                            document_id: r.try_get("document_id")?,
                            document: r.try_get("document")?,
                            event: r.try_get("event")?,
                            upto_seq: r.try_get("upto_seq")?,
                            upto_version: r.try_get("upto_version")?,
                            body: r.try_get("body")?,
                            created_at: r.try_get("created_at")?,
                            attempts: r.try_get("attempts")?,
                            next_attempt_ms: r.try_get("next_attempt_ms")?,
                        })
                    })
                    .collect()
            }

            async fn delivered(
                &self,
                message: &$crate::Message,
                attempt: &$crate::Attempt,
            ) -> $crate::Result<()> {
                self.settle(message, attempt).await
            }

            async fn given_up(
                &self,
                message: &$crate::Message,
                attempt: &$crate::Attempt,
            ) -> $crate::Result<()> {
                self.settle(message, attempt).await
            }

            async fn failed(
                &self,
                message: &$crate::Message,
                attempt: &$crate::Attempt,
                next_attempt_ms: i64,
            ) -> $crate::Result<()> {
                let mut tx = self.begin_write().await?;
                let counted: Option<i64> = sqlx::query_scalar(webhook_sql::RETRY_LATER)
                    .bind(next_attempt_ms)
                    .bind(&message.id)
                    .fetch_optional(&mut *tx)
                    .await?;
                Self::record_attempt(&mut tx, message, attempt, counted.map(|n| n - 1)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn attempts(
                &self,
                endpoint_id: i64,
                limit: i64,
            ) -> $crate::Result<Vec<$crate::Attempt>> {
                use sqlx::Row;
                let rows = sqlx::query(webhook_sql::ATTEMPTS)
                    .bind(endpoint_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::Attempt {
                            message_id: r.try_get("message_id")?,
                            event: r.try_get("event")?,
                            document: r.try_get("document")?,
                            attempt: r.try_get("attempt")?,
                            outcome: r.try_get("outcome")?,
                            status: r.try_get("status")?,
                            duration_ms: r.try_get("duration_ms")?,
                            error: r.try_get("error")?,
                            at: r.try_get("at")?,
                        })
                    })
                    .collect()
            }
        }

        fn endpoint(row: &$row) -> $crate::Result<$crate::Endpoint> {
            use sqlx::Row;
            Ok($crate::Endpoint {
                id: row.try_get("id")?,
                url: row.try_get("url")?,
                prefix: row.try_get("prefix")?,
                document: row.try_get("document")?,
                events: serde_json::from_str(&row.try_get::<String, _>("events")?)
                    .unwrap_or_default(),
                secret: row.try_get("secret")?,
                previous_secret: row.try_get("previous_secret")?,
                previous_secret_until_ms: row.try_get("previous_secret_until_ms")?,
                created_at: row.try_get("created_at")?,
                disabled_at: row.try_get("disabled_at")?,
                disabled_reason: row.try_get("disabled_reason")?,
            })
        }
    };
}

pub(super) use impl_webhooks;
