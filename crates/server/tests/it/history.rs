//! Persistence as the server uses it: compaction, versions, restore, and the HTTP API.

use crate::kit::*;

async fn open_store(server: &TestServer) -> std::sync::Arc<dyn tandem_persistence::Store> {
    tandem_persistence::open(&format!("sqlite://{}", server.sqlite_path().display()))
        .await
        .unwrap()
}

/// The text a full-state update (as `/state` serves it) holds.
fn state_text(state: &[u8]) -> String {
    use yrs::{updates::decoder::Decode, Transact};
    let replica = new_doc();
    replica
        .transact_mut()
        .apply_update(yrs::Update::decode_v1(state).expect("state decodes"))
        .expect("state applies");
    tandem::text::render_doc(&replica)
}

#[tokio::test]
async fn compaction_keeps_history_and_restore_brings_old_text_back_live() {
    let server = start(&["--compact-updates", "10", "--version-idle-secs", "3600"]).await;
    let api = Api::new(&server);
    let mut a = Client::connect(&server.ws("hist")).await;
    let mut b = Client::connect(&server.ws("hist")).await;
    for word in ["alpha", " beta"] {
        for ch in word.chars() {
            a.append(&ch.to_string()).await;
        }
    }
    b.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    a.pump_until(|c| c.received_updates >= 10, WAIT).await;

    let v1 = ok_json(api.create_version("hist", "first draft").await, 201).await;
    assert_eq!(v1["kind"], "named");
    assert_eq!(v1["label"], "first draft");
    let n1 = v1["version"].as_i64().unwrap();

    for ch in " gamma delta epsilon".chars() {
        a.append(&ch.to_string()).await;
    }
    b.pump_until(|c| c.text() == "alpha beta gamma delta epsilon", WAIT)
        .await;

    // Compaction folds the log (threshold 10) in the background; the version is intact.
    let store = open_store(&server).await;
    let stored = wait_for("the log to be compacted", || async {
        let stored = store.load("hist").await.unwrap().unwrap();
        (stored.snapshot.is_some() && stored.updates.len() < 10).then_some(stored)
    })
    .await;
    assert_eq!(stored_text(&stored), "alpha beta gamma delta epsilon");

    let v = ok_json(api.version("hist", n1).await, 200).await;
    assert_eq!(v["text"], "alpha beta");
    let state = api.version_state("hist", n1).await.bytes().await.unwrap();
    assert_eq!(state_text(&state), "alpha beta");

    let restored = ok_json(api.restore("hist", n1).await, 200).await;
    assert_eq!(restored["kind"], "restore");
    // Both connected editors see the restore live.
    a.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    b.pump_until(|c| c.text() == "alpha beta", WAIT).await;
    assert_eq!(get_text(&server, "hist").await, "alpha beta");

    let list = ok_json(api.versions("hist").await, 200).await;
    let versions = list["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{list}");
    assert_eq!(versions[0]["kind"], "restore", "newest first");
    assert_eq!(versions[1]["label"], "first draft");
}

#[tokio::test]
async fn documents_api_round_trip() {
    let server = start(&[]).await;
    let api = Api::new(&server);
    let created = ok_json(api.create("notes").await, 201).await;
    assert_eq!(created["name"], "notes");
    expect_error(api.create("notes").await, 409).await;
    let error = expect_error(api.create("../etc").await, 400).await;
    assert!(error.contains("document name"), "{error}");

    // An update made elsewhere, applied over HTTP, reaches a connected editor.
    let mut editor = Client::connect(&server.ws("notes")).await;
    let update = {
        use yrs::{Text, Transact};
        let d = new_doc();
        let t = d.get_or_insert_text("content");
        let mut txn = d.transact_mut();
        t.insert(&mut txn, 0, "from http");
        txn.encode_update_v1()
    };
    assert_eq!(api.apply_update("notes", update).await.status(), 204);
    editor.pump_until(|c| c.text() == "from http", WAIT).await;
    expect_error(api.apply_update("notes", vec![9u8, 9, 9]).await, 400).await;

    let state = api.state("notes").await;
    assert_eq!(state.status(), 200);
    assert_eq!(state.headers()["content-type"], "application/octet-stream");
    assert_eq!(state_text(&state.bytes().await.unwrap()), "from http");

    // Presence shows once the editor's awareness is in (its own echo says so).
    editor.set_awareness(r#"{"user":{"name":"zoe"}}"#).await;
    let me = editor.client_id();
    editor.pump_until(|c| c.peers.contains_key(&me), WAIT).await;
    let list = ok_json(api.list().await, 200).await;
    let doc = &list["documents"][0];
    assert_eq!(doc["name"], "notes");
    assert_eq!(doc["connections"], 1);
    assert_eq!(doc["users"][0], "zoe");
    // One document on its own: stored facts and live presence.
    let one = ok_json(api.document("notes").await, 200).await;
    assert_eq!(one["name"], "notes");
    assert_eq!(one["connections"], 1);
    assert_eq!(one["users"], serde_json::json!(["zoe"]));
    assert!(one["size_bytes"].as_i64().unwrap() > 0, "{one}");
    assert!(
        one["created_at"].is_string() && one["updated_at"].is_string(),
        "{one}"
    );
    expect_error(api.document("missing").await, 404).await;
    expect_error(api.text("missing").await, 404).await;

    assert_eq!(api.delete("notes").await.status(), 204);
    let (code, _) = editor.closed_with(WAIT).await;
    assert_eq!(code, 4404);
    expect_error(api.delete("notes").await, 404).await;
}

#[tokio::test]
async fn automatic_version_after_editing_pauses() {
    let server = start(&["--version-idle-secs", "1"]).await;
    let mut a = Client::connect(&server.ws("auto")).await;
    a.append("quiet now").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let v = wait_for("an automatic version", || async {
        let list = ok_json(Api::new(&server).versions("auto").await, 200).await;
        list["versions"].as_array().and_then(|v| v.first()).cloned()
    })
    .await;
    assert_eq!(v["kind"], "auto");
    assert_eq!(v["text_length"], 9);
}

/// Metric values, not only names. The recorder is per process; the test command runs each
/// test in its own (nextest), so the values below are this test's alone.
#[tokio::test]
async fn metrics_and_health() {
    let server = start(&[]).await;
    let mut a = Client::connect(&server.ws("m")).await;
    let mut b = Client::connect(&server.ws("m")).await;
    a.append("x").await;
    b.pump_until(|c| c.text() == "x", WAIT).await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let api = Api::new(&server);
    assert_eq!(api.healthz().await.status(), 200);
    assert_eq!(api.readyz().await.status(), 200);
    let text = reqwest::get(server.http("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (series, want) in [
        ("tandem_connections{transport=\"websocket\"}", 2.0),
        (
            "tandem_connections_opened_total{transport=\"websocket\"}",
            2.0,
        ),
        ("tandem_documents_loaded", 1.0),
        ("tandem_updates_received_total", 1.0),
        // the echo to the sender and the relay to the other client
        ("tandem_updates_relayed_total", 2.0),
        ("tandem_updates_persisted_total", 1.0),
        ("tandem_persist_seconds_count", 1.0),
        ("tandem_unwritten_bytes", 0.0),
        ("tandem_slow_client_disconnects_total", 0.0),
        ("tandem_database_errors_total", 0.0),
    ] {
        assert_eq!(metric_in(&text, series), want, "{series} in\n{text}");
    }
    for series in [
        "tandem_bytes_in_total{transport=\"websocket\"}",
        "tandem_bytes_out_total",
    ] {
        assert!(metric_in(&text, series) > 0.0, "{series} in\n{text}");
    }

    // Closing one client and unloading the document move the gauges back.
    b.close().await;
    server
        .wait_metric("tandem_connections{transport=\"websocket\"}", |v| v == 1.0)
        .await;
}

/// Clients hammering a document while it is deleted must not bring the old text back:
/// neither into a room loaded mid-delete nor, through a late compaction, into the store.
/// Every join ends one of three ways: before the delete, with the old text; during it,
/// turned away with 4404; after it, with an empty document.
#[tokio::test]
async fn delete_racing_with_connecting_clients_leaves_nothing_behind() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    let mut server = start(&["--compact-updates", "5", "--version-idle-secs", "3600"]).await;
    let mut author = Client::connect(&server.ws("race")).await;
    for ch in "secret".chars() {
        author.append(&ch.to_string()).await;
    }
    author.pump_until(|c| c.received_updates >= 6, WAIT).await;

    let stop = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(AtomicBool::new(false));
    let joins = Arc::new(AtomicUsize::new(0));
    let url = server.ws("race");
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let (stop, deleted, joins, url) =
                (stop.clone(), deleted.clone(), joins.clone(), url.clone());
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while !stop.load(SeqCst) {
                    let after_delete = deleted.load(SeqCst);
                    // A fresh, empty client: whatever text it sees came from the server.
                    let outcome = Client::try_connect(&url).await.map(|c| c.text());
                    match &outcome {
                        Ok(text) if after_delete => {
                            assert_eq!(text, "", "a client after the delete saw old text")
                        }
                        Ok(text) => assert!(text == "secret" || text.is_empty(), "{text:?}"),
                        Err((code, reason)) => {
                            assert!(!after_delete, "turned away after the delete: {reason}");
                            assert_eq!(*code, 4404, "{reason}");
                        }
                    }
                    joins.fetch_add(1, SeqCst);
                    outcomes.push(outcome);
                }
                outcomes
            })
        })
        .collect();
    // The racers are running before the delete starts.
    wait_for("the racers to join", || async {
        (joins.load(SeqCst) >= 16).then_some(())
    })
    .await;
    assert_eq!(Api::new(&server).delete("race").await.status(), 204);
    deleted.store(true, SeqCst);
    let (code, _) = author.closed_with(WAIT).await;
    assert_eq!(code, 4404);
    // Joins after the delete reach a new, empty room.
    let at_delete = joins.load(SeqCst);
    wait_for("joins after the delete", || async {
        (joins.load(SeqCst) >= at_delete + 16).then_some(())
    })
    .await;
    let late = Client::connect(&server.ws("race")).await;
    assert_eq!(
        late.text(),
        "",
        "a client after the delete saw the old text"
    );
    stop.store(true, SeqCst);
    let mut seen_old = 0;
    for racer in racers {
        let outcomes = racer.await.unwrap();
        // Per racer, in order: old text, then (maybe) refusals, then empty documents only.
        let phase = |o: &Result<String, (u16, String)>| match o {
            Ok(t) if t == "secret" => 0,
            Err(_) => 1,
            Ok(_) => 2,
        };
        let phases: Vec<u8> = outcomes.iter().map(phase).collect();
        assert!(phases.windows(2).all(|w| w[0] <= w[1]), "{outcomes:?}");
        seen_old += phases.iter().filter(|p| **p == 0).count();
    }
    assert!(seen_old > 0, "no racer joined before the delete");
    late.close().await;
    assert_eq!(get_text(&server, "race").await, "");

    // Write everything out; the store must not hold the old text either.
    server.stop().await;
    let store = open_store(&server).await;
    let stored = store.load("race").await.unwrap().unwrap_or_default();
    assert_eq!(stored_text(&stored), "", "deleted text came back");
}

/// The delete waits for the document's pending write: otherwise that write would land
/// after the rows were deleted and bring the text back. Meanwhile joins are turned away
/// and reads refused; the connected client only hears of the outcome at the end.
#[tokio::test]
async fn delete_waits_for_the_pending_write_and_turns_away_joiners() {
    let server = start(&[]).await;
    let api = Api::new(&server);
    let mut author = Client::connect(&server.ws("doomed")).await;
    author.append("kept ").await;
    author.pump_until(|c| c.received_updates >= 1, WAIT).await;

    // A write the busy database holds up.
    let lock = SqliteWriteLock::take(&server.sqlite_path()).await;
    author.append("pending").await;
    let me = author.client_id();
    author.set_awareness(r#"{"user":{"name":"author"}}"#).await;
    author.pump_until(|c| c.peers.contains_key(&me), WAIT).await;

    let delete = tokio::spawn({
        let api = api.clone();
        async move { api.delete("doomed").await.status() }
    });
    // The room is deleting once it refuses to read (and it cannot finish: the write waits).
    wait_for("the delete to start", || async {
        (api.text("doomed").await.status() == 503).then_some(())
    })
    .await;
    let turned_away = Client::try_connect(&server.ws("doomed")).await.err();
    assert_eq!(turned_away.map(|(code, _)| code), Some(4404));
    assert!(
        !delete.is_finished(),
        "deleted before the pending write answered"
    );
    assert!(author.closed.is_none());

    lock.release().await;
    assert_eq!(delete.await.unwrap(), 204);
    let (code, _) = author.closed_with(WAIT).await;
    assert_eq!(code, 4404);
    let store = open_store(&server).await;
    assert!(
        store.load("doomed").await.unwrap().is_none(),
        "the pending write came back after the delete"
    );
    let fresh = Client::connect(&server.ws("doomed")).await;
    assert_eq!(fresh.text(), "");
}

/// An update POST past `--max-message-size` is refused with 413 and a JSON error, and
/// leaves the document as it was.
#[tokio::test]
async fn oversized_update_post_is_refused_with_413() {
    let server = start(&["--max-message-size", "4096"]).await;
    let api = Api::new(&server);
    let mut editor = Client::connect(&server.ws("big")).await;
    editor.append("small").await;
    editor.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let update = {
        use yrs::{Text, Transact};
        let d = new_doc();
        let t = d.get_or_insert_text("content");
        let mut txn = d.transact_mut();
        t.insert(&mut txn, 0, &"x".repeat(8192));
        txn.encode_update_v1()
    };
    let res = api.apply_update("big", update).await;
    let error = expect_error(res, 413).await;
    assert!(!error.is_empty());
    assert_eq!(get_text(&server, "big").await, "small");
}

/// `--compact-bytes`: the log is folded once its bytes pass the limit, long before the
/// update-count threshold.
#[tokio::test]
async fn compaction_after_a_byte_budget() {
    let server = start(&["--compact-bytes", "2000", "--compact-updates", "100000"]).await;
    let mut a = Client::connect(&server.ws("bytes")).await;
    let store = open_store(&server).await;
    a.append(&"y".repeat(500)).await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    // Compaction runs off the room's task, so the first echo does not say whether one
    // started. The next commit does: SQLite has one write connection, taken in turn, and a
    // compaction started by the first commit asked for it before this append could.
    a.append("-").await;
    a.pump_until(|c| c.received_updates >= 2, WAIT).await;
    let stored = store.load("bytes").await.unwrap().unwrap();
    assert!(stored.snapshot.is_none(), "compacted under the byte budget");
    for _ in 0..4 {
        a.append(&"z".repeat(500)).await;
    }
    a.pump_until(|c| c.received_updates >= 6, WAIT).await;
    let stored = wait_for("the log to be compacted", || async {
        let stored = store.load("bytes").await.unwrap().unwrap();
        stored.snapshot.is_some().then_some(stored)
    })
    .await;
    assert_eq!(
        stored_text(&stored),
        format!("{}-{}", "y".repeat(500), "z".repeat(2000))
    );
}

/// `--version-interval-secs`: someone who never pauses still gets automatic versions.
#[tokio::test]
async fn automatic_version_during_continuous_editing() {
    let server = start(&[
        "--version-interval-secs",
        "1",
        "--version-idle-secs",
        "3600",
    ])
    .await;
    let mut a = Client::connect(&server.ws("busy")).await;
    // Keep typing (each edit acknowledged) until a version appears.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut n = 0;
    let version = loop {
        a.append(".").await;
        n += 1;
        a.pump_until(|c| c.received_updates >= n, WAIT).await;
        let list = ok_json(Api::new(&server).versions("busy").await, 200).await;
        if let Some(v) = list["versions"].as_array().and_then(|v| v.first()) {
            break v.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no version while editing"
        );
    };
    assert_eq!(version["kind"], "auto");
    assert!(version["text_length"].as_i64().unwrap() >= 1);
}
