//! A load's snapshot and log come from one instant, even when a compaction commits between
//! the two reads. PostgreSQL only, where the overlap can be forced: the test locks the
//! `updates` table, so the load stops at its read of the log (after its read of the
//! snapshot); in that transaction the test folds the log into a snapshot, as compaction
//! does, and commits. A load whose reads each see the latest commit then finds the old
//! snapshot (none) and an empty log.

use std::time::Duration;

use crate::common::*;
use sqlx::Connection;

#[tokio::test]
async fn postgres_load_overlapping_a_compaction_reads_one_instant() {
    let h = Harness::postgres().await;
    let Raw::Pg(raw) = &h.raw else { unreachable!() };
    let options = raw.connect_options();
    let ed = Editor::new();
    let mut last = 0;
    for word in ["alpha ", "beta ", "gamma"] {
        let typed = ed.type_at_end(word);
        last = h.store.append(&items("doc", &typed)).await.unwrap()[0].last_seq;
    }
    let want = ed.string();

    let mut folder = sqlx::PgConnection::connect_with(&options).await.unwrap();
    sqlx::query("BEGIN").execute(&mut folder).await.unwrap();
    sqlx::query("LOCK TABLE updates IN ACCESS EXCLUSIVE MODE")
        .execute(&mut folder)
        .await
        .unwrap();
    let store = h.store.clone();
    let loading = tokio::spawn(async move { store.load("doc").await });

    // The load has read the document and its snapshot, and waits to read the log.
    let mut watch = sqlx::PgConnection::connect_with(&options).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE 'SELECT seq, data FROM updates%'",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the load never waited at its read of the log"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Fold the whole log into a snapshot and commit, while the load waits.
    let id: i64 = sqlx::query_scalar("SELECT id FROM documents WHERE name = 'doc'")
        .fetch_one(&mut folder)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO snapshots (document_id, state, state_vector, upto_seq, created_at)
         VALUES ($1, $2, $3, $4, now())",
    )
    .bind(id)
    .bind(ed.state())
    .bind(ed.state_vector())
    .bind(last)
    .execute(&mut folder)
    .await
    .unwrap();
    sqlx::query("DELETE FROM updates WHERE document_id = $1 AND seq <= $2")
        .bind(id)
        .bind(last)
        .execute(&mut folder)
        .await
        .unwrap();
    sqlx::query("COMMIT").execute(&mut folder).await.unwrap();

    let stored = loading.await.unwrap().unwrap().expect("stored");
    assert_eq!(
        replay(&stored).unwrap(),
        want,
        "the load mixed two instants"
    );
    // And a load after the fold reads the snapshot.
    assert_eq!(replay(&load(&h, "doc").await.unwrap()).unwrap(), want);
}
