//! Durability: kill -9 the server in the middle of an editing burst, restart it, and check
//! that every update any client had seen is still there.

mod common;
mod pg_support;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{Client, WAIT};

struct Proc {
    child: Child,
    addr: String,
}

fn spawn_server(data_dir: &std::path::Path, db_url: Option<&str>) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tandem"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(["--web-dir", "/nonexistent"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = db_url {
        cmd.args(["--database-url", url]);
    } else {
        cmd.env_remove("DATABASE_URL");
    }
    let mut child = cmd.spawn().expect("spawn tandem");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Proc { child, addr }
}

/// Every `<w:n>` token in `text`.
fn tokens(text: &str) -> Vec<String> {
    text.split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>').map(|(t, _)| format!("<{t}>")))
        .collect()
}

async fn kill_mid_burst(db_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server(dir.path(), db_url.as_deref());
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
            c.drain(Duration::from_millis(200)).await;
            c.text()
        }));
    }
    // Let the burst run, then kill without warning.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < deadline {
        observer.step(Duration::from_millis(20)).await;
    }
    let mut child = server.child;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Frames already on their way are things the observer saw too.
    observer.drain(Duration::from_millis(500)).await;
    let seen = observer.text();
    for w in writers {
        w.await.unwrap();
    }
    let seen_tokens = tokens(&seen);
    assert!(
        seen_tokens.len() > 50,
        "burst too small to mean anything: {}",
        seen_tokens.len()
    );

    let server = spawn_server(dir.path(), db_url.as_deref());
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
    let mut child = server.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = WAIT;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_kill_9_mid_burst() {
    kill_mid_burst(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_kill_9_mid_burst() {
    let url = pg_support::fresh_database("crash").await;
    kill_mid_burst(Some(url)).await;
}
