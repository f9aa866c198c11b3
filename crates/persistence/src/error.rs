use thiserror::Error;

/// Why a store call failed. `Database` covers both "unreachable" and "query refused":
/// callers treat it as transient and retry, since the caller cannot tell them apart cheaply.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The SQLite append thread's connection failed (`store/sqlite_append.rs`); like
    /// `Database`, callers treat it as transient.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: expected sqlite://... or postgres://...")]
    UnsupportedUrl(String),
    #[error("document {0:?} already exists")]
    AlreadyExists(String),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("document {0:?} not found")]
    NotFound(String),
}

impl StoreError {
    /// The database broke a deadlock by failing this transaction (PostgreSQL `40P01`).
    /// Appends lock documents in one order so it should never happen; it is counted.
    pub fn is_deadlock(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                db.code().as_deref() == Some("40P01")
            }
            _ => false,
        }
    }
}
