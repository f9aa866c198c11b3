//! What instances tell each other over NATS, and its byte layout.
//!
//! The bus carries hints, never truth: every message can be lost, repeated or reordered,
//! and PostgreSQL settles what happened. So a message only needs to be cheap to make and
//! safe to read; a message from an unknown version or one that does not parse is dropped
//! (and counted) like a lost one.
//!
//! Layout (integers little-endian): `version u8 = 1`, `kind u8`, `origin_len u8`, `origin`,
//! `sent_at_ms u64`, then per kind: `Update`: `prev i64`, `last i64`, `count u32`, then
//! `count` times `len u32` + a y-sync frame; `UpdateRef`: `prev i64`, `last i64`;
//! `Awareness`: one y-sync awareness frame (the rest); the others: nothing.

use bytes::{BufMut, Bytes, BytesMut};

const VERSION: u8 = 1;

/// Largest total of frames sent inline; a bigger commit is sent as [`Body::UpdateRef`] and
/// read from the database by whoever needs it.
pub(crate) const MAX_INLINE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BusMessage {
    /// The instance that sent it.
    pub origin: String,
    /// Sender's wall clock, for the lag metric only.
    pub sent_at_ms: u64,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// A commit of one document: its log grew from `prev` to `last`, and these are the
    /// y-sync update frames it relayed to its own clients.
    Update {
        prev: i64,
        last: i64,
        frames: Vec<Bytes>,
    },
    /// A commit too large to send: read it from the database.
    UpdateRef { prev: i64, last: i64 },
    /// A y-sync awareness frame about the sender's own clients.
    Awareness(Bytes),
    /// "Send me your clients' awareness": a room that just loaded asks.
    AwarenessQuery,
    /// The document was deleted.
    Deleted,
    /// The sender is alive (on the cluster-wide subject).
    Heartbeat,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum DecodeError {
    #[error("message is truncated")]
    Truncated,
    #[error("unknown message version {0}")]
    Version(u8),
    #[error("unknown message kind {0}")]
    Kind(u8),
    #[error("origin is not UTF-8")]
    Origin,
}

impl Body {
    fn kind(&self) -> u8 {
        match self {
            Body::Update { .. } => 1,
            Body::UpdateRef { .. } => 2,
            Body::Awareness(_) => 3,
            Body::AwarenessQuery => 4,
            Body::Deleted => 5,
            Body::Heartbeat => 6,
        }
    }
}

impl BusMessage {
    pub(crate) fn new(origin: &str, body: Body) -> BusMessage {
        BusMessage {
            origin: origin.to_string(),
            sent_at_ms: now_ms(),
            body,
        }
    }

    pub(crate) fn encode(&self) -> Bytes {
        let origin = &self.origin.as_bytes()[..self.origin.len().min(255)];
        let mut out = BytesMut::with_capacity(64);
        out.put_u8(VERSION);
        out.put_u8(self.body.kind());
        out.put_u8(origin.len() as u8);
        out.put_slice(origin);
        out.put_u64_le(self.sent_at_ms);
        match &self.body {
            Body::Update { prev, last, frames } => {
                out.put_i64_le(*prev);
                out.put_i64_le(*last);
                out.put_u32_le(frames.len() as u32);
                for frame in frames {
                    out.put_u32_le(frame.len() as u32);
                    out.put_slice(frame);
                }
            }
            Body::UpdateRef { prev, last } => {
                out.put_i64_le(*prev);
                out.put_i64_le(*last);
            }
            Body::Awareness(frame) => out.put_slice(frame),
            Body::AwarenessQuery | Body::Deleted | Body::Heartbeat => {}
        }
        out.freeze()
    }

    /// Reads a message, checking every length against the bytes that remain.
    pub(crate) fn decode(bytes: &Bytes) -> Result<BusMessage, DecodeError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.u8()?;
        if version != VERSION {
            return Err(DecodeError::Version(version));
        }
        let kind = r.u8()?;
        let origin_len = r.u8()? as usize;
        let origin = std::str::from_utf8(&r.take(origin_len)?)
            .map_err(|_| DecodeError::Origin)?
            .to_string();
        let sent_at_ms = r.u64()?;
        let body = match kind {
            1 => {
                let prev = r.u64()? as i64;
                let last = r.u64()? as i64;
                let count = r.u32()? as usize;
                // Each frame takes at least its 4-byte length: a count past that is a lie.
                if count > r.remaining() / 4 {
                    return Err(DecodeError::Truncated);
                }
                let mut frames = Vec::with_capacity(count);
                for _ in 0..count {
                    let len = r.u32()? as usize;
                    frames.push(r.take(len)?);
                }
                Body::Update { prev, last, frames }
            }
            2 => Body::UpdateRef {
                prev: r.u64()? as i64,
                last: r.u64()? as i64,
            },
            3 => Body::Awareness(r.take(r.remaining())?),
            4 => Body::AwarenessQuery,
            5 => Body::Deleted,
            6 => Body::Heartbeat,
            other => return Err(DecodeError::Kind(other)),
        };
        Ok(BusMessage {
            origin,
            sent_at_ms,
            body,
        })
    }

    /// Seconds since the sender made it (0 if the clocks disagree).
    pub(crate) fn age_secs(&self) -> f64 {
        now_ms().saturating_sub(self.sent_at_ms) as f64 / 1000.0
    }
}

struct Reader<'a> {
    bytes: &'a Bytes,
    at: usize,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let out = self.bytes.slice(self.at..self.at + n);
        self.at += n;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(u64::from_le_bytes(a))
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(body: Body) {
        let msg = BusMessage::new("instance-1", body);
        assert_eq!(BusMessage::decode(&msg.encode()), Ok(msg));
    }

    #[test]
    fn every_kind_reads_back_as_written() {
        round_trip(Body::Update {
            prev: 41,
            last: 45,
            frames: vec![Bytes::from_static(&[0, 2, 1, 7]), Bytes::new()],
        });
        round_trip(Body::UpdateRef { prev: 1, last: 9 });
        round_trip(Body::Awareness(Bytes::from_static(&[1, 3, 4])));
        round_trip(Body::AwarenessQuery);
        round_trip(Body::Deleted);
        round_trip(Body::Heartbeat);
    }

    #[test]
    fn every_truncation_is_refused_not_misread() {
        let msg = BusMessage::new(
            "a",
            Body::Update {
                prev: 1,
                last: 2,
                frames: vec![Bytes::from_static(&[0, 2, 9, 9, 9])],
            },
        )
        .encode();
        for cut in 0..msg.len() {
            assert!(
                BusMessage::decode(&msg.slice(..cut)).is_err(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_frame_count_larger_than_the_message_allocates_nothing() {
        let mut raw = BusMessage::new(
            "a",
            Body::Update {
                prev: 1,
                last: 2,
                frames: vec![],
            },
        )
        .encode()
        .to_vec();
        let count_at = raw.len() - 4;
        raw[count_at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            BusMessage::decode(&Bytes::from(raw)),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn other_versions_and_kinds_are_refused() {
        let mut raw = BusMessage::new("a", Body::Deleted).encode().to_vec();
        raw[0] = 2;
        assert_eq!(
            BusMessage::decode(&Bytes::from(raw.clone())),
            Err(DecodeError::Version(2))
        );
        raw[0] = 1;
        raw[1] = 99;
        assert_eq!(
            BusMessage::decode(&Bytes::from(raw)),
            Err(DecodeError::Kind(99))
        );
    }
}
