//! Behaviour of the `Store` trait, written once and run against both backends: appending
//! and loading, creating, listing and deleting documents, the SQL views, the health ping.
//! Compaction is in `compaction.rs`, versions in `versions.rs`.
//!
//! Every test gets a fresh database (a temp dir for SQLite, a throwaway database for
//! PostgreSQL) so the tests can run in parallel and never see each other's rows. The
//! PostgreSQL variants fail rather than skip when no server is reachable: a silently
//! skipped backend is how the two implementations drift apart.

use crate::common::*;
use anyhow::{Context, Result};
use tandem_persistence::{Snapshot, StoreError, VersionKind};

for_both_backends!(
    append_and_load,
    create_document_conflict,
    list_documents_order,
    delete_document_cascades,
    sql_views,
    ping,
);

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
