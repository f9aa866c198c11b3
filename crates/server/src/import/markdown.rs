//! CommonMark (with `~~strike~~` and `- [ ]` task items) read into the node and mark names
//! of Tiptap's StarterKit: `paragraph`, `heading` {level}, `bulletList`, `orderedList`
//! {start}, `listItem`, `taskList`, `taskItem` {checked}, `blockquote`, `codeBlock`
//! {language}, `horizontalRule`, `hardBreak`; marks `bold`, `italic`, `strike`, `code`,
//! `link` {href}. Raw HTML and images are kept as their text. Parsing is pulldown-cmark's.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde_json::{json, Value};

use crate::render::node::{Mark, Node};

/// Deepest nesting of blocks accepted (quotes and lists inside each other).
pub(crate) const MAX_DEPTH: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum MarkdownError {
    #[error("the Markdown nests blocks deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

struct Frame {
    node: Node,
    /// A paragraph opened for inline content that came without one (a tight list item).
    implicit: bool,
}

struct Builder {
    stack: Vec<Frame>,
    marks: Vec<Mark>,
    code: Option<String>,
}

pub(crate) fn parse(source: &str) -> Result<Node, MarkdownError> {
    let options = Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut b = Builder {
        stack: vec![Frame {
            node: Node::element("doc", Vec::new()),
            implicit: false,
        }],
        marks: Vec::new(),
        code: None,
    };
    for event in Parser::new_ext(source, options) {
        b.event(event)?;
    }
    while b.stack.len() > 1 {
        b.close();
    }
    let mut doc = b.stack.pop().expect("the doc frame").node;
    doc.content.get_or_insert_with(Vec::new);
    Ok(doc)
}

impl Builder {
    fn event(&mut self, event: Event<'_>) -> Result<(), MarkdownError> {
        match event {
            Event::Start(tag) => self.start(tag)?,
            Event::End(tag) => self.end(tag),
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => {
                if let Some(code) = &mut self.code {
                    code.push_str(&text);
                } else {
                    self.text(&text, None)?;
                }
            }
            Event::InlineMath(text) | Event::DisplayMath(text) => self.text(&text, None)?,
            Event::FootnoteReference(text) => self.text(&text, None)?,
            Event::Code(text) => self.text(&text, Some("code"))?,
            Event::SoftBreak => self.text(" ", None)?,
            Event::HardBreak => {
                self.inline_parent()?;
                self.push(Node::element("hardBreak", Vec::new()));
            }
            Event::Rule => {
                self.close_implicit();
                self.push(Node::element("horizontalRule", Vec::new()));
            }
            Event::TaskListMarker(checked) => {
                self.close_implicit();
                let item = &mut self.top().node;
                if item.kind == "listItem" {
                    item.kind = "taskItem".into();
                    item.attrs
                        .get_or_insert_with(Default::default)
                        .insert("checked".into(), Value::Bool(checked));
                }
            }
        }
        Ok(())
    }

    fn start(&mut self, tag: Tag<'_>) -> Result<(), MarkdownError> {
        let block = match tag {
            Tag::Paragraph | Tag::HtmlBlock => Node::element("paragraph", Vec::new()),
            Tag::Heading { level, .. } => {
                Node::element("heading", Vec::new()).with_attr("level", json!(level as u8))
            }
            Tag::BlockQuote(_) => Node::element("blockquote", Vec::new()),
            Tag::CodeBlock(kind) => {
                self.code = Some(String::new());
                let node = Node::element("codeBlock", Vec::new());
                match kind {
                    CodeBlockKind::Fenced(info) => match info.split_whitespace().next() {
                        Some(lang) => node.with_attr("language", json!(lang)),
                        None => node,
                    },
                    CodeBlockKind::Indented => node,
                }
            }
            Tag::List(Some(start)) => {
                Node::element("orderedList", Vec::new()).with_attr("start", json!(start))
            }
            Tag::List(None) => Node::element("bulletList", Vec::new()),
            Tag::Item => Node::element("listItem", Vec::new()),
            Tag::Emphasis | Tag::Strong | Tag::Strikethrough | Tag::Link { .. } => {
                self.open_mark(tag);
                return Ok(());
            }
            // Images, tables and the rest are not enabled or keep only their text.
            _ => return Ok(()),
        };
        self.close_implicit();
        self.open(block, false)
    }

    fn end(&mut self, tag: TagEnd) {
        let kind = match tag {
            TagEnd::Emphasis => "italic",
            TagEnd::Strong => "bold",
            TagEnd::Strikethrough => "strike",
            TagEnd::Link => "link",
            TagEnd::Paragraph
            | TagEnd::HtmlBlock
            | TagEnd::Heading(_)
            | TagEnd::BlockQuote(_)
            | TagEnd::CodeBlock
            | TagEnd::List(_)
            | TagEnd::Item => {
                self.close_implicit();
                if let Some(code) = self.code.take() {
                    let code = code.strip_suffix('\n').unwrap_or(&code).to_string();
                    if !code.is_empty() {
                        self.push(Node::text(code, Vec::new()));
                    }
                }
                self.close();
                return;
            }
            _ => return,
        };
        if let Some(at) = self.marks.iter().rposition(|m| m.kind == kind) {
            self.marks.remove(at);
        }
    }

    fn open_mark(&mut self, tag: Tag<'_>) {
        let (kind, attrs) = match tag {
            Tag::Emphasis => ("italic", json!({})),
            Tag::Strong => ("bold", json!({})),
            Tag::Strikethrough => ("strike", json!({})),
            Tag::Link { dest_url, .. } => ("link", json!({ "href": dest_url.to_string() })),
            _ => return,
        };
        self.marks.push(Mark {
            kind: kind.into(),
            attrs: Some(attrs),
        });
    }

    fn top(&mut self) -> &mut Frame {
        self.stack.last_mut().expect("the doc frame stays")
    }

    fn open(&mut self, node: Node, implicit: bool) -> Result<(), MarkdownError> {
        if self.stack.len() > MAX_DEPTH {
            return Err(MarkdownError::TooDeep);
        }
        self.stack.push(Frame { node, implicit });
        Ok(())
    }

    fn push(&mut self, node: Node) {
        self.top()
            .node
            .content
            .get_or_insert_with(Vec::new)
            .push(node);
    }

    /// Makes sure inline content has a block to go in.
    fn inline_parent(&mut self) -> Result<(), MarkdownError> {
        let kind = self.top().node.kind.as_str();
        if !matches!(kind, "paragraph" | "heading" | "codeBlock") {
            self.open(Node::element("paragraph", Vec::new()), true)?;
        }
        Ok(())
    }

    fn text(&mut self, text: &str, extra: Option<&str>) -> Result<(), MarkdownError> {
        if text.is_empty() {
            return Ok(());
        }
        self.inline_parent()?;
        let mut marks = self.marks.clone();
        if let Some(kind) = extra {
            marks.push(Mark {
                kind: kind.into(),
                attrs: Some(json!({})),
            });
        }
        let content = self.top().node.content.get_or_insert_with(Vec::new);
        // Runs with the same marks are one text node, as ProseMirror keeps them.
        if let Some(last) = content.last_mut() {
            if last.is_text() && last.marks() == marks.as_slice() {
                last.text.get_or_insert_with(String::new).push_str(text);
                return Ok(());
            }
        }
        content.push(Node::text(text.to_string(), marks));
        Ok(())
    }

    fn close_implicit(&mut self) {
        if self.stack.len() > 1 && self.top().implicit {
            self.close();
        }
    }

    /// Finishes the top block and adds it to its parent, in the shape StarterKit expects.
    fn close(&mut self) {
        let Some(Frame { mut node, .. }) = self.stack.pop() else {
            return;
        };
        match node.kind.as_str() {
            "bulletList" | "orderedList" => {
                let items = node.content.get_or_insert_with(Vec::new);
                if items.iter().any(|i| i.kind == "taskItem") {
                    for item in items.iter_mut().filter(|i| i.kind == "listItem") {
                        item.kind = "taskItem".into();
                        item.attrs
                            .get_or_insert_with(Default::default)
                            .insert("checked".into(), Value::Bool(false));
                    }
                    node.kind = "taskList".into();
                    node.attrs = None;
                }
            }
            // A list item starts with a paragraph; a quote holds at least one block.
            "listItem" | "taskItem" => {
                let content = node.content.get_or_insert_with(Vec::new);
                if content.first().is_none_or(|c| c.kind != "paragraph") {
                    content.insert(0, Node::element("paragraph", Vec::new()));
                }
            }
            "blockquote" if node.children().is_empty() => {
                node.content = Some(vec![Node::element("paragraph", Vec::new())]);
            }
            _ => {}
        }
        if self.stack.is_empty() {
            self.stack.push(Frame {
                node,
                implicit: false,
            });
        } else {
            self.push(node);
        }
    }
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
