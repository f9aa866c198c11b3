//! `tandem backup` and `tandem restore` (docs/operations.md): a backup taken while
//! clients type holds everything acknowledged before it started; a restored database
//! serves the same documents, texts, titles, versions with their authors, and history.

use std::time::Duration;

use crate::kit::{
    copies::*,
    dbstate::{db_state, endpoints},
    pg::TestDatabase,
    typing::{tokens, Tokens},
    *,
};

/// Clients type into a server on `url` while `tandem backup ARGS` runs; the backup,
/// restored into `restore_to`, must hold every token an observer had received (so the
/// server had committed it) before the backup started.
async fn backup_while_typing(url: &str, backup_args: &[&str], restore_to: &str) {
    let server = server_on(url).await;
    // On SQLite, a reader that stays (a shell, a report) keeps checkpoints from moving
    // what follows into the database file: all of it is in the write-ahead log only, and
    // a backup must take it from there too.
    let reader = match url.strip_prefix("sqlite://") {
        Some(_) => Some(HeldReader::take(url).await),
        None => None,
    };
    let mut writers = vec![
        Client::connect(&writer_url(&server, "typed", "Ann")).await,
        Client::connect(&writer_url(&server, "typed", "Bob")).await,
    ];
    let mut observer = Client::connect(&writer_url(&server, "typed", "Eve")).await;
    let mut typing = Tokens::new(writers.len());
    for _ in 0..30 {
        typing.round(&mut writers).await;
    }
    observer
        .pump_until(|c| c.text().contains("<1:29>"), WAIT)
        .await;
    // Relayed only once committed: what the observer holds is in the database.
    observer.drain(Duration::from_millis(50)).await;
    let acknowledged = tokens(&observer.text());
    assert!(acknowledged.len() >= 60, "{acknowledged:?}");

    let mut child = command(backup_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut rounds_during = 0;
    while child.try_wait().unwrap().is_none() && rounds_during < 2000 {
        typing.round(&mut writers).await;
        rounds_during += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let out = child.wait_with_output().unwrap();
    ok(out);
    for w in writers {
        w.close().await;
    }
    observer.close().await;
    if let Some(reader) = reader {
        reader.release().await;
    }

    let path = backup_args[backup_args.iter().position(|a| *a == "--output").unwrap() + 1];
    ok(tandem(&["restore", path, "--database-url", restore_to]));
    let restored = db_state(restore_to).await;
    let text = &restored["typed"].text;
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|t| !text.contains(t.as_str()))
        .collect();
    assert!(missing.is_empty(), "missing from the backup: {missing:?}");
    // And nothing that was not typed.
    let all = typing.all();
    assert!(tokens(text).iter().all(|t| all.contains(t)), "{text}");
}

/// An open read transaction on a SQLite database.
struct HeldReader(sqlx::SqliteConnection);

impl HeldReader {
    async fn take(url: &str) -> HeldReader {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        // The read transaction starts at its first read.
        sqlx::query("SELECT COUNT(*) FROM documents")
            .execute(&mut conn)
            .await
            .unwrap();
        HeldReader(conn)
    }

    async fn release(mut self) {
        use sqlx::Connection;
        sqlx::query("COMMIT").execute(&mut self.0).await.unwrap();
        self.0.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_taken_while_clients_type_holds_all_they_were_told_was_saved() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "live.db");
    let out = dir.path().join("live.backup.db");
    let out = out.to_str().unwrap();
    let to = sqlite_url(dir.path(), "restored.db");
    backup_while_typing(
        &url,
        &["backup", "--output", out, "--database-url", &url],
        &to,
    )
    .await;
    let head = std::fs::read(out).unwrap();
    assert!(head.starts_with(b"SQLite format 3\0"), "a SQLite file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_portable_backup_taken_while_clients_type_holds_all_they_were_told_was_saved() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "live.db");
    let out = dir.path().join("live.jsonl");
    let out = out.to_str().unwrap();
    let pg = TestDatabase::create("bkport").await;
    let args = [
        "backup",
        "--format",
        "portable",
        "--output",
        out,
        "--database-url",
        &url,
    ];
    backup_while_typing(&url, &args, &pg.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_taken_while_clients_type_holds_all_they_were_told_was_saved() {
    let dir = tempfile::tempdir().unwrap();
    let pg = TestDatabase::create("bklive").await;
    let out = dir.path().join("live.jsonl");
    let out = out.to_str().unwrap();
    let to = sqlite_url(dir.path(), "restored.db");
    let args = ["backup", "--output", out, "--database-url", &pg.url];
    backup_while_typing(&pg.url, &args, &to).await;
    let first = std::fs::read_to_string(out).unwrap();
    assert!(
        first.contains("\"format\":\"tandem-backup\""),
        "portable by default for PostgreSQL"
    );
}

/// Backs `from` up with `format`, restores it into `to`, and compares everything.
async fn round_trip(from: &str, format: &str, to: &str, dir: &std::path::Path) {
    let before = db_state(from).await;
    assert!(before.len() >= 3, "{:?}", before.keys());
    let file = dir.join(format!("backup-{format}"));
    let file = file.to_str().unwrap();
    let args = [
        "backup",
        "--format",
        format,
        "-o",
        file,
        "--database-url",
        from,
    ];
    ok(tandem(&args));
    assert!(!std::path::Path::new(&format!("{file}.partial")).exists());
    let (stdout, _) = ok(tandem(&["restore", file, "--database-url", to]));
    assert!(
        stdout.contains(&format!("restored {} documents", before.len())),
        "{stdout}"
    );
    let after = db_state(to).await;
    assert_eq!(before, after);
    assert_eq!(endpoints(from).await, endpoints(to).await);

    // A server on the restored database serves the documents, and history, as they were.
    let mut server = server_on(to).await;
    let admin = Api::new(&server).bearer(ADMIN);
    let alpha = &before["alpha"];
    assert_eq!(admin.text("alpha").await.text().await.unwrap(), alpha.text);
    let doc = ok_json(admin.document("alpha").await, 200).await;
    assert_eq!(doc["title"], "Alpha ✓ notes");
    let versions = ok_json(admin.versions("alpha").await, 200).await;
    let named: Vec<(String, serde_json::Value)> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["label"].as_str().unwrap_or("").to_string(),
                v["authors"].clone(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("final".to_string(), serde_json::json!(["Bob"])),
            ("draft".to_string(), serde_json::json!(["Ann"]))
        ]
    );
    // New edits get log positions past every restored one.
    let last = alpha.log.iter().map(|(p, _)| *p).max().unwrap();
    let mut carl = Client::connect(&writer_url(&server, "alpha", "Carl")).await;
    carl.append("<c:0>").await;
    wait_text(&admin, "alpha", "<c:0>").await;
    carl.close().await;
    server.stop().await;
    let now = db_state(to).await;
    let newest = now["alpha"].log.iter().map(|(p, _)| *p).max().unwrap();
    assert!(newest > last, "new position {newest} after {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backups_restore_every_document_version_title_and_author() {
    let dir = tempfile::tempdir().unwrap();
    let from = sqlite_url(dir.path(), "source.db");
    populate(&from, 2).await;
    round_trip(&from, "sqlite", &sqlite_url(dir.path(), "a.db"), dir.path()).await;
    let pg = TestDatabase::create("bkrestore").await;
    round_trip(&from, "portable", &pg.url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backups_restore_every_document_version_title_and_author() {
    let dir = tempfile::tempdir().unwrap();
    let from = TestDatabase::create("bksource").await;
    populate(&from.url, 2).await;
    let to = TestDatabase::create("bktarget").await;
    round_trip(&from.url, "portable", &to.url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_database_that_is_not_empty_unless_told_to_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let from = sqlite_url(dir.path(), "source.db");
    populate(&from, 0).await;
    let file = dir.path().join("b.jsonl");
    let file = file.to_str().unwrap();
    ok(tandem(&[
        "backup",
        "--format",
        "portable",
        "-o",
        file,
        "--database-url",
        &from,
    ]));

    // A backup cut short is refused before anything is written.
    let whole = std::fs::read_to_string(file).unwrap();
    let cut = dir.path().join("cut.jsonl");
    let lines: Vec<&str> = whole.lines().collect();
    std::fs::write(&cut, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let empty = sqlite_url(dir.path(), "empty.db");
    let out = tandem(&["restore", cut.to_str().unwrap(), "--database-url", &empty]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut short"), "{err}");
    assert!(
        db_state(&empty).await.is_empty(),
        "nothing restored from a cut backup"
    );

    let to = sqlite_url(dir.path(), "busy.db");
    {
        let store = tandem_persistence::open(&to).await.unwrap();
        store.create_titled("keep-me", "Mine").await.unwrap();
    }
    let out = tandem(&["restore", file, "--database-url", &to]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not empty") && err.contains("--replace-existing"),
        "{err}"
    );
    let untouched = db_state(&to).await;
    assert_eq!(untouched.keys().collect::<Vec<_>>(), ["keep-me"]);
    assert_eq!(untouched["keep-me"].title, "Mine");

    ok(tandem(&[
        "restore",
        file,
        "--replace-existing",
        "--database-url",
        &to,
    ]));
    assert_eq!(db_state(&from).await, db_state(&to).await);

    // A backup is never overwritten.
    let out = tandem(&["backup", "-o", file, "--database-url", &from]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}
