//! A group commit over several documents: each document's rows keep their order and its
//! answer says where its log stood; on PostgreSQL (one statement per commit) two instances
//! appending to the same documents in opposite orders neither deadlock nor leave a gap, and
//! a document deleted while an append waits for its lock is not written back.

use std::{collections::BTreeMap, sync::Arc};

use crate::common::*;
use anyhow::{ensure, Context, Result};
use tandem_persistence::{AppendItem, Appended, Durability, Store};

for_both_backends!(
    a_batch_of_several_documents,
    a_new_document_among_stored_ones
);

fn item(doc: &str, id: Option<i64>, data: Vec<u8>) -> AppendItem {
    AppendItem {
        doc: doc.to_string(),
        doc_id: id,
        data,
        author: None,
    }
}

fn answer<'a>(done: &'a [Appended], doc: &str) -> Result<&'a Appended> {
    done.iter()
        .find(|a| a.doc == doc)
        .with_context(|| format!("no answer for {doc}: {done:?}"))
}

/// Documents known by id and by name, their updates interleaved: every document gets its
/// rows in batch order, its own `prev_seq`, `last_seq` and byte count.
async fn a_batch_of_several_documents(h: &Harness) -> Result<()> {
    let s = &h.store;
    let eds = [Editor::new(), Editor::new(), Editor::new()];
    let names = ["b", "a", "c"];
    let mut first = Vec::new();
    for (ed, name) in eds.iter().zip(names) {
        first.push(s.append(&items(name, &ed.type_at_end("0"))).await?[0].clone());
    }
    let sizes: Vec<i64> = futures::future::try_join_all(names.map(|n| s.document(n)))
        .await?
        .into_iter()
        .map(|d| d.map_or(0, |d| d.size_bytes))
        .collect();
    // "a" by name only (as a writer that has not learnt its id), the others by id.
    let ids = [Some(first[0].id), None, Some(first[2].id)];
    let mut batch = Vec::new();
    let mut added = [0i64; 3];
    let mut sent: [Vec<Vec<u8>>; 3] = Default::default();
    for round in ["1", "2", "3"] {
        for i in [2, 0, 1] {
            for u in eds[i].type_at_end(round) {
                added[i] += u.len() as i64;
                sent[i].push(u.clone());
                batch.push(item(names[i], ids[i], u));
            }
        }
    }
    let done = s.append(&batch).await?;
    ensure!(done.len() == 3, "one answer per document: {done:?}");
    for i in 0..3 {
        let got = answer(&done, names[i])?;
        ensure!(!got.gone && got.id == first[i].id, "{got:?}");
        ensure!(
            got.prev_seq == first[i].last_seq,
            "{got:?} after {:?}",
            first[i]
        );
        let stored = load(h, names[i]).await?;
        ensure!(stored.last_seq == got.last_seq, "{got:?}");
        ensure!(
            replay(&stored)? == "0123",
            "{}: {}",
            names[i],
            replay(&stored)?
        );
        let size = s.document(names[i]).await?.context("doc")?.size_bytes;
        ensure!(size == sizes[i] + added[i], "{}: {size}", names[i]);
        let rows: Vec<(i64, Vec<u8>)> = h
            .rows(
                "SELECT u.seq, u.data FROM updates u JOIN documents d ON d.id = u.document_id
                 WHERE d.name = $1 ORDER BY u.seq",
                names[i],
            )
            .await;
        ensure!(rows.len() == 1 + sent[i].len(), "{}: {rows:?}", names[i]);
        ensure!(
            rows[rows.len() - 1].0 == got.last_seq,
            "{rows:?} vs {got:?}"
        );
        ensure!(rows[1].0 > got.prev_seq, "{rows:?} vs {got:?}");
        let logged: Vec<&Vec<u8>> = rows[1..].iter().map(|r| &r.1).collect();
        ensure!(
            logged == sent[i].iter().collect::<Vec<_>>(),
            "{}: rows out of batch order",
            names[i]
        );
    }
    Ok(())
}

/// A batch whose new document takes PostgreSQL's transaction of several statements: the
/// stored documents beside it are written once, by that transaction alone.
async fn a_new_document_among_stored_ones(h: &Harness) -> Result<()> {
    let s = &h.store;
    let (old, new) = (Editor::new(), Editor::new());
    let first = s.append(&items("old", &old.type_at_end("a"))).await?[0].clone();
    let mut batch: Vec<AppendItem> = old
        .type_at_end("b")
        .into_iter()
        .map(|u| item("old", Some(first.id), u))
        .collect();
    batch.extend(items("new", &new.type_at_end("n")));
    let done = s.append(&batch).await?;
    let (got_old, got_new) = (answer(&done, "old")?, answer(&done, "new")?);
    ensure!(
        got_old.prev_seq == first.last_seq && !got_new.gone,
        "{done:?}"
    );
    ensure!(h.logged_updates("old").await == 2, "old written twice?");
    ensure!(h.logged_updates("new").await == 1);
    ensure!(replay(&load(h, "old").await?)? == "ab");
    ensure!(load(h, "old").await?.last_seq == got_old.last_seq);
    Ok(())
}

async fn open(url: &str, durability: Durability) -> Result<Arc<dyn Store>> {
    Ok(tandem_persistence::open_with(url, durability).await?)
}

/// Two instances (two pools, one at each durability level) append to the same three
/// documents, one batch after another, in opposite orders, by id and by name. Neither
/// deadlocks, and each document's answers chain: every append starts where another ended,
/// with one row per batch and nothing else between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_appending_in_opposite_orders() -> Result<()> {
    let db = TestDatabase::create("group_commit").await;
    let (one, two) = (
        open(&db.url, Durability::Process).await?,
        open(&db.url, Durability::Disk).await?,
    );
    let docs = ["x", "y", "z"];
    let mut start = BTreeMap::new();
    for doc in docs {
        let a = one.append(&[item(doc, None, vec![0])]).await?[0].clone();
        start.insert(doc, (a.id, a.last_seq));
    }
    const ROUNDS: u8 = 40;
    let run = |store: Arc<dyn Store>, order: Vec<&'static str>, by_id: bool| {
        let start = start.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            for round in 0..ROUNDS {
                let batch: Vec<AppendItem> = order
                    .iter()
                    .map(|d| item(d, by_id.then(|| start[d].0), vec![round, 1]))
                    .collect();
                answers.extend(store.append(&batch).await?);
            }
            anyhow::Ok(answers)
        })
    };
    let forward = run(one.clone(), docs.to_vec(), true);
    // The second instance writes by name (a writer that has not learnt the ids yet).
    let backward = run(two.clone(), docs.iter().rev().copied().collect(), false);
    let mut answers = forward.await??;
    answers.extend(backward.await??);
    for doc in docs {
        let mut mine: Vec<&Appended> = answers.iter().filter(|a| a.doc == doc).collect();
        mine.sort_by_key(|a| a.prev_seq);
        ensure!(mine.len() == 2 * ROUNDS as usize);
        let mut at = start[doc].1;
        for a in &mine {
            ensure!(!a.gone && a.id == start[doc].0, "{a:?}");
            ensure!(a.prev_seq == at, "{doc}: gap or overlap at {at}: {a:?}");
            ensure!(a.last_seq > a.prev_seq, "{a:?}");
            at = a.last_seq;
        }
        let stored = one.load(doc).await?.context("doc")?;
        ensure!(
            stored.last_seq == at,
            "{doc}: last_seq {} vs {at}",
            stored.last_seq
        );
        ensure!(stored.updates.len() == 1 + 2 * ROUNDS as usize);
        let size = one.document(doc).await?.context("doc")?.size_bytes;
        ensure!(size == 1 + 4 * ROUNDS as i64, "{doc}: size {size}");
    }
    Ok(())
}

/// A document deleted before a batch, and one deleted while the batch waits for its row
/// lock: both answer `gone`, stay deleted, and the batch's other document is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_documents_deleted_before_and_during_an_append() -> Result<()> {
    let db = TestDatabase::create("group_commit").await;
    let store = open(&db.url, Durability::Process).await?;
    let raw = sqlx::PgPool::connect(&db.url).await?;
    let mut ids = BTreeMap::new();
    for doc in ["early", "kept", "late"] {
        ids.insert(doc, store.append(&[item(doc, None, vec![1])]).await?[0].id);
    }
    ensure!(store.delete_document("early").await?);
    let batch = |docs: &[&str]| -> Vec<AppendItem> {
        docs.iter()
            .map(|d| item(d, Some(ids[d]), vec![2]))
            .collect()
    };
    let done = store.append(&batch(&["early", "kept"])).await?;
    ensure!(answer(&done, "early")?.gone, "{done:?}");
    ensure!(!answer(&done, "kept")?.gone, "{done:?}");
    ensure!(store.load("early").await?.is_none(), "written back");

    // Another transaction holds "late"'s row: the append waits, then finds it deleted.
    let mut holder = raw.begin().await?;
    sqlx::query("SELECT id FROM documents WHERE name = 'late' FOR UPDATE")
        .fetch_one(&mut *holder)
        .await?;
    let waiting = {
        let store = store.clone();
        let batch = batch(&["late", "kept"]);
        tokio::spawn(async move { store.append(&batch).await })
    };
    waiting_for_locks(&raw, 1).await?;
    sqlx::query("DELETE FROM documents WHERE name = 'late'")
        .execute(&mut *holder)
        .await?;
    holder.commit().await?;
    let done = waiting.await??;
    ensure!(answer(&done, "late")?.gone, "{done:?}");
    let kept = answer(&done, "kept")?;
    ensure!(!kept.gone && kept.last_seq > kept.prev_seq, "{kept:?}");
    ensure!(store.load("late").await?.is_none(), "written back");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM updates WHERE document_id = $1")
        .bind(ids["late"])
        .fetch_one(&raw)
        .await?;
    ensure!(rows == 0, "{rows} rows of a deleted document");
    ensure!(store.load("kept").await?.context("kept")?.updates.len() == 3);
    Ok(())
}

/// Until `count` sessions of this database wait for a lock.
async fn waiting_for_locks(raw: &sqlx::PgPool, count: i64) -> Result<()> {
    loop {
        let blocked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(raw)
        .await?;
        if blocked >= count {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Two instances' batches over x, y and z in opposite orders both reach their row locks
/// while y is held elsewhere, then y comes free. Locking in batch order, each would hold
/// what the other waits for (x and z): PostgreSQL would end one as a deadlock. In name
/// order both start with x, and one simply waits for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_crossed_batches_released_together() -> Result<()> {
    let db = TestDatabase::create("group_commit").await;
    let (one, two) = (
        open(&db.url, Durability::Process).await?,
        open(&db.url, Durability::Process).await?,
    );
    let raw = sqlx::PgPool::connect(&db.url).await?;
    let mut ids = BTreeMap::new();
    for doc in ["x", "y", "z"] {
        ids.insert(doc, one.append(&[item(doc, None, vec![1])]).await?[0].id);
    }
    let mut holder = raw.begin().await?;
    sqlx::query("SELECT id FROM documents WHERE name = 'y' FOR UPDATE")
        .fetch_one(&mut *holder)
        .await?;
    let append = |store: Arc<dyn Store>, docs: [&'static str; 3]| {
        let batch: Vec<AppendItem> = docs
            .iter()
            .map(|d| item(d, Some(ids[d]), vec![2]))
            .collect();
        tokio::spawn(async move { store.append(&batch).await })
    };
    let forward = append(one.clone(), ["x", "y", "z"]);
    let backward = append(two.clone(), ["z", "y", "x"]);
    waiting_for_locks(&raw, 2).await?;
    holder.commit().await?;
    let (forward, backward) = (forward.await??, backward.await??);
    for doc in ["x", "y", "z"] {
        let (a, b) = (answer(&forward, doc)?, answer(&backward, doc)?);
        let (first, second) = if a.prev_seq < b.prev_seq {
            (a, b)
        } else {
            (b, a)
        };
        ensure!(
            second.prev_seq == first.last_seq,
            "{doc}: {first:?} then {second:?}"
        );
        let stored = one.load(doc).await?.context("doc")?;
        ensure!(stored.updates.len() == 3 && stored.last_seq == second.last_seq);
    }
    Ok(())
}

/// At `process` the appends' own connections open with the store. They opened on the
/// first append, which then paid for a connection: about 10 ms, the p99 of a quiet
/// document in the tail-latency benchmark.
#[tokio::test]
async fn postgres_append_connections_open_with_the_store() -> Result<()> {
    let db = TestDatabase::create("group_commit").await;
    let raw = sqlx::PgPool::connect(&db.url).await?;
    let others = || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_one(&raw)
        .await?;
        anyhow::Ok(n)
    };
    let before = others().await?;
    let _store = open(&db.url, Durability::Process).await?;
    let after = others().await?;
    // The pool's first connection, and one per append lane (two).
    ensure!(
        after >= before + 3,
        "{before} connections before, {after} after"
    );
    Ok(())
}
