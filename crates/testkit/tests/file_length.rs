//! The repository's rule that no source or test file is longer than 400 lines: a longer
//! file holds more than one concept and is split along them (ARCHITECTURE.md). Walks the
//! whole tree, so a new file or a new directory is covered without being listed here.

use std::path::{Path, PathBuf};

/// The most lines a source or test file may have.
const MAX_LINES: usize = 400;

/// What counts as source: code in any language the repository is written in.
const SOURCE_EXTENSIONS: &[&str] = &["rs", "ts", "tsx", "js", "mjs", "cjs", "py", "sh"];

/// Directories that hold no source of ours: dependencies, build output, and hidden ones
/// (`.git`, `.config`, editor state).
fn skipped(dir: &Path) -> bool {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.') || matches!(name, "node_modules" | "target" | "dist")
}

fn source_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if !skipped(&path) {
                source_files(&path, found);
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| SOURCE_EXTENSIONS.contains(&e))
        {
            found.push(path);
        }
    }
}

/// The files of `root` longer than `MAX_LINES`, with their length, relative to `root`.
fn too_long(root: &Path) -> Vec<(String, usize)> {
    let mut files = Vec::new();
    source_files(root, &mut files);
    let mut long: Vec<(String, usize)> = files
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let lines = text.lines().count();
            let shown = path
                .strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string();
            (lines > MAX_LINES).then_some((shown, lines))
        })
        .collect();
    long.sort();
    long
}

#[test]
fn no_source_file_is_longer_than_400_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().expect("repository root");
    // A walk that finds almost nothing means the root moved, not that every file is short.
    let mut all = Vec::new();
    source_files(&root, &mut all);
    assert!(
        all.len() > 200,
        "only {} source files under {}",
        all.len(),
        root.display()
    );
    let long = too_long(&root);
    assert!(
        long.is_empty(),
        "files longer than {MAX_LINES} lines (split each along the concepts it holds): {long:#?}"
    );
}

#[test]
fn the_walk_finds_a_long_file_and_skips_dependencies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let long = "x\n".repeat(MAX_LINES + 1);
    let short = "x\n".repeat(MAX_LINES);
    std::fs::create_dir_all(dir.join("src/node_modules/pkg")).unwrap();
    std::fs::write(dir.join("src/long.rs"), &long).unwrap();
    std::fs::write(dir.join("src/short.ts"), &short).unwrap();
    std::fs::write(dir.join("src/notes.md"), &long).unwrap();
    std::fs::write(dir.join("src/node_modules/pkg/index.js"), &long).unwrap();
    assert_eq!(
        too_long(dir),
        vec![("src/long.rs".to_string(), MAX_LINES + 1)]
    );
}
