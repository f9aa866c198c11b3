//! The HTML renderer, and an XSS corpus: hostile text, attribute values, mark attributes
//! and link targets must come out with no markup of their own.

use serde_json::json;

use super::*;

fn doc(value: serde_json::Value) -> Node {
    serde_json::from_value(value).unwrap()
}

#[test]
fn renders_known_nodes_and_marks() {
    let d = doc(json!({"type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Title"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "bold", "marks": [{"type": "bold", "attrs": {}}]},
            {"type": "hardBreak"},
            {"type": "text", "text": "site", "marks": [{"type": "link", "attrs": {"href": "https://example.com/?a=1&b=2"}}]}
        ]},
        {"type": "taskList", "content": [{"type": "taskItem", "attrs": {"checked": true},
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": "done"}]}]}]},
        {"type": "codeBlock", "attrs": {"language": "rust"}, "content": [{"type": "text", "text": "a < b"}]},
        {"type": "horizontalRule"}
    ]}));
    let html = render(&d);
    assert_eq!(
        html,
        "<h2>Title</h2>\n<p><strong>bold</strong><br><a href=\"https://example.com/?a=1&amp;b=2\" \
         rel=\"noopener noreferrer nofollow\">site</a></p>\n<ul data-type=\"taskList\">\n\
         <li data-type=\"taskItem\" data-checked=\"true\"><input type=\"checkbox\" disabled checked> \
         <p>done</p>\n</li>\n</ul>\n<pre><code class=\"language-rust\">a &lt; b</code></pre>\n<hr>\n"
    );
}

#[test]
fn unknown_nodes_and_marks_render_their_text() {
    let d = doc(json!({"type": "doc", "content": [
        {"type": "callout", "content": [{"type": "text", "text": "note", "marks": [{"type": "highlight", "attrs": {"color": "red"}}]}]},
        {"type": "image", "attrs": {"src": "x.png"}}
    ]}));
    assert_eq!(render(&d), "<p>note</p>\n");
}

const PAYLOADS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
    "</p><iframe src=javascript:alert(1)>",
    "<!--",
    "&lt;script&gt;",
    "x\" onmouseover=\"alert(1)",
];

const HREFS: &[&str] = &[
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\u{0}javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
];

/// No `<` or `>` except the renderer's own tags, and no attribute but the renderer's own.
fn assert_inert(html: &str) {
    let allowed = [
        "<p>",
        "</p>",
        "<h1>",
        "</h1>",
        "<strong>",
        "</strong>",
        "<em>",
        "</em>",
        "<code>",
        "</code>",
        "<pre>",
        "</pre>",
        "</a>",
        "<ul>",
        "</ul>",
        "<li>",
        "</li>",
        "<br>",
        "<blockquote>",
        "</blockquote>",
    ];
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start..=end];
        let ok = allowed.contains(&tag)
            || tag
                .strip_prefix("<a href=\"")
                .and_then(|t| t.strip_suffix("\" rel=\"noopener noreferrer nofollow\">"))
                .is_some_and(|href| !href.contains(['"', '<', '>']))
            || tag
                .strip_prefix("<code class=\"language-")
                .and_then(|t| t.strip_suffix("\">"))
                .is_some_and(|l| {
                    l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_+#.".contains(c))
                });
        assert!(ok, "unexpected markup {tag:?} in {html:?}");
        if let Some(href) = tag.strip_prefix("<a href=\"") {
            let href: String = href
                .chars()
                .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
                .collect::<String>()
                .to_ascii_lowercase();
            for scheme in ["javascript:", "data:", "vbscript:", "file:"] {
                assert!(!href.starts_with(scheme), "{tag:?}");
            }
        }
        rest = &rest[end + 1..];
    }
}

#[test]
fn hostile_text_attributes_and_marks_stay_text() {
    for &payload in PAYLOADS {
        let d = doc(json!({"type": "doc", "content": [
            {"type": "heading", "attrs": {"level": payload}, "content": [{"type": "text", "text": payload}]},
            {"type": "paragraph", "attrs": {"class": payload, "onclick": payload}, "content": [
                {"type": "text", "text": payload, "marks": [
                    {"type": "bold", "attrs": {"style": payload}},
                    {"type": "link", "attrs": {"href": payload, "target": payload, "rel": payload}},
                    {"type": payload, "attrs": {"x": payload}}
                ]}
            ]},
            {"type": payload, "attrs": {payload: payload}, "content": [{"type": "text", "text": payload}]},
            {"type": "codeBlock", "attrs": {"language": payload}, "content": [{"type": "text", "text": payload}]},
            {"type": "bulletList", "content": [{"type": "listItem", "content": [
                {"type": "blockquote", "content": [{"type": "paragraph", "content": [
                    {"type": "text", "text": payload, "marks": [{"type": "code"}, {"type": "italic"}]}]}]}]}]}
        ]}));
        let html = render(&d);
        assert_inert(&html);
        assert!(html.contains(&escape(payload)), "{html}");
    }
}

#[test]
fn unsafe_link_targets_are_dropped_and_their_text_kept() {
    for href in HREFS {
        let d = doc(
            json!({"type": "doc", "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": "click", "marks": [{"type": "link", "attrs": {"href": href}}]}
            ]}]}),
        );
        let html = render(&d);
        assert_eq!(html, "<p>click</p>\n", "{href:?}");
    }
    for href in [
        "https://example.com",
        "http://x.y/z?q=1",
        "mailto:a@b.c",
        "/docs/a",
        "#top",
        "page.html",
    ] {
        assert_eq!(safe_href(href), Some(href), "{href}");
    }
}
