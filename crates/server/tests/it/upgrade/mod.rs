//! Upgrades: databases an older Tandem left behind (`tests/fixtures/upgrade/`, SQL text
//! written by `generate.rs` at schema 0001 and 0003 of each database) open with the
//! current store, which applies the later migrations, and give back every document's
//! text, title and versions; `tandem check` finds nothing wrong; the server serves and
//! edits them.

mod docs;
mod generate;

use sqlx::Connection;

use crate::kit::{
    pg::TestDatabase,
    stored::{lines_with, run_check, shown},
    stored_text, wait_for, Api, BinServer, Client, Peer, WAIT,
};
use docs::{type_doc, DOCS};
use generate::{fixture_path, SCHEMAS};

fn fixture(backend: &str, schema: u32) -> String {
    let path = fixture_path(backend, schema);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Everything the fixture's documents hold, as the current store reads it.
async fn expect_documents(url: &str, schema: u32) {
    let store = tandem_persistence::open(url)
        .await
        .expect("open and migrate");
    let listed = store.list_documents().await.unwrap();
    assert_eq!(listed.len(), DOCS.len(), "documents: {listed:?}");
    for (i, doc) in DOCS.iter().enumerate() {
        let typed = type_doc(i, doc);
        let want = typed.texts.last().unwrap();
        let stored = store.load(doc.name).await.unwrap().expect(doc.name);
        assert_eq!(&stored_text(&stored), want, "text of {}", doc.name);
        let info = store.document(doc.name).await.unwrap().unwrap();
        let title = if schema >= 2 { doc.title } else { "" };
        assert_eq!(info.title, title, "title of {}", doc.name);
        let mut versions = store.list_versions(doc.name).await.unwrap();
        versions.reverse();
        assert_eq!(
            versions.len(),
            doc.versions.len(),
            "versions of {}",
            doc.name
        );
        for (n, (got, want)) in versions.iter().zip(doc.versions).enumerate() {
            let number = n as i64 + 1;
            assert_eq!(got.version, number);
            assert_eq!(got.kind.as_str(), want.kind, "{} v{number}", doc.name);
            assert_eq!(got.label.as_deref(), want.label, "{} v{number}", doc.name);
            let authors: Vec<&str> = if schema >= 2 {
                want.authors.to_vec()
            } else {
                vec![]
            };
            assert_eq!(got.authors, authors, "{} v{number}", doc.name);
            let full = store.version(doc.name, number).await.unwrap().unwrap();
            let text = &typed.texts[want.after];
            assert_eq!(&full.text, text, "{} v{number}", doc.name);
            let replayed = tandem_persistence::StoredDoc {
                snapshot: Some(full.state),
                ..Default::default()
            };
            assert_eq!(
                &stored_text(&replayed),
                text,
                "{} v{number} state",
                doc.name
            );
        }
    }
}

/// The current binary serves the upgraded database: texts over HTTP, and an edit.
async fn serve_and_edit(url: &str) {
    let server = BinServer::spawn(&["--database-url", url]);
    let api = Api::at(server.http(""));
    for (i, doc) in DOCS.iter().enumerate() {
        let typed = type_doc(i, doc);
        let res = api.text(doc.name).await;
        assert_eq!(res.status(), 200, "{}", doc.name);
        assert_eq!(&res.text().await.unwrap(), typed.texts.last().unwrap());
    }
    let mut a = Client::connect(&server.ws("meeting-notes")).await;
    a.pump_until(|c| c.text() == "Agenda\n2. Hiring\n", WAIT)
        .await;
    a.append("3. Launch\n").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    wait_for("the edit served", || async {
        let text = api.text("meeting-notes").await.text().await.unwrap();
        (text == "Agenda\n2. Hiring\n3. Launch\n").then_some(())
    })
    .await;
}

fn checked_clean(url: &str) {
    let out = run_check(url, &[]);
    assert!(out.status.success(), "{}", shown(&out));
    assert!(lines_with(&out, "PROBLEM").is_empty(), "{}", shown(&out));
    let summary = format!("checked {} documents", DOCS.len());
    assert_eq!(lines_with(&out, &summary).len(), 1, "{}", shown(&out));
}

async fn upgrade(url: &str, schema: u32) {
    expect_documents(url, schema).await;
    checked_clean(url);
    serve_and_edit(url).await;
}

#[tokio::test]
async fn sqlite_databases_of_older_schemas_open() {
    for &schema in SCHEMAS {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        sqlx::raw_sql(&fixture("sqlite", schema))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        upgrade(&url, schema).await;
    }
}

#[tokio::test]
async fn postgres_databases_of_older_schemas_open() {
    for &schema in SCHEMAS {
        let db = TestDatabase::create(&format!("upgrade_{schema}")).await;
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql(&fixture("postgres", schema))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        upgrade(&db.url, schema).await;
    }
}
