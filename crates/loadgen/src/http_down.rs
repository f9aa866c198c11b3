//! What the HTTP transports' receiver tasks (`sse.rs`, `poll.rs`) hand to a client
//! (`http.rs`), and the counters they share. Kept apart so the receivers do not import the
//! client that imports them.

use std::{
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::Instant,
};

/// Request and byte counts over all HTTP clients of a run.
#[derive(Default)]
pub struct HttpStats {
    /// POSTs carrying client messages (handshake included).
    pub posts: AtomicU64,
    /// Poll GETs answered (long polling only).
    pub polls: AtomicU64,
    /// Bytes of response bodies received (SSE stream, poll JSON).
    pub down_bytes: AtomicU64,
    /// Client messages sent; `posts` ≤ this when messages were coalesced.
    pub up_messages: AtomicU64,
}

/// Plain copies of [`HttpStats`] at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpCounts {
    pub posts: u64,
    pub polls: u64,
    pub down_bytes: u64,
    pub up_messages: u64,
}

impl HttpStats {
    pub fn snapshot(&self) -> HttpCounts {
        HttpCounts {
            posts: self.posts.load(Relaxed),
            polls: self.polls.load(Relaxed),
            down_bytes: self.down_bytes.load(Relaxed),
            up_messages: self.up_messages.load(Relaxed),
        }
    }
}

impl HttpCounts {
    pub fn since(&self, earlier: &HttpCounts) -> HttpCounts {
        HttpCounts {
            posts: self.posts - earlier.posts,
            polls: self.polls - earlier.polls,
            down_bytes: self.down_bytes - earlier.down_bytes,
            up_messages: self.up_messages - earlier.up_messages,
        }
    }
}

/// What a receiver task hands to the client.
pub enum Down {
    /// The SSE `session` event.
    Session(String),
    /// One y-protocol message, with its arrival time (ns since the run's epoch).
    Frame { at: u64, bytes: Vec<u8> },
    /// The transport broke (HTTP error, 410, stream ended, server `close` event).
    Failed(String),
}

/// Nanoseconds since `epoch`.
pub fn stamp(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}
