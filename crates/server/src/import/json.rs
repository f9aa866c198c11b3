//! ProseMirror JSON from a client, checked before it is written: the shape of every node
//! and mark, bounded depth and node count, with errors that say where the problem is.

use serde_json::{Map, Value};

use crate::render::node::{Mark, Node};

/// Deepest nesting accepted (a document is rarely deeper than ten).
pub(crate) const MAX_DEPTH: usize = 64;
/// Most nodes accepted in one document.
pub(crate) const MAX_NODES: usize = 200_000;

#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum JsonError {
    #[error("the body is not valid JSON: {0}")]
    Syntax(String),
    #[error("{at}: {problem}")]
    Shape { at: String, problem: String },
    #[error("the document nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the document has more than {MAX_NODES} nodes")]
    TooManyNodes,
}

/// Reads a ProseMirror document (`{"type": "doc", "content": [...]}`).
pub(crate) fn parse(body: &[u8]) -> Result<Node, JsonError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // serde_json's own recursion limit (128) is deeper than ours; say ours.
        if e.to_string().contains("recursion limit") {
            JsonError::TooDeep
        } else {
            JsonError::Syntax(e.to_string())
        }
    })?;
    let mut count = 0;
    let doc = node(&value, "doc", 0, &mut count)?;
    if doc.kind != "doc" {
        return Err(shape("doc", "the top node must have type \"doc\""));
    }
    Ok(doc)
}

fn shape(at: &str, problem: &str) -> JsonError {
    JsonError::Shape {
        at: at.to_string(),
        problem: problem.to_string(),
    }
}

fn node(value: &Value, at: &str, depth: usize, count: &mut usize) -> Result<Node, JsonError> {
    if depth > MAX_DEPTH {
        return Err(JsonError::TooDeep);
    }
    *count += 1;
    if *count > MAX_NODES {
        return Err(JsonError::TooManyNodes);
    }
    let obj = value
        .as_object()
        .ok_or_else(|| shape(at, "a node must be an object"))?;
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "type" | "attrs" | "content" | "text" | "marks"
        ) {
            return Err(shape(at, &format!("unknown field {key:?}")));
        }
    }
    let kind = type_name(obj, at)?;
    let attrs = attrs(obj, at)?;
    if kind == "text" {
        let text = obj
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| shape(at, "a text node needs a string \"text\""))?;
        if text.is_empty() {
            return Err(shape(at, "a text node's text must not be empty"));
        }
        if obj.contains_key("content") {
            return Err(shape(at, "a text node has no content"));
        }
        let marks = marks(obj, at)?;
        return Ok(Node {
            kind,
            attrs,
            content: None,
            text: Some(text.to_string()),
            marks: Some(marks).filter(|m| !m.is_empty()),
        });
    }
    if obj.contains_key("text") || obj.contains_key("marks") {
        return Err(shape(at, "only text nodes have \"text\" and \"marks\""));
    }
    let content = match obj.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| node(item, &format!("{at}.content[{i}]"), depth + 1, count))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(shape(at, "\"content\" must be an array")),
    };
    Ok(Node {
        kind,
        attrs,
        content,
        text: None,
        marks: None,
    })
}

fn type_name(obj: &Map<String, Value>, at: &str) -> Result<String, JsonError> {
    let kind = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| shape(at, "a node needs a string \"type\""))?;
    let ok = !kind.is_empty()
        && kind.len() <= 64
        && kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
    if !ok {
        return Err(shape(at, "a type is 1 to 64 letters, digits, '_' or '-'"));
    }
    Ok(kind.to_string())
}

fn attrs(obj: &Map<String, Value>, at: &str) -> Result<Option<Map<String, Value>>, JsonError> {
    match obj.get("attrs") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone()).filter(|m| !m.is_empty())),
        Some(_) => Err(shape(at, "\"attrs\" must be an object")),
    }
}

fn marks(obj: &Map<String, Value>, at: &str) -> Result<Vec<Mark>, JsonError> {
    let items = match obj.get("marks") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(shape(at, "\"marks\" must be an array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, mark)| {
            let at = format!("{at}.marks[{i}]");
            let obj = mark
                .as_object()
                .ok_or_else(|| shape(&at, "a mark must be an object"))?;
            if obj.keys().any(|k| k != "type" && k != "attrs") {
                return Err(shape(&at, "a mark has only \"type\" and \"attrs\""));
            }
            Ok(Mark {
                kind: type_name(obj, &at)?,
                attrs: attrs(obj, &at)?.map(Value::Object),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_document() {
        let doc = parse(
            br#"{"type":"doc","content":[{"type":"paragraph","content":[
                {"type":"text","text":"hi","marks":[{"type":"bold"}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(doc.children()[0].children()[0].marks()[0].kind, "bold");
    }

    #[test]
    fn says_what_is_wrong_and_where() {
        let cases: &[(&[u8], &str)] = &[
            (b"{", "not valid JSON"),
            (br#"{"type":"paragraph"}"#, "top node"),
            (
                br#"{"type":"doc","content":{}}"#,
                "doc: \"content\" must be an array",
            ),
            (
                br#"{"type":"doc","content":[{"type":"text","text":""}]}"#,
                "doc.content[0]: a text node's text must not be empty",
            ),
            (
                br#"{"type":"doc","content":[{"type":"p<script>"}]}"#,
                "doc.content[0]: a type is",
            ),
            (
                br#"{"type":"doc","content":[{"type":"paragraph","extra":1}]}"#,
                "unknown field \"extra\"",
            ),
            (
                br#"{"type":"doc","content":[{"type":"text","text":"x","marks":[{"href":1}]}]}"#,
                "doc.content[0].marks[0]",
            ),
        ];
        for (body, want) in cases {
            let err = parse(body).unwrap_err().to_string();
            assert!(err.contains(want), "{err:?} should contain {want:?}");
        }
    }

    #[test]
    fn depth_and_size_are_bounded() {
        let mut deep = String::from(r#"{"type":"doc","content":["#);
        for _ in 0..100 {
            deep.push_str(r#"{"type":"blockquote","content":["#);
        }
        deep.push_str(&"]}".repeat(101));
        assert_eq!(parse(deep.as_bytes()).unwrap_err(), JsonError::TooDeep);
        let many = format!(
            r#"{{"type":"doc","content":[{}]}}"#,
            vec![r#"{"type":"horizontalRule"}"#; MAX_NODES + 1].join(",")
        );
        assert_eq!(parse(many.as_bytes()).unwrap_err(), JsonError::TooManyNodes);
    }
}
