//! Progress of a copy: a bar (documents and bytes, rate, time left) when standard error is
//! a terminal, otherwise a plain line at most every few seconds, which reads well in a log
//! or a pipe.

use std::{
    io::IsTerminal,
    time::{Duration, Instant},
};

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};
use tandem_persistence::copy::Step;

/// How often a plain line is written when not at a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

pub(super) struct Progress {
    what: &'static str,
    bar: Option<ProgressBar>,
    documents: u64,
    bytes: u64,
    done_documents: u64,
    done_bytes: u64,
    skipped: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// `documents` and `bytes`: the whole copy, as the source estimates it.
    pub(super) fn new(what: &'static str, documents: u64, bytes: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(bytes.max(1));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} \
                     {binary_bytes_per_sec}, {eta} left, {msg}",
                )
                .expect("a valid template"),
            );
            bar.set_prefix(what);
            bar.set_message(format!("0/{documents} documents"));
            bar
        });
        let now = Instant::now();
        Progress {
            what,
            bar,
            documents,
            bytes,
            done_documents: 0,
            done_bytes: 0,
            skipped: 0,
            started: now,
            last_line: now,
        }
    }

    pub(super) fn step(&mut self, step: Step<'_>) {
        self.done_documents += 1;
        self.done_bytes += step.entry.bytes;
        if step.skipped {
            self.skipped += 1;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done_bytes);
                bar.set_message(format!(
                    "{}/{} documents",
                    self.done_documents, self.documents
                ));
            }
            None if self.last_line.elapsed() >= PLAIN_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{}", self.line());
            }
            None => {}
        }
    }

    /// One line: where the copy stands, its rate and the time left at that rate.
    fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = self.done_bytes as f64 / secs;
        let left = if rate > 0.0 {
            let rest = self.bytes.saturating_sub(self.done_bytes) as f64 / rate;
            format!(
                ", about {} left",
                HumanDuration(Duration::from_secs_f64(rest))
            )
        } else {
            String::new()
        };
        format!(
            "{}: {}/{} documents, {} of {}, {}/s{left}",
            self.what,
            self.done_documents,
            self.documents,
            HumanBytes(self.done_bytes),
            HumanBytes(self.bytes),
            HumanBytes(rate as u64),
        )
    }

    /// Clears the bar and writes the last line.
    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let skipped = match self.skipped {
            0 => String::new(),
            n => format!(" ({n} already there, skipped)"),
        };
        eprintln!(
            "{}{skipped} in {}",
            self.line(),
            HumanDuration(self.started.elapsed())
        );
    }
}
