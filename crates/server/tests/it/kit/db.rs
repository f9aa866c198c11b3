//! Reaching under the server: holding its SQLite database busy.

/// A write lock on a SQLite database, taken from outside the server: its commits wait
/// (up to the store's busy timeout) until the lock is released. Lets a test hold a commit
/// "in flight" for exactly as long as it needs, instead of hoping one is slow.
pub struct SqliteWriteLock(sqlx::SqliteConnection);

impl SqliteWriteLock {
    pub async fn take(path: &std::path::Path) -> SqliteWriteLock {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("open SQLite");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .expect("take the write lock");
        SqliteWriteLock(conn)
    }

    pub async fn release(mut self) {
        use sqlx::Connection;
        sqlx::query("ROLLBACK").execute(&mut self.0).await.unwrap();
        self.0.close().await.unwrap();
    }
}
