//! Rich text as CommonMark (plus `~~strike~~` and `- [ ]` task items, which GitHub's
//! dialect and most parsers read): headings, paragraphs, emphasis, code, links, lists,
//! task lists, block quotes, code blocks, rules and hard breaks. Anything else degrades to
//! its text. Text is escaped so that it reads back as the same text, not as Markdown.

mod inline;

use super::node::{inline_text, Node};

pub(super) fn render(doc: &Node) -> String {
    let mut lines = Vec::new();
    blocks(doc.children(), &mut lines);
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Renders blocks one after the other, a blank line between two.
fn blocks(nodes: &[Node], out: &mut Vec<String>) {
    for node in nodes {
        let mut lines = Vec::new();
        block(node, &mut lines);
        if lines.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(String::new());
        }
        out.extend(lines);
    }
}

fn block(node: &Node, out: &mut Vec<String>) {
    match node.kind.as_str() {
        "heading" => {
            let level = node.attr_int("level").unwrap_or(1).clamp(1, 6) as usize;
            // A heading is one line: hard breaks become spaces.
            let text = inline::render(node.children(), true);
            out.push(
                format!("{} {}", "#".repeat(level), text)
                    .trim_end()
                    .to_string(),
            );
        }
        "codeBlock" => {
            let mut text = String::new();
            inline_text(node, &mut text);
            let longest = longest_run(&text, '`');
            let fence = "`".repeat(longest.max(2) + 1);
            let language: String = node
                .attr_str("language")
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '`')
                .collect();
            out.push(format!("{fence}{language}"));
            if !text.is_empty() {
                out.extend(text.split('\n').map(str::to_string));
            }
            out.push(fence);
        }
        "blockquote" => {
            let mut inner = Vec::new();
            blocks(node.children(), &mut inner);
            if inner.is_empty() {
                inner.push(String::new());
            }
            out.extend(inner.into_iter().map(|l| prefixed("> ", &l)));
        }
        "bulletList" | "taskList" => list(node, |_| "- ".to_string(), out),
        "orderedList" => {
            let start = node.attr_int("start").unwrap_or(1).clamp(0, 999_999_999);
            list(node, |i| format!("{}. ", start + i as i64), out)
        }
        "horizontalRule" => out.push("---".to_string()),
        _ if node.is_textblock() => {
            let text = inline::render(node.children(), false);
            if !text.is_empty() {
                out.extend(text.split('\n').map(str::to_string));
            }
        }
        // Unknown containers (and list items met outside a list): their blocks.
        _ => blocks(node.children(), out),
    }
}

/// A list: each item's first line after its marker, the rest indented to match.
fn list(node: &Node, marker: impl Fn(usize) -> String, out: &mut Vec<String>) {
    for (i, item) in node.children().iter().enumerate() {
        let mut marker = marker(i);
        // Continuation lines align with the list marker's content; a task's `[ ] ` is part
        // of that content for CommonMark, so it does not count.
        let indent = " ".repeat(marker.len());
        if item.kind == "taskItem" {
            let checked = item.attr("checked").and_then(|v| v.as_bool()) == Some(true);
            marker.push_str(if checked { "[x] " } else { "[ ] " });
        }
        let mut inner = Vec::new();
        if item.is_textblock() {
            block(item, &mut inner);
        } else {
            blocks(item.children(), &mut inner);
        }
        if inner.is_empty() {
            out.push(marker.trim_end().to_string());
            continue;
        }
        // A task's `[ ]` must begin a paragraph: with none to begin, it stands alone.
        let starts_with_text = item.children().first().is_some_and(|first| {
            let mut lines = Vec::new();
            if first.kind == "paragraph" {
                block(first, &mut lines);
            }
            !lines.is_empty()
        });
        let alone = item.kind == "taskItem" && !starts_with_text;
        if alone {
            // The blank line keeps what follows from continuing the `[ ]` paragraph.
            out.push(marker.trim_end().to_string());
            out.push(String::new());
        }
        for (n, line) in inner.into_iter().enumerate() {
            if n == 0 && !alone {
                out.push(format!("{marker}{line}").trim_end().to_string());
            } else {
                out.push(prefixed(&indent, &line));
            }
        }
    }
}

/// `prefix` before a line; a blank line gets only the prefix's non-blank part.
fn prefixed(prefix: &str, line: &str) -> String {
    if line.is_empty() {
        prefix.trim_end().to_string()
    } else {
        format!("{prefix}{line}")
    }
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
