//! What the store tests share: a fresh database per test on either backend, a raw pool to
//! check rows without the code under test, and a Yjs editor that makes real updates.

use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use sqlx::{postgres::PgRow, sqlite::SqliteRow, FromRow, PgPool, SqlitePool};
use tandem_persistence::{AppendItem, NewVersion, Snapshot, Store, StoredDoc, VersionKind};
pub use tandem_testkit::TestDatabase;
use yrs::{
    updates::decoder::Decode, updates::encoder::Encode, GetString, ReadTxn, StateVector, Text,
    Transact, Update,
};

/// A store plus a second, independent pool on the same database, so assertions about rows
/// don't go through the code under test.
pub struct Harness {
    pub store: Arc<dyn Store>,
    pub raw: Raw,
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database, dropped when the test ends (declared after `store` and
    /// `raw`, so that their pools close first).
    _pg: Option<TestDatabase>,
}

pub enum Raw {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
        let store = tandem_persistence::open(&url)
            .await
            .expect("open SQLite store");
        let raw = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("raw SQLite pool");
        Harness {
            store,
            raw: Raw::Sqlite(raw),
            _dir: Some(dir),
            _pg: None,
        }
    }

    pub async fn postgres() -> Harness {
        let db = TestDatabase::create("store").await;
        let url = db.url.clone();
        let store = tandem_persistence::open(&url)
            .await
            .expect("open PostgreSQL store");
        // One connection is enough for the assertions' queries; the server is shared.
        let raw = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("raw PostgreSQL pool");
        Harness {
            store,
            raw: Raw::Pg(raw),
            _dir: None,
            _pg: Some(db),
        }
    }

    /// Runs `sql` (written with `$1` placeholders) bound to `doc` on the raw pool.
    pub async fn rows<T>(&self, sql: &str, doc: &str) -> Vec<T>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_as::<_, T>(&sql.replace('$', "?"))
                .bind(doc)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}")),
            Raw::Pg(pool) => sqlx::query_as::<_, T>(sql)
                .bind(doc)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}")),
        }
    }

    pub async fn count(&self, sql: &str, doc: &str) -> i64 {
        let rows: Vec<(i64,)> = self.rows(sql, doc).await;
        rows[0].0
    }

    pub async fn logged_updates(&self, doc: &str) -> i64 {
        self.count(
            "SELECT COUNT(*) FROM updates u JOIN documents d ON d.id = u.document_id
             WHERE d.name = $1",
            doc,
        )
        .await
    }
}

/// Instantiates each scenario once per backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! for_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(&super::Harness::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    super::$name(&super::Harness::postgres().await).await
                }
            )*
        }
    };
}

// ---------------------------------------------------------------------------------------
// Yjs helpers: real updates, so "load reproduces the document" means something.

/// A client-side document that records one update per edit, like a browser tab would.
pub struct Editor {
    pub doc: yrs::Doc,
    pub text: yrs::TextRef,
}

impl Editor {
    pub fn new() -> Editor {
        let doc = yrs::Doc::with_options(yrs::Options {
            offset_kind: yrs::OffsetKind::Utf16,
            ..Default::default()
        });
        let text = doc.get_or_insert_text("content");
        Editor { doc, text }
    }

    /// Types `s` one character per transaction and returns each keystroke's update.
    pub fn type_at_end(&self, s: &str) -> Vec<Vec<u8>> {
        s.chars()
            .map(|c| {
                let mut txn = self.doc.transact_mut();
                let len = self.text.len(&txn);
                self.text.insert(&mut txn, len, &c.to_string());
                txn.encode_update_v1()
            })
            .collect()
    }

    pub fn delete(&self, index: u32, len: u32) -> Vec<u8> {
        let mut txn = self.doc.transact_mut();
        self.text.remove_range(&mut txn, index, len);
        txn.encode_update_v1()
    }

    pub fn string(&self) -> String {
        self.text.get_string(&self.doc.transact())
    }

    pub fn state(&self) -> Vec<u8> {
        self.doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    pub fn state_vector(&self) -> Vec<u8> {
        self.doc.transact().state_vector().encode_v1()
    }

    pub fn snapshot(&self, upto_seq: i64) -> Snapshot {
        Snapshot {
            state: self.state(),
            state_vector: self.state_vector(),
            upto_seq,
        }
    }
}

/// Rebuilds a document from what the store returned, the way the server does on load.
pub fn replay(stored: &StoredDoc) -> Result<String> {
    let editor = Editor::new();
    {
        let mut txn = editor.doc.transact_mut();
        for bytes in stored.snapshot.iter().chain(stored.updates.iter()) {
            txn.apply_update(Update::decode_v1(bytes)?)?;
        }
    }
    // Missing updates would leave items pending instead of failing the apply.
    ensure!(
        !editor.doc.transact().has_missing_updates(),
        "stored updates have gaps"
    );
    Ok(editor.string())
}

pub fn items(doc: &str, updates: &[Vec<u8>]) -> Vec<AppendItem> {
    updates
        .iter()
        .map(|u| AppendItem {
            doc: doc.to_string(),
            doc_id: None,
            data: u.clone(),
            author: None,
        })
        .collect()
}

pub fn total_len(updates: &[Vec<u8>]) -> i64 {
    updates.iter().map(|u| u.len() as i64).sum()
}

pub fn new_version(kind: VersionKind, label: Option<&str>, editor: &Editor) -> NewVersion {
    NewVersion {
        kind,
        label: label.map(str::to_string),
        state: editor.state(),
        state_vector: editor.state_vector(),
        text: editor.string(),
        authors: Vec::new(),
        format: Some(tandem_persistence::ContentKind::Text),
    }
}

pub async fn load(h: &Harness, doc: &str) -> Result<StoredDoc> {
    h.store
        .load(doc)
        .await?
        .with_context(|| format!("document {doc:?} should exist"))
}
