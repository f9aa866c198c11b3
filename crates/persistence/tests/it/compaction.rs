//! Compaction through the `Store` trait, on both backends: a snapshot replaces the updates it
//! covers, a load during compaction sees a consistent document, and a stale compaction never
//! overwrites a newer snapshot.

use crate::common::*;
use anyhow::{Context, Result};

for_both_backends!(
    compaction,
    load_during_compaction_is_consistent,
    stale_compaction_keeps_newer_snapshot,
);

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
