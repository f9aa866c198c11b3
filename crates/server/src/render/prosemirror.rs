//! A `Y.XmlFragment` as ProseMirror JSON, the way y-prosemirror's
//! `yXmlFragmentToProsemirrorJSON` reads it: an element is `{type: nodeName, attrs?,
//! content?}` (attrs only when it has some); an `XmlText` becomes one text node per run of
//! its delta, each formatting attribute a mark whose attrs are the attribute's value.
//!
//! Two differences, both about order only: marks are sorted by name (a Yjs delta keeps the
//! order in which a client happened to set them), and a text directly under the fragment
//! is flattened into its content (y-prosemirror nests it as an array, which is not a node).

use serde_json::{Map, Value};
use yrs::{
    any::Number, types::Attrs, Any, Out, ReadTxn, Text, Xml, XmlFragment, XmlOut, XmlTextRef,
};

use super::node::{Mark, Node};

/// Deepest element nesting read. Every renderer recurses over the tree, and a client can
/// write elements nested a million deep; what lies deeper is left out. Real documents
/// nest a few levels (a list in a list in a quote).
pub(crate) const MAX_DEPTH: usize = 100;

/// The whole fragment as a `doc` node.
pub(crate) fn fragment_to_node<T: ReadTxn, F: XmlFragment>(txn: &T, fragment: &F) -> Node {
    let mut content = Vec::new();
    for child in fragment.children(txn) {
        push_node(txn, child, 1, &mut content);
    }
    Node {
        kind: "doc".to_string(),
        attrs: None,
        content: Some(content),
        text: None,
        marks: None,
    }
}

fn push_node<T: ReadTxn>(txn: &T, node: XmlOut, depth: usize, out: &mut Vec<Node>) {
    if depth > MAX_DEPTH {
        return;
    }
    match node {
        XmlOut::Text(text) => push_text(txn, &text, out),
        XmlOut::Element(element) => {
            let mut attrs = Map::new();
            for (key, value) in element.attributes(txn) {
                if let Out::Any(any) = value {
                    attrs.insert(key.to_string(), any_to_json(&any));
                }
            }
            let mut content = Vec::new();
            for child in element.children(txn) {
                push_node(txn, child, depth + 1, &mut content);
            }
            out.push(Node {
                kind: element.tag().to_string(),
                attrs: Some(attrs).filter(|a| !a.is_empty()),
                content: Some(content).filter(|c| !c.is_empty()),
                text: None,
                marks: None,
            });
        }
        // A fragment nested in a fragment is not something y-prosemirror writes.
        XmlOut::Fragment(fragment) => {
            for child in fragment.children(txn) {
                push_node(txn, child, depth + 1, out);
            }
        }
    }
}

fn push_text<T: ReadTxn>(txn: &T, text: &XmlTextRef, out: &mut Vec<Node>) {
    for chunk in text.diff(txn, |_| ()) {
        // Embeds (non-string inserts) have no ProseMirror text form.
        let Out::Any(Any::String(s)) = &chunk.insert else {
            continue;
        };
        out.push(Node::text(
            s.to_string(),
            marks(chunk.attributes.as_deref()),
        ));
    }
}

fn marks(attrs: Option<&Attrs>) -> Vec<Mark> {
    let mut marks: Vec<Mark> = attrs
        .into_iter()
        .flatten()
        .map(|(key, value)| Mark {
            kind: mark_name(key).to_string(),
            attrs: Some(any_to_json(value)),
        })
        .collect();
    marks.sort_by(|a, b| a.kind.cmp(&b.kind));
    marks
}

/// The mark a formatting attribute stands for. y-prosemirror names a mark that may overlap
/// itself (two comments on one word) `name--` plus an 8-character hash.
fn mark_name(key: &str) -> &str {
    match key
        .len()
        .checked_sub(10)
        .and_then(|at| key.get(at..).map(|tail| (at, tail)))
    {
        Some((at, tail))
            if tail.starts_with("--")
                && tail[2..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')) =>
        {
            &key[..at]
        }
        _ => key,
    }
}

/// A Yjs value as JSON. Whole numbers print without a fraction (`1`, not `1.0`), as in
/// JavaScript; binary data (no JSON form) becomes null.
pub(crate) fn any_to_json(any: &Any) -> Value {
    match any {
        Any::Null | Any::Undefined | Any::Buffer(_) => Value::Null,
        Any::Bool(b) => Value::Bool(*b),
        Any::Number(Number::Int(i)) => Value::Number((*i).into()),
        Any::Number(Number::Float(f)) => {
            if f.fract() == 0.0 && f.abs() <= Number::F64_MAX_SAFE_INTEGER {
                Value::Number((*f as i64).into())
            } else {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
        }
        Any::String(s) => Value::String(s.to_string()),
        Any::Array(items) => Value::Array(items.iter().map(any_to_json).collect()),
        Any::Map(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), any_to_json(v)))
                .collect(),
        ),
    }
}

/// JSON as a Yjs value (for writing attributes and marks).
pub(crate) fn json_to_any(value: &Value) -> Any {
    match value {
        Value::Null => Any::Null,
        Value::Bool(b) => Any::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i.abs() <= Number::I64_MAX_SAFE_INTEGER => Any::Number(Number::Int(i)),
            _ => Any::Number(Number::Float(n.as_f64().unwrap_or(0.0))),
        },
        Value::String(s) => Any::String(s.as_str().into()),
        Value::Array(items) => Any::Array(items.iter().map(json_to_any).collect()),
        Value::Object(map) => Any::Map(std::sync::Arc::new(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_any(v)))
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use yrs::{Transact, WriteTxn, XmlElementPrelim};

    use super::*;

    #[test]
    fn hashed_mark_names_name_their_mark() {
        assert_eq!(mark_name("comment--a1B2+/=9"), "comment");
        assert_eq!(mark_name("bold"), "bold");
        assert_eq!(mark_name("x--short"), "x--short");
    }

    #[test]
    fn nesting_past_the_limit_is_left_out() {
        let doc = yrs::Doc::new();
        let mut txn = doc.transact_mut();
        let fragment = txn.get_or_insert_xml_fragment("default");
        let mut parent = fragment.insert(&mut txn, 0, XmlElementPrelim::empty("blockquote"));
        for _ in 0..10_000 {
            parent = parent.insert(&mut txn, 0, XmlElementPrelim::empty("blockquote"));
        }
        let node = fragment_to_node(&txn, &fragment);
        let mut depth = 0;
        let mut at = &node;
        while let Some(child) = at.children().first() {
            depth += 1;
            at = child;
        }
        assert_eq!(depth, MAX_DEPTH);
    }
}
