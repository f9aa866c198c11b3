//! What an update builds on: the clock ranges it carries and the ids it refers to, checked
//! against what a document has (see `check_dependencies`).

/// What a walk reports besides sizes: the ranges each client section covers and every id
/// the structs refer to.
pub(super) trait DepSink {
    fn section(&mut self, _client: u64) {}
    fn range(&mut self, _start: u64, _end: u64, _skip: bool) {}
    fn reference(&mut self, _client: u64, _clock: u64) {}
    fn deleted(&mut self, _client: u64, _start: u64, _end: u64) {}
}

pub(super) struct NoDeps;
impl DepSink for NoDeps {}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Deps {
    /// (client, start, end, is_skip) in update order.
    ranges: Vec<(u64, u64, u64, bool)>,
    refs: Vec<(u64, u64)>,
    deleted: Vec<(u64, u64, u64)>,
    current: u64,
}

impl DepSink for Deps {
    fn section(&mut self, client: u64) {
        self.current = client;
    }
    fn range(&mut self, start: u64, end: u64, skip: bool) {
        self.ranges.push((self.current, start, end, skip));
    }
    fn reference(&mut self, client: u64, clock: u64) {
        self.refs.push((client, clock));
    }
    fn deleted(&mut self, client: u64, start: u64, end: u64) {
        self.deleted.push((client, start, end));
    }
}

impl Deps {
    /// The first `(client, clock)` the update needs that neither `known(client)` (how far
    /// the document has each client's changes) nor the update itself covers.
    pub(super) fn first_missing(&self, known: impl Fn(u64) -> u64) -> Option<(u64, u64)> {
        use std::collections::HashMap;
        // How far each client's clocks are known once the update's contiguous structs are
        // added to what the document has. A struct may start anywhere up to that point
        // (overlap is fine: yrs skips what it has) but not past it.
        let mut end: HashMap<u64, u64> = HashMap::new();
        for &(client, start, stop, skip) in &self.ranges {
            let e = end.entry(client).or_insert_with(|| known(client));
            if skip {
                continue;
            }
            if start > *e {
                return Some((client, *e));
            }
            *e = (*e).max(stop);
        }
        let covered = |c: u64| end.get(&c).copied().unwrap_or_else(|| known(c));
        if let Some(&(c, k)) = self.refs.iter().find(|&&(c, k)| k >= covered(c)) {
            return Some((c, k));
        }
        self.deleted
            .iter()
            .find(|&&(c, _, stop)| stop > covered(c))
            .map(|&(c, start, _)| (c, start))
    }
}
