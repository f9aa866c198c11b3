//! A document's kind (plain or rich text): chosen at creation, then decided by what each
//! version holds; versions record the model their text was rendered from, and
//! `document_history` shows it. Run on both databases.

use anyhow::{ensure, Context, Result};
use sqlx::Connection;
use tandem_persistence::{ContentKind, NewVersion, Store, VersionKind};
use tandem_testkit::TestDatabase;

fn version(text: &str, format: Option<ContentKind>) -> NewVersion {
    NewVersion {
        kind: VersionKind::Auto,
        label: None,
        state: vec![0, 0],
        state_vector: vec![0],
        text: text.to_string(),
        authors: Vec::new(),
        format,
    }
}

async fn kind_of(store: &dyn Store, doc: &str) -> Result<ContentKind> {
    Ok(store.document(doc).await?.context("document")?.kind)
}

async fn exercise(store: &dyn Store) -> Result<()> {
    let rich = store.create_of_kind("notes", "", ContentKind::Rich).await?;
    ensure!(rich.kind == ContentKind::Rich, "created {:?}", rich.kind);
    ensure!(store.create_titled("plain", "").await?.kind == ContentKind::Text);

    // An empty version takes the document's kind and leaves it alone.
    let empty = store.create_version("notes", &version("", None)).await?;
    ensure!(empty.format == ContentKind::Rich, "{empty:?}");
    ensure!(kind_of(store, "notes").await? == ContentKind::Rich);

    // Content decides: plain text written into a document created as rich makes it plain.
    let v = store
        .create_version("notes", &version("typed", Some(ContentKind::Text)))
        .await?;
    ensure!(v.format == ContentKind::Text);
    ensure!(kind_of(store, "notes").await? == ContentKind::Text);
    store
        .create_version("plain", &version("Heading", Some(ContentKind::Rich)))
        .await?;
    ensure!(kind_of(store, "plain").await? == ContentKind::Rich);
    let listed = store.list_documents().await?;
    ensure!(listed
        .iter()
        .any(|d| d.name == "plain" && d.kind == ContentKind::Rich));

    let formats: Vec<ContentKind> = store
        .list_versions("notes")
        .await?
        .iter()
        .map(|v| v.format)
        .collect();
    ensure!(
        formats == [ContentKind::Text, ContentKind::Rich],
        "{formats:?}"
    );
    let one = store.version("plain", 1).await?.context("version")?;
    ensure!(one.info.format == ContentKind::Rich && one.text == "Heading");
    Ok(())
}

const HISTORY: &str =
    "SELECT text, format FROM document_history WHERE document = 'plain' AND version = 1";

#[tokio::test]
async fn sqlite_content_kinds() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("tandem.db").display());
    let store = tandem_persistence::open(&url).await?;
    exercise(store.as_ref()).await?;
    let mut raw = sqlx::SqliteConnection::connect(&url).await?;
    let row: (String, String) = sqlx::query_as(HISTORY).fetch_one(&mut raw).await?;
    ensure!(row == ("Heading".into(), "rich".into()), "{row:?}");
    Ok(())
}

#[tokio::test]
async fn postgres_content_kinds() -> Result<()> {
    let db = TestDatabase::create("kinds").await;
    let url = &db.url;
    let store = tandem_persistence::open(url).await?;
    exercise(store.as_ref()).await?;
    let mut raw = sqlx::PgConnection::connect(url).await?;
    let row: (String, String) = sqlx::query_as(HISTORY).fetch_one(&mut raw).await?;
    ensure!(row == ("Heading".into(), "rich".into()), "{row:?}");
    raw.close().await?;
    Ok(())
}
