//! What a loaded document costs in memory, as an estimate the room keeps up to date
//! cheaply: its encoded bytes plus a fixed cost per Yjs struct.
//!
//! The encoded size alone misses what matters: `yrs` keeps every struct as an item (ids,
//! origins, links, content) in its block store, plus a map entry per key, so an update
//! of many tiny structs takes twenty times its wire size. The per-struct cost below was
//! measured with a counting allocator (SECURITY.md, "Memory"): 333-349 bytes per map entry
//! beyond the wire bytes, for 12,000 and 150,000 entries; allocator overhead comes on top. The
//! struct count comes from the bounds check's walk of each update (`yjs_bounds`), an upper
//! bound: `yrs` merges adjacent items, which the next compaction's snapshot shows.
//!
//! Each room reports its weight to `client_limits`, which sums it over each client's documents
//! (`--max-memory-per-client`).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::yjs_bounds;

/// Bytes of memory one struct takes in a loaded document, beyond its encoded bytes.
pub(crate) const STRUCT_BYTES: u64 = 384;

/// What a loaded room costs with an empty document (its queues, awareness, tasks).
const ROOM_BYTES: u64 = 16 * 1024;

/// From this weight an unloading document's memory is handed back to the system.
const TRIM_FROM: u64 = 8 * 1024 * 1024;

/// Structs in an encoded update or state (0 for bytes that do not walk, which the room
/// never applies).
pub(super) fn structs(update: &[u8]) -> u64 {
    yjs_bounds::check_update(update).map_or(0, |shape| shape.structs)
}

/// The estimate for `bytes` encoded bytes holding `structs` structs.
pub(super) fn estimate(bytes: usize, structs: u64) -> u64 {
    (bytes as u64)
        .saturating_add(structs.saturating_mul(STRUCT_BYTES))
        .saturating_add(ROOM_BYTES)
}

/// A document of `weight` has unloaded (and its memory is freed). glibc's allocator keeps
/// freed memory for later use, so after a large document (or many dense ones) the process
/// would stay at its highest size for good; past [`TRIM_FROM`] it is asked to hand free
/// pages back (`malloc_trim`), on a blocking thread. One trim runs at a time; unloads
/// meanwhile make it run once more when it ends.
pub(super) fn unloaded(weight: u64) {
    static PENDING: AtomicBool = AtomicBool::new(false);
    static RUNNING: AtomicBool = AtomicBool::new(false);
    if weight < TRIM_FROM {
        return;
    }
    PENDING.store(true, Ordering::Release);
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        RUNNING.store(false, Ordering::Release);
        return;
    };
    runtime.spawn_blocking(|| loop {
        while PENDING.swap(false, Ordering::AcqRel) {
            trim();
        }
        RUNNING.store(false, Ordering::Release);
        // An unload between the last swap and the store above found RUNNING set and left
        // its trim to us.
        if !PENDING.load(Ordering::Acquire) || RUNNING.swap(true, Ordering::AcqRel) {
            break;
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own heaps under their
    // locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
