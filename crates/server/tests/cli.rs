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
