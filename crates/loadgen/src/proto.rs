//! y-websocket message building (through `yrs::sync::Message`) and a zero-copy reader
//! for incoming frames, with the Hocuspocus variant (every frame prefixed by
//! `varString(documentName)`, extra message types 4-10).

use yrs::{
    sync::{
        awareness::{AwarenessUpdate, AwarenessUpdateEntry},
        Message, SyncMessage,
    },
    updates::encoder::Encode,
    StateVector,
};

/// How frames are wrapped on the wire.
#[derive(Clone, Debug)]
pub enum Framing {
    /// Standard y-websocket: one document per socket, no prefix.
    Plain,
    /// Hocuspocus: `varString(doc)` in front of every message.
    Hocuspocus { prefix: Vec<u8> },
}

impl Framing {
    pub fn new(hocuspocus: bool, doc: &str) -> Self {
        if hocuspocus {
            let mut prefix = Vec::with_capacity(doc.len() + 2);
            write_var(&mut prefix, doc.len() as u64);
            prefix.extend_from_slice(doc.as_bytes());
            Framing::Hocuspocus { prefix }
        } else {
            Framing::Plain
        }
    }

    pub fn is_hocuspocus(&self) -> bool {
        matches!(self, Framing::Hocuspocus { .. })
    }

    /// Wraps an already encoded y-protocol message.
    pub fn wrap(&self, msg: Vec<u8>) -> Vec<u8> {
        match self {
            Framing::Plain => msg,
            Framing::Hocuspocus { prefix } => {
                let mut out = Vec::with_capacity(prefix.len() + msg.len());
                out.extend_from_slice(prefix);
                out.extend_from_slice(&msg);
                out
            }
        }
    }

    pub fn step1(&self, sv: &StateVector) -> Vec<u8> {
        self.wrap(Message::Sync(SyncMessage::SyncStep1(sv.clone())).encode_v1())
    }

    pub fn step2(&self, update: Vec<u8>) -> Vec<u8> {
        self.wrap(Message::Sync(SyncMessage::SyncStep2(update)).encode_v1())
    }

    pub fn update(&self, update: Vec<u8>) -> Vec<u8> {
        self.wrap(Message::Sync(SyncMessage::Update(update)).encode_v1())
    }

    /// Hocuspocus auth: type 2, subtype 0 (token), token string. Same bytes as a yrs
    /// `Auth(Some(token))`.
    pub fn auth_token(&self, token: &str) -> Vec<u8> {
        self.wrap(Message::Auth(Some(token.to_string())).encode_v1())
    }

    pub fn awareness(&self, client: u64, clock: u32, json: &str) -> Vec<u8> {
        let mut update = AwarenessUpdate {
            clients: Default::default(),
        };
        update.clients.insert(
            yrs::block::ClientID::new(client),
            AwarenessUpdateEntry {
                clock,
                json: json.into(),
            },
        );
        self.wrap(Message::Awareness(update).encode_v1())
    }

    /// Hocuspocus pong (type 10).
    pub fn pong(&self) -> Vec<u8> {
        self.wrap(vec![10])
    }
}

/// One decoded incoming message; payloads borrow the frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    Step1(&'a [u8]),
    Step2(&'a [u8]),
    Update(&'a [u8]),
    Awareness,
    QueryAwareness,
    AuthOk,
    AuthDenied(String),
    /// Hocuspocus acknowledgement of an applied update (`[8][1]`) or refusal (`[8][0]`).
    SyncStatus(bool),
    Ping,
    Other(u64),
}

pub fn write_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn var(&mut self) -> Option<u64> {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Some(v);
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.var()? as usize;
        let end = self.pos.checked_add(len)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }
}

/// Parses one frame. `hocuspocus` strips the leading document name.
pub fn parse(frame: &[u8], hocuspocus: bool) -> Option<Incoming<'_>> {
    let mut r = Reader { buf: frame, pos: 0 };
    if hocuspocus {
        r.bytes()?;
    }
    let kind = r.var()?;
    Some(match kind {
        // 4 = Hocuspocus "sync reply": same payload as sync.
        0 | 4 => match r.var()? {
            0 => Incoming::Step1(r.bytes()?),
            1 => Incoming::Step2(r.bytes()?),
            2 => Incoming::Update(r.bytes()?),
            other => Incoming::Other(100 + other),
        },
        1 => Incoming::Awareness,
        2 => {
            let sub = r.var()?;
            let denied = if hocuspocus { sub == 1 } else { sub == 0 };
            if denied {
                let reason = r
                    .bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Incoming::AuthDenied(reason)
            } else {
                Incoming::AuthOk
            }
        }
        3 => Incoming::QueryAwareness,
        8 if hocuspocus => Incoming::SyncStatus(r.var().unwrap_or(1) == 1),
        9 if hocuspocus => Incoming::Ping,
        other => Incoming::Other(other),
    })
}

/// The marker a fan-out client inserts: `@@<sender>:<nanos>|`.
pub fn marker(sender: u32, nanos: u64) -> String {
    format!("@@{sender}:{nanos}|")
}

/// Finds every marker in the raw bytes of an update (strings are stored verbatim in the
/// v1 encoding, and merged updates keep them contiguous) and calls `f(sender, nanos)`.
pub fn scan_markers(bytes: &[u8], mut f: impl FnMut(u32, u64)) {
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'@' && bytes[i + 1] == b'@' {
            if let Some((sender, nanos, end)) = parse_marker(bytes, i + 2) {
                f(sender, nanos);
                i = end;
                continue;
            }
        }
        i += 1;
    }
}

fn parse_marker(b: &[u8], mut i: usize) -> Option<(u32, u64, usize)> {
    let (sender, next) = digits(b, i)?;
    i = next;
    if b.get(i) != Some(&b':') {
        return None;
    }
    let (nanos, next) = digits(b, i + 1)?;
    i = next;
    if b.get(i) != Some(&b'|') {
        return None;
    }
    Some((u32::try_from(sender).ok()?, nanos, i + 1))
}

fn digits(b: &[u8], mut i: usize) -> Option<(u64, usize)> {
    let start = i;
    let mut v: u64 = 0;
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
        i += 1;
    }
    (i > start).then_some((v, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_roundtrip_through_an_update() {
        use yrs::{Doc, GetString, Text, Transact};
        let doc = Doc::with_client_id(7);
        let text = doc.get_or_insert_text("content");
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, &marker(3, 123456789));
        text.insert(&mut txn, 0, &marker(4, 5));
        let update = txn.encode_update_v1();
        assert!(text.get_string(&txn).contains("@@4:5|"));
        let mut seen = vec![];
        scan_markers(&update, |s, n| seen.push((s, n)));
        seen.sort();
        assert_eq!(seen, vec![(3, 123456789), (4, 5)]);
    }

    #[test]
    fn parses_hocuspocus_frames() {
        let f = Framing::new(true, "doc-1");
        let msg = f.update(vec![1, 2, 3]);
        assert_eq!(parse(&msg, true), Some(Incoming::Update(&[1, 2, 3])));
        let mut status = f.wrap(vec![8]);
        write_var(&mut status, 1);
        assert_eq!(parse(&status, true), Some(Incoming::SyncStatus(true)));
        let mut ok = f.wrap(vec![2, 2]);
        write_var(&mut ok, 10);
        ok.extend_from_slice(b"read-write");
        assert_eq!(parse(&ok, true), Some(Incoming::AuthOk));
        let plain = Framing::Plain.step1(&StateVector::default());
        assert_eq!(parse(&plain, false), Some(Incoming::Step1(&[0])));
    }
}
