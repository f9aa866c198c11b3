//! How long a room may keep its worker thread before letting other tasks run.
//!
//! A room handles the events it finds ready one after another, and tokio makes a task
//! yield only after it has received from its channels about 128 times. Under a flood of
//! updates that each take most of a millisecond to apply (inserts into a document that
//! many client ids wrote to concurrently, just below the mark at which `heavy` moves them
//! off the workers), 128 of them hold a worker for over 100 ms, and every task queued on
//! it waits: other documents' relays, handshakes, `/healthz`. So the room adds up the time
//! its handlers take and yields once they have taken a slice.

use std::time::{Duration, Instant};

pub(super) struct Slice {
    /// Zero: never yield (the room runs until tokio's own budget stops it).
    length: Duration,
    used: Duration,
}

impl Slice {
    pub(super) fn new(length: Duration) -> Slice {
        Slice {
            length,
            used: Duration::ZERO,
        }
    }

    /// Runs `work`, counting its time against the slice.
    pub(super) fn time<R>(&mut self, work: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = work();
        self.add(started.elapsed());
        result
    }

    fn add(&mut self, took: Duration) {
        self.used = self.used.saturating_add(took);
    }

    /// Whether the room has used its slice and should yield now; starts a new one if so.
    pub(super) fn used_up(&mut self) -> bool {
        if self.length.is_zero() || self.used < self.length {
            return false;
        }
        self.used = Duration::ZERO;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--room-slice-us`'s default.
    const SLICE: Duration = Duration::from_micros(2000);

    #[test]
    fn a_room_yields_once_its_handlers_have_taken_a_slice() {
        let mut s = Slice::new(SLICE);
        s.add(SLICE / 2);
        assert!(!s.used_up(), "half a slice");
        s.add(SLICE / 2);
        assert!(s.used_up(), "a whole slice, over several handlers");
        assert!(!s.used_up(), "a new slice starts after the yield");
        s.add(SLICE * 100);
        assert!(s.used_up(), "one long handler");
    }

    #[test]
    fn zero_never_yields() {
        let mut s = Slice::new(Duration::ZERO);
        s.add(Duration::from_secs(1));
        assert!(!s.used_up());
    }
}
