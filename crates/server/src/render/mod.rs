//! What a document holds, found from its roots, and its renderings: plain text, Markdown,
//! HTML and ProseMirror JSON. No IO; `Content` is built from a `yrs` document and renders
//! from memory.
//!
//! A document may hold plain text (the `Y.Text` named `content`, the built-in editor's),
//! rich text (a `Y.XmlFragment`: Tiptap's `default`, or any field named in
//! `--rich-text-fields`), or both. Which it is comes from what each root holds, never from
//! declaring a root's type (see `roots`).

mod html;
mod markdown;
pub(crate) mod node;
pub(crate) mod prosemirror;
pub(crate) mod roots;
mod text;

use tandem_persistence::ContentKind;
use yrs::{Doc, GetString, ReadTxn, Transact};

use node::Node;
use roots::Root;

/// The root `Y.Text` the built-in editor binds to (`ydoc.getText('content')`).
pub(crate) const TEXT_FIELD: &str = "content";

/// The `Y.XmlFragment` fields that may hold rich text, in order of preference (the first
/// that holds any is rendered). Tiptap's default is `default`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields(Vec<String>);

impl Fields {
    pub fn new(names: Vec<String>) -> Fields {
        Fields(names.into_iter().filter(|n| !n.is_empty()).collect())
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Where rich text is written: the field that holds some, else the first named.
    pub(crate) fn target<T: ReadTxn>(&self, txn: &T) -> Option<&str> {
        self.names()
            .find(|name| matches!(roots::root(txn, name), Root::Fragment(_)))
            .or_else(|| self.names().next())
    }
}

impl Default for Fields {
    fn default() -> Fields {
        Fields(vec!["default".to_string()])
    }
}

/// What the document holds, from its roots alone (cheaper than reading its content):
/// rich if a rich-text field holds any, plain if only the text does, `None` if empty.
pub fn kind_of<T: ReadTxn>(txn: &T, fields: &Fields) -> Option<ContentKind> {
    if fields
        .names()
        .any(|name| matches!(roots::root(txn, name), Root::Fragment(_)))
    {
        Some(ContentKind::Rich)
    } else if matches!(roots::root(txn, TEXT_FIELD), Root::Text(_)) {
        Some(ContentKind::Text)
    } else {
        None
    }
}

/// What a document holds, read once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Content {
    /// The plain text, if the text field holds any.
    text: Option<String>,
    /// The rich text (a `doc` node), if a rich-text field holds any.
    rich: Option<Node>,
}

impl Content {
    pub fn from_doc(doc: &Doc, fields: &Fields) -> Content {
        Content::from_txn(&doc.transact(), fields)
    }

    pub fn from_txn<T: ReadTxn>(txn: &T, fields: &Fields) -> Content {
        let text = match roots::root(txn, TEXT_FIELD) {
            Root::Text(text) => Some(text.get_string(txn)),
            _ => None,
        };
        let rich = fields
            .names()
            .find_map(|name| match roots::root(txn, name) {
                Root::Fragment(fragment) => Some(prosemirror::fragment_to_node(txn, &fragment)),
                _ => None,
            });
        Content { text, rich }
    }

    #[cfg(test)]
    pub(crate) fn from_node(doc: Node) -> Content {
        Content {
            text: None,
            rich: Some(doc),
        }
    }

    /// Rich if any rich text is there, plain if only text; `None` for an empty document.
    pub fn kind(&self) -> Option<ContentKind> {
        match (&self.rich, &self.text) {
            (Some(_), _) => Some(ContentKind::Rich),
            (None, Some(_)) => Some(ContentKind::Text),
            (None, None) => None,
        }
    }

    /// The plain text: the rich text's blocks separated by blank lines, then the plain text.
    pub fn plain_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(doc) = &self.rich {
            parts.push(text::plain(doc));
        }
        if let Some(text) = &self.text {
            parts.push(text.clone());
        }
        parts.join("\n\n")
    }

    /// CommonMark. A plain-text document is written as it is: it is often Markdown already.
    pub fn markdown(&self) -> String {
        let mut parts = Vec::new();
        if let Some(doc) = &self.rich {
            parts.push(markdown::render(doc));
        }
        if let Some(text) = &self.text {
            parts.push(text.clone());
        }
        parts.join("\n\n")
    }

    /// An HTML fragment (no `<html>` or `<body>`), escaped: nothing from the document can
    /// become markup. Plain text is one `<pre>`.
    pub fn html(&self) -> String {
        let mut out = String::new();
        if let Some(doc) = &self.rich {
            out.push_str(&html::render(doc));
        }
        if let Some(text) = &self.text {
            out.push_str("<pre>");
            out.push_str(&html::escape(text));
            out.push_str("</pre>\n");
        }
        out
    }

    /// ProseMirror JSON of the rich text; a plain-text document becomes one paragraph per
    /// line (appended after any rich text).
    pub fn prosemirror_json(&self) -> serde_json::Value {
        let mut doc = self
            .rich
            .clone()
            .unwrap_or_else(|| Node::element("doc", Vec::new()));
        if let Some(text) = &self.text {
            let content = doc.content.get_or_insert_with(Vec::new);
            for line in text.split('\n') {
                let inline = if line.is_empty() {
                    Vec::new()
                } else {
                    vec![Node::text(line.to_string(), Vec::new())]
                };
                content.push(Node::element("paragraph", inline));
            }
        }
        doc.content.get_or_insert_with(Vec::new);
        serde_json::to_value(&doc).unwrap_or(serde_json::Value::Null)
    }
}
