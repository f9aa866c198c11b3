//! Which shared type each root of a document is, inferred from what it holds.
//!
//! A Yjs update names an item's parent root by its key only; the type exists once a client
//! calls `getText`/`getXmlFragment` on that key. The server never does that for a root it
//! has not identified: `get_or_insert_*` with the wrong type would make the server read (and
//! restore) the root as something its clients do not use. Reading here never instantiates
//! anything.

use yrs::{branch::BranchPtr, Out, ReadTxn, Text, TextRef, XmlFragment, XmlFragmentRef};

/// What one root holds.
pub(crate) enum Root {
    /// A `Y.Text` with text in it.
    Text(TextRef),
    /// A `Y.XmlFragment` with at least one node in it.
    Fragment(XmlFragmentRef),
    /// Nothing (never written, or everything deleted), or a type that is neither.
    Empty,
    /// A map or array: not something we render.
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
    // The length counts nodes and characters alike: with no node first, it is text.
    let text = TextRef::from(branch);
    match (has_nodes, text.len(txn) > 0) {
        (true, _) => Root::Fragment(fragment),
        (false, true) => Root::Text(text),
        (false, false) => Root::Empty,
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

#[cfg(test)]
mod tests {
    use yrs::{
        updates::decoder::Decode, Doc, Map, ReadTxn, StateVector, Text, Transact, Update, WriteTxn,
        XmlElementPrelim, XmlFragment,
    };

    use super::*;

    /// A document as the server has it: applied from an update, so no root has a type yet.
    fn received(write: impl FnOnce(&mut yrs::TransactionMut)) -> Doc {
        let source = Doc::new();
        write(&mut source.transact_mut());
        let update = source
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let doc = Doc::new();
        doc.transact_mut()
            .apply_update(Update::decode_v1(&update).unwrap())
            .unwrap();
        doc
    }

    #[test]
    fn roots_are_told_apart_by_content_and_left_undeclared() {
        let doc = received(|txn| {
            let fragment = txn.get_or_insert_xml_fragment("default");
            fragment.insert(txn, 0, XmlElementPrelim::empty("paragraph"));
            let text = txn.get_or_insert_text("content");
            text.insert(txn, 0, "plain");
            let map = txn.get_or_insert_map("meta");
            map.insert(txn, "k", "v");
            let gone = txn.get_or_insert_text("gone");
            gone.insert(txn, 0, "x");
            gone.remove_range(txn, 0, 1);
        });
        let txn = doc.transact();
        assert!(matches!(root(&txn, "default"), Root::Fragment(_)));
        assert!(matches!(root(&txn, "content"), Root::Text(_)));
        assert!(matches!(root(&txn, "meta"), Root::Empty));
        assert!(matches!(root(&txn, "gone"), Root::Empty));
        assert!(matches!(root(&txn, "absent"), Root::Empty));
        // Reading declared nothing: every root is still of no type.
        for (name, out) in txn.root_refs() {
            assert!(matches!(out, Out::UndefinedRef(_)), "{name} got a type");
        }
    }
}
