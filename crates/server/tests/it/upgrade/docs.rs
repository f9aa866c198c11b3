//! What the upgrade fixtures hold: a few documents typed with yrs (fixed client ids, so
//! a fixture regenerates byte for byte), some compacted into a snapshot, with versions of
//! every kind. The generator writes them; the test expects exactly them back.

use yrs::{GetString, Options, ReadTxn, StateVector, Text, Transact};

/// One edit of the `content` text.
#[derive(Debug, Clone, Copy)]
pub enum Edit {
    Append(&'static str),
    /// Deletes `len` UTF-16 units at `at`.
    Delete(u32, u32),
}

/// A version made after the first `after` edits.
#[derive(Debug, Clone, Copy)]
pub struct FixtureVersion {
    pub kind: &'static str,
    pub label: Option<&'static str>,
    pub after: usize,
    /// Who edited (stored from schema 0002 on).
    pub authors: &'static [&'static str],
}

#[derive(Debug, Clone, Copy)]
pub struct FixtureDoc {
    pub name: &'static str,
    /// Stored from schema 0002 on.
    pub title: &'static str,
    pub edits: &'static [Edit],
    /// The first this-many edits are folded into a snapshot (their rows are gone).
    pub snapshot_after: usize,
    pub versions: &'static [FixtureVersion],
}

const fn v(
    kind: &'static str,
    label: Option<&'static str>,
    after: usize,
    authors: &'static [&'static str],
) -> FixtureVersion {
    FixtureVersion {
        kind,
        label,
        after,
        authors,
    }
}

use Edit::*;

pub const DOCS: &[FixtureDoc] = &[
    FixtureDoc {
        name: "meeting-notes",
        title: "Meeting notes",
        edits: &[
            Append("Agenda\n"),
            Append("1. Budget\n"),
            Append("2. Hiring\n"),
            Delete(7, 10),
        ],
        snapshot_after: 0,
        versions: &[
            v("auto", None, 2, &["Ann"]),
            v("named", Some("before the cut"), 3, &["Ann", "Bob"]),
        ],
    },
    FixtureDoc {
        name: "design-doc",
        title: "Design — draft",
        edits: &[
            Append("Tandem "),
            Append("stores "),
            Append("Yjs "),
            Append("updates."),
            Delete(0, 7),
        ],
        snapshot_after: 3,
        versions: &[
            v("auto", None, 1, &["Cy"]),
            v("named", Some("draft"), 3, &["Cy"]),
            v("restore", None, 1, &[]),
            v("auto", None, 5, &["Cy"]),
        ],
    },
    FixtureDoc {
        name: "unicode.txt",
        title: "Ünïcode 🚀",
        edits: &[Append("héllo wörld "), Append("🚀 — 日本語"), Delete(6, 6)],
        snapshot_after: 3,
        versions: &[v("named", Some("ß ∑ 🚀"), 3, &["Dee"])],
    },
    FixtureDoc {
        name: "empty",
        title: "",
        edits: &[],
        snapshot_after: 0,
        versions: &[],
    },
];

/// A document's states as its edits were typed: each edit's update, and the full state
/// and text after each prefix of the edits (index 0: nothing typed).
pub struct Typed {
    pub updates: Vec<Vec<u8>>,
    pub states: Vec<Vec<u8>>,
    pub texts: Vec<String>,
}

pub fn type_doc(index: usize, doc: &FixtureDoc) -> Typed {
    let ydoc = yrs::Doc::with_options(Options {
        client_id: yrs::ClientID::new(1000 + index as u64),
        offset_kind: yrs::OffsetKind::Utf16,
        ..Options::default()
    });
    let text = ydoc.get_or_insert_text("content");
    let snapshot = |d: &yrs::Doc| {
        let txn = d.transact();
        (
            txn.encode_state_as_update_v1(&StateVector::default()),
            text.get_string(&txn),
        )
    };
    let (s, t) = snapshot(&ydoc);
    let mut typed = Typed {
        updates: Vec::new(),
        states: vec![s],
        texts: vec![t],
    };
    for edit in doc.edits {
        let before = ydoc.transact().state_vector();
        {
            let mut txn = ydoc.transact_mut();
            match *edit {
                Append(s) => {
                    let len = text.len(&txn);
                    text.insert(&mut txn, len, s);
                }
                Delete(at, len) => text.remove_range(&mut txn, at, len),
            }
        }
        typed
            .updates
            .push(ydoc.transact().encode_state_as_update_v1(&before));
        let (s, t) = snapshot(&ydoc);
        typed.states.push(s);
        typed.texts.push(t);
    }
    typed
}

/// The state vector of a full state, encoded.
pub fn state_vector(state: &[u8]) -> Vec<u8> {
    crate::kit::stored::state_vector_of(state)
}
