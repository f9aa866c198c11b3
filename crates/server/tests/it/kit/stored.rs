//! Stored documents made and inspected directly: real Yjs updates typed with yrs, the
//! store opened by URL, and raw SQL on either database (to plant damage, read columns the
//! store does not return, or age rows).

use std::process::{Command, Output};

use sqlx::Connection;
use yrs::{updates::encoder::Encode, GetString, ReadTxn, StateVector, Text, Transact};

/// The updates of a text typed in `parts`, one update per part, each appended at the end
/// of the `content` text (the root the editor binds to). Also returns the final state.
pub fn typed(parts: &[&str]) -> (Vec<Vec<u8>>, Vec<u8>, String) {
    let doc = super::new_doc();
    let text = doc.get_or_insert_text("content");
    let mut updates = Vec::new();
    for part in parts {
        let before = doc.transact().state_vector();
        {
            let mut txn = doc.transact_mut();
            let len = text.len(&txn);
            text.insert(&mut txn, len, part);
        }
        updates.push(doc.transact().encode_state_as_update_v1(&before));
    }
    let txn = doc.transact();
    let state = txn.encode_state_as_update_v1(&StateVector::default());
    let rendered = text.get_string(&txn);
    (updates, state, rendered)
}

/// The state vector of a state, encoded.
pub fn state_vector_of(state: &[u8]) -> Vec<u8> {
    use yrs::updates::decoder::Decode;
    let doc = super::new_doc();
    doc.transact_mut()
        .apply_update(yrs::Update::decode_v1(state).unwrap())
        .unwrap();
    let sv = doc.transact().state_vector();
    sv.encode_v1()
}

/// The text a full-state update (as `/state` serves it) holds.
pub fn state_text(state: &[u8]) -> String {
    use yrs::updates::decoder::Decode;
    let replica = super::new_doc();
    replica
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(state).expect("state decodes"))
        .expect("state applies");
    tandem::text::render_doc(&replica)
}

/// The in-process server's SQLite store, opened a second time to read what it wrote.
pub async fn open_store(
    server: &super::TestServer,
) -> std::sync::Arc<dyn tandem_persistence::Store> {
    tandem_persistence::open(&format!("sqlite://{}", server.sqlite_path().display()))
        .await
        .unwrap()
}

/// A database by URL, for SQL the store does not offer.
pub enum RawDb {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl RawDb {
    pub async fn connect(url: &str) -> RawDb {
        if url.starts_with("sqlite:") {
            RawDb::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        } else {
            RawDb::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        }
    }

    /// A blob literal in this database's syntax.
    pub fn blob(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        match self {
            RawDb::Sqlite(_) => format!("X'{hex}'"),
            RawDb::Postgres(_) => format!("'\\x{hex}'::bytea"),
        }
    }

    /// A timestamp `days` ago, in the form the store writes (and compares) it.
    pub fn days_ago(&self, days: i64) -> String {
        let at = chrono::Utc::now() - chrono::Duration::days(days);
        match self {
            RawDb::Sqlite(_) => format!("'{}'", at.to_rfc3339()),
            RawDb::Postgres(_) => format!("'{}'::timestamptz", at.to_rfc3339()),
        }
    }

    pub async fn exec(&mut self, sql: &str) -> u64 {
        let done = match self {
            RawDb::Sqlite(c) => sqlx::raw_sql(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()),
            RawDb::Postgres(c) => sqlx::raw_sql(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()),
        };
        done.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn int(&mut self, sql: &str) -> i64 {
        match self {
            RawDb::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
            RawDb::Postgres(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn bytes(&mut self, sql: &str) -> Vec<u8> {
        match self {
            RawDb::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
            RawDb::Postgres(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub async fn text(&mut self, sql: &str) -> String {
        match self {
            RawDb::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
            RawDb::Postgres(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await,
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The id of a document by name.
    pub async fn doc_id(&mut self, name: &str) -> i64 {
        self.int(&format!("SELECT id FROM documents WHERE name = '{name}'"))
            .await
    }
}

/// `tandem check ARGS --database-url URL`, with nothing inherited that could point it
/// elsewhere.
pub fn run_check(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("check")
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .env_remove("TANDEM_RICH_TEXT_FIELDS")
        .output()
        .expect("run tandem check")
}

/// stdout and stderr of a command, for assertions' messages.
pub fn shown(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The lines of stdout that start with `prefix`.
pub fn lines_with(out: &Output, prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}
