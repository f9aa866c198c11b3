//! Rich text as an HTML fragment that is safe to put in a page.
//!
//! A document is written by anyone with a write token, so nothing in it becomes markup:
//! every text and attribute value is escaped, tags come only from the fixed table of known
//! node and mark types below (an unknown type renders its content only), and a link keeps
//! its `href` only if it is http(s), mailto or relative (`javascript:`, `data:` and the
//! like are dropped, the text stays). yrs's own XML rendering escapes nothing.

use std::fmt::Write;

use super::node::{Mark, Node};

pub(super) fn render(doc: &Node) -> String {
    let mut out = String::new();
    for child in doc.children() {
        block(child, &mut out);
    }
    out
}

/// Escapes text for element content and for double- or single-quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The link target to keep, if it is safe: `http:`, `https:`, `mailto:` or no scheme at
/// all (relative, `#anchor`). Browsers ignore tabs and newlines inside a scheme and accept
/// any case, so those are removed before the scheme is read.
pub(crate) fn safe_href(href: &str) -> Option<&str> {
    let cleaned: String = href
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    let scheme_end = cleaned.find([':', '/', '?', '#']);
    match scheme_end {
        Some(at) if cleaned.as_bytes()[at] == b':' => {
            let scheme = &cleaned[..at];
            matches!(scheme, "http" | "https" | "mailto").then_some(href.trim())
        }
        _ => Some(href.trim()),
    }
}

fn block(node: &Node, out: &mut String) {
    let (open, close): (String, &str) = match node.kind.as_str() {
        "paragraph" => ("<p>".into(), "</p>"),
        "heading" => {
            let level = node.attr_int("level").unwrap_or(1).clamp(1, 6);
            let _ = write!(out, "<h{level}>");
            inline_children(node, out);
            let _ = writeln!(out, "</h{level}>");
            return;
        }
        "blockquote" => ("<blockquote>\n".into(), "</blockquote>"),
        "bulletList" => ("<ul>\n".into(), "</ul>"),
        "orderedList" => match node.attr_int("start").filter(|s| *s != 1) {
            Some(start) => (format!("<ol start=\"{start}\">\n"), "</ol>"),
            None => ("<ol>\n".into(), "</ol>"),
        },
        "listItem" => ("<li>".into(), "</li>"),
        "taskList" => ("<ul data-type=\"taskList\">\n".into(), "</ul>"),
        "taskItem" => {
            let checked = node.attr("checked").and_then(|v| v.as_bool()) == Some(true);
            let mark = if checked { " checked" } else { "" };
            (
                format!(
                    "<li data-type=\"taskItem\" data-checked=\"{checked}\">\
                     <input type=\"checkbox\" disabled{mark}> "
                ),
                "</li>",
            )
        }
        "codeBlock" => {
            let class = node
                .attr_str("language")
                .map(|l| {
                    l.chars()
                        .filter(|c| c.is_ascii_alphanumeric() || "-_+#.".contains(*c))
                        .collect::<String>()
                })
                .filter(|l| !l.is_empty())
                .map(|l| format!(" class=\"language-{l}\""))
                .unwrap_or_default();
            let mut text = String::new();
            super::node::inline_text(node, &mut text);
            let _ = writeln!(out, "<pre><code{class}>{}</code></pre>", escape(&text));
            return;
        }
        "horizontalRule" => {
            out.push_str("<hr>\n");
            return;
        }
        _ if node.is_textblock() => ("<p>".into(), "</p>"),
        // Unknown containers and leaves: their content only.
        _ => (String::new(), ""),
    };
    out.push_str(&open);
    if node.is_textblock() || (node.children().is_empty() && close == "</p>") {
        inline_children(node, out);
    } else {
        for child in node.children() {
            block(child, out);
        }
    }
    if !close.is_empty() {
        out.push_str(close);
        out.push('\n');
    }
}

fn inline_children(node: &Node, out: &mut String) {
    for child in node.children() {
        inline(child, out);
    }
}

fn inline(node: &Node, out: &mut String) {
    if let Some(text) = &node.text {
        let mut closes = Vec::new();
        for mark in ordered(node.marks()) {
            if let Some((open, close)) = mark_tags(mark) {
                out.push_str(&open);
                closes.push(close);
            }
        }
        out.push_str(&escape(text));
        for close in closes.iter().rev() {
            out.push_str(close);
        }
    } else if node.kind == "hardBreak" {
        out.push_str("<br>");
    } else {
        // An unknown inline node: its text, if any.
        inline_children(node, out);
    }
}

/// Links outermost, code innermost, so the tags nest the same way on every run.
fn ordered(marks: &[Mark]) -> Vec<&Mark> {
    let rank = |m: &Mark| match m.kind.as_str() {
        "link" => 0,
        "code" => 2,
        _ => 1,
    };
    let mut marks: Vec<&Mark> = marks.iter().collect();
    marks.sort_by_key(|m| rank(m));
    marks
}

fn mark_tags(mark: &Mark) -> Option<(String, &'static str)> {
    let simple = |tag: &str| format!("<{tag}>");
    Some(match mark.kind.as_str() {
        "bold" => (simple("strong"), "</strong>"),
        "italic" => (simple("em"), "</em>"),
        "strike" => (simple("s"), "</s>"),
        "underline" => (simple("u"), "</u>"),
        "code" => (simple("code"), "</code>"),
        "link" => {
            let href = safe_href(mark.attr_str("href")?)?;
            (
                format!(
                    "<a href=\"{}\" rel=\"noopener noreferrer nofollow\">",
                    escape(href)
                ),
                "</a>",
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
