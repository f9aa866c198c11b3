//! The unwritten-bytes budget shared by every room.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use crate::metric_names as m;

/// Bytes accepted from clients but not yet committed, across all rooms. Past `max`, new
/// edits are refused (clients keep them and resend), so an outage cannot exhaust memory.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    unwritten: Arc<AtomicUsize>,
    max: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Budget {
        Budget {
            unwritten: Arc::default(),
            max,
        }
    }

    /// Bytes accepted and not yet committed; admission compares them with the limit.
    pub(crate) fn unwritten(&self) -> usize {
        self.unwritten.load(Ordering::Relaxed)
    }

    /// The most that may be unwritten (`--max-unwritten-bytes`).
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    pub(super) fn add(&self, bytes: usize) {
        self.unwritten.fetch_add(bytes, Ordering::Relaxed);
        metrics::gauge!(m::UNWRITTEN_BYTES).increment(bytes as f64);
    }

    pub(super) fn release(&self, bytes: usize) {
        self.unwritten.fetch_sub(bytes, Ordering::Relaxed);
        metrics::gauge!(m::UNWRITTEN_BYTES).decrement(bytes as f64);
    }
}
