//! Log positions a room took from the bus and the database has not vouched for yet.
//!
//! A bus commit says "the log grew from `prev` to `last`, with these updates". Even signed,
//! that is a claim: the room applies it for latency and remembers the range until a read
//! from the database covers it. A second claim on a remembered range, or the room's own
//! commit landing on one, proves one claim false (see `cluster_copy.rs`).

use std::collections::VecDeque;

/// Claims a room remembers; past it the oldest is forgotten (and can then no longer be
/// told from a commit the database vouched for).
const MAX_CLAIMS: usize = 1024;

/// Ranges `(prev, last]`, oldest first.
#[derive(Default)]
pub(super) struct Claims(VecDeque<(i64, i64)>);

impl Claims {
    pub(super) fn add(&mut self, prev: i64, last: i64) {
        if self.0.len() == MAX_CLAIMS {
            self.0.pop_front();
        }
        self.0.push_back((prev, last));
    }

    /// Whether positions `(prev, last]` overlap a claim.
    pub(super) fn overlap(&self, prev: i64, last: i64) -> bool {
        self.0.iter().any(|(p, l)| *p < last && *l > prev)
    }

    /// The highest position up to which nothing rests on a claim alone, given `applied`.
    pub(super) fn confirmed(&self, applied: i64) -> i64 {
        self.0
            .iter()
            .map(|(prev, _)| *prev)
            .min()
            .map_or(applied, |prev| prev.min(applied))
    }

    /// A read from the database returned every row in `(after, upto]`: the claims inside
    /// are settled.
    pub(super) fn settle(&mut self, after: i64, upto: i64) {
        self.0.retain(|(p, l)| *p < after || *l > upto);
    }

    /// The database ends at `head`: claims past it were false (or are not yet readable,
    /// which a later read settles).
    pub(super) fn drop_past(&mut self, head: i64) {
        self.0.retain(|(_, l)| *l <= head);
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_overlaps_what_shares_a_position_with_it() {
        let mut c = Claims::default();
        c.add(10, 12);
        assert!(c.overlap(10, 11) && c.overlap(11, 12) && c.overlap(9, 13));
        assert!(!c.overlap(8, 10) && !c.overlap(12, 14));
    }

    #[test]
    fn confirmed_stops_before_the_oldest_claim() {
        let mut c = Claims::default();
        assert_eq!(c.confirmed(20), 20);
        c.add(12, 13);
        c.add(15, 17);
        assert_eq!(c.confirmed(20), 12);
        c.settle(12, 14);
        assert_eq!(c.confirmed(20), 15);
        c.settle(16, 20);
        assert_eq!(
            c.confirmed(20),
            15,
            "a read from 16 does not cover (15, 17]"
        );
        c.drop_past(15);
        assert_eq!(c.confirmed(20), 20);
    }

    #[test]
    fn the_oldest_claim_goes_when_full() {
        let mut c = Claims::default();
        for i in 0..=MAX_CLAIMS as i64 {
            c.add(i, i + 1);
        }
        assert!(!c.overlap(0, 1));
        assert!(c.overlap(1, 2));
    }
}
