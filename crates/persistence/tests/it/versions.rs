//! Versions through the `Store` trait, on both backends: saved, listed and read back, and
//! saved concurrently without losing or duplicating a number.

use crate::common::*;
use anyhow::{Context, Result};
use tandem_persistence::{StoredDoc, VersionKind};

for_both_backends!(versions, concurrent_versions,);

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
