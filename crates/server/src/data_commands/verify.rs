//! The check after a migration: every document of the source, loaded by the store and
//! replayed with yrs on both sides, must render the same text and have the same state
//! vector, title, kind and versions in the copy. It reads through the same code the
//! server loads documents with, so it checks what users will be served, not just rows.

use anyhow::Context;
use tandem_persistence::{Store, StoredDoc, VersionInfo};
use yrs::{Doc, ReadTxn, StateVector, Transact};

use crate::{
    render::{Content, Fields},
    text,
};

/// What a document looks like to a client: its text (both models) and state vector.
struct Rendered {
    text: String,
    plain: String,
    state_vector: StateVector,
}

fn render(stored: &StoredDoc) -> anyhow::Result<Rendered> {
    let doc: Doc = text::new_doc();
    if let Some(err) = text::replay(&doc, stored).into_iter().next() {
        return Err(err.into());
    }
    let plain = Content::from_doc(&doc, &Fields::default()).plain_text();
    let txn = doc.transact();
    Ok(Rendered {
        text: text::render(&txn),
        plain,
        state_vector: txn.state_vector(),
    })
}

/// What must match of a version (its state is compared through its size and text length;
/// the rows were copied byte for byte).
fn version_key(v: &VersionInfo) -> (i64, &'static str, Option<&str>, &[String], i64, i64, i64) {
    (
        v.version,
        v.kind.as_str(),
        v.label.as_deref(),
        &v.authors,
        v.size_bytes,
        v.text_length,
        v.created_at.timestamp_micros(),
    )
}

/// Every difference found, one line each (empty: the copy is the same); and how many
/// documents were compared.
pub async fn compare(
    source: &dyn Store,
    target: &dyn Store,
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut problems = Vec::new();
    let documents = source
        .list_documents()
        .await
        .context("listing the source")?;
    for info in &documents {
        let name = &info.name;
        let Some(copy) = target.document(name).await? else {
            problems.push(format!("{name}: missing from the target"));
            continue;
        };
        if (copy.title.as_str(), copy.kind) != (info.title.as_str(), info.kind) {
            problems.push(format!("{name}: title or kind differs"));
        }
        let (Some(a), Some(b)) = (source.load(name).await?, target.load(name).await?) else {
            problems.push(format!("{name}: does not load"));
            continue;
        };
        match (render(&a), render(&b)) {
            (Ok(a), Ok(b)) => {
                if a.text != b.text || a.plain != b.plain {
                    problems.push(format!("{name}: text differs"));
                }
                if a.state_vector != b.state_vector {
                    problems.push(format!("{name}: state vector differs"));
                }
            }
            // A document the source cannot replay either is copied as it is (`tandem
            // check` reports such rows); only a difference is this check's business.
            (Err(_), Err(_)) => {}
            (Ok(_), Err(err)) => problems.push(format!("{name}: the copy does not replay: {err}")),
            (Err(err), Ok(_)) => {
                problems.push(format!("{name}: the source does not replay: {err}"))
            }
        }
        let (va, vb) = (
            source.list_versions(name).await?,
            target.list_versions(name).await?,
        );
        if !va.iter().map(version_key).eq(vb.iter().map(version_key)) {
            problems.push(format!("{name}: versions differ"));
        }
    }
    let copied = target.list_documents().await?.len();
    if copied != documents.len() {
        problems.push(format!(
            "the target holds {copied} documents, the source {}",
            documents.len()
        ));
    }
    Ok((documents.len(), problems))
}
