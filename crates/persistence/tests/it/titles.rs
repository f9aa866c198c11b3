//! Titles and version authors, on SQLite and PostgreSQL: stored, returned, and readable with
//! plain SQL (`documents.title`, `document_history.title` / `.authors`).

use anyhow::{ensure, Context, Result};
use sqlx::Connection;
use tandem_persistence::{NewVersion, Store, StoreError, VersionKind};
use tandem_testkit::TestDatabase;

const TITLE: &str = "Café ☕ 会议 notes";

fn version(authors: &[&str]) -> NewVersion {
    NewVersion {
        kind: VersionKind::Auto,
        label: None,
        state: vec![0, 0],
        state_vector: vec![0],
        text: String::new(),
        authors: authors.iter().map(|s| s.to_string()).collect(),
        format: None,
    }
}

async fn exercise(store: &dyn Store) -> Result<()> {
    let info = store.create_titled("meeting-notes", TITLE).await?;
    ensure!(info.title == TITLE, "created title {:?}", info.title);
    ensure!(
        matches!(
            store.create_titled("meeting-notes", "other").await,
            Err(StoreError::AlreadyExists(_))
        ),
        "a taken name must be refused"
    );
    // The plain create leaves the title empty ("show the name").
    ensure!(store.create_document("plain").await?.title.is_empty());

    // Renaming keeps the name; renaming a document not stored yet creates it.
    let renamed = store.set_title("meeting-notes", "Renamed").await?;
    ensure!(renamed.name == "meeting-notes" && renamed.title == "Renamed");
    ensure!(store.set_title("fresh", "Fresh").await?.title == "Fresh");
    let listed = store.list_documents().await?;
    let titles: Vec<(&str, &str)> = listed
        .iter()
        .map(|d| (d.name.as_str(), d.title.as_str()))
        .collect();
    for want in [
        ("meeting-notes", "Renamed"),
        ("plain", ""),
        ("fresh", "Fresh"),
    ] {
        ensure!(titles.contains(&want), "{want:?} missing from {titles:?}");
    }
    let shown = store.document("meeting-notes").await?.context("document")?;
    ensure!(shown.title == "Renamed");

    store
        .create_version("meeting-notes", &version(&["Ann", "Bob, Jr."]))
        .await?;
    store.create_version("meeting-notes", &version(&[])).await?;
    let versions = store.list_versions("meeting-notes").await?;
    ensure!(versions[1].authors == ["Ann", "Bob, Jr."], "{versions:?}");
    ensure!(versions[0].authors.is_empty());
    let one = store
        .version("meeting-notes", 1)
        .await?
        .context("version 1")?;
    ensure!(one.info.authors == ["Ann", "Bob, Jr."]);
    Ok(())
}

#[tokio::test]
async fn sqlite_titles_and_authors() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
    let store = tandem_persistence::open(&url).await?;
    exercise(store.as_ref()).await?;
    let mut raw = sqlx::SqliteConnection::connect(&url).await?;
    let (title, authors): (String, String) = sqlx::query_as(
        "SELECT title, authors FROM document_history WHERE document = 'meeting-notes' AND version = 1",
    )
    .fetch_one(&mut raw)
    .await?;
    ensure!(
        title == "Renamed" && authors == r#"["Ann","Bob, Jr."]"#,
        "{title} {authors}"
    );
    let (t,): (String,) = sqlx::query_as("SELECT title FROM documents WHERE name = 'fresh'")
        .fetch_one(&mut raw)
        .await?;
    ensure!(t == "Fresh");
    Ok(())
}

#[tokio::test]
async fn postgres_titles_and_authors() -> Result<()> {
    let db = TestDatabase::create("titles").await;
    let url = &db.url;
    let store = tandem_persistence::open(url).await?;
    exercise(store.as_ref()).await?;
    let mut raw = sqlx::PgConnection::connect(url).await?;
    let (title, authors): (String, String) = sqlx::query_as(
        "SELECT title, authors FROM document_history WHERE document = 'meeting-notes' AND version = 1",
    )
    .fetch_one(&mut raw)
    .await?;
    ensure!(
        title == "Renamed" && authors == r#"["Ann","Bob, Jr."]"#,
        "{title} {authors}"
    );
    raw.close().await?;
    Ok(())
}
