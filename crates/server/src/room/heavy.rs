//! Large `yrs` work kept from stalling everyone else.
//!
//! Rooms run as tasks on the runtime's worker threads, one per core. Applying a large
//! update (or loading a large document) holds its thread for as long as `yrs` needs,
//! hundreds of milliseconds for a dense one, and every task queued on that worker waits:
//! other documents' relays, handshakes, `/healthz`. Large work therefore runs under
//! `block_in_place`, which hands the worker's queue to another thread first, and one piece
//! at a time, so that a client sending many cannot take every core.
//!
//! Size is not the only sign: a tiny update can be expensive because of the document it
//! lands in (a character inserted among 100,000 concurrent ones makes `yrs` walk them all).
//! So updates to a document whose recent updates took long to apply run the same way
//! (`apply_budget::DocCost::expensive`), and the time they take is charged to their
//! sender and the document.

use std::sync::Mutex;

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::metric_names as m;

/// Encoded bytes from which work counts as large.
pub(super) const LARGE: usize = 64 * 1024;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `work` on `bytes` encoded bytes: in place when small, else as described above.
pub(super) fn run<R>(bytes: usize, work: impl FnOnce() -> R) -> R {
    run_if(bytes >= LARGE, work)
}

/// Runs `work` in place, or, when `heavy`, as described above. A single-threaded runtime
/// (some tests) has no other worker to hand over to.
pub(super) fn run_if<R>(heavy: bool, work: impl FnOnce() -> R) -> R {
    let multi =
        Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
    if !heavy || !multi {
        return work();
    }
    metrics::counter!(m::HEAVY_WORK).increment(1);
    tokio::task::block_in_place(|| {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        work()
    })
}
