//! The binary: the offline commands (`history`, `export`, `token`, `healthcheck`) and
//! `serve` as a process (settings from the environment, SIGTERM, logs).

use std::process::Command;

use crate::kit::*;

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
    let res = Api::new(&server).create_version("cli-doc", "v-one").await;
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

    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let out = ok(tandem(&["export", "cli-doc", "--data-dir", &dir]));
    assert_eq!(String::from_utf8_lossy(&out).trim_end(), "first second");
    let out = ok(tandem(&[
        "export",
        "cli-doc",
        "--version",
        "1",
        "--data-dir",
        &dir,
    ]));
    assert_eq!(String::from_utf8_lossy(&out).trim_end(), "first");
    // The binary Yjs state: a replica built from it holds the text.
    let out = ok(tandem(&[
        "export",
        "cli-doc",
        "--format",
        "yjs",
        "--data-dir",
        &dir,
    ]));
    let replica = new_doc();
    {
        use yrs::{updates::decoder::Decode, Transact};
        replica
            .transact_mut()
            .apply_update(yrs::Update::decode_v1(&out).expect("export is a Yjs update"))
            .unwrap();
    }
    assert_eq!(tandem::text::render_doc(&replica), "first second");

    let out = tandem(&["export", "nope", "--data-dir", &dir]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

#[tokio::test]
async fn export_renders_rich_text_in_every_format() {
    let mut server = start(&[]).await;
    let api = Api::new(&server);
    let update = crate::rich::tiptap_content(&new_doc());
    assert_eq!(api.apply_update("rich-cli", update).await.status(), 204);
    server.stop().await;
    let dir = server.dir.path().display().to_string();
    let export = |format: &str| {
        let out = tandem(&["export", "rich-cli", "--format", format, "--data-dir", &dir]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(export("md"), crate::rich::MARKDOWN);
    assert_eq!(export("txt").trim_end(), crate::rich::TEXT);
    assert!(export("html").starts_with("<h1>Title</h1>"));
    let json: serde_json::Value = serde_json::from_str(&export("json")).unwrap();
    assert_eq!(json, crate::rich::expected_json());
}

#[test]
fn token_command_mints_a_verifiable_token() {
    let t0 = tandem::auth::now_secs();
    let out = tandem(&[
        "token",
        "--doc",
        "team-*",
        "--access",
        "read",
        "--name",
        "Ann",
        "--expires-in",
        "120",
        "--secret",
        "s3",
    ]);
    let t1 = tandem::auth::now_secs();
    assert!(out.status.success());
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let auth = tandem::auth::Auth::new(Some("s3"), None);
    let grant = auth.document("team-a", Some(&token), None).unwrap();
    assert_eq!(grant.access, tandem::Access::Read);
    assert_eq!(grant.name.as_deref(), Some("Ann"));
    assert!(auth.document("other", Some(&token), None).is_err());
    // The expiry is the requested lifetime from now.
    let claims: serde_json::Value = {
        use base64::Engine;
        let payload = token.split('.').nth(1).expect("a JWT");
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    };
    let exp = claims["exp"].as_u64().unwrap();
    assert!(
        (t0 + 120..=t1 + 120).contains(&exp),
        "exp {exp} for {t0}..{t1}"
    );
    // A lifetime already over: refused once the clock has passed it (no leeway).
    let out = tandem(&[
        "token",
        "--doc",
        "team-*",
        "--expires-in",
        "0",
        "--secret",
        "s3",
    ]);
    assert!(
        out.status.success(),
        "tandem token --expires-in 0 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expired = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(expired.split('.').count(), 3, "not a JWT: {expired:?}");
    let t = tandem::auth::now_secs();
    while tandem::auth::now_secs() <= t {
        std::thread::yield_now();
    }
    // Refused for its expiry, not for being malformed or signed with another secret.
    assert!(matches!(
        auth.document("team-a", Some(&expired), None),
        Err(tandem::auth::AuthError::Expired)
    ));
}

/// SIGTERM: `/readyz` turns 503 "shutting down", new connections are refused, clients are
/// closed with 1001, and every loaded document is written out (even an edit its commit
/// was still waiting for) and compacted before the process exits 0. Also: JSON logs with
/// one line per connection, and `tandem healthcheck` against the live and the dead server.
#[tokio::test]
async fn sigterm_refuses_new_work_writes_out_and_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let mut server = BinServer::spawn(&["--data-dir", &data, "--log-format", "json"]);
    let health = tandem(&["healthcheck", "--listen", &server.addr]);
    assert!(health.status.success(), "{health:?}");

    let mut a = Client::connect(&server.ws("term")).await;
    a.append("committed ").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let opened = server
        .wait_log("a connection-opened line", |l| {
            l.contains("connection opened")
        })
        .await;
    let v: serde_json::Value = serde_json::from_str(&opened).expect("a JSON log line");
    assert_eq!(v["level"], "INFO", "{v}");
    assert_eq!(v["fields"]["doc"], "term", "{v}");
    assert_eq!(v["fields"]["transport"], "websocket", "{v}");
    // Every line is JSON; on loopback there is no warning about running open.
    for line in server.stderr() {
        let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
        assert_ne!(v["level"], "WARN", "{line}");
    }

    // An edit whose commit the busy database holds up when the signal arrives.
    let lock = SqliteWriteLock::take(&dir.path().join("tandem.db")).await;
    a.append("pending").await;
    let me = a.client_id();
    a.set_awareness(r#"{"user":{"name":"a"}}"#).await;
    a.pump_until(|c| c.peers.contains_key(&me), WAIT).await;
    server.terminate();

    let (code, _) = a.closed_with(WAIT).await;
    assert_eq!(code, 1001);
    let res = reqwest::get(server.http("/readyz")).await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.text().await.unwrap(), "shutting down");
    match tokio_tungstenite::connect_async(server.ws("term")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 503)
        }
        other => panic!("a new connection was not refused: {:?}", other.map(|_| ())),
    }
    let closed = server
        .wait_log("a connection-closed line", |l| {
            l.contains("connection closed")
        })
        .await;
    let v: serde_json::Value = serde_json::from_str(&closed).unwrap();
    assert_eq!(v["fields"]["code"], 1001, "{v}");
    assert_eq!(v["fields"]["doc"], "term", "{v}");

    lock.release().await;
    assert!(server.exited().await.success());
    let stored = tandem_persistence::open(&format!("sqlite://{data}/tandem.db"))
        .await
        .unwrap()
        .load("term")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_text(&stored), "committed pending");
    assert!(stored.snapshot.is_some(), "not compacted on shutdown");
    assert!(stored.updates.is_empty(), "log left after compaction");
    let health = tandem(&["healthcheck", "--listen", &server.addr]);
    assert!(!health.status.success(), "healthy after exit");
}

/// Without a secret, listening beyond loopback warns that anyone can edit.
#[tokio::test]
async fn listening_beyond_loopback_without_a_secret_warns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    // Bound on every interface only for as long as it takes to read the warning.
    let server = BinServer::spawn_on("0.0.0.0:0", &["--data-dir", &data]);
    let line = server
        .wait_log("the warning", |l| l.contains("no TANDEM_SECRET set"))
        .await;
    assert!(line.contains("WARN"), "{line}");
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

/// A client that opens connection after connection cannot flood the log: each place in
/// the code writes its burst (ten seconds' worth of `--log-lines-per-sec`), the rest is
/// dropped and counted on `/metrics`.
#[tokio::test]
async fn log_lines_past_the_rate_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let server = BinServer::spawn(&["--data-dir", &data, "--log-lines-per-sec", "1"]);
    let started = std::time::Instant::now();
    for _ in 0..40 {
        Client::connect(&server.ws("chatty")).await.close().await;
    }
    let suppressed = "tandem_log_lines_suppressed_total";
    wait_for("lines to be dropped", || async {
        let text = reqwest::get(server.http("/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (metric_in(&text, suppressed) >= 40.0).then_some(())
    })
    .await;
    let opened = server
        .stderr()
        .iter()
        .filter(|l| l.contains("connection opened"))
        .count();
    let most = 10 + started.elapsed().as_secs() as usize + 1;
    assert!((10..=most).contains(&opened), "{opened} lines");
}
