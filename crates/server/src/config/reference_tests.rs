//! The reference, the README and `.env.example` against the clap definitions.

use std::{collections::BTreeMap, path::PathBuf};

use super::{all_long_flags, markdown, serve_env_defaults};

fn repo_file(path: &str) -> (PathBuf, String) {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", full.display()));
    (full, text)
}

#[test]
fn docs_configuration_md_is_generated_from_the_flags() {
    let generated = markdown();
    let (path, committed) = repo_file("docs/configuration.md");
    if std::env::var_os("TANDEM_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("write docs/configuration.md");
        return;
    }
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "docs/configuration.md is not what the flags say (first difference at line {}:\n  \
             committed: {:?}\n  generated: {:?}).\nRegenerate it with \
             `TANDEM_UPDATE_DOCS=1 cargo test -p tandem --lib config::reference`.",
            first + 1,
            committed.lines().nth(first).unwrap_or(""),
            generated.lines().nth(first).unwrap_or(""),
        );
    }
}

#[test]
fn the_reference_covers_the_settings_a_user_needs_most() {
    // A generator that silently lost the serve flags (flatten, headings) would still match a
    // file regenerated from it; these must always be there.
    let text = markdown();
    for needle in [
        "| `--listen` | `TANDEM_LISTEN` | `127.0.0.1:8080` |",
        "| `--database-url` | `DATABASE_URL` | (none) |",
        "`--nats-url`",
        "`--max-connections-per-ip`",
        "`--webhook-debounce-ms`",
        "### `tandem token`",
    ] {
        assert!(text.contains(needle), "reference lacks {needle}");
    }
}

/// Flags the README names: inline code that is a flag, and flags on `tandem` command lines.
fn flags_named_in(text: &str) -> Vec<String> {
    let mut flags = Vec::new();
    for span in text.split('`').skip(1).step_by(2) {
        if let Some(rest) = span.strip_prefix("--") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !name.is_empty() && span.len() == name.len() + 2 {
                flags.push(format!("--{name}"));
            }
        }
    }
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("tandem ") || line.starts_with("./scripts/run.sh ") {
            for word in line.split_whitespace() {
                if let Some(rest) = word.strip_prefix("--") {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    flags.push(format!("--{name}"));
                }
            }
        }
    }
    flags
}

#[test]
fn the_readme_names_only_flags_that_exist() {
    let known = all_long_flags();
    let (_, readme) = repo_file("README.md");
    let named = flags_named_in(&readme);
    let unknown: Vec<&String> = named.iter().filter(|f| !known.contains(f)).collect();
    assert!(
        unknown.is_empty(),
        "README.md names flags tandem does not have: {unknown:?}"
    );
}

#[test]
fn env_example_lists_every_setting_with_its_default() {
    let (_, example) = repo_file(".env.example");
    // `# NAME=value` (a commented line shows the default) or `NAME=value` (set).
    let mut listed: BTreeMap<String, (bool, String)> = BTreeMap::new();
    for line in example.lines() {
        let (commented, rest) = match line.trim_start().strip_prefix('#') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, line.trim_start()),
        };
        if let Some((name, value)) = rest.split_once('=') {
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_name {
                listed.insert(name.to_string(), (commented, value.trim().to_string()));
            }
        }
    }
    let settings = serve_env_defaults();
    assert!(
        settings.len() > 40,
        "found only {} settings",
        settings.len()
    );
    let mut problems = Vec::new();
    for (env, default) in settings {
        match (listed.get(&env), default) {
            (None, _) => problems.push(format!("{env} is missing")),
            (Some((true, shown)), Some(default)) if *shown != default => problems.push(format!(
                "{env} shows {shown:?} commented out, but the default is {default:?}"
            )),
            _ => {}
        }
    }
    assert!(
        problems.is_empty(),
        ".env.example drifted from the flags:\n{}",
        problems.join("\n")
    );
}
