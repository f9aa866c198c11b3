//! The ProseMirror document model every renderer reads and every import produces: the JSON
//! shape ProseMirror's `Node.toJSON()` and y-prosemirror's `yXmlFragmentToProsemirrorJSON`
//! use (`{type, attrs?, content?}` for a node, `{type: "text", text, marks?}` for text).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One node. Text nodes have `text` (and maybe `marks`), other nodes `attrs` and `content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Node {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attrs: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<Node>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marks: Option<Vec<Mark>>,
}

/// A mark on a run of text. `attrs` is kept as any JSON value: y-prosemirror stores a mark
/// as a formatting attribute whose value is the mark's attrs (`{}` for bold), and returns
/// that value as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Mark {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attrs: Option<Value>,
}

impl Node {
    pub(crate) fn element(kind: &str, content: Vec<Node>) -> Node {
        Node {
            kind: kind.to_string(),
            attrs: None,
            content: Some(content).filter(|c| !c.is_empty()),
            text: None,
            marks: None,
        }
    }

    pub(crate) fn text(text: String, marks: Vec<Mark>) -> Node {
        Node {
            kind: "text".to_string(),
            attrs: None,
            content: None,
            text: Some(text),
            marks: Some(marks).filter(|m| !m.is_empty()),
        }
    }

    pub(crate) fn with_attr(mut self, key: &str, value: Value) -> Node {
        self.attrs
            .get_or_insert_with(Map::new)
            .insert(key.to_string(), value);
        self
    }

    pub(crate) fn is_text(&self) -> bool {
        self.kind == "text"
    }

    pub(crate) fn children(&self) -> &[Node] {
        self.content.as_deref().unwrap_or(&[])
    }

    pub(crate) fn marks(&self) -> &[Mark] {
        self.marks.as_deref().unwrap_or(&[])
    }

    pub(crate) fn attr(&self, key: &str) -> Option<&Value> {
        self.attrs.as_ref()?.get(key)
    }

    pub(crate) fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key)?.as_str()
    }

    /// An integer attribute (ProseMirror numbers arrive as JSON numbers, maybe `2.0`).
    pub(crate) fn attr_int(&self, key: &str) -> Option<i64> {
        let v = self.attr(key)?;
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
    }

    /// Whether the node holds inline content (text, hard breaks): a paragraph or heading,
    /// as opposed to a list or quote that holds blocks.
    pub(crate) fn is_textblock(&self) -> bool {
        self.children()
            .iter()
            .any(|c| c.is_text() || c.kind == "hardBreak")
    }
}

impl Mark {
    pub(crate) fn attr_str(&self, key: &str) -> Option<&str> {
        self.attrs.as_ref()?.get(key)?.as_str()
    }
}

/// Every piece of text under `node`, in order, with a hard break as a newline.
pub(crate) fn inline_text(node: &Node, out: &mut String) {
    if let Some(text) = &node.text {
        out.push_str(text);
    } else if node.kind == "hardBreak" {
        out.push('\n');
    }
    for child in node.children() {
        inline_text(child, out);
    }
}
