//! Deleting a document while clients connect and while a write is pending: nothing is left
//! behind and nothing writes it back.

use crate::kit::{stored::open_store, *};

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
