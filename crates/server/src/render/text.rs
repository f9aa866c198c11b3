//! Plain text of rich text, for search, lengths and the SQL views: each block of text
//! (paragraph, heading, code block, ...) on its own, separated by a blank line (as Tiptap's
//! `getText()` does), a hard break as a newline. Nodes of unknown types count by their text.

use super::node::{inline_text, Node};

pub(super) fn plain(doc: &Node) -> String {
    let mut blocks = Vec::new();
    collect(doc, &mut blocks);
    blocks.join("\n\n")
}

fn collect(node: &Node, blocks: &mut Vec<String>) {
    if node.is_textblock() || node.kind == "codeBlock" {
        let mut text = String::new();
        inline_text(node, &mut text);
        blocks.push(text);
        return;
    }
    if node.is_text() {
        // Text directly inside a block that also holds blocks.
        blocks.push(node.text.clone().unwrap_or_default());
        return;
    }
    for child in node.children() {
        collect(child, blocks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        Node::element("paragraph", vec![Node::text(text.into(), Vec::new())])
    }

    #[test]
    fn blocks_are_separated_by_blank_lines() {
        let doc = Node::element(
            "doc",
            vec![
                Node::element("heading", vec![Node::text("Title".into(), Vec::new())])
                    .with_attr("level", 1.into()),
                Node::element(
                    "bulletList",
                    vec![
                        Node::element("listItem", vec![p("one")]),
                        Node::element("listItem", vec![p("two")]),
                    ],
                ),
                Node::element(
                    "paragraph",
                    vec![
                        Node::text("a".into(), Vec::new()),
                        Node::element("hardBreak", Vec::new()),
                        Node::text("b".into(), Vec::new()),
                    ],
                ),
                Node::element("mystery", vec![p("kept")]),
            ],
        );
        assert_eq!(plain(&doc), "Title\n\none\n\ntwo\n\na\nb\n\nkept");
    }

    #[test]
    fn empty_document_is_empty() {
        assert_eq!(plain(&Node::element("doc", Vec::new())), "");
    }
}
