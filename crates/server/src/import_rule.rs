//! The import rule, checked on every test run: no two modules of this crate depend on each
//! other, directly or in a loop. Two levels are checked: the crate's top-level modules
//! (`room`, `registry`, `api`, ...), and the parts inside one folder module (`room/commit`,
//! `room/sync`, ...), where a part may use its folder's root (`super::Room`) but the parts
//! must not form a loop among themselves.
//!
//! It reads the sources as text: every `use` tree and every inline `crate::`/`super::`
//! path outside comments counts as an edge. Run it alone with
//! `cargo nextest run -p tandem --lib import_rule`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file holds: `room/mod.rs` and `room/commit_tests.rs` (a `#[path]` test
/// file) count as `room` and `room::commit`.
fn module_of(root: &Path, file: &Path) -> Option<Module> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop()?;
    match last.as_str() {
        "lib" | "main" if parts.is_empty() => return None,
        "mod" => {}
        _ => parts.push(last.strip_suffix("_tests").unwrap_or(&last).to_string()),
    }
    Some(parts)
}

/// Source without comments, so doc links do not count as imports.
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a `use` tree (`a::{b, c::{d}}`) into full paths.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap().trim();
        if !path.is_empty() {
            out.push(format!("{prefix}{path}"));
        }
        return;
    };
    let head = format!("{prefix}{}", &tree[..open]);
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&head, &inner[start..i], out);
                start = i + 1;
            }
            _ => {}
        }
    }
    expand(&head, &inner[start..], out);
}

/// Every path the code names that starts with `crate::` or `super::`.
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let boundary = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
        let end = rest[at..].find(';').map(|e| at + e).unwrap_or(rest.len());
        let tree = rest[at + 4..end].trim();
        let balanced = tree.matches('{').count() == tree.matches('}').count();
        if boundary && balanced && (tree.starts_with("crate::") || tree.starts_with("super::")) {
            expand("", tree, &mut out);
        }
        rest = &rest[(at + 4).min(end)..];
    }
    for start in ["crate::", "super::"] {
        for (at, _) in code.match_indices(start) {
            let tail: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            out.push(tail);
        }
    }
    out.retain(|p| p.starts_with("crate::") || p.starts_with("super::"));
    out
}

/// The deepest known module a path points into, seen from module `from`.
fn resolve(from: &Module, path: &str, known: &BTreeSet<Module>) -> Option<Module> {
    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
    let mut base: Module = match parts.first() {
        Some(&"crate") => Vec::new(),
        Some(&"super") => {
            // `super` in `room/mod.rs` is the crate; in `room/sync.rs` it is `room`.
            let mut base = from.clone();
            base.pop();
            base
        }
        _ => return None,
    };
    parts.remove(0);
    while parts.first() == Some(&"super") {
        base.pop();
        parts.remove(0);
    }
    let mut best = None;
    for part in parts {
        base.push(part.to_string());
        if known.contains(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

/// One cycle in `edges`, if any.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if !done.insert(node.to_string()) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|n| visit(n, edges, &mut Vec::new(), &mut done))
}

/// Edges between modules: one graph for the top level (key "crate") and one for the
/// parts of each folder module (key: the folder's path).
fn graphs() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: Vec<(PathBuf, Module)> = files
        .into_iter()
        .filter_map(|f| module_of(&root, &f).map(|m| (f, m)))
        .collect();
    let known: BTreeSet<Module> = modules.iter().map(|(_, m)| m.clone()).collect();
    let mut graphs: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (file, from) in &modules {
        // Inside `room/commit_tests.rs`, `super` is `room::commit` itself.
        let seen_from = if file.to_string_lossy().ends_with("_tests.rs") {
            let mut m = from.clone();
            m.push("tests".into());
            m
        } else {
            from.clone()
        };
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for path in paths_in(&code) {
            let Some(to) = resolve(&seen_from, &path, &known) else {
                continue;
            };
            if to[0] != from[0] {
                graphs
                    .entry("crate".into())
                    .or_default()
                    .entry(from[0].clone())
                    .or_default()
                    .insert(to[0].clone());
            } else if from.len() >= 2
                && to.len() >= 2
                && from[..from.len() - 1] == to[..to.len() - 1]
                && from != &to
            {
                graphs
                    .entry(from[..from.len() - 1].join("::"))
                    .or_default()
                    .entry(from.last().unwrap().clone())
                    .or_default()
                    .insert(to.last().unwrap().clone());
            }
        }
    }
    graphs
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graphs = graphs();
    assert!(
        graphs.get("crate").is_some_and(|g| g.len() > 5),
        "the checker found too few edges to be reading the sources: {graphs:?}"
    );
    let cycles: Vec<String> = graphs
        .iter()
        .filter_map(|(level, g)| find_cycle(g).map(|c| format!("{level}: {}", c.join(" -> "))))
        .collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checker_sees_a_loop() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(find_cycle(&g).map(|c| c.len()), Some(4));
    let mut paths = Vec::new();
    expand("", "crate::{a as m, b::{C, D}, e}", &mut paths);
    assert_eq!(
        paths,
        ["crate::a", "crate::b::C", "crate::b::D", "crate::e"]
    );
}
