//! The inline part of Markdown: text with marks, code spans, links and hard breaks.
//!
//! CommonMark reads `*` and `_` as emphasis only when they "flank" the text they wrap, so
//! marks are written with care: whitespace at a mark's edge moves outside it, and where a
//! delimiter would not count (punctuation inside meeting a letter outside; `_` inside a
//! word), that letter is written as a character reference (which reads back as itself).

use super::super::{html::safe_href, node::Node};

#[derive(Debug, Clone, PartialEq)]
enum Mark {
    Link(String),
    Bold,
    Italic,
    Strike,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Open(Mark),
    Close(Mark),
    Text(String),
    Code(String),
    Break,
}

/// Inline content as Markdown lines joined by `\n`. In a heading (`one_line`), a hard
/// break is a space.
pub(super) fn render(nodes: &[Node], one_line: bool) -> String {
    let mut pieces = Vec::new();
    let mut stack: Vec<Mark> = Vec::new();
    for node in nodes {
        if node.kind == "hardBreak" {
            close_to(&mut stack, 0, &mut pieces);
            pieces.push(if one_line {
                Piece::Text(" ".into())
            } else {
                Piece::Break
            });
            continue;
        }
        let mut text = String::new();
        super::inline_text(node, &mut text);
        if text.is_empty() {
            continue;
        }
        let wanted = marks_of(node);
        let keep = stack
            .iter()
            .zip(&wanted)
            .take_while(|(a, b)| a == b)
            .count();
        close_to(&mut stack, keep, &mut pieces);
        for mark in &wanted[keep..] {
            pieces.push(Piece::Open(mark.clone()));
            stack.push(mark.clone());
        }
        let is_code = node.marks().iter().any(|m| m.kind == "code");
        pieces.push(if is_code {
            Piece::Code(text)
        } else {
            Piece::Text(text)
        });
    }
    close_to(&mut stack, 0, &mut pieces);
    let pieces = tidy(pieces);
    let out = join(&pieces);
    out.split('\n').map(fix_line).collect::<Vec<_>>().join("\n")
}

/// The marks Markdown has, in nesting order (a link outermost). An unsafe link is no link.
fn marks_of(node: &Node) -> Vec<Mark> {
    let has = |kind: &str| node.marks().iter().any(|m| m.kind == kind);
    let mut marks = Vec::new();
    if let Some(href) = node
        .marks()
        .iter()
        .find(|m| m.kind == "link")
        .and_then(|m| m.attr_str("href"))
        .and_then(safe_href)
    {
        marks.push(Mark::Link(href.to_string()));
    }
    for (kind, mark) in [
        ("bold", Mark::Bold),
        ("italic", Mark::Italic),
        ("strike", Mark::Strike),
    ] {
        if has(kind) {
            marks.push(mark);
        }
    }
    marks
}

fn close_to(stack: &mut Vec<Mark>, keep: usize, pieces: &mut Vec<Piece>) {
    while stack.len() > keep {
        let mark = stack.pop().expect("longer than keep");
        pieces.push(Piece::Close(mark));
    }
}

/// Moves whitespace out of marks and drops marks left around nothing, until neither
/// changes anything (dropping an empty mark can bring whitespace next to another).
fn tidy(mut pieces: Vec<Piece>) -> Vec<Piece> {
    loop {
        let next = tidy_once(pieces.clone());
        if next == pieces {
            return next;
        }
        pieces = next;
    }
}

fn tidy_once(mut pieces: Vec<Piece>) -> Vec<Piece> {
    let mut i = 0;
    while i < pieces.len() {
        if let Piece::Text(text) = &pieces[i] {
            let lead = text.len() - text.trim_start().len();
            let mut start = i;
            while start > 0 && matches!(pieces[start - 1], Piece::Open(_)) {
                start -= 1;
            }
            if lead > 0 && start < i {
                let Piece::Text(text) = &mut pieces[i] else {
                    unreachable!()
                };
                let ws: String = text.drain(..lead).collect();
                pieces.insert(start, Piece::Text(ws));
                i += 1;
            }
            let Piece::Text(text) = &pieces[i] else {
                unreachable!()
            };
            let trail = text.len() - text.trim_end().len();
            let mut end = i + 1;
            while end < pieces.len() && matches!(pieces[end], Piece::Close(_)) {
                end += 1;
            }
            if trail > 0 && end > i + 1 {
                let Piece::Text(text) = &mut pieces[i] else {
                    unreachable!()
                };
                let ws = text.split_off(text.len() - trail);
                pieces.insert(end, Piece::Text(ws));
            }
        }
        i += 1;
    }
    pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
    // A hard break at either end of a block is no break in Markdown, only a backslash.
    while matches!(pieces.last(), Some(Piece::Break)) {
        pieces.pop();
    }
    while matches!(pieces.first(), Some(Piece::Break)) {
        pieces.remove(0);
    }
    // An opening mark directly followed by its closing one wraps nothing.
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match (&piece, out.last()) {
            (Piece::Close(a), Some(Piece::Open(b))) if a == b => {
                out.pop();
            }
            _ => out.push(piece),
        }
    }
    out
}

fn is_delim(piece: &Piece) -> bool {
    matches!(
        piece,
        Piece::Open(Mark::Bold | Mark::Italic | Mark::Strike)
            | Piece::Close(Mark::Bold | Mark::Italic | Mark::Strike)
    )
}

fn rendered(piece: &Piece) -> String {
    match piece {
        Piece::Open(Mark::Link(_)) => "[".into(),
        Piece::Close(Mark::Link(href)) => format!("](<{}>)", escape_href(href)),
        Piece::Open(Mark::Bold) | Piece::Close(Mark::Bold) => "**".into(),
        // `_`, not `*`: next to `**` a `*` would merge into one run (`***`), which
        // CommonMark may pair differently.
        Piece::Open(Mark::Italic) | Piece::Close(Mark::Italic) => "_".into(),
        Piece::Open(Mark::Strike) | Piece::Close(Mark::Strike) => "~~".into(),
        Piece::Text(text) => escape_text(text),
        Piece::Code(code) => code_span(code),
        Piece::Break => "\\\n".into(),
    }
}

/// Joins the pieces, making every run of emphasis delimiters flank what it wraps. A run
/// next to another run sees that run's character (punctuation) on that side.
fn join(pieces: &[Piece]) -> String {
    let parts: Vec<String> = pieces.iter().map(rendered).collect();
    let mut out = String::new();
    let mut encode_next = false;
    // Where each opening run was written, as byte ranges of `out`.
    let mut opener_runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        if !is_delim(&pieces[i]) {
            let mut part = parts[i].clone();
            if std::mem::take(&mut encode_next) {
                part = reference_first(&part);
            }
            // `!` before a link would make it an image.
            if matches!(pieces.get(i + 1), Some(Piece::Open(Mark::Link(_)))) && part.ends_with('!')
            {
                part.pop();
                part.push_str("\\!");
            }
            out.push_str(&part);
            i += 1;
            continue;
        }
        // CommonMark reads `**~~` as two runs, one per character.
        let c = parts[i].chars().next();
        let run_end = (i..pieces.len())
            .find(|&j| !is_delim(&pieces[j]) || parts[j].chars().next() != c)
            .unwrap_or(pieces.len());
        let opens = pieces[i..run_end]
            .iter()
            .any(|p| matches!(p, Piece::Open(_)));
        let closes = pieces[i..run_end]
            .iter()
            .any(|p| matches!(p, Piece::Close(_)));
        let before = out.chars().last();
        let after = parts.get(run_end).and_then(|p| p.chars().next());
        // `_` never opens or closes inside a word; `*` and `~` only not next to punctuation.
        let underscore = c == Some('_');
        if opens && is_word(before) && (underscore || is_punct(after)) {
            reference_before(&mut out, &mut opener_runs);
        }
        if closes && is_word(after) && (underscore || is_punct(before)) {
            encode_next = true;
        }
        let start = out.len();
        for part in &parts[i..run_end] {
            out.push_str(part);
        }
        if opens {
            opener_runs.push((start, out.len()));
        }
        i = run_end;
    }
    out
}

/// Writes the letter at the end of `out` as a character reference. If an opening run ends
/// right before it, that run now meets punctuation (`&`) and may need the same for the
/// letter before it, and so on back.
fn reference_before(out: &mut String, opener_runs: &mut [(usize, usize)]) {
    let mut at = out.len();
    while let Some(c) = out[..at].chars().last().filter(|c| c.is_alphanumeric()) {
        let start = at - c.len_utf8();
        let reference = format!("&#{};", c as u32);
        let grown = reference.len() - c.len_utf8();
        out.replace_range(start..at, &reference);
        for run in opener_runs.iter_mut().filter(|r| r.0 >= at) {
            run.0 += grown;
            run.1 += grown;
        }
        match opener_runs.iter().find(|r| r.1 == start) {
            Some(run) => at = run.0,
            None => break,
        }
    }
}

fn is_punct(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace()))
}

fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric())
}

/// The first character as a numeric character reference.
fn reference_first(part: &str) -> String {
    let mut chars = part.chars();
    match chars.next() {
        Some(c) => format!("&#{};{}", c as u32, chars.as_str()),
        None => String::new(),
    }
}

fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '&' | '~' | '#'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn escape_href(href: &str) -> String {
    let mut out = String::with_capacity(href.len());
    for c in href.chars().filter(|c| *c != '\n' && *c != '\r') {
        if matches!(c, '<' | '>' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn code_span(code: &str) -> String {
    let code = code.replace('\n', " ");
    let fence = "`".repeat(super::longest_run(&code, '`') + 1);
    let pad = code.starts_with('`')
        || code.ends_with('`')
        || (code.starts_with(' ') && code.ends_with(' ') && !code.trim().is_empty());
    let space = if pad { " " } else { "" };
    format!("{fence}{space}{code}{space}{fence}")
}

/// Keeps a line from starting a block (list item, quote, heading underline) and keeps its
/// edge whitespace, which Markdown would strip, as character references.
fn fix_line(line: &str) -> String {
    // Text escapes its backslashes in pairs, so an odd run at the end is a hard break.
    let backslashes = line.len() - line.trim_end_matches('\\').len();
    let (body, brk) = if backslashes % 2 == 1 {
        (&line[..line.len() - 1], "\\")
    } else {
        (line, "")
    };
    let trimmed = body.trim_start_matches([' ', '\t']);
    let lead = &body[..body.len() - trimmed.len()];
    let core = trimmed.trim_end_matches([' ', '\t']);
    let trail = &trimmed[core.len()..];
    let refs = |ws: &str| -> String { ws.chars().map(|c| format!("&#{};", c as u32)).collect() };
    let mut out = refs(lead);
    let digits = core.chars().take_while(char::is_ascii_digit).count();
    if core.starts_with(['-', '+', '=']) {
        out.push('\\');
        out.push_str(core);
    } else if digits > 0 && core[digits..].starts_with(['.', ')']) {
        out.push_str(&core[..digits]);
        out.push('\\');
        out.push_str(&core[digits..]);
    } else {
        out.push_str(core);
    }
    out.push_str(&refs(trail));
    out.push_str(brk);
    out
}
