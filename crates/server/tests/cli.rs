//! The offline commands: `tandem history`, `tandem export`, `tandem token`.

mod common;

use std::process::Command;

use common::*;

fn tandem(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("TANDEM_SECRET")
        .output()
        .expect("run tandem")
}

#[tokio::test]
async fn history_and_export_read_the_database() {
    let mut server = start(&[]).await;
    let mut a = Client::connect(&server.ws("cli-doc")).await;
    a.append("first").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let res = reqwest::Client::new()
        .post(server.http("/api/documents/cli-doc/versions"))
        .json(&serde_json::json!({"label": "v-one"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    a.append(" second").await;
    a.pump_until(|c| c.received_updates >= 2, WAIT).await;
    a.close().await;
    server.stop().await;
    let dir = server.dir.path().display().to_string();

    let out = tandem(&["history", "cli-doc", "--data-dir", &dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("v-one") && listing.contains("named"),
        "{listing}"
    );

    let _ = std::process::Command::new("cp")
        .args(["-r", &dir, "/tmp/cli-dbg"])
        .status();
    let out = tandem(&["export", "cli-doc", "--data-dir", &dir]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "first second"
    );
    let out = tandem(&["export", "cli-doc", "--version", "1", "--data-dir", &dir]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "first");
    let out = tandem(&["export", "cli-doc", "--format", "yjs", "--data-dir", &dir]);
    assert!(out.stdout.len() > 10);

    let out = tandem(&["export", "nope", "--data-dir", &dir]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[test]
fn token_command_mints_a_verifiable_token() {
    let out = tandem(&[
        "token", "--doc", "team-*", "--access", "read", "--name", "Ann", "--secret", "s3",
    ]);
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let auth = tandem::auth::Auth::new(Some("s3"), None);
    let grant = auth.document("team-a", Some(&token), None).unwrap();
    assert_eq!(grant.access, tandem::peer::Access::Read);
    assert_eq!(grant.name.as_deref(), Some("Ann"));
    assert!(auth.document("other", Some(&token), None).is_err());
}

/// `.env` files and compose's `${VAR:-}` hand the server empty values for settings meant
/// to keep their defaults: they must start the server, not fail to parse or set a secret.
#[tokio::test]
async fn empty_settings_mean_unset() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--web-dir",
            "/nonexistent",
        ])
        .env("TANDEM_DATA_DIR", dir.path())
        .env("DATABASE_URL", "")
        .env("TANDEM_SECRET", "")
        .env("TANDEM_ADMIN_KEY", "")
        .env("TANDEM_MAX_MESSAGE_SIZE", "")
        .env("TANDEM_DISABLE_TRANSPORTS", "")
        .env("TANDEM_LOG_FORMAT", "")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let addr = match line.trim().strip_prefix("listening on http://") {
        Some(addr) => addr.to_string(),
        None => {
            let _ = child.wait();
            let mut err = String::new();
            std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut err).unwrap();
            panic!("server did not start: {line:?}\n{err}");
        }
    };
    // No secret: the server is open. SQLite under the data directory.
    let res = reqwest::get(format!("http://{addr}/api/documents"))
        .await
        .unwrap();
    let status = res.status();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(status, 200);
    assert!(dir.path().join("tandem.db").exists());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut err).unwrap();
    assert!(
        err.contains("ignoring empty settings") && err.contains("TANDEM_SECRET"),
        "{err}"
    );
}
