//! Durability: kill -9 the server in the middle of an editing burst, restart it, and check
//! that every update any client had seen is still there.

use std::time::Duration;

use crate::kit::{pg, BinServer, Client, Peer, WAIT};

/// The server as its own process (killed on drop, also when the test fails).
fn spawn_server(data_dir: &std::path::Path, db_url: Option<&str>, durability: &str) -> BinServer {
    let dir = data_dir.display().to_string();
    let mut args = vec!["--data-dir", dir.as_str(), "--durability", durability];
    if let Some(url) = db_url {
        args.extend(["--database-url", url]);
    }
    BinServer::spawn(&args)
}

/// Every `<w:n>` token in `text`.
fn tokens(text: &str) -> Vec<String> {
    text.split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>').map(|(t, _)| format!("<{t}>")))
        .collect()
}

async fn kill_mid_burst(db_url: Option<String>, durability: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server(dir.path(), db_url.as_deref(), durability);
    let url = format!("ws://{}/ws/crash", server.addr);

    let mut observer = Client::connect(&url).await;
    let mut writers = Vec::new();
    for w in 0..3 {
        let url = url.clone();
        writers.push(tokio::spawn(async move {
            let mut c = Client::connect(&url).await;
            let mut n = 0;
            // Type as fast as possible until the server dies; read as we go.
            while c.closed.is_none() && n < 100_000 {
                c.append(&format!("<{w}:{n}>")).await;
                n += 1;
                c.step(Duration::from_millis(1)).await;
            }
            // Read to the end: frames already on their way were seen too.
            c.closed_with(WAIT).await;
            c.text()
        }));
    }
    // Let the burst run until the observer has seen a good part of it, then kill without
    // warning.
    observer
        .pump_until(|c| tokens(&c.text()).len() >= 300, WAIT)
        .await;
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    observer.closed_with(WAIT).await;
    let seen = observer.text();
    let mut seen_tokens = tokens(&seen);
    // What each writer saw of the others' typing was relayed, so committed, too. (Its own
    // tokens may not be: the last ones were typed but never acknowledged.)
    for (w, writer) in writers.into_iter().enumerate() {
        let own = format!("<{w}:");
        let text = writer.await.unwrap();
        seen_tokens.extend(tokens(&text).into_iter().filter(|t| !t.starts_with(&own)));
    }

    let server = spawn_server(dir.path(), db_url.as_deref(), durability);
    let fresh = Client::connect(&format!("ws://{}/ws/crash", server.addr)).await;
    let restored = fresh.text();
    let restored_tokens: std::collections::HashSet<String> =
        tokens(&restored).into_iter().collect();
    let lost: Vec<&String> = seen_tokens
        .iter()
        .filter(|t| !restored_tokens.contains(*t))
        .collect();
    assert!(
        lost.is_empty(),
        "{} updates seen by a client were lost after kill -9: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
}

// Both durability levels promise the same against a crash of Tandem itself: `process`
// leaves each commit with the operating system (SQLite) or the database server
// (PostgreSQL), which a kill -9 of Tandem does not touch.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_process_durability_survives_kill_9_mid_burst() {
    kill_mid_burst(None, "process").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_durability_survives_kill_9_mid_burst() {
    kill_mid_burst(None, "disk").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_process_durability_survives_kill_9_mid_burst() {
    let db = pg::TestDatabase::create("crash").await;
    kill_mid_burst(Some(db.url.clone()), "process").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_disk_durability_survives_kill_9_mid_burst() {
    let db = pg::TestDatabase::create("crash").await;
    kill_mid_burst(Some(db.url.clone()), "disk").await;
}
