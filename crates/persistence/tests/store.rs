//! Behaviour of the `Store` trait, written once and run against both backends.
//!
//! Every test gets a fresh database (a temp dir for SQLite, a throwaway database for
//! PostgreSQL) so the tests can run in parallel and never see each other's rows. The
//! PostgreSQL variants fail rather than skip when no server is reachable: a silently
//! skipped backend is how the two implementations drift apart.

mod common;

use anyhow::{Context, Result};
use common::*;
use tandem_persistence::{Snapshot, StoreError, StoredDoc, VersionKind};

for_both_backends!(
    append_and_load,
    compaction,
    load_during_compaction_is_consistent,
    stale_compaction_keeps_newer_snapshot,
    versions,
    concurrent_versions,
    create_document_conflict,
    list_documents_order,
    delete_document_cascades,
    sql_views,
    ping,
);

// ---------------------------------------------------------------------------------------
// Scenarios.

async fn append_and_load(h: &Harness) -> Result<()> {
    let s = &h.store;
    assert!(s.load("nobody").await?.is_none());
    assert!(s.document("nobody").await?.is_none());
    assert!(s.append(&[]).await?.is_empty());

    let (a, b) = (Editor::new(), Editor::new());
    let a1 = a.type_at_end("hello");
    let b1 = b.type_at_end("abc");
    // One group commit carrying both documents, interleaved as a busy server would see them.
    let mut batch = Vec::new();
    for i in 0..a1.len().max(b1.len()) {
        if let Some(u) = a1.get(i) {
            batch.extend(items("a", std::slice::from_ref(u)));
        }
        if let Some(u) = b1.get(i) {
            batch.extend(items("b", std::slice::from_ref(u)));
        }
    }
    let appended = s.append(&batch).await?;
    assert_eq!(appended.len(), 2, "one entry per document: {appended:?}");
    let seq_a = appended.iter().find(|x| x.doc == "a").unwrap().last_seq;
    let seq_b = appended.iter().find(|x| x.doc == "b").unwrap().last_seq;
    assert!(seq_a > 0 && seq_b > 0 && seq_a != seq_b);

    let a2 = a.type_at_end(", world");
    let appended2 = s.append(&items("a", &a2)).await?;
    assert_eq!(appended2.len(), 1);
    assert!(appended2[0].last_seq > seq_a.max(seq_b), "seq grows");

    let stored_a = load(h, "a").await?;
    let expected_a: Vec<Vec<u8>> = a1.iter().chain(a2.iter()).cloned().collect();
    assert_eq!(
        stored_a.updates, expected_a,
        "every update, in append order"
    );
    assert!(stored_a.snapshot.is_none());
    assert_eq!(stored_a.last_seq, appended2[0].last_seq);
    assert_eq!(replay(&stored_a)?, "hello, world");

    let stored_b = load(h, "b").await?;
    assert_eq!(stored_b.updates, b1, "documents are isolated");
    assert_eq!(stored_b.last_seq, seq_b);
    assert_eq!(replay(&stored_b)?, "abc");

    let info = s.document("a").await?.context("a exists")?;
    assert_eq!(info.size_bytes, total_len(&expected_a));
    assert_eq!(
        s.document("b").await?.context("b exists")?.size_bytes,
        total_len(&b1)
    );
    assert_eq!(h.logged_updates("a").await, expected_a.len() as i64);

    // A batch bigger than one insert statement takes (the stores insert 500 rows at a
    // time) keeps every update, in order, just the same.
    let c = Editor::new();
    let many = c.type_at_end(&"x".repeat(10_500));
    let mut batch = items("c", &many);
    batch.extend(items("a", &a.type_at_end("!")));
    let appended = s.append(&batch).await?;
    assert_eq!(appended.len(), 2);
    let stored_c = load(h, "c").await?;
    assert_eq!(stored_c.updates, many);
    assert_eq!(
        stored_c.last_seq,
        appended.iter().find(|x| x.doc == "c").unwrap().last_seq
    );
    assert_eq!(replay(&load(h, "a").await?)?, "hello, world!");
    Ok(())
}

async fn compaction(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let mut early = ed.type_at_end("the quick brown fox");
    early.push(ed.delete(4, 6)); // "the brown fox"
    for chunk in early.chunks(7) {
        s.append(&items("doc", chunk)).await?;
    }
    let covered = load(h, "doc").await?;
    assert_eq!(covered.updates.len(), early.len());
    let snapshot = ed.snapshot(covered.last_seq);

    // Edits that land after the server took its snapshot must survive the compaction.
    let later = ed.type_at_end(" jumps");
    let last = s.append(&items("doc", &later)).await?[0].last_seq;
    let size_before = s.document("doc").await?.context("doc")?.size_bytes;
    assert_eq!(size_before, total_len(&early) + total_len(&later));

    let stats = s.compact("doc", &snapshot).await?;
    assert_eq!(stats.updates_removed, early.len() as u64);
    assert_eq!(stats.bytes_removed, total_len(&early));
    assert_eq!(h.logged_updates("doc").await, later.len() as i64);

    let after = load(h, "doc").await?;
    assert_eq!(after.snapshot.as_ref(), Some(&snapshot.state));
    assert_eq!(after.updates, later);
    assert_eq!(after.last_seq, last);
    assert_eq!(replay(&after)?, "the brown fox jumps");
    assert_eq!(replay(&after)?, ed.string());

    let size_after = s.document("doc").await?.context("doc")?.size_bytes;
    assert_eq!(
        size_after,
        snapshot.state.len() as i64 + total_len(&later),
        "size is snapshot plus remaining log"
    );
    assert!(
        size_after < size_before,
        "{size_after} < {size_before} bytes"
    );

    // Compacting everything leaves an empty log and a load that is just the snapshot.
    let full = ed.snapshot(last);
    s.compact("doc", &full).await?;
    let after = load(h, "doc").await?;
    assert!(after.updates.is_empty());
    assert_eq!(after.last_seq, last);
    assert_eq!(after.snapshot.as_ref(), Some(&full.state));
    assert_eq!(replay(&after)?, "the brown fox jumps");
    assert_eq!(h.logged_updates("doc").await, 0);
    Ok(())
}

/// Loads racing compactions: snapshot and log must come from the same instant, or a load
/// that read the old snapshot and then the log a compaction had just folded would miss
/// updates. Every load, before, during or after a compaction, replays to the whole text.
async fn load_during_compaction_is_consistent(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    for round in 0..20 {
        let typed = ed.type_at_end(&format!("<{round}>"));
        let last = s.append(&items("doc", &typed)).await?[0].last_seq;
        let want = ed.string();
        let snapshot = ed.snapshot(last);
        let (compacted, loads) = tokio::join!(
            s.compact("doc", &snapshot),
            futures::future::join_all((0..4).map(|_| load(h, "doc")))
        );
        compacted?;
        for stored in loads {
            assert_eq!(replay(&stored?)?, want, "round {round}");
        }
    }
    Ok(())
}

async fn stale_compaction_keeps_newer_snapshot(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let first = ed.type_at_end("abc");
    let seq1 = s.append(&items("doc", &first)).await?[0].last_seq;
    let old = ed.snapshot(seq1);
    let second = ed.type_at_end("def");
    let seq2 = s.append(&items("doc", &second)).await?[0].last_seq;
    let new = ed.snapshot(seq2);

    s.compact("doc", &new).await?;
    // A slow compactor that captured its state earlier must not roll the document back.
    let stats = s.compact("doc", &old).await?;
    assert_eq!(stats.updates_removed, 0);
    let stored = load(h, "doc").await?;
    assert_eq!(stored.snapshot.as_ref(), Some(&new.state));
    assert_eq!(stored.last_seq, seq2);
    assert!(stored.updates.is_empty());
    assert_eq!(replay(&stored)?, "abcdef");
    assert_eq!(
        s.document("doc").await?.context("doc")?.size_bytes,
        new.state.len() as i64
    );

    // Updates appended after the newer snapshot are still served after the stale attempt.
    let third = ed.type_at_end("g");
    s.append(&items("doc", &third)).await?;
    s.compact("doc", &old).await?;
    let stored = load(h, "doc").await?;
    assert_eq!(stored.updates, third);
    assert_eq!(replay(&stored)?, "abcdefg");
    Ok(())
}

async fn versions(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    s.append(&items("doc", &ed.type_at_end("draft"))).await?;
    let v1 = new_version(VersionKind::Auto, None, &ed);
    s.append(&items("doc", &ed.type_at_end(" — café ✓")))
        .await?;
    let v2 = new_version(VersionKind::Named, Some("Première"), &ed);
    let v3 = new_version(VersionKind::Restore, Some("restored v1"), &ed);

    for (n, v) in [(1, &v1), (2, &v2), (3, &v3)] {
        let info = s.create_version("doc", v).await?;
        assert_eq!(info.version, n);
        assert_eq!(info.kind, v.kind);
        assert_eq!(info.label, v.label);
        assert_eq!(info.size_bytes, v.state.len() as i64);
        // Characters, not bytes: the text has multi-byte characters in it.
        assert_eq!(info.text_length, v.text.chars().count() as i64);
    }
    assert_ne!(v2.text.len(), v2.text.chars().count());

    let list = s.list_versions("doc").await?;
    let numbers: Vec<i64> = list.iter().map(|v| v.version).collect();
    assert_eq!(numbers, [3, 2, 1], "newest first");
    let kinds: Vec<VersionKind> = list.iter().map(|v| v.kind).collect();
    assert_eq!(
        kinds,
        [VersionKind::Restore, VersionKind::Named, VersionKind::Auto]
    );
    assert_eq!(list[1].label.as_deref(), Some("Première"));
    assert_eq!(list[2].label, None);

    let got = s.version("doc", 2).await?.context("version 2")?;
    assert_eq!(got.info.version, 2);
    assert_eq!(got.text, "draft — café ✓");
    assert_eq!(got.state, v2.state);
    let got1 = s.version("doc", 1).await?.context("version 1")?;
    assert_eq!(got1.text, "draft");
    assert_eq!(
        replay(&StoredDoc {
            snapshot: Some(got1.state.clone()),
            ..Default::default()
        })?,
        "draft"
    );
    assert!(s.version("doc", 4).await?.is_none());
    assert!(s.version("other", 1).await?.is_none());
    assert!(s.list_versions("other").await?.is_empty());

    // Numbering is per document, and a version can be the first thing a document gets.
    let other = s.create_version("other", &v1).await?;
    assert_eq!(other.version, 1);
    assert!(s.document("other").await?.is_some());

    // Compaction never touches history.
    let last = load(h, "doc").await?.last_seq;
    s.compact("doc", &ed.snapshot(last)).await?;
    assert_eq!(s.list_versions("doc").await?.len(), 3);
    assert_eq!(s.version("doc", 1).await?.context("v1")?.state, v1.state);
    assert_eq!(s.create_version("doc", &v1).await?.version, 4);
    Ok(())
}

async fn concurrent_versions(h: &Harness) -> Result<()> {
    let ed = Editor::new();
    ed.type_at_end("x");
    let v = new_version(VersionKind::Auto, None, &ed);
    // The document doesn't exist yet either, so creation races too.
    let calls = (0..10).map(|_| h.store.create_version("doc", &v));
    let mut numbers = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.map(|info| info.version))
        .collect::<Result<Vec<i64>, _>>()?;
    numbers.sort();
    assert_eq!(numbers, (1..=10).collect::<Vec<i64>>());
    assert_eq!(h.store.list_versions("doc").await?.len(), 10);
    assert_eq!(h.store.list_documents().await?.len(), 1);
    Ok(())
}

async fn create_document_conflict(h: &Harness) -> Result<()> {
    let s = &h.store;
    let info = s.create_document("notes").await?;
    assert_eq!(info.name, "notes");
    assert_eq!(info.size_bytes, 0);
    assert_eq!(info.created_at, info.updated_at);
    let empty = load(h, "notes").await?;
    assert!(empty.snapshot.is_none() && empty.updates.is_empty());
    assert_eq!(empty.last_seq, 0);

    match s.create_document("notes").await {
        Err(StoreError::AlreadyExists(name)) => assert_eq!(name, "notes"),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    // A document that came into being through an edit is taken just the same.
    s.append(&items("typed", &Editor::new().type_at_end("x")))
        .await?;
    assert!(matches!(
        s.create_document("typed").await,
        Err(StoreError::AlreadyExists(_))
    ));
    assert_eq!(s.list_documents().await?.len(), 2);
    Ok(())
}

async fn list_documents_order(h: &Harness) -> Result<()> {
    let s = &h.store;
    assert!(s.list_documents().await?.is_empty());
    for name in ["a", "b", "c"] {
        let info = s.create_document(name).await?;
        // The next document must be created at a later instant than this one.
        while chrono::Utc::now() <= info.created_at {
            tokio::task::yield_now().await;
        }
    }
    let names = |docs: Vec<tandem_persistence::DocumentInfo>| {
        docs.into_iter().map(|d| d.name).collect::<Vec<_>>()
    };
    assert_eq!(names(s.list_documents().await?), ["c", "b", "a"]);

    // Editing the oldest document moves it to the top.
    s.append(&items("a", &Editor::new().type_at_end("hi")))
        .await?;
    let docs = s.list_documents().await?;
    assert!(docs.windows(2).all(|w| w[0].updated_at >= w[1].updated_at));
    assert!(docs.iter().all(|d| d.created_at <= d.updated_at));
    let a = docs.iter().find(|d| d.name == "a").unwrap();
    assert!(a.updated_at > a.created_at);
    assert_eq!(names(docs), ["a", "c", "b"]);
    Ok(())
}

async fn delete_document_cascades(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let updates = ed.type_at_end("doomed text");
    let (early, late) = updates.split_at(5);
    let seq = s.append(&items("doomed", early)).await?[0].last_seq;
    s.append(&items("doomed", late)).await?;
    s.compact(
        "doomed",
        &Snapshot {
            state: ed.state(),
            state_vector: ed.state_vector(),
            upto_seq: seq,
        },
    )
    .await?;
    s.create_version("doomed", &new_version(VersionKind::Named, Some("v"), &ed))
        .await?;
    let keep = Editor::new();
    s.append(&items("kept", &keep.type_at_end("safe"))).await?;
    s.create_version("kept", &new_version(VersionKind::Auto, None, &keep))
        .await?;

    let id: Vec<(i64,)> = h
        .rows("SELECT id FROM documents WHERE name = $1", "doomed")
        .await;
    let id = id[0].0.to_string();
    let per_table = |table: &'static str| {
        format!("SELECT COUNT(*) FROM {table} WHERE CAST(document_id AS TEXT) = $1")
    };
    for table in ["updates", "snapshots", "versions"] {
        assert!(
            h.count(&per_table(table), &id).await > 0,
            "{table} has rows"
        );
    }

    assert!(s.delete_document("doomed").await?);
    for table in ["updates", "snapshots", "versions"] {
        assert_eq!(h.count(&per_table(table), &id).await, 0, "{table} emptied");
    }
    assert!(s.load("doomed").await?.is_none());
    assert!(s.document("doomed").await?.is_none());
    assert!(s.list_versions("doomed").await?.is_empty());
    assert!(s.version("doomed", 1).await?.is_none());
    assert!(!s.delete_document("doomed").await?, "second delete");

    let kept = load(h, "kept").await?;
    assert_eq!(replay(&kept)?, "safe");
    assert_eq!(s.list_versions("kept").await?.len(), 1);
    let names: Vec<String> = s
        .list_documents()
        .await?
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, ["kept"]);

    // The name is free again, with history starting over.
    s.create_document("doomed").await?;
    let v = s
        .create_version("doomed", &new_version(VersionKind::Auto, None, &keep))
        .await?;
    assert_eq!(v.version, 1);
    Ok(())
}

async fn sql_views(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let updates = ed.type_at_end("hey");
    let last = s.append(&items("doc", &updates)).await?[0].last_seq;
    s.append(&items("noise", &Editor::new().type_at_end("zz")))
        .await?;
    s.create_version("doc", &new_version(VersionKind::Auto, None, &ed))
        .await?;
    let more = ed.type_at_end("!");
    let last2 = s.append(&items("doc", &more)).await?[0].last_seq;
    s.create_version("doc", &new_version(VersionKind::Named, Some("final"), &ed))
        .await?;

    let log_sql = "SELECT document, seq, CAST(bytes AS BIGINT) FROM document_log
                   WHERE document = $1 ORDER BY seq";
    let log: Vec<(String, i64, i64)> = h.rows(log_sql, "doc").await;
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|(d, _, _)| d == "doc"));
    assert!(log.windows(2).all(|w| w[0].1 < w[1].1));
    assert_eq!(log[2].1, last);
    assert_eq!(log[3].1, last2);
    let sizes: Vec<i64> = log.iter().map(|r| r.2).collect();
    let expected: Vec<i64> = updates
        .iter()
        .chain(&more)
        .map(|u| u.len() as i64)
        .collect();
    assert_eq!(sizes, expected);

    let history: Vec<(String, i64, String, Option<String>, i64, String)> = h
        .rows(
            "SELECT document, version, kind, label, CAST(text_length AS BIGINT), text
             FROM document_history WHERE document = $1 ORDER BY version",
            "doc",
        )
        .await;
    assert_eq!(
        history,
        [
            ("doc".into(), 1, "auto".into(), None, 3, "hey".into()),
            (
                "doc".into(),
                2,
                "named".into(),
                Some("final".into()),
                4,
                "hey!".into()
            ),
        ]
    );

    // After compaction the log view only shows what the snapshot doesn't cover.
    s.compact("doc", &ed.snapshot(last)).await?;
    let log: Vec<(String, i64, i64)> = h.rows(log_sql, "doc").await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].1, last2);
    let history_len = h
        .count(
            "SELECT COUNT(*) FROM document_history WHERE document = $1",
            "doc",
        )
        .await;
    assert_eq!(history_len, 2);
    Ok(())
}

async fn ping(h: &Harness) -> Result<()> {
    h.store.ping().await?;
    let expected = match h.raw {
        Raw::Sqlite(_) => "sqlite",
        Raw::Pg(_) => "postgres",
    };
    assert_eq!(h.store.backend(), expected);
    Ok(())
}
