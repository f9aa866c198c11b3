use serde_json::json;

use super::*;

fn md(value: serde_json::Value) -> String {
    render(&serde_json::from_value(value).unwrap())
}

fn p(content: serde_json::Value) -> serde_json::Value {
    json!({"type": "paragraph", "content": content})
}

fn t(text: &str) -> serde_json::Value {
    json!({"type": "text", "text": text})
}

fn marked(text: &str, marks: &[&str]) -> serde_json::Value {
    let marks: Vec<_> = marks
        .iter()
        .map(|m| json!({"type": m, "attrs": {}}))
        .collect();
    json!({"type": "text", "text": text, "marks": marks})
}

#[test]
fn blocks() {
    let out = md(json!({"type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [t("Plan")]},
        p(json!([t("first")])),
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [p(json!([t("one")]))]},
            {"type": "listItem", "content": [p(json!([t("two")])),
                {"type": "orderedList", "attrs": {"start": 9}, "content": [
                    {"type": "listItem", "content": [p(json!([t("nine")]))]},
                    {"type": "listItem", "content": [p(json!([t("ten")]))]}]}]}]},
        {"type": "taskList", "content": [
            {"type": "taskItem", "attrs": {"checked": true}, "content": [p(json!([t("done")]))]},
            {"type": "taskItem", "attrs": {"checked": false}, "content": [p(json!([t("todo")]))]}]},
        {"type": "blockquote", "content": [p(json!([t("quoted")])), p(json!([t("more")]))]},
        {"type": "codeBlock", "attrs": {"language": "js"}, "content": [t("let a = `x`;\n\nb()")]},
        {"type": "horizontalRule"},
        p(json!([t("a"), {"type": "hardBreak"}, t("b")]))
    ]}));
    assert_eq!(
        out,
        "## Plan\n\nfirst\n\n- one\n- two\n\n  9. nine\n  10. ten\n\n- [x] done\n- [ ] todo\n\n\
         > quoted\n>\n> more\n\n```js\nlet a = `x`;\n\nb()\n```\n\n---\n\na\\\nb\n"
    );
}

#[test]
fn marks_and_links() {
    let out = md(json!({"type": "doc", "content": [p(json!([
        marked("bold", &["bold"]), t(" "), marked("it", &["italic"]), t(" "),
        marked("gone", &["strike"]), t(" "), marked("a`b", &["code"]), t(" "),
        {"type": "text", "text": "site", "marks": [{"type": "link", "attrs": {"href": "https://e.x/a b"}}]},
        t(" "),
        {"type": "text", "text": "bad", "marks": [{"type": "link", "attrs": {"href": "javascript:alert(1)"}}]},
        t(" "), marked("under", &["underline"])
    ]))]}));
    assert_eq!(
        out,
        "**bold** _it_ ~~gone~~ ``a`b`` [site](<https://e.x/a b>) bad under\n"
    );
}

#[test]
fn whitespace_moves_out_of_marks_and_flanking_is_kept() {
    let out = md(json!({"type": "doc", "content": [p(json!([
        t("a"), marked(" b ", &["bold"]), t("c"), marked("\"q\"", &["italic"]), t("d")
    ]))]}));
    assert_eq!(out, "a **b** &#99;_\"q\"_&#100;\n");
}

#[test]
fn specials_in_text_are_escaped() {
    let out = md(json!({"type": "doc", "content": [
        p(json!([t("# not a heading *or* _this_ [x](y) <b> &amp; ~~s~~ `c` \\")])),
        p(json!([t("- not a list")])),
        p(json!([t("1. nor this")])),
        p(json!([t("    indented  ")])),
        p(json!([t("wow!"), {"type": "text", "text": "l", "marks": [{"type": "link", "attrs": {"href": "/x"}}]}]))
    ]}));
    assert_eq!(
        out,
        "\\# not a heading \\*or\\* \\_this\\_ \\[x\\](y) \\<b\\> \\&amp; \\~\\~s\\~\\~ \\`c\\` \\\\\n\n\
         \\- not a list\n\n1\\. nor this\n\n&#32;&#32;&#32;&#32;indented&#32;&#32;\n\nwow\\![l](</x>)\n"
    );
}

#[test]
fn unknown_nodes_degrade_to_their_text() {
    let out = md(json!({"type": "doc", "content": [
        {"type": "callout", "content": [p(json!([marked("hi", &["highlight"])]))]},
        {"type": "image", "attrs": {"src": "x"}},
        {"type": "table", "content": [{"type": "tableRow", "content": [
            {"type": "tableCell", "content": [p(json!([t("cell")]))]}]}]}
    ]}));
    assert_eq!(out, "hi\n\ncell\n");
}
