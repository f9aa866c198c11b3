//! Where a document's log stands, and what several writers on one database rely on: each
//! append says the sequence number before and after it, a reader can ask for only what it
//! lacks, a deleted document stays deleted, and concurrent batches never deadlock.

use crate::common::*;
use anyhow::{ensure, Context, Result};
use tandem_persistence::{AppendItem, VersionKind};

for_both_backends!(
    appends_say_where_the_log_stood,
    one_batch_moves_each_known_document_apart,
    load_since_returns_only_what_the_reader_lacks,
    a_deleted_document_is_not_written_back,
    last_seqs_name_only_stored_documents,
    automatic_versions_skip_an_unchanged_state,
    opposite_batches_do_not_deadlock,
    concurrent_appends_are_read_without_gaps,
);

fn known(doc: &str, id: i64, updates: &[Vec<u8>]) -> Vec<AppendItem> {
    updates
        .iter()
        .map(|u| AppendItem {
            doc: doc.to_string(),
            doc_id: Some(id),
            data: u.clone(),
            author: None,
        })
        .collect()
}

async fn appends_say_where_the_log_stood(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let first = s.append(&items("doc", &ed.type_at_end("ab"))).await?;
    ensure!(first[0].prev_seq == 0, "{first:?}");
    ensure!(first[0].last_seq > 0 && !first[0].gone, "{first:?}");
    let second = s
        .append(&known("doc", first[0].id, &ed.type_at_end("cd")))
        .await?;
    ensure!(second[0].prev_seq == first[0].last_seq, "{second:?}");
    ensure!(second[0].id == first[0].id);
    let stored = load(h, "doc").await?;
    ensure!(stored.id == first[0].id);
    ensure!(stored.last_seq == second[0].last_seq);
    Ok(())
}

/// SQLite touches every known document of a batch in one statement: each must still get
/// its own `prev_seq`, `last_seq` and byte count.
async fn one_batch_moves_each_known_document_apart(h: &Harness) -> Result<()> {
    let s = &h.store;
    let (a, b) = (Editor::new(), Editor::new());
    let first_a = s.append(&items("a", &a.type_at_end("1"))).await?[0].clone();
    let first_b = s.append(&items("b", &b.type_at_end("22"))).await?[0].clone();
    let size_a = s.document("a").await?.context("a")?.size_bytes;
    let size_b = s.document("b").await?.context("b")?.size_bytes;
    let (more_a, more_b) = (a.type_at_end("333"), b.type_at_end("4444"));
    let mut batch = known("b", first_b.id, &more_b);
    batch.extend(known("a", first_a.id, &more_a));
    let done = s.append(&batch).await?;
    let get = |doc: &str| {
        done.iter()
            .find(|d| d.doc == doc)
            .context("answer")
            .cloned()
    };
    let (done_a, done_b) = (get("a")?, get("b")?);
    ensure!(done_a.prev_seq == first_a.last_seq, "{done_a:?}");
    ensure!(done_b.prev_seq == first_b.last_seq, "{done_b:?}");
    ensure!(done_a.id == first_a.id && done_b.id == first_b.id);
    ensure!(!done_a.gone && !done_b.gone);
    let bytes = |u: &[Vec<u8>]| u.iter().map(|u| u.len() as i64).sum::<i64>();
    let now_a = s.document("a").await?.context("a")?.size_bytes;
    let now_b = s.document("b").await?.context("b")?.size_bytes;
    ensure!(now_a == size_a + bytes(&more_a), "{now_a} vs {size_a}");
    ensure!(now_b == size_b + bytes(&more_b), "{now_b} vs {size_b}");
    ensure!(load(h, "a").await?.last_seq == done_a.last_seq);
    ensure!(load(h, "b").await?.last_seq == done_b.last_seq);
    ensure!(replay(&load(h, "a").await?)? == "1333");
    ensure!(replay(&load(h, "b").await?)? == "224444");
    Ok(())
}

async fn load_since_returns_only_what_the_reader_lacks(h: &Harness) -> Result<()> {
    let s = &h.store;
    ensure!(s.load_since("nobody", 0).await?.is_none());
    let ed = Editor::new();
    let mut seqs = Vec::new();
    for ch in ["a", "b", "c", "d", "e"] {
        seqs.push(s.append(&items("doc", &ed.type_at_end(ch))).await?[0].last_seq);
    }
    let later = s.load_since("doc", seqs[2]).await?.context("doc")?;
    ensure!(later.snapshot.is_none());
    ensure!(later.updates.len() == 2, "{} updates", later.updates.len());
    ensure!(later.last_seq == seqs[4]);

    // Compaction folded rows the reader lacks: it gets the snapshot and the rows after it.
    let covered = Editor::new();
    for u in s.load("doc").await?.context("doc")?.updates.iter().take(4) {
        let mut txn = yrs::Transact::transact_mut(&covered.doc);
        txn.apply_update(yrs::updates::decoder::Decode::decode_v1(u)?)?;
    }
    s.compact("doc", &covered.snapshot(seqs[3])).await?;
    let behind = s.load_since("doc", seqs[1]).await?.context("doc")?;
    ensure!(behind.snapshot.is_some(), "the snapshot holds rows 3 and 4");
    ensure!(behind.updates.len() == 1);
    ensure!(replay(&behind)? == "abcde");
    // A reader that has everything gets nothing.
    let current = s.load_since("doc", seqs[4]).await?.context("doc")?;
    ensure!(current.snapshot.is_none() && current.updates.is_empty());
    ensure!(
        current.last_seq == seqs[4],
        "compaction never lowers last_seq"
    );
    Ok(())
}

async fn a_deleted_document_is_not_written_back(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let id = s.append(&items("doomed", &ed.type_at_end("x"))).await?[0].id;
    let other = Editor::new();
    ensure!(s.delete_document("doomed").await?);
    // A late batch from a writer that knew the document, mixed with another document.
    let mut batch = known("doomed", id, &ed.type_at_end("y"));
    batch.extend(items("kept", &other.type_at_end("k")));
    let done = s.append(&batch).await?;
    let doomed = done.iter().find(|a| a.doc == "doomed").context("answer")?;
    ensure!(doomed.gone, "{doomed:?}");
    ensure!(s.load("doomed").await?.is_none(), "written back");
    ensure!(replay(&load(h, "kept").await?)? == "k");
    // Neither compaction nor an automatic version brings it back either.
    let stats = s.compact("doomed", &ed.snapshot(100)).await?;
    ensure!(stats.skipped);
    let v = new_version(VersionKind::Auto, None, &ed);
    ensure!(s
        .create_auto_version("doomed", &v, &|_, _| false)
        .await?
        .is_none());
    ensure!(s.load("doomed").await?.is_none());
    ensure!(s.document("doomed").await?.is_none());
    Ok(())
}

async fn last_seqs_name_only_stored_documents(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let a = s.append(&items("a", &ed.type_at_end("1"))).await?[0].last_seq;
    let b = s.append(&items("b", &ed.type_at_end("2"))).await?[0].last_seq;
    let mut seqs = s
        .last_seqs(&["a".into(), "b".into(), "missing".into()])
        .await?;
    seqs.sort();
    ensure!(seqs == vec![("a".into(), a), ("b".into(), b)], "{seqs:?}");
    Ok(())
}

async fn automatic_versions_skip_an_unchanged_state(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    s.append(&items("doc", &ed.type_at_end("hello"))).await?;
    let same = |sv: &[u8], text: &str| sv == ed.state_vector().as_slice() && text == ed.string();
    let v = new_version(VersionKind::Auto, None, &ed);
    ensure!(s.create_auto_version("doc", &v, &same).await?.is_some());
    ensure!(
        s.create_auto_version("doc", &v, &same).await?.is_none(),
        "a second instance stored the same state again"
    );
    s.append(&items("doc", &[ed.delete(0, 1)])).await?;
    let v = new_version(VersionKind::Auto, None, &ed);
    let same = |sv: &[u8], text: &str| sv == ed.state_vector().as_slice() && text == ed.string();
    ensure!(s.create_auto_version("doc", &v, &same).await?.is_some());
    ensure!(s.list_versions("doc").await?.len() == 2);
    Ok(())
}

/// Two writers whose batches name the same documents in opposite orders. Locking rows in
/// batch order deadlocks here within a few rounds on PostgreSQL.
async fn opposite_batches_do_not_deadlock(h: &Harness) -> Result<()> {
    let ed = Editor::new();
    let update = ed.type_at_end("x").remove(0);
    let batch = |first: &str, second: &str| {
        let mut b = items(first, std::slice::from_ref(&update));
        b.extend(items(second, std::slice::from_ref(&update)));
        b
    };
    let (xy, yx) = (batch("x", "y"), batch("y", "x"));
    let run = |store: std::sync::Arc<dyn tandem_persistence::Store>, b: Vec<AppendItem>| async move {
        for _ in 0..60 {
            store.append(&b).await?;
        }
        anyhow::Ok(())
    };
    let (a, b) = tokio::join!(
        tokio::spawn(run(h.store.clone(), xy)),
        tokio::spawn(run(h.store.clone(), yx))
    );
    a??;
    b??;
    ensure!(h.logged_updates("x").await == 120);
    Ok(())
}

/// Readers that ask only for rows past what they have (as instances catching up do) must
/// never skip one, however appends from several writers interleave.
async fn concurrent_appends_are_read_without_gaps(h: &Harness) -> Result<()> {
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let ed = Editor::new();
                for i in 0..25 {
                    store
                        .append(&items(
                            "doc",
                            &ed.type_at_end(&format!("{}", (w * 25 + i) % 10)),
                        ))
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    let mut applied = 0i64;
    let mut seen = 0usize;
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        if let Some(part) = h.store.load_since("doc", applied).await? {
            seen += part.updates.len();
            ensure!(part.snapshot.is_none());
            applied = part.last_seq;
        }
        if done {
            break;
        }
        tokio::task::yield_now().await;
    }
    for w in writers {
        w.await??;
    }
    let tail = h.store.load_since("doc", applied).await?.context("doc")?;
    seen += tail.updates.len();
    ensure!(seen == 100, "read {seen} of 100 rows");
    Ok(())
}
