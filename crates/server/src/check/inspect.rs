//! Replays one stored document the way the server would load it, row by row, and lists
//! what is wrong: rows that do not decode or apply (named by sequence number or version),
//! changes that wait for changes nobody stored, and derived values that disagree with the
//! bytes they are derived from (those come with the [`Repair`] that rewrites them).

use std::panic::{catch_unwind, AssertUnwindSafe};

use tandem_persistence::{LogRows, Repair, Store, StoreError};
use yrs::{
    updates::{decoder::Decode, encoder::Encode},
    Doc, ReadTxn, StateVector, Transact, Update,
};

use crate::render::{Content, Fields};

/// Where in a document a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The document row itself (its counters).
    Document,
    /// The snapshot, which covers the log up to this sequence number.
    Snapshot { upto_seq: i64 },
    /// The log row with this sequence number.
    Log { seq: i64 },
    /// The whole log (snapshot and rows replayed together).
    Replay,
    /// The version with this number.
    Version { version: i64 },
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Document => write!(f, "document row"),
            Place::Snapshot { upto_seq } => write!(f, "snapshot (up to seq {upto_seq})"),
            Place::Log { seq } => write!(f, "log seq {seq}"),
            Place::Replay => write!(f, "log replay"),
            Place::Version { version } => write!(f, "version {version}"),
        }
    }
}

/// One thing wrong with one document.
#[derive(Debug, Clone)]
pub struct Problem {
    pub doc: String,
    pub place: Place,
    pub what: String,
    /// The rewrite that fixes it without losing anything, if there is one.
    pub fix: Option<Repair>,
}

/// What was looked at in one document, for the summary.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub log_rows: u64,
    pub snapshots: u64,
    pub versions: u64,
}

/// Decodes and applies one stored update. yrs may panic on some malformed input (it
/// debug-asserts); that is reported like any other failure instead of ending the check.
fn apply(doc: &Doc, bytes: &[u8]) -> Result<(), String> {
    let update = catch_unwind(AssertUnwindSafe(|| Update::decode_v1(bytes)))
        .map_err(|_| "does not decode (the decoder panicked)".to_string())?
        .map_err(|e| format!("does not decode: {e}"))?;
    catch_unwind(AssertUnwindSafe(|| doc.transact_mut().apply_update(update)))
        .map_err(|_| "does not apply (yrs panicked)".to_string())?
        .map_err(|e| format!("does not apply: {e}"))
}

/// What still waits in `doc` for changes it never received, if anything.
fn missing(doc: &Doc) -> Option<String> {
    let txn = doc.transact();
    let store = txn.store();
    match (store.pending_update(), store.pending_ds()) {
        (None, None) => None,
        (Some(p), _) => Some(format!(
            "holds changes that build on changes not stored (missing from clients {:?})",
            p.missing.iter().map(|(c, _)| *c).collect::<Vec<_>>()
        )),
        (None, Some(_)) => Some("holds deletions of changes not stored".into()),
    }
}

/// Checks a document's snapshot and log. `None` when the document is gone meanwhile.
pub(super) async fn log(
    store: &dyn Store,
    name: &str,
    problems: &mut Vec<Problem>,
) -> Result<Option<Counts>, StoreError> {
    let Some(rows) = store.log_rows(name).await? else {
        return Ok(None);
    };
    let mut counts = Counts::default();
    let mut found = |place: Place, what: String, fix: Option<Repair>| {
        problems.push(Problem {
            doc: name.to_string(),
            place,
            what,
            fix,
        })
    };
    let doc = crate::text::new_doc();
    if let Some(snap) = &rows.snapshot {
        counts.snapshots = 1;
        let place = Place::Snapshot {
            upto_seq: snap.upto_seq,
        };
        match apply(&doc, &snap.state) {
            Err(what) => found(place, what, None),
            Ok(()) => {
                let actual = doc.transact().state_vector();
                if StateVector::decode_v1(&snap.state_vector).ok().as_ref() != Some(&actual) {
                    found(
                        place,
                        "its stored state vector is not its state's".into(),
                        Some(Repair::SnapshotStateVector {
                            upto_seq: snap.upto_seq,
                            state_vector: actual.encode_v1(),
                        }),
                    );
                }
            }
        }
    }
    for (seq, data) in &rows.updates {
        counts.log_rows += 1;
        if let Err(what) = apply(&doc, data) {
            found(Place::Log { seq: *seq }, what, None);
        }
    }
    if let Some(what) = missing(&doc) {
        found(Place::Replay, what, None);
    }
    counters(&rows, &mut found);
    Ok(Some(counts))
}

/// The document row's `last_seq` and `size_bytes` against what is stored.
fn counters(rows: &LogRows, found: &mut impl FnMut(Place, String, Option<Repair>)) {
    let highest = rows.highest_seq();
    if rows.last_seq < highest {
        found(
            Place::Document,
            format!(
                "last_seq is {} but rows up to seq {highest} are stored",
                rows.last_seq
            ),
            Some(Repair::RaiseLastSeq(highest)),
        );
    }
    let counted = rows.counted_bytes();
    if rows.size_bytes != counted {
        found(
            Place::Document,
            format!(
                "size_bytes is {} but {counted} bytes are stored",
                rows.size_bytes
            ),
            Some(Repair::RecountSize),
        );
    }
}

/// Checks every version of a document, one read at a time; returns how many.
pub(super) async fn versions(
    store: &dyn Store,
    name: &str,
    fields: &Fields,
    problems: &mut Vec<Problem>,
) -> Result<u64, StoreError> {
    let mut checked = 0;
    for info in store.list_versions(name).await? {
        // Deleted meanwhile (the document, or by retention): nothing to check.
        let Some(version) = store.version(name, info.version).await? else {
            continue;
        };
        checked += 1;
        let place = Place::Version {
            version: info.version,
        };
        let mut found = |what: String, fix: Option<Repair>| {
            problems.push(Problem {
                doc: name.to_string(),
                place: place.clone(),
                what,
                fix,
            })
        };
        let doc = crate::text::new_doc();
        if let Err(what) = apply(&doc, &version.state) {
            found(what, None);
            continue;
        }
        if let Some(what) = missing(&doc) {
            found(what, None);
            continue;
        }
        let content = Content::from_doc(&doc, fields);
        // Text rendered from another model than the one stored (rich text under fields
        // this check was not told about) cannot be compared.
        let comparable = content.kind().is_none_or(|kind| kind == info.format);
        let text = content.plain_text();
        if comparable && text != version.text {
            found(
                format!(
                    "its stored text ({} chars) is not its state's ({} chars)",
                    version.text.chars().count(),
                    text.chars().count()
                ),
                Some(Repair::VersionDerived {
                    version: info.version,
                    state_vector: doc.transact().state_vector().encode_v1(),
                    text,
                }),
            );
        }
    }
    Ok(checked)
}
