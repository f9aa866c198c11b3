//! Many clients typing at once, from one task: each step picks a client and an edit with a
//! seeded RNG, sends it without waiting for anything, and reads whatever has arrived on
//! every client. The sequence of edits is the seed's; which of them meet at the server is
//! up to timing, as with people typing.

use std::{collections::HashSet, time::Duration};

use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{Client, Peer};

/// The seed of a randomised test: `TANDEM_TEST_SEED` to replay a failure, else `default`.
/// Printed, so a failing run says how to replay it.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("TANDEM_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    eprintln!("seed {seed} (replay with TANDEM_TEST_SEED={seed})");
    seed
}

/// Reads whatever has arrived on every client, without waiting.
pub async fn drain_all(clients: &mut [Client]) {
    for c in clients.iter_mut() {
        while c.step(Duration::ZERO).await {}
    }
}

/// Random edits anywhere in the text: inserts of short words and deletes of a few
/// characters. For convergence checks (state, not content).
pub struct Typing {
    rng: StdRng,
}

impl Typing {
    pub fn new(seed: u64) -> Typing {
        Typing {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// `n` edits by randomly chosen open clients, reading between them.
    pub async fn edits(&mut self, clients: &mut [Client], n: usize) {
        for _ in 0..n {
            let open: Vec<usize> = (0..clients.len())
                .filter(|i| clients[*i].closed.is_none())
                .collect();
            assert!(!open.is_empty(), "every client is closed");
            let c = &mut clients[open[self.rng.gen_range(0..open.len())]];
            let len = c.text_len();
            if len > 8 && self.rng.gen_ratio(1, 4) {
                let at = self.rng.gen_range(0..len - 1);
                let n = self.rng.gen_range(1..=(len - at).min(5));
                c.delete(at, n).await;
            } else {
                let word: String = (0..self.rng.gen_range(1..6))
                    .map(|_| self.rng.gen_range(b'a'..=b'z') as char)
                    .collect();
                let at = self.rng.gen_range(0..=len);
                c.insert(at, &format!("{word} ")).await;
            }
            drain_all(clients).await;
        }
    }
}

/// Writers appending numbered tokens `<w:n>` (never inside one another, never deleted), so
/// that what any client saw can be checked for, token by token, wherever it ends up.
pub struct Tokens {
    /// Tokens each writer has typed so far.
    pub typed: Vec<usize>,
}

impl Tokens {
    pub fn new(writers: usize) -> Tokens {
        Tokens {
            typed: vec![0; writers],
        }
    }

    /// One round: every writer that is still open appends its next token; then every
    /// writer reads what has arrived.
    pub async fn round(&mut self, writers: &mut [Client]) {
        for (w, c) in writers.iter_mut().enumerate() {
            if c.closed.is_none() {
                c.append(&format!("<{w}:{}>", self.typed[w])).await;
                self.typed[w] += 1;
            }
        }
        drain_all(writers).await;
    }

    /// Every token typed, by every writer.
    pub fn all(&self) -> Vec<String> {
        self.typed
            .iter()
            .enumerate()
            .flat_map(|(w, n)| (0..*n).map(move |i| format!("<{w}:{i}>")))
            .collect()
    }

    /// The tokens typed that `text` lacks.
    pub fn missing_from(&self, text: &str) -> Vec<String> {
        let present: HashSet<String> = tokens(text).into_iter().collect();
        self.all()
            .into_iter()
            .filter(|t| !present.contains(t))
            .collect()
    }
}

/// Every `<w:n>` token in `text`.
pub fn tokens(text: &str) -> Vec<String> {
    text.split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>').map(|(t, _)| format!("<{t}>")))
        .collect()
}

/// The tokens of writer `w` in `text`.
pub fn tokens_of(text: &str, w: usize) -> usize {
    let own = format!("<{w}:");
    tokens(text).iter().filter(|t| t.starts_with(&own)).count()
}
