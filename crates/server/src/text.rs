//! Plain text of a document and the smallest edit from one text to another.
//!
//! Documents are created with UTF-16 offsets (what JavaScript clients count in), so every
//! position here is in UTF-16 code units.

use tandem_persistence::StoredDoc;
use yrs::{
    updates::decoder::Decode, Doc, GetString, OffsetKind, Options, ReadTxn, Text, TextRef,
    Transact, TransactionMut, Update,
};

/// The root `Y.Text` the editor binds to (`ydoc.getText('content')`).
pub(crate) const TEXT_FIELD: &str = "content";

pub fn new_doc() -> Doc {
    Doc::with_options(Options {
        offset_kind: OffsetKind::Utf16,
        ..Options::default()
    })
}

/// The `content` root as a `Y.Text`. Only for copies no client is served (tests, the
/// feed's private replica, `feed/event.rs`): on a served document it would give the root a
/// type, which breaks clients that use the field as another type (`render::roots`).
pub(crate) fn text_ref(doc: &Doc) -> TextRef {
    doc.get_or_insert_text(TEXT_FIELD)
}

/// The document's text, or "" if the document has no text root.
pub(crate) fn render<T: ReadTxn>(txn: &T) -> String {
    txn.get_text(TEXT_FIELD)
        .map(|t| t.get_string(txn))
        .unwrap_or_default()
}

pub fn render_doc(doc: &Doc) -> String {
    render(&doc.transact())
}

/// Why one stored update could not be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("stored update {index} is corrupt: {error}")]
    Corrupt {
        index: usize,
        error: yrs::encoding::read::Error,
    },
    #[error("stored update {index} does not apply: {error}")]
    Rejected {
        index: usize,
        error: yrs::error::UpdateError,
    },
}

/// Rebuilds a stored document in `doc`: the snapshot, then the log, in one transaction.
/// An update that fails is skipped and reported, and the rest still applied, so one bad
/// row never hides the others; callers that want all or nothing check the result.
pub fn replay(doc: &Doc, stored: &StoredDoc) -> Vec<ReplayError> {
    let mut errors = Vec::new();
    let mut txn = doc.transact_mut();
    let parts = stored.snapshot.iter().chain(stored.updates.iter());
    for (index, bytes) in parts.enumerate() {
        match Update::decode_v1(bytes) {
            Ok(update) => {
                if let Err(error) = txn.apply_update(update) {
                    errors.push(ReplayError::Rejected { index, error });
                }
            }
            Err(error) => errors.push(ReplayError::Corrupt { index, error }),
        }
    }
    errors
}

/// Applies one stored state (a version's) to `doc`; false if it does not decode or apply.
pub fn replay_bytes(doc: &Doc, state: &[u8]) -> bool {
    match Update::decode_v1(state) {
        Ok(update) => doc.transact_mut().apply_update(update).is_ok(),
        Err(_) => false,
    }
}

/// Turns `current` into `target` with one delete and one insert around the common prefix
/// and suffix, so the unchanged parts keep their identity (and remote cursors stay put).
pub(crate) fn replace_text(txn: &mut TransactionMut, text: &TextRef, target: &str) {
    let current: Vec<u16> = text.get_string(txn).encode_utf16().collect();
    let wanted: Vec<u16> = target.encode_utf16().collect();
    let (start, del, ins) = diff_range(&current, &wanted);
    if del > 0 {
        text.remove_range(txn, start as u32, del as u32);
    }
    if !ins.is_empty() {
        let ins = String::from_utf16_lossy(&wanted[ins]);
        text.insert(txn, start as u32, &ins);
    }
}

/// `(start, deleted length, inserted range of b)` turning `a` into `b`, never splitting a
/// surrogate pair.
pub(crate) fn diff_range(a: &[u16], b: &[u16]) -> (usize, usize, std::ops::Range<usize>) {
    let is_low = |u: u16| (0xDC00..0xE000).contains(&u);
    let mut prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while prefix > 0
        && ((prefix < a.len() && is_low(a[prefix])) || (prefix < b.len() && is_low(b[prefix])))
    {
        prefix -= 1;
    }
    let max_suffix = a.len().min(b.len()) - prefix;
    let mut suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    // The suffix is the same in both, so checking `a` keeps both pairs whole.
    while suffix > 0 && is_low(a[a.len() - suffix]) {
        suffix -= 1;
    }
    (prefix, a.len() - prefix - suffix, prefix..b.len() - suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(from: &str, to: &str) -> String {
        let doc = new_doc();
        let text = text_ref(&doc);
        text.insert(&mut doc.transact_mut(), 0, from);
        replace_text(&mut doc.transact_mut(), &text, to);
        render_doc(&doc)
    }

    #[test]
    fn replaces_middle_and_ends() {
        for (a, b) in [
            ("hello world", "hello brave world"),
            ("hello world", "world"),
            ("", "fresh"),
            ("gone", ""),
            ("same", "same"),
            ("abc", "xyz"),
        ] {
            assert_eq!(apply(a, b), b);
        }
    }

    #[test]
    fn handles_astral_characters() {
        assert_eq!(apply("a😀b", "a😁b"), "a😁b");
        assert_eq!(apply("😀😀", "😀"), "😀");
        assert_eq!(apply("x😀", "x😀😀y"), "x😀😀y");
    }

    #[test]
    fn edit_is_minimal() {
        let a: Vec<u16> = "the quick fox".encode_utf16().collect();
        let b: Vec<u16> = "the slow fox".encode_utf16().collect();
        let (start, del, ins) = diff_range(&a, &b);
        assert_eq!((start, del), (4, 5));
        assert_eq!(String::from_utf16_lossy(&b[ins]), "slow");
    }
}
