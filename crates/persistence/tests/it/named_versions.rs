//! Naming a version of a document that has not changed since its latest version names
//! that version instead of storing the same state again; on both backends.

use crate::common::*;
use anyhow::{ensure, Result};
use tandem_persistence::VersionKind;

for_both_backends!(an_unchanged_state_is_named_not_stored_again);

async fn an_unchanged_state_is_named_not_stored_again(h: &Harness) -> Result<()> {
    let editor = Editor::new();
    editor.type_at_end("hello");
    let same = |v: &tandem_persistence::NewVersion| {
        let (sv, text) = (v.state_vector.clone(), v.text.clone());
        move |s: &[u8], t: &str| s == sv.as_slice() && t == text
    };
    let auto = new_version(VersionKind::Auto, None, &editor);
    let first = h.store.create_version("doc", &auto).await?;
    // The automatic version holds this state: it is named, not copied.
    let named = new_version(VersionKind::Named, Some("draft"), &editor);
    let info = h
        .store
        .create_named_version("doc", &named, &same(&named))
        .await?;
    ensure!(info.version == first.version, "{info:?}");
    ensure!(info.kind == VersionKind::Named && info.label.as_deref() == Some("draft"));
    // Named again without a change: the name it has stays.
    let again = new_version(VersionKind::Named, Some("other"), &editor);
    let info = h
        .store
        .create_named_version("doc", &again, &same(&again))
        .await?;
    ensure!(info.version == first.version && info.label.as_deref() == Some("draft"));
    // After a change a new version is stored.
    editor.type_at_end(" world");
    let changed = new_version(VersionKind::Named, Some("final"), &editor);
    let info = h
        .store
        .create_named_version("doc", &changed, &same(&changed))
        .await?;
    ensure!(info.version == first.version + 1, "{info:?}");
    let versions = h.store.list_versions("doc").await?;
    ensure!(versions.len() == 2, "{versions:?}");
    Ok(())
}
