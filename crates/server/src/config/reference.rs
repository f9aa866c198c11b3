//! The configuration reference (docs/configuration.md), generated from the clap definitions.
//!
//! The flags' doc comments are the one place a setting is described: `tandem --help` prints
//! them, and this module turns the same definitions into the Markdown reference, so the two
//! cannot disagree. A test compares the committed file with what this generates and fails on
//! any drift; `TANDEM_UPDATE_DOCS=1 cargo test -p tandem --lib config::reference` rewrites it.

use clap::{Arg, Command, CommandFactory};

use super::Cli;

/// Where settings without a heading of their own are listed.
const GENERAL: &str = "General";

/// The whole reference, as committed in docs/configuration.md.
pub(super) fn markdown() -> String {
    let cli = Cli::command();
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from the clap definitions in crates/server/src (config/reference.rs).\n     \
         Do not edit by hand: change the doc comment of the flag, then run\n     \
         TANDEM_UPDATE_DOCS=1 cargo test -p tandem --lib config::reference -->\n\n\
         Every setting of `tandem serve` is a flag and an environment variable. An environment\n\
         variable set to an empty value counts as unset, so `.env` files may leave settings\n\
         blank; flags override the environment. `.env.example` lists every variable with its\n\
         default. `tandem <command> --help` prints the same text.\n\n",
    );
    let serve = cli
        .find_subcommand("serve")
        .expect("the serve subcommand exists");
    out.push_str("## `tandem serve`\n\n");
    out.push_str(&about(serve));
    for (heading, args) in grouped(serve) {
        out.push_str(&format!("### {heading}\n\n"));
        out.push_str(&table(&args));
    }
    out.push_str("## Other commands\n\n");
    out.push_str(
        "They take the database settings (`--database-url`, `--data-dir`) where they read it.\n\n",
    );
    for command in cli.get_subcommands() {
        if command.get_name() == "serve" || command.is_hide_set() {
            continue;
        }
        command_section(command, &mut out, "tandem");
    }
    out
}

fn command_section(command: &Command, out: &mut String, parent: &str) {
    let path = format!("{parent} {}", command.get_name());
    out.push_str(&format!("### `{path}`\n\n"));
    out.push_str(&about(command));
    let args: Vec<&Arg> = visible_args(command).collect();
    if !args.is_empty() {
        out.push_str(&table(&args));
    }
    for sub in command.get_subcommands() {
        if !sub.is_hide_set() {
            command_section(sub, out, &path);
        }
    }
}

fn about(command: &Command) -> String {
    match command.get_long_about().or(command.get_about()) {
        Some(text) => format!("{}.\n\n", one_line(&text.to_string()).trim_end_matches('.')),
        None => String::new(),
    }
}

/// The arguments a user sets: not `--help`/`--version`, not hidden test switches.
fn visible_args(command: &Command) -> impl Iterator<Item = &Arg> {
    command.get_arguments().filter(|arg| {
        let id = arg.get_id().as_str();
        !arg.is_hide_set() && id != "help" && id != "version"
    })
}

/// The arguments by help heading, in the order the headings first appear.
fn grouped(command: &Command) -> Vec<(String, Vec<&Arg>)> {
    let mut groups: Vec<(String, Vec<&Arg>)> = Vec::new();
    for arg in visible_args(command) {
        let heading = arg.get_help_heading().unwrap_or(GENERAL).to_string();
        match groups.iter_mut().find(|(h, _)| *h == heading) {
            Some((_, args)) => args.push(arg),
            None => groups.push((heading, vec![arg])),
        }
    }
    groups
}

fn table(args: &[&Arg]) -> String {
    let mut out = String::from("| Flag | Environment | Default | Meaning |\n|---|---|---|---|\n");
    for arg in args {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            name(arg),
            env(arg),
            default(arg),
            cell(&help(arg)),
        ));
    }
    out.push('\n');
    out
}

fn name(arg: &Arg) -> String {
    match arg.get_long() {
        Some(long) => format!("`--{long}`"),
        None => format!("`<{}>`", arg.get_id().as_str().replace('_', "-")),
    }
}

fn env(arg: &Arg) -> String {
    match arg.get_env() {
        Some(name) => format!("`{}`", name.to_string_lossy()),
        None => String::new(),
    }
}

/// The default as a user would type it; secrets and switches say so in words.
fn default(arg: &Arg) -> String {
    if !arg.get_action().takes_values() {
        return "off".to_string();
    }
    let values: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if values.is_empty() {
        "(none)".to_string()
    } else {
        format!("`{}`", values.join(","))
    }
}

fn help(arg: &Arg) -> String {
    let text = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut text = one_line(&text);
    // clap drops the full stop of a one-sentence doc comment; a table reads better with it.
    if !text.is_empty() && !text.ends_with(['.', ')', '…']) {
        text.push('.');
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !values.is_empty() && arg.get_action().takes_values() {
        text.push_str(&format!(" One of {}.", values.join(", ")));
        text = text.trim_start().to_string();
    }
    text
}

/// Doc comments are wrapped at 100 columns; a table cell is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// Every `--flag` of every command, for checks that docs name only flags that exist.
pub(super) fn all_long_flags() -> Vec<String> {
    fn walk(command: &Command, out: &mut Vec<String>) {
        out.extend(
            command
                .get_arguments()
                .filter_map(|a| a.get_long().map(|l| format!("--{l}"))),
        );
        for sub in command.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &mut out);
    out.sort();
    out.dedup();
    out
}

/// Every setting of `tandem serve` with an environment variable: (variable, default).
pub(super) fn serve_env_defaults() -> Vec<(String, Option<String>)> {
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("serve exists");
    visible_args(serve)
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let values: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            Some((env, (!values.is_empty()).then(|| values.join(","))))
        })
        .collect()
}

#[cfg(test)]
#[path = "reference_tests.rs"]
mod tests;
