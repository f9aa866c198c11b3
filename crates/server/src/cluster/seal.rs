//! The signature every bus frame carries, and the checks a received frame must pass.
//!
//! NATS is a network service: anyone who can reach it (or steal an instance's NATS
//! credentials) could otherwise publish on the cluster's subjects. So each frame ends with
//! a trailer: the sender's wall clock, its boot id (random per process), a sequence number
//! and an HMAC-SHA256 under the cluster key (`--cluster-key`) over the subject, the message
//! and the rest of the trailer. A receiver drops (and counts, by reason) a frame that is
//! malformed, whose signature does not verify (wrong key, altered, or sent on another
//! subject: a commit of one document replayed onto another), that is older or newer than
//! [`MAX_SKEW`], or that it has already taken (a replay within the window).
//!
//! Trailer layout (little-endian): `sent_at_ms u64`, `boot u64`, `seq u64`, `mac [u8; 32]`.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far a frame's clock may be from the receiver's. Instances need clocks within this
/// of each other (NTP gives milliseconds); a frame buffered longer during a NATS outage is
/// dropped as stale, which costs a read from the database, as a lost message does.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(30);

/// Shortest cluster key accepted, in bytes.
pub(crate) const MIN_KEY_BYTES: usize = 32;

/// Sequence numbers of one sender remembered behind its highest: frames on different
/// subjects may be taken out of order, by as many as the other subscriptions handled
/// meanwhile. 8 KiB per sending process.
const WINDOW: u64 = 65_536;

/// Senders (processes) tracked at once; a sender is forgotten once it has been quiet for
/// twice [`MAX_SKEW`], after which its old frames are stale anyway.
const MAX_SENDERS: usize = 4096;

const TRAILER: usize = 8 + 8 + 8 + 32;
const CONTEXT: &[u8] = b"tandem cluster bus frame v1\0";

/// Why a received frame was dropped; the `reason` label of
/// `tandem_bus_frames_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    /// Too short to hold a trailer, or the message inside does not parse.
    Malformed,
    /// The HMAC does not verify: another key, an altered frame, or another subject.
    Signature,
    /// The sender's clock is more than [`MAX_SKEW`] from ours.
    Stale,
    /// Taken before, or too far behind its sender's latest to tell.
    Replay,
}

impl Rejected {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::Signature => "signature",
            Rejected::Stale => "stale",
            Rejected::Replay => "replay",
        }
    }
}

/// Signs outgoing frames and checks incoming ones; one per process.
pub(crate) struct Seal {
    mac: Hmac<Sha256>,
    boot: u64,
    next_seq: AtomicU64,
    senders: Mutex<HashMap<u64, Window>>,
}

impl Seal {
    pub(crate) fn new(key: &[u8]) -> Seal {
        Seal {
            mac: Hmac::new_from_slice(key).expect("HMAC takes keys of any length"),
            boot: rand::random(),
            next_seq: AtomicU64::new(0),
            senders: Mutex::new(HashMap::new()),
        }
    }

    /// `message` with its trailer, for publishing on `subject`.
    pub(crate) fn seal(&self, subject: &str, message: &[u8]) -> Bytes {
        self.seal_at(subject, message, now_ms())
    }

    fn seal_at(&self, subject: &str, message: &[u8], sent_at_ms: u64) -> Bytes {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let mut out = BytesMut::with_capacity(message.len() + TRAILER);
        out.put_slice(message);
        out.put_u64_le(sent_at_ms);
        out.put_u64_le(self.boot);
        out.put_u64_le(seq);
        let tag = self.tag(subject, &out);
        out.put_slice(&tag);
        out.freeze()
    }

    /// The message inside a frame received on `subject`, once every check passed.
    pub(crate) fn open(&self, subject: &str, frame: &Bytes) -> Result<Bytes, Rejected> {
        self.open_at(subject, frame, now_ms())
    }

    fn open_at(&self, subject: &str, frame: &Bytes, now_ms: u64) -> Result<Bytes, Rejected> {
        let Some(signed_len) = frame.len().checked_sub(32) else {
            return Err(Rejected::Malformed);
        };
        if signed_len < TRAILER - 32 {
            return Err(Rejected::Malformed);
        }
        let (signed, tag) = frame.split_at(signed_len);
        let mut mac = self.mac.clone();
        feed(&mut mac, subject, signed);
        mac.verify_slice(tag).map_err(|_| Rejected::Signature)?;
        let trailer = &signed[signed_len - 24..];
        let word = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&trailer[i * 8..i * 8 + 8]);
            u64::from_le_bytes(a)
        };
        let (sent_at_ms, boot, seq) = (word(0), word(1), word(2));
        if now_ms.abs_diff(sent_at_ms) > MAX_SKEW.as_millis() as u64 {
            return Err(Rejected::Stale);
        }
        if !self.first_time(boot, seq, now_ms) {
            return Err(Rejected::Replay);
        }
        Ok(frame.slice(..signed_len - 24))
    }

    fn tag(&self, subject: &str, signed: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        feed(&mut mac, subject, signed);
        mac.finalize().into_bytes().into()
    }

    /// Records `(boot, seq)`; false if it was recorded before or is too old to tell.
    fn first_time(&self, boot: u64, seq: u64, now_ms: u64) -> bool {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        if !senders.contains_key(&boot) && senders.len() >= MAX_SENDERS {
            let quiet = 2 * MAX_SKEW.as_millis() as u64;
            senders.retain(|_, w| now_ms.saturating_sub(w.seen_ms) <= quiet);
            if senders.len() >= MAX_SENDERS {
                // Every tracked sender is live: forget the quietest.
                if let Some(oldest) = senders.iter().min_by_key(|(_, w)| w.seen_ms) {
                    let oldest = *oldest.0;
                    senders.remove(&oldest);
                }
            }
        }
        let window = senders.entry(boot).or_insert_with(|| Window::new(seq));
        window.seen_ms = now_ms;
        window.take(seq)
    }
}

/// What the MAC covers: a fixed context, the subject (length first, so subject and
/// message cannot trade bytes), then the message and trailer.
fn feed(mac: &mut Hmac<Sha256>, subject: &str, signed: &[u8]) {
    mac.update(CONTEXT);
    mac.update(&(subject.len() as u64).to_le_bytes());
    mac.update(subject.as_bytes());
    mac.update(signed);
}

/// The sequence numbers one sender used lately: a ring of [`WINDOW`] bits behind the
/// highest.
struct Window {
    high: u64,
    bits: Vec<u64>,
    seen_ms: u64,
}

impl Window {
    fn new(first: u64) -> Window {
        Window {
            high: first,
            bits: vec![0; (WINDOW / 64) as usize],
            seen_ms: 0,
        }
    }

    fn take(&mut self, seq: u64) -> bool {
        if seq > self.high {
            for s in (self.high + 1..=seq).take(WINDOW as usize) {
                self.clear(s);
            }
            self.high = seq;
        } else if self.high - seq >= WINDOW {
            return false;
        }
        let (word, bit) = slot(seq);
        if self.bits[word] & bit != 0 {
            return false;
        }
        self.bits[word] |= bit;
        true
    }

    fn clear(&mut self, seq: u64) {
        let (word, bit) = slot(seq);
        self.bits[word] &= !bit;
    }
}

fn slot(seq: u64) -> (usize, u64) {
    let i = seq % WINDOW;
    ((i / 64) as usize, 1 << (i % 64))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "seal_tests.rs"]
mod tests;
