//! `tandem migrate --from URL --to URL` (docs/operations.md, "Moving from SQLite to
//! PostgreSQL"): every document with its log, snapshots, versions, titles and authors,
//! SQLite to PostgreSQL and back, equal; an interrupted migration resumed ends equal.

use tandem_persistence::AppendItem;

use crate::kit::{
    copies::*,
    dbstate::{db_state, endpoints},
    pg::TestDatabase,
};

fn migrate(from: &str, to: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["migrate", "--from", from, "--to", to];
    args.extend(extra);
    tandem(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back_is_the_same_database() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_url(dir.path(), "source.db");
    populate(&sqlite, 3).await;
    let pg = TestDatabase::create("migrate").await;
    let back = sqlite_url(dir.path(), "back.db");

    let (stdout, stderr) = ok(migrate(&sqlite, &pg.url, &[]));
    // Piped: plain progress lines, the last one with the totals.
    assert!(stderr.contains("migrate: 6/6 documents"), "{stderr}");
    assert!(stdout.contains("checked 6 documents"), "{stdout}");
    let (stdout, _) = ok(migrate(&pg.url, &back, &[]));
    assert!(stdout.contains("checked 6 documents"), "{stdout}");

    let source = db_state(&sqlite).await;
    assert_eq!(source.len(), 6);
    assert_eq!(source, db_state(&pg.url).await, "SQLite -> PostgreSQL");
    assert_eq!(source, db_state(&back).await, "-> SQLite again");
    assert_eq!(endpoints(&sqlite).await, endpoints(&back).await);
    assert_eq!(endpoints(&sqlite).await.len(), 1);

    // The copy goes on numbering the log after the source's last position.
    let last = source
        .values()
        .flat_map(|d| d.log.iter().map(|(p, _)| *p))
        .max()
        .unwrap();
    let store = tandem_persistence::open(&pg.url).await.unwrap();
    let appended = store
        .append(&[AppendItem {
            doc: "gamma".into(),
            doc_id: None,
            data: text_update("later"),
            author: None,
        }])
        .await
        .unwrap();
    assert!(appended[0].last_seq > last, "{appended:?} after {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_migration_resumes_and_ends_equal() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_url(dir.path(), "source.db");
    populate(&sqlite, 4).await;
    let pg = TestDatabase::create("resume").await;

    let out = migrate(&sqlite, &pg.url, &["--stop-after", "3"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let partial = db_state(&pg.url).await;
    assert_eq!(partial.len(), 3, "{:?}", partial.keys());
    // Whole documents only: each one copied is the same as in the source.
    let source = db_state(&sqlite).await;
    for (name, doc) in &partial {
        assert_eq!(doc, &source[name], "{name}");
    }
    assert!(endpoints(&pg.url).await.is_empty(), "webhooks come last");

    // The source changes after the interruption: that document is copied again.
    let changed = partial.keys().next().unwrap().clone();
    let store = tandem_persistence::open(&sqlite).await.unwrap();
    store
        .append(&[AppendItem {
            doc: changed.clone(),
            doc_id: None,
            data: text_update("changed"),
            author: Some("Zed".into()),
        }])
        .await
        .unwrap();
    drop(store);

    let (stdout, stderr) = ok(migrate(&sqlite, &pg.url, &[]));
    assert!(
        stderr.contains("resuming: 2 of 7 documents are already copied"),
        "{stderr}"
    );
    assert!(stdout.contains("copied 5 documents"), "{stdout}");
    assert_eq!(db_state(&sqlite).await, db_state(&pg.url).await);
    assert_eq!(endpoints(&sqlite).await, endpoints(&pg.url).await);

    // A target with documents of its own is refused.
    let other = TestDatabase::create("foreign").await;
    tandem_persistence::open(&other.url)
        .await
        .unwrap()
        .create_document("theirs")
        .await
        .unwrap();
    let out = migrate(&sqlite, &other.url, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"theirs\"") && err.contains("--replace-existing"),
        "{err}"
    );
}

/// The final check of `migrate` finds a copy that differs: in text and state vector, in
/// title, in versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_check_names_every_document_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_url(dir.path(), "source.db");
    populate(&sqlite, 0).await;
    let copy = sqlite_url(dir.path(), "copy.db");
    ok(migrate(&sqlite, &copy, &[]));
    let (source, target) = (
        tandem_persistence::open(&sqlite).await.unwrap(),
        tandem_persistence::open(&copy).await.unwrap(),
    );
    let (checked, problems) = tandem::data_commands::compare(&*source, &*target)
        .await
        .unwrap();
    assert_eq!((checked, problems.len()), (3, 0), "{problems:?}");

    target
        .append(&[AppendItem {
            doc: "alpha".into(),
            doc_id: None,
            data: text_update("extra"),
            author: None,
        }])
        .await
        .unwrap();
    target.set_title("gamma", "Renamed").await.unwrap();
    let version = target.version("alpha", 1).await.unwrap().unwrap();
    target
        .create_version(
            "beta",
            &tandem_persistence::NewVersion {
                kind: tandem_persistence::VersionKind::Named,
                label: Some("only in the copy".into()),
                state: version.state,
                state_vector: Vec::new(),
                text: version.text,
                format: None,
                authors: Vec::new(),
            },
        )
        .await
        .unwrap();
    let (_, mut problems) = tandem::data_commands::compare(&*source, &*target)
        .await
        .unwrap();
    problems.sort();
    assert_eq!(
        problems,
        [
            "alpha: state vector differs",
            "alpha: text differs",
            "beta: versions differ",
            "gamma: title or kind differs",
        ],
    );
}
