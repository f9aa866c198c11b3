//! `tandem check` on real SQLite and PostgreSQL databases: clean ones pass, rows the test
//! damages are named by document and sequence number (or version) with exit status 1,
//! and `--repair` rewrites derived values only, never a row that holds edits.

use std::sync::Arc;

use tandem_persistence::{AppendItem, NewVersion, Snapshot, Store, VersionKind};

use crate::kit::{
    pg::TestDatabase,
    stored::{lines_with, run_check, shown, state_vector_of, typed, RawDb},
};

/// `alpha`: three logged updates and an automatic version. `beta`: a snapshot, a row
/// after it, and two versions (named, automatic).
async fn populate(store: &Arc<dyn Store>) {
    let (updates, state, text) = typed(&["one ", "two ", "three"]);
    append(store, "alpha", &updates).await;
    version(store, "alpha", VersionKind::Auto, None, &state, &text).await;

    let (updates, state, text) = typed(&["red ", "green ", "blue"]);
    let appended = append(store, "beta", &updates[..2]).await;
    let snapshot = yrs::merge_updates_v1([&updates[0][..], &updates[1][..]]).unwrap();
    store
        .compact(
            "beta",
            &Snapshot {
                state_vector: state_vector_of(&snapshot),
                state: snapshot,
                upto_seq: appended,
            },
        )
        .await
        .unwrap();
    append(store, "beta", &updates[2..]).await;
    version(
        store,
        "beta",
        VersionKind::Named,
        Some("first"),
        &state,
        &text,
    )
    .await;
    version(store, "beta", VersionKind::Auto, None, &state, &text).await;
}

/// Appends each update in its own commit; the last sequence number.
async fn append(store: &Arc<dyn Store>, doc: &str, updates: &[Vec<u8>]) -> i64 {
    let mut last = 0;
    for data in updates {
        let done = store
            .append(&[AppendItem {
                doc: doc.into(),
                doc_id: None,
                data: data.clone(),
                author: None,
            }])
            .await
            .unwrap();
        last = done[0].last_seq;
    }
    last
}

async fn version(
    store: &Arc<dyn Store>,
    doc: &str,
    kind: VersionKind,
    label: Option<&str>,
    state: &[u8],
    text: &str,
) {
    store
        .create_version(
            doc,
            &NewVersion {
                kind,
                label: label.map(str::to_string),
                state: state.to_vec(),
                state_vector: state_vector_of(state),
                text: text.into(),
                format: Some(tandem_persistence::ContentKind::Text),
                authors: vec![],
            },
        )
        .await
        .unwrap();
}

/// Bytes that are no Yjs update: every byte continues a variable-length integer.
fn garbage(len: usize) -> Vec<u8> {
    vec![0xff; len.max(4)]
}

async fn finds_corrupt_rows(url: &str) {
    let store = tandem_persistence::open(url).await.unwrap();
    populate(&store).await;
    let clean = run_check(url, &[]);
    assert!(clean.status.success(), "{}", shown(&clean));
    assert!(
        lines_with(&clean, "PROBLEM").is_empty(),
        "{}",
        shown(&clean)
    );
    assert!(
        lines_with(
            &clean,
            "checked 2 documents: 4 log rows, 1 snapshots, 3 versions"
        )
        .len()
            == 1,
        "{}",
        shown(&clean)
    );

    // Garbage of the same length in alpha's second row and beta's first version, so the
    // byte counts still agree and only the damage itself is reported.
    let mut db = RawDb::connect(url).await;
    let alpha = db.doc_id("alpha").await;
    let beta = db.doc_id("beta").await;
    let seq = db
        .int(&format!(
            "SELECT seq FROM updates WHERE document_id = {alpha} ORDER BY seq LIMIT 1 OFFSET 1"
        ))
        .await;
    let len = db
        .int(&format!(
            "SELECT CAST(length(data) AS BIGINT) FROM updates WHERE seq = {seq}"
        ))
        .await as usize;
    let bad_row = garbage(len);
    db.exec(&format!(
        "UPDATE updates SET data = {} WHERE seq = {seq}",
        db.blob(&bad_row)
    ))
    .await;
    let bad_version = garbage(8);
    db.exec(&format!(
        "UPDATE versions SET state = {} WHERE document_id = {beta} AND version = 1",
        db.blob(&bad_version)
    ))
    .await;

    let out = run_check(url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let problems = lines_with(&out, "PROBLEM");
    // The damaged row, the damaged version, and alpha's third row, which builds on the
    // second and so cannot be applied either.
    assert_eq!(problems.len(), 3, "{}", shown(&out));
    let has = |start: &str| problems.iter().any(|p| p.starts_with(start));
    assert!(
        has(&format!("PROBLEM \"alpha\" log seq {seq}: does not decode")),
        "{}",
        shown(&out)
    );
    assert!(
        has("PROBLEM \"beta\" version 1: does not decode"),
        "{}",
        shown(&out)
    );
    assert!(
        has("PROBLEM \"alpha\" log replay: holds changes that build on changes not stored"),
        "{}",
        shown(&out)
    );

    // --repair cannot bring them back, and does not delete or change them either.
    let out = run_check(url, &["--repair"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(lines_with(&out, "REPAIRED").is_empty(), "{}", shown(&out));
    let row = db
        .bytes(&format!("SELECT data FROM updates WHERE seq = {seq}"))
        .await;
    assert_eq!(row, bad_row);
    let state = db
        .bytes(&format!(
            "SELECT state FROM versions WHERE document_id = {beta} AND version = 1"
        ))
        .await;
    assert_eq!(state, bad_version);
    assert_eq!(
        db.int("SELECT COUNT(*) FROM updates").await,
        4,
        "no log row is deleted"
    );

    // One document at a time: the clean one passes.
    let out = run_check(url, &["--document", "beta"]);
    assert_eq!(lines_with(&out, "PROBLEM").len(), 1, "{}", shown(&out));
}

async fn repairs_derived_values(url: &str) {
    let store = tandem_persistence::open(url).await.unwrap();
    populate(&store).await;
    let mut db = RawDb::connect(url).await;
    let alpha = db.doc_id("alpha").await;
    let beta = db.doc_id("beta").await;
    let last_seq = db
        .int(&format!("SELECT last_seq FROM documents WHERE id = {beta}"))
        .await;
    let size = db
        .int(&format!(
            "SELECT size_bytes FROM documents WHERE id = {alpha}"
        ))
        .await;
    let sv = db
        .bytes(&format!(
            "SELECT state_vector FROM snapshots WHERE document_id = {beta}"
        ))
        .await;
    db.exec(&format!(
        "UPDATE documents SET last_seq = 1 WHERE id = {beta};
         UPDATE documents SET size_bytes = 7 WHERE id = {alpha};
         UPDATE snapshots SET state_vector = {} WHERE document_id = {beta};
         UPDATE versions SET text = 'not what it holds' WHERE document_id = {alpha};",
        db.blob(&[0])
    ))
    .await;

    let out = run_check(url, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let problems = lines_with(&out, "PROBLEM");
    assert_eq!(problems.len(), 4, "{}", shown(&out));
    assert!(
        problems.iter().all(|p| p.ends_with("(repairable)")),
        "{}",
        shown(&out)
    );

    let out = run_check(url, &["--repair"]);
    assert!(out.status.success(), "{}", shown(&out));
    assert_eq!(lines_with(&out, "REPAIRED").len(), 4, "{}", shown(&out));
    assert_eq!(
        db.int(&format!("SELECT last_seq FROM documents WHERE id = {beta}"))
            .await,
        last_seq
    );
    assert_eq!(
        db.int(&format!(
            "SELECT size_bytes FROM documents WHERE id = {alpha}"
        ))
        .await,
        size
    );
    let repaired_sv = db
        .bytes(&format!(
            "SELECT state_vector FROM snapshots WHERE document_id = {beta}"
        ))
        .await;
    assert_eq!(state_vector_of_sv(&repaired_sv), state_vector_of_sv(&sv));
    assert_eq!(
        db.text(&format!(
            "SELECT text FROM versions WHERE document_id = {alpha}"
        ))
        .await,
        "one two three"
    );
    assert_eq!(db.int("SELECT COUNT(*) FROM updates").await, 4);

    let again = run_check(url, &[]);
    assert!(again.status.success(), "{}", shown(&again));
}

/// A state vector's meaning (its encoding's order depends on hashing).
fn state_vector_of_sv(bytes: &[u8]) -> yrs::StateVector {
    use yrs::updates::decoder::Decode;
    yrs::StateVector::decode_v1(bytes).unwrap()
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("tandem.db").display())
}

#[tokio::test]
async fn check_names_corrupt_rows_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    finds_corrupt_rows(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn check_names_corrupt_rows_postgres() {
    let db = TestDatabase::create("check_corrupt").await;
    finds_corrupt_rows(&db.url).await;
}

#[tokio::test]
async fn check_repairs_derived_values_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    repairs_derived_values(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn check_repairs_derived_values_postgres() {
    let db = TestDatabase::create("check_repair").await;
    repairs_derived_values(&db.url).await;
}

/// `tandem check` while the server commits, compacts (every 5 updates) and takes versions:
/// each run reads every document consistently (no false problem) and the edits go on.
async fn checks_a_live_database(url: &str) {
    use crate::kit::{start, Client, Peer, WAIT};
    let server = start(&[
        "--database-url",
        url,
        "--compact-updates",
        "5",
        "--version-idle-secs",
        "1",
    ])
    .await;
    let mut a = Client::connect(&server.ws("live")).await;
    let url = url.to_string();
    let checks = std::thread::spawn(move || {
        (0..3)
            .map(|_| run_check(&url, &[]))
            .collect::<Vec<std::process::Output>>()
    });
    let mut sent = 0;
    while !checks.is_finished() || sent < 20 {
        a.append("x").await;
        sent += 1;
        a.pump_until(|c| c.received_updates >= sent, WAIT).await;
    }
    for out in checks.join().unwrap() {
        assert!(out.status.success(), "{}", shown(&out));
        assert!(lines_with(&out, "PROBLEM").is_empty(), "{}", shown(&out));
    }
    assert_eq!(a.text(), "x".repeat(sent));
}

#[tokio::test]
async fn check_runs_beside_a_live_server_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    checks_a_live_database(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn check_runs_beside_a_live_server_postgres() {
    let db = TestDatabase::create("check_live").await;
    checks_a_live_database(&db.url).await;
}

#[test]
fn check_refuses_a_missing_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_check(&sqlite_url(&dir), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no database at"),
        "{}",
        shown(&out)
    );
    assert!(!dir.path().join("tandem.db").exists());
}
