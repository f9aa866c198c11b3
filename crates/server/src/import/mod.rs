//! Writing content into a document: rich text (ProseMirror nodes) into a `Y.XmlFragment`
//! as y-prosemirror lays it out, and a version's content back over the current one
//! (restore). The inputs are read by `markdown` (CommonMark to Tiptap StarterKit nodes) and
//! `json` (ProseMirror JSON, checked).
//!
//! Every write is one transaction, so connected clients get it as one edit. A root is only
//! written as the type it already is (or, if empty, as the type being written).

pub(crate) mod json;
pub(crate) mod markdown;

use std::{collections::HashMap, sync::Arc};

use yrs::{
    types::Attrs, Any, Doc, Text, TransactionMut, WriteTxn, Xml, XmlElementPrelim, XmlFragment,
    XmlTextPrelim,
};

use crate::{
    render::{
        node::Node,
        prosemirror::{fragment_to_node, json_to_any},
        roots::{self, Root},
        Fields, TEXT_FIELD,
    },
    text,
};

/// Why content could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("the field {0:?} holds plain text, not rich text")]
    NotAFragment(String),
    #[error("the field {TEXT_FIELD:?} holds rich text, not plain text")]
    NotText,
    #[error("no rich-text field is configured (--rich-text-fields)")]
    NoField,
}

/// Makes the rich-text field hold `doc`'s content (a `doc` node), keeping the top-level
/// blocks that did not change (so cursors in them stay put).
pub(crate) fn replace_rich(
    txn: &mut TransactionMut,
    fields: &Fields,
    doc: &Node,
) -> Result<(), WriteError> {
    let field = fields.target(txn).ok_or(WriteError::NoField)?.to_string();
    if !roots::writable_as_fragment(txn, &field) {
        return Err(WriteError::NotAFragment(field));
    }
    let fragment = txn.get_or_insert_xml_fragment(field.as_str());
    let current = fragment_to_node(txn, &fragment);
    let old = current.children();
    let new = doc.children();
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let removed = old.len() - prefix - suffix;
    if removed > 0 {
        fragment.remove_range(txn, prefix as u32, removed as u32);
    }
    insert_nodes(
        txn,
        &fragment,
        prefix as u32,
        &new[prefix..new.len() - suffix],
    );
    Ok(())
}

/// Inserts `nodes` into `parent` at `index`, consecutive text nodes as one `XmlText` whose
/// runs carry their marks as formatting attributes (`{mark: attrs}`), as y-prosemirror does.
fn insert_nodes<F: XmlFragment>(txn: &mut TransactionMut, parent: &F, index: u32, nodes: &[Node]) {
    let mut at = index;
    let mut i = 0;
    while i < nodes.len() {
        if nodes[i].is_text() {
            let run_end = (i..nodes.len())
                .find(|&j| !nodes[j].is_text())
                .unwrap_or(nodes.len());
            let text = parent.insert(txn, at, XmlTextPrelim::new(""));
            let mut offset = 0u32;
            for node in &nodes[i..run_end] {
                let chunk = node.text.as_deref().unwrap_or("");
                text.insert_with_attributes(txn, offset, chunk, mark_attrs(node));
                offset += chunk.encode_utf16().count() as u32;
            }
            i = run_end;
        } else {
            let node = &nodes[i];
            let element = parent.insert(txn, at, XmlElementPrelim::empty(node.kind.as_str()));
            for (key, value) in node.attrs.iter().flatten() {
                // y-prosemirror leaves out null attributes.
                if !value.is_null() {
                    element.insert_attribute(txn, key.as_str(), json_to_any(value));
                }
            }
            insert_nodes(txn, &element, 0, node.children());
            i += 1;
        }
        at += 1;
    }
}

fn mark_attrs(node: &Node) -> Attrs {
    node.marks()
        .iter()
        .map(|mark| {
            let value = match &mark.attrs {
                Some(v) if !v.is_null() => json_to_any(v),
                _ => Any::Map(Arc::new(HashMap::new())),
            };
            (Arc::from(mark.kind.as_str()), value)
        })
        .collect()
}

/// Brings back what `old` (a version's document) held: its plain text into the text field
/// and its rich text into the rich-text field, each only where the version or the document
/// has one. Other roots are left alone.
pub(crate) fn restore(
    txn: &mut TransactionMut,
    old: &Doc,
    fields: &Fields,
) -> Result<(), WriteError> {
    let (old_text, old_rich) = {
        let old_txn = yrs::Transact::transact(old);
        let text = match roots::root(&old_txn, TEXT_FIELD) {
            Root::Text(t) => Some(yrs::GetString::get_string(&t, &old_txn)),
            _ => None,
        };
        let rich = fields
            .names()
            .find_map(|name| match roots::root(&old_txn, name) {
                Root::Fragment(f) => Some(fragment_to_node(&old_txn, &f)),
                _ => None,
            });
        (text, rich)
    };
    let has_text = matches!(roots::root(txn, TEXT_FIELD), Root::Text(_));
    let has_rich = fields
        .names()
        .any(|name| matches!(roots::root(txn, name), Root::Fragment(_)));
    // An empty version empties the document; otherwise each part comes back if either side
    // has it.
    let empty_version = old_text.is_none() && old_rich.is_none();
    if old_text.is_some() || (has_text && (empty_version || old_rich.is_none())) {
        if !roots::writable_as_text(txn, TEXT_FIELD) {
            return Err(WriteError::NotText);
        }
        let text_ref = txn.get_or_insert_text(TEXT_FIELD);
        text::replace_text(txn, &text_ref, old_text.as_deref().unwrap_or(""));
    }
    if old_rich.is_some() || (has_rich && empty_version) {
        let doc = old_rich.unwrap_or_else(|| Node::element("doc", Vec::new()));
        replace_rich(txn, fields, &doc)?;
    }
    Ok(())
}
