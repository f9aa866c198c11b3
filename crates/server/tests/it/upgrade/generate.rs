//! Writes the upgrade fixtures (`tests/fixtures/upgrade/`): a database at an old schema
//! with the documents of `docs.rs`, dumped as SQL text so a review can read it.
//!
//! Every run makes each fixture again and compares it with the committed file: the
//! fixtures are then provably what the old migrations and these documents make (nobody
//! edited one by hand, nor an old migration). `TANDEM_WRITE_FIXTURES=1` writes the ones
//! missing (see tests/fixtures/upgrade/README.md); an existing fixture is never rewritten.

use std::path::{Path, PathBuf};

use sqlx::{migrate::Migrator, Connection};

use super::docs::{state_vector, type_doc, DOCS};
use crate::kit::{pg::TestDatabase, stored::RawDb};

/// Schemas the fixtures are made at: the first, and one in between.
pub const SCHEMAS: &[u32] = &[1, 3];

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture_path(backend: &str, schema: u32) -> PathBuf {
    root().join(format!("tests/fixtures/upgrade/{backend}-{schema:04}.sql"))
}

/// The first `schema` migrations of a backend, copied to a directory of their own.
fn migrations_upto(backend: &str, schema: u32) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut texts = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(root().join("migrations").join(backend))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files.iter().take(schema as usize) {
        std::fs::copy(file, dir.path().join(file.file_name().unwrap())).unwrap();
        texts.push(std::fs::read_to_string(file).unwrap());
    }
    (dir, texts)
}

/// A fixed instant per document and step, so the fixtures regenerate identically.
fn at(doc: usize, step: usize) -> String {
    format!("2025-0{}-1{}T10:{:02}:00+00:00", doc + 1, doc, step)
}

/// Inserts the documents as the server of that schema stored them.
async fn insert_docs(db: &mut RawDb, schema: u32) {
    let pg = matches!(db, RawDb::Postgres(_));
    let ts = |s: String| match pg {
        false => format!("'{s}'"),
        true => format!("'{s}'::timestamptz"),
    };
    for (i, doc) in DOCS.iter().enumerate() {
        let typed = type_doc(i, doc);
        let (titled, title) = match schema >= 2 {
            true => (", title", format!(", '{}'", doc.title)),
            false => ("", String::new()),
        };
        db.exec(&format!(
            "INSERT INTO documents (name, created_at, updated_at{titled}) VALUES ('{}', {}, {}{title})",
            doc.name,
            ts(at(i, 0)),
            ts(at(i, doc.edits.len())),
        ))
        .await;
        let id = db.doc_id(doc.name).await;
        let mut seqs = Vec::new();
        for (n, update) in typed.updates.iter().enumerate() {
            let blob = db.blob(update);
            db.exec(&format!(
                "INSERT INTO updates (document_id, data, created_at) VALUES ({id}, {blob}, {})",
                ts(at(i, n + 1))
            ))
            .await;
            seqs.push(
                db.int(&format!(
                    "SELECT MAX(seq) FROM updates WHERE document_id = {id}"
                ))
                .await,
            );
        }
        if doc.snapshot_after > 0 {
            let k = doc.snapshot_after;
            let state = &typed.states[k];
            let (state_blob, sv_blob) = (db.blob(state), db.blob(&state_vector(state)));
            db.exec(&format!(
                "INSERT INTO snapshots (document_id, state, state_vector, upto_seq, created_at)
                 VALUES ({id}, {state_blob}, {sv_blob}, {}, {});
                 DELETE FROM updates WHERE document_id = {id} AND seq <= {}",
                seqs[k - 1],
                ts(at(i, k)),
                seqs[k - 1],
            ))
            .await;
        }
        for (n, version) in doc.versions.iter().enumerate() {
            let state = &typed.states[version.after];
            let text = typed.texts[version.after].replace('\'', "''");
            let label = version.label.map_or("NULL".into(), |l| format!("'{l}'"));
            let (authored, authors) = match schema >= 2 {
                true => (
                    ", authors",
                    format!(", '{}'", serde_json::json!(version.authors)),
                ),
                false => ("", String::new()),
            };
            db.exec(&format!(
                "INSERT INTO versions (document_id, version, kind, label, state, state_vector,
                     text, size_bytes, created_at{authored})
                 VALUES ({id}, {}, '{}', {label}, {}, {}, '{text}', {}, {}{authors})",
                n + 1,
                version.kind,
                db.blob(state),
                db.blob(&state_vector(state)),
                state.len(),
                ts(at(i, version.after + 30)),
            ))
            .await;
        }
        // What appends and compaction kept: the snapshot plus the rows left, and (from
        // 0003) the highest sequence number.
        let last_seq = if schema >= 3 {
            format!(", last_seq = {}", seqs.last().copied().unwrap_or(0))
        } else {
            String::new()
        };
        db.exec(&format!(
            "UPDATE documents SET size_bytes =
                 (SELECT COALESCE(SUM(length(state)), 0) FROM snapshots WHERE document_id = {id})
               + (SELECT COALESCE(SUM(length(data)), 0) FROM updates WHERE document_id = {id})
               {last_seq}
             WHERE id = {id}"
        ))
        .await;
    }
}

fn header(backend: &str, schema: u32) -> String {
    format!(
        "-- Upgrade fixture: a Tandem {backend} database at schema {schema:04} (the migrations up to\n\
         -- migrations/{backend}/{schema:04}_*.sql), holding the documents of\n\
         -- crates/server/tests/it/upgrade/docs.rs. Written by upgrade/generate.rs; never edit\n\
         -- or regenerate it: it stands for a database an older Tandem left behind.\n\n"
    )
}

/// When and how fast sqlx applied the migrations, fixed, so a fixture regenerates alike.
async fn fixed_bookkeeping<C>(conn: &mut C)
where
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    sqlx::raw_sql(
        "UPDATE _sqlx_migrations SET installed_on = '2025-01-01 00:00:00+00', execution_time = 0",
    )
    .execute(conn)
    .await
    .unwrap();
}

async fn sqlite_fixture(schema: u32) -> String {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("f.db").display());
    let (migrations, _) = migrations_upto("sqlite", schema);
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    Migrator::new(migrations.path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    fixed_bookkeeping(&mut conn).await;
    conn.close().await.unwrap();
    let mut db = RawDb::connect(&url).await;
    insert_docs(&mut db, schema).await;
    let RawDb::Sqlite(conn) = &mut db else {
        unreachable!()
    };
    let mut out = header("sqlite", schema);
    // Tables, then indexes, then views, each as SQLite recorded its statement.
    let ddl: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL
           AND name NOT LIKE 'sqlite_%'
         ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for (_, _, sql) in &ddl {
        out.push_str(&format!("{sql};\n"));
    }
    let mut tables: Vec<String> = ddl
        .iter()
        .filter(|(kind, _, _)| kind == "table")
        .map(|(_, name, _)| name.clone())
        .collect();
    tables.push("sqlite_sequence".into());
    for table in tables {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut *conn)
                .await
                .unwrap();
        let values = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT 'INSERT INTO \"{table}\" VALUES(' || {values} || ');' FROM \"{table}\" ORDER BY rowid"
        ))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
    }
    out
}

async fn postgres_fixture(schema: u32) -> String {
    let test_db = TestDatabase::create("fixture").await;
    let (migrations, texts) = migrations_upto("postgres", schema);
    let mut conn = sqlx::PgConnection::connect(&test_db.url).await.unwrap();
    Migrator::new(migrations.path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    fixed_bookkeeping(&mut conn).await;
    conn.close().await.unwrap();
    let mut db = RawDb::connect(&test_db.url).await;
    insert_docs(&mut db, schema).await;
    let RawDb::Postgres(conn) = &mut db else {
        unreachable!()
    };
    // Timestamps are written out in UTC whatever the server's zone.
    sqlx::query("SET TIME ZONE 'UTC'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let mut out = header("postgres", schema);
    // The schema is what the migrations made: their own text, then sqlx's bookkeeping.
    for text in texts {
        out.push_str(&text);
        out.push('\n');
    }
    out.push_str(
        "CREATE TABLE _sqlx_migrations (\n    version BIGINT PRIMARY KEY,\n    description TEXT NOT NULL,\n    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),\n    success BOOLEAN NOT NULL,\n    checksum BYTEA NOT NULL,\n    execution_time BIGINT NOT NULL\n);\n\n",
    );
    for (table, order) in [
        ("_sqlx_migrations", "version"),
        ("documents", "id"),
        ("updates", "seq"),
        ("snapshots", "document_id"),
        ("versions", "document_id, version"),
    ] {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT format('INSERT INTO %I OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_record(NULL::%I, %L);', '{table}', '{table}', row_to_json(t)::text)
             FROM {table} t ORDER BY {order}"
        ))
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
    }
    for (table, column) in [("documents", "id"), ("updates", "seq")] {
        out.push_str(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT MAX({column}) FROM {table}));\n"
        ));
    }
    out
}

/// Makes every fixture again and compares it with the committed one; with
/// `TANDEM_WRITE_FIXTURES=1`, writes those not committed yet.
#[tokio::test]
async fn fixtures_are_what_the_generator_makes() {
    let write = std::env::var_os("TANDEM_WRITE_FIXTURES").is_some();
    for &schema in SCHEMAS {
        for backend in ["sqlite", "postgres"] {
            let path = fixture_path(backend, schema);
            let made = match backend {
                "sqlite" => sqlite_fixture(schema).await,
                _ => postgres_fixture(schema).await,
            };
            match std::fs::read_to_string(&path) {
                Ok(committed) => assert!(
                    committed == made,
                    "{} is not what the generator makes from the migrations up to {schema:04} \
                     and upgrade/docs.rs: a fixture, an old migration or docs.rs was changed \
                     (none of them may be; add a new fixture instead)",
                    path.display()
                ),
                Err(_) if write => {
                    std::fs::write(&path, made).unwrap();
                    eprintln!("wrote {}", path.display());
                }
                Err(e) => panic!(
                    "{}: {e}; run with TANDEM_WRITE_FIXTURES=1 to write it",
                    path.display()
                ),
            }
        }
    }
}
