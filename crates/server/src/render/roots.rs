//! Which shared type each root of a document is, inferred from what it holds.
//!
//! A Yjs update names an item's parent root by its key only; the type exists once a client
//! calls `getText`/`getXmlFragment` on that key. The server never does that for a root it
//! has not identified: `get_or_insert_*` with the wrong type would make the server read (and
//! restore) the root as something its clients do not use. Reading here never instantiates
//! anything.

use yrs::{branch::BranchPtr, GetString, Out, ReadTxn, Text, TextRef, XmlFragment, XmlFragmentRef};

/// What one root holds.
pub(crate) enum Root {
    /// A `Y.Text` with text in it.
    Text(TextRef),
    /// A `Y.XmlFragment` with at least one node in it.
    Fragment(XmlFragmentRef),
    /// Nothing (never written, or everything deleted), or a type that is neither.
    Empty,
    /// A map or array, or text and nodes mixed: not something we render.
    Other,
}

/// The root named `name`, identified by its declared type if a client of this `Doc` declared
/// one, otherwise by its content.
pub(crate) fn root<T: ReadTxn>(txn: &T, name: &str) -> Root {
    let Some(out) = txn.root_refs().find(|(n, _)| *n == name).map(|(_, o)| o) else {
        return Root::Empty;
    };
    match out {
        Out::YText(text) => non_empty_text(txn, text),
        Out::YXmlFragment(fragment) => non_empty_fragment(txn, fragment),
        Out::UndefinedRef(branch) => infer(txn, branch),
        _ => Root::Other,
    }
}

fn infer<T: ReadTxn>(txn: &T, branch: BranchPtr) -> Root {
    // Iterating a branch as a fragment yields its XML children and stops at the first item
    // that is not one; as text it yields only string content. Neither call changes the
    // branch's type.
    let fragment = XmlFragmentRef::from(branch);
    let has_nodes = fragment.children(txn).next().is_some();
    let text = TextRef::from(branch);
    // `len` would count nodes too; only string content makes it text.
    let has_text = !text.get_string(txn).is_empty();
    match (has_nodes, has_text) {
        (true, false) => Root::Fragment(fragment),
        (false, true) => Root::Text(text),
        (false, false) => Root::Empty,
        (true, true) => Root::Other,
    }
}

fn non_empty_text<T: ReadTxn>(txn: &T, text: TextRef) -> Root {
    if text.len(txn) > 0 {
        Root::Text(text)
    } else {
        Root::Empty
    }
}

fn non_empty_fragment<T: ReadTxn>(txn: &T, fragment: XmlFragmentRef) -> Root {
    if fragment.len(txn) > 0 {
        Root::Fragment(fragment)
    } else {
        Root::Empty
    }
}

/// Whether the root `name` may be written as a fragment: it is one, or holds nothing yet.
pub(crate) fn writable_as_fragment<T: ReadTxn>(txn: &T, name: &str) -> bool {
    matches!(root(txn, name), Root::Fragment(_) | Root::Empty)
}

/// Whether the root `name` may be written as text: it is text, or holds nothing yet.
pub(crate) fn writable_as_text<T: ReadTxn>(txn: &T, name: &str) -> bool {
    matches!(root(txn, name), Root::Text(_) | Root::Empty)
}
