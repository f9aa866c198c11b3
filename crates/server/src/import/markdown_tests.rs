use serde_json::json;

use super::*;

fn doc(md: &str) -> serde_json::Value {
    serde_json::to_value(parse(md).unwrap()).unwrap()
}

#[test]
fn maps_commonmark_to_starterkit() {
    let got = doc(
        "# Title\n\nSome *it* **b** ~~s~~ `c` [l](https://e.x)  \nnext\n\n\
                   - one\n- two\n\n3. three\n\n- [x] done\n- [ ] todo\n\n> quote\n\n\
                   ```rust extra\nfn x() {}\n```\n\n---\n",
    );
    let want = json!({"type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Title"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Some "},
            {"type": "text", "text": "it", "marks": [{"type": "italic", "attrs": {}}]},
            {"type": "text", "text": " "},
            {"type": "text", "text": "b", "marks": [{"type": "bold", "attrs": {}}]},
            {"type": "text", "text": " "},
            {"type": "text", "text": "s", "marks": [{"type": "strike", "attrs": {}}]},
            {"type": "text", "text": " "},
            {"type": "text", "text": "c", "marks": [{"type": "code", "attrs": {}}]},
            {"type": "text", "text": " "},
            {"type": "text", "text": "l", "marks": [{"type": "link", "attrs": {"href": "https://e.x"}}]},
            {"type": "hardBreak"},
            {"type": "text", "text": "next"}
        ]},
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "one"}]}]},
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "two"}]}]}
        ]},
        {"type": "orderedList", "attrs": {"start": 3}, "content": [
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "three"}]}]}
        ]},
        {"type": "taskList", "content": [
            {"type": "taskItem", "attrs": {"checked": true}, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "done"}]}]},
            {"type": "taskItem", "attrs": {"checked": false}, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "todo"}]}]}
        ]},
        {"type": "blockquote", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "quote"}]}]},
        {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [{"type": "text", "text": "fn x() {}"}]},
        {"type": "horizontalRule"}
    ]});
    assert_eq!(got, want);
}

#[test]
fn html_stays_text_and_empty_input_is_an_empty_doc() {
    let got = doc("<script>alert(1)</script>\n\nhi <b>x</b>\n");
    let text = got.to_string();
    assert!(text.contains("<script>alert(1)</script>"), "{text}");
    assert!(!got["content"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["type"] != "paragraph"));
    assert_eq!(doc(""), json!({"type": "doc", "content": []}));
}

#[test]
fn items_start_with_a_paragraph() {
    let got = doc("- ```\n  code\n  ```\n");
    let item = &got["content"][0]["content"][0];
    assert_eq!(item["content"][0], json!({"type": "paragraph"}));
    assert_eq!(item["content"][1]["type"], "codeBlock");
}

#[test]
fn nesting_is_bounded() {
    let deep = "> ".repeat(200) + "x";
    assert_eq!(parse(&deep).unwrap_err(), MarkdownError::TooDeep);
    assert!(parse(&("> ".repeat(20) + "x")).is_ok());
}

#[test]
fn markdown_written_by_the_renderer_reads_back_as_the_same_document() {
    let source = doc("## A *b* **c**\n\n- [x] t\n\n1. o\n2. p\n\n> q\n\n```\nz\n```\n");
    let node: Node = serde_json::from_value(source.clone()).unwrap();
    let content = crate::render::Content::from_node(node);
    assert_eq!(doc(&content.markdown()), source);
}
