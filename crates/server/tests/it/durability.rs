//! `--durability disk` and `process`, told apart from outside the code under test: what
//! the operating system is asked to do (SQLite: the process's `fsync`/`fdatasync` calls,
//! seen with `strace`) and what the database is asked to do (PostgreSQL: the
//! `synchronous_commit` in force in the append's own transaction, read by a trigger the
//! test adds to the `updates` table).

use std::path::Path;

use sqlx::Connection;

use crate::kit::{pg::TestDatabase, BinServer, Client, Peer, WAIT};

/// Edits measured per run: enough that a background checkpoint (every 500 ms) cannot
/// land in every one of them.
const EDITS: usize = 20;

/// A server run under `strace`: on drop, the traced `tandem` process is killed first (a
/// killed `strace` would leave it running, detached).
struct Traced {
    server: BinServer,
    trace: std::path::PathBuf,
}

impl Traced {
    fn spawn(dir: &Path, args: &[&str]) -> Traced {
        let trace = dir.join("syncs.trace");
        let out = trace.display().to_string();
        let strace = strace_binary();
        let wrapper = [
            strace.as_str(),
            "-f",
            "--seccomp-bpf",
            "-qq",
            "-y",
            "-e",
            "signal=none",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
            &out,
            "--",
        ];
        Traced {
            server: BinServer::spawn_wrapped(&wrapper, args),
            trace,
        }
    }

    /// The trace written so far, from byte `from`.
    fn trace_from(&self, from: usize) -> String {
        let all = std::fs::read(&self.trace).unwrap_or_default();
        String::from_utf8_lossy(&all[from.min(all.len())..]).into_owned()
    }

    fn trace_len(&self) -> usize {
        std::fs::metadata(&self.trace).map_or(0, |m| m.len() as usize)
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        let pid = self.server.child.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
        for child in children.unwrap_or_default().split_whitespace() {
            if let Ok(child) = child.parse::<i32>() {
                // SAFETY: kill(2) on a process id; no memory is involved.
                unsafe { libc::kill(child, libc::SIGKILL) };
            }
        }
    }
}

fn strace_binary() -> String {
    ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| {
            panic!(
                "strace not found: the durability test watches the server's fsync calls with \
                 it; run the tests through ./scripts/test.sh (installs the Debian package strace)"
            )
        })
        .to_string()
}

/// For each of `EDITS` edits, how many syncs of SQLite's WAL file the server made between
/// sending the edit and receiving its echo (the commit happens in between).
async fn wal_syncs_per_edit(durability: &str) -> Vec<usize> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let traced = Traced::spawn(
        dir.path(),
        &["--data-dir", &data, "--durability", durability],
    );
    let mut client = Client::connect(&traced.server.ws("durable")).await;
    client.append("first").await;
    client.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let mut syncs = Vec::new();
    for i in 0..EDITS {
        let before = traced.trace_len();
        client.append(&format!("<{i}>")).await;
        client
            .pump_until(|c| c.received_updates >= i + 2, WAIT)
            .await;
        let window = traced.trace_from(before);
        syncs.push(
            window
                .lines()
                .filter(|l| l.contains("sync(") && l.contains("-wal>"))
                .count(),
        );
    }
    assert!(
        traced.trace_from(0).contains("tandem.db"),
        "the trace never shows the database file: is strace tracing the server?\n{}",
        traced.trace_from(0)
    );
    syncs
}

/// `disk`: every commit waits for the WAL to reach the disk, so each edit's echo comes
/// after a sync of the WAL.
#[tokio::test]
async fn sqlite_disk_syncs_the_wal_before_every_echo() {
    let syncs = wal_syncs_per_edit("disk").await;
    assert!(
        syncs.iter().all(|&n| n >= 1),
        "an edit was echoed with no WAL sync under --durability disk: {syncs:?}"
    );
}

/// `process`: commits leave the WAL to the operating system; only the background
/// checkpoint (and the WAL restart after it) syncs, so most edits are echoed with none.
#[tokio::test]
async fn sqlite_process_echoes_without_waiting_for_the_disk() {
    let syncs = wal_syncs_per_edit("process").await;
    let unsynced = syncs.iter().filter(|&&n| n == 0).count();
    assert!(
        unsynced >= EDITS / 2,
        "--durability process synced the WAL for most edits: {syncs:?}"
    );
}

/// The `synchronous_commit` each append's transaction ran with, as seen by a trigger on
/// `updates`, for a server at `durability` on a database whose own default is
/// `remote_apply` (a value no code path sets by itself).
async fn pg_commit_settings(durability: &str) -> Vec<String> {
    let db = TestDatabase::create("durability").await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE {name} SET synchronous_commit = remote_apply"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let server = BinServer::spawn(&[
        "--data-dir",
        &data,
        "--database-url",
        &db.url,
        "--durability",
        durability,
    ]);
    // The server has made its tables; the probe records what each inserted row saw.
    for statement in [
        "CREATE TABLE durability_probe (setting text NOT NULL)",
        "CREATE FUNCTION durability_probe() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN INSERT INTO durability_probe VALUES (current_setting('synchronous_commit')); \
         RETURN NULL; END $$",
        "CREATE TRIGGER durability_probe AFTER INSERT ON updates \
         FOR EACH ROW EXECUTE FUNCTION durability_probe()",
    ] {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    let mut client = Client::connect(&server.ws("durable")).await;
    for i in 0..3 {
        client.append(&format!("<{i}>")).await;
        client.pump_until(|c| c.received_updates > i, WAIT).await;
    }
    let settings: Vec<String> = sqlx::query_scalar("SELECT setting FROM durability_probe")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert!(settings.len() >= 3, "the probe saw {settings:?}");
    settings
}

/// `disk`: appends commit as the database is configured (here `remote_apply`).
#[tokio::test]
async fn postgres_disk_commits_as_the_database_is_configured() {
    let settings = pg_commit_settings("disk").await;
    assert!(
        settings.iter().all(|s| s == "remote_apply"),
        "--durability disk appended with synchronous_commit {settings:?}"
    );
}

/// `process`: appends commit with `synchronous_commit = off`.
#[tokio::test]
async fn postgres_process_commits_without_waiting_for_the_wal_flush() {
    let settings = pg_commit_settings("process").await;
    assert!(
        settings.iter().all(|s| s == "off"),
        "--durability process appended with synchronous_commit {settings:?}"
    );
}
