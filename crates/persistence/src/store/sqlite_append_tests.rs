//! The append thread against the sqlx path it replaced: same answers and rows, the same
//! settings, a failed batch rolled back whole, and two writers on one file.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqliteStore;
use crate::{AppendItem, Appended, Durability, NewVersion, Snapshot, Store, StoreError};

async fn open(dir: &tempfile::TempDir, durability: Durability) -> SqliteStore {
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    SqliteStore::open_with(&url, durability).await.unwrap()
}

fn item(doc: &str, doc_id: Option<i64>, data: &[u8], author: Option<&str>) -> AppendItem {
    AppendItem {
        doc: doc.into(),
        doc_id,
        data: data.to_vec(),
        author: author.map(String::from),
    }
}

fn id_of(answers: &[Appended], doc: &str) -> Option<i64> {
    answers.iter().find(|a| a.doc == doc).map(|a| a.id)
}

/// Appends through the thread, or (`old`) through the sqlx path every append took before.
async fn append(store: &SqliteStore, items: &[AppendItem], old: bool) -> Vec<Appended> {
    if old {
        store.append_items(items).await.unwrap()
    } else {
        store.append_batch(items).await.unwrap()
    }
}

/// Several documents per batch (new ones out of name order, repeated, some known by id),
/// a document deleted between batches and then written by id (gone) and by name (back).
async fn script(store: &SqliteStore, old: bool) -> Vec<Vec<Appended>> {
    let first = append(
        store,
        &[
            item("b", None, b"b1", Some("ann")),
            item("a", None, b"a1", None),
            item("c", None, b"c1", Some("bob")),
            item("a", None, b"a2", Some("ann")),
            item("b", None, b"b2", None),
        ],
        old,
    )
    .await;
    let (a, b, c) = (id_of(&first, "a"), id_of(&first, "b"), id_of(&first, "c"));
    let second = append(
        store,
        &[
            item("a", a, b"a3", None),
            item("d", None, b"d1", Some("cy")),
            item("b", b, b"b3", Some("ann")),
            item("a", a, b"a4", None),
        ],
        old,
    )
    .await;
    assert!(store.delete_document("c").await.unwrap());
    let third = append(
        store,
        &[
            item("c", c, b"c2", None),
            item("a", a, b"a5", None),
            item("e", None, b"e1", None),
            item("b", None, b"b4", None),
        ],
        old,
    )
    .await;
    let fourth = append(store, &[item("c", None, b"c3", Some("bob"))], old).await;
    vec![first, second, third, fourth]
}

type UpdateRow = (i64, i64, Vec<u8>, Option<String>, String);
type DocumentRow = (i64, String, i64, i64);

async fn rows(store: &SqliteStore) -> (Vec<UpdateRow>, Vec<DocumentRow>) {
    let updates = sqlx::query_as(
        "SELECT seq, document_id, data, author, created_at FROM updates ORDER BY seq",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    let documents =
        sqlx::query_as("SELECT id, name, size_bytes, last_seq FROM documents ORDER BY id")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    (updates, documents)
}

#[tokio::test]
async fn answers_and_rows_are_those_of_the_sqlx_path() {
    let (old_dir, new_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let old = open(&old_dir, Durability::Process).await;
    let new = open(&new_dir, Durability::Process).await;
    assert!(
        new.appends.is_some(),
        "a file database appends on the thread"
    );
    let (old_answers, new_answers) = (script(&old, true).await, script(&new, false).await);
    assert_eq!(new_answers, old_answers);
    assert!(new_answers[2].iter().any(|a| a.doc == "c" && a.gone));
    let ((old_updates, old_docs), (new_updates, new_docs)) = (rows(&old).await, rows(&new).await);
    assert_eq!(new_docs, old_docs);
    assert_eq!(new_updates.len(), old_updates.len());
    for (new_row, old_row) in new_updates.iter().zip(&old_updates) {
        // Everything but the time of writing.
        assert_eq!(
            (new_row.0, new_row.1, &new_row.2, &new_row.3),
            (old_row.0, old_row.1, &old_row.2, &old_row.3)
        );
        // Written as sqlx writes a `DateTime<Utc>`: RFC 3339 with `+00:00`.
        for text in [&new_row.4, &old_row.4] {
            assert!(text.ends_with("+00:00"), "{text}");
            DateTime::parse_from_rfc3339(text).unwrap();
        }
    }
    // sqlx reads back what the thread wrote.
    let updated: DateTime<Utc> = sqlx::query_scalar("SELECT updated_at FROM documents")
        .fetch_one(&new.pool)
        .await
        .unwrap();
    assert!(updated <= Utc::now());
}

#[tokio::test]
async fn a_failed_batch_writes_nothing_and_the_next_one_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, Durability::Process).await;
    let first = store.append(&[item("y", None, b"y1", None)]).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON updates WHEN NEW.data = x'ee'
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    .execute(&store.writes)
    .await
    .unwrap();
    let before = rows(&store).await;
    let err = store
        .append(&[
            item("x", None, b"x1", None),
            item("y", Some(first[0].id), b"y2", None),
            item("x", None, &[0xee], None),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Sqlite(e) if e.to_string().contains("refused")),
        "{err:?}"
    );
    assert_eq!(rows(&store).await, before, "nothing of the batch stays");
    let next = store.append(&[item("x", None, b"x2", None)]).await.unwrap();
    assert_eq!(next[0].last_seq, first[0].last_seq + 1);
    assert_eq!(store.load("x").await.unwrap().unwrap().updates, [b"x2"]);
}

const PRAGMAS: [&str; 6] = [
    "journal_mode",
    "synchronous",
    "foreign_keys",
    "busy_timeout",
    "wal_autocheckpoint",
    "journal_size_limit",
];

#[tokio::test]
async fn the_thread_connects_as_the_pool_does_at_each_durability_level() {
    for (durability, synchronous) in [(Durability::Process, "1"), (Durability::Disk, "2")] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, durability).await;
        let mut pool = Vec::new();
        for pragma in PRAGMAS {
            let row = sqlx::query(&format!("PRAGMA {pragma}"))
                .fetch_one(&store.writes)
                .await
                .unwrap();
            let value = row.try_get::<i64, _>(0).map(|n| n.to_string());
            pool.push(value.or_else(|_| row.try_get::<String, _>(0)).unwrap());
        }
        let thread = store
            .appends
            .as_ref()
            .unwrap()
            .run(|conn| {
                PRAGMAS.map(|p| {
                    conn.query_row(&format!("PRAGMA {p}"), [], |row| {
                        row.get::<_, rusqlite::types::Value>(0)
                    })
                    .map(|v| match v {
                        rusqlite::types::Value::Text(t) => t,
                        rusqlite::types::Value::Integer(n) => n.to_string(),
                        other => format!("{other:?}"),
                    })
                    .unwrap()
                })
            })
            .await
            .unwrap();
        assert_eq!(thread.to_vec(), pool, "{durability}");
        assert_eq!(thread[1], synchronous, "{durability}");
        assert_eq!(thread[4], "0", "no automatic checkpoint inside a commit");
    }
}

#[tokio::test]
async fn a_sqlx_write_holds_the_write_lock_from_its_begin() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, Durability::Process).await;
    let other = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    other.busy_timeout(std::time::Duration::ZERO).unwrap();
    let tx = store.begin_write().await.unwrap();
    // Nothing read or written yet, and still no one else may start writing.
    let busy = other.execute_batch("BEGIN IMMEDIATE").unwrap_err();
    assert_eq!(
        busy.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
    );
    tx.commit().await.unwrap();
    other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").unwrap();
}

/// Appends on the thread while the sqlx connection compacts, stores versions and
/// creates and deletes documents: every call succeeds and the log adds up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_and_other_writes_share_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(&dir, Durability::Disk).await);
    let first = store
        .append(&[item("doc", None, b"0", None)])
        .await
        .unwrap();
    let id = Some(first[0].id);
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 1..=200u32 {
                let items = [item("doc", id, &n.to_be_bytes(), None)];
                let done = store.append(&items).await.unwrap();
                assert!(!done[0].gone);
            }
        })
    };
    for n in 0..40i64 {
        let snapshot = Snapshot {
            state: vec![1; 64],
            state_vector: vec![],
            upto_seq: first[0].last_seq,
        };
        store.compact("doc", &snapshot).await.unwrap();
        let version = NewVersion {
            kind: crate::VersionKind::Auto,
            label: None,
            state: vec![2; 64],
            state_vector: vec![],
            text: format!("{n}"),
            format: None,
            authors: vec![],
        };
        store.create_version("doc", &version).await.unwrap();
        store.create_document(&format!("other-{n}")).await.unwrap();
        assert!(store.delete_document(&format!("other-{n}")).await.unwrap());
    }
    writer.await.unwrap();
    let stored = store.load("doc").await.unwrap().unwrap();
    assert_eq!(stored.updates.len(), 200);
    assert_eq!(stored.last_seq, first[0].last_seq + 200);
    assert_eq!(store.list_versions("doc").await.unwrap().len(), 40);
}
