//! Framing of the Hocuspocus provider's variant of the y-protocol.
//!
//! `@hocuspocus/provider` multiplexes documents over one socket: every frame starts with
//! `varString(name)` and `varUint(type)`, then the payload. For sync (0), awareness (1),
//! query awareness (3) and stateless (5) the type and payload are laid out exactly as a
//! y-websocket message, so after the name the bytes go to the room unchanged and are
//! decoded there, once: here only their framing is checked (one message per frame), the
//! room checks what they hold and closes the socket if it is malformed. Only what differs is handled here: the auth message
//! (2: token / permission denied / authenticated), close (7), sync status (8) and the
//! bare ping / pong frames (9 / 10) that carry no name.
//!
//! The name may be a routing key `document\0session` (the provider's `sessionAwareness`):
//! replies go back under the whole key, the room is the part before the `\0`.

use bytes::Bytes;
use yrs::encoding::read::{Cursor, Read};
use yrs::encoding::write::Write;

use crate::{
    peer::{Access, Outgoing},
    protocol,
};

pub(crate) const SYNC: u64 = 0;
pub(crate) const AWARENESS: u64 = 1;
pub(crate) const AUTH: u64 = 2;
pub(crate) const QUERY_AWARENESS: u64 = 3;
/// Free-form string messages between clients of one document.
pub(crate) const STATELESS: u64 = protocol::STATELESS;
pub(crate) const CLOSE: u64 = 7;
pub(crate) const SYNC_STATUS: u64 = 8;
pub(crate) const PONG: u8 = 10;

const AUTH_TOKEN: u64 = 0;
const AUTH_PERMISSION_DENIED: u64 = 1;
const AUTH_AUTHENTICATED: u64 = 2;

/// One frame from a provider.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    /// `[10]`, the provider's answer to a ping.
    Pong,
    /// A message for the document (routing key) `key`.
    Doc { key: String, message: DocMessage },
}

#[derive(Debug, PartialEq)]
pub(crate) enum DocMessage {
    /// The provider's token (empty when it has none).
    Auth { token: String },
    /// Sync, awareness, query awareness or stateless: the bytes after the name, which are
    /// one y-protocol message by its framing, for the room to decode.
    Room(Bytes),
    /// The provider detached this document.
    Close,
    /// A type this server does not handle; the frame is skipped.
    Unknown(u64),
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("empty frame")]
    Empty,
    #[error("document name does not decode: {0}")]
    Name(yrs::encoding::read::Error),
    #[error("message type does not decode: {0}")]
    Type(yrs::encoding::read::Error),
    #[error("auth message does not decode: {0}")]
    Auth(yrs::encoding::read::Error),
    #[error("{kind} message does not decode: {detail}")]
    Body { kind: &'static str, detail: String },
    #[error("{0} bytes left over after the message")]
    Trailing(usize),
}

/// The room a routing key belongs to.
pub(crate) fn document_of(key: &str) -> &str {
    key.split_once('\0').map_or(key, |(doc, _)| doc)
}

/// Decodes one frame. Frames carry one message each; anything after it is an error.
pub(crate) fn decode(frame: Bytes) -> Result<Incoming, FrameError> {
    if frame.is_empty() {
        return Err(FrameError::Empty);
    }
    if frame.as_ref() == [PONG] {
        return Ok(Incoming::Pong);
    }
    let mut cursor = Cursor::new(&frame);
    let key = cursor.read_string().map_err(FrameError::Name)?.to_string();
    let body_start = cursor.next;
    let kind: u64 = cursor.read_var().map_err(FrameError::Type)?;
    let message = match kind {
        SYNC | AWARENESS | QUERY_AWARENESS | STATELESS => {
            let body = frame.slice(body_start..);
            // The framing only: the room decodes the message, and bounds-walks its update,
            // once (`protocol::decode_frame_walked`).
            let n = protocol::count_messages(&body).map_err(|e| FrameError::Body {
                kind: kind_name(kind),
                detail: e.to_string(),
            })?;
            if n != 1 {
                return Err(FrameError::Body {
                    kind: kind_name(kind),
                    detail: format!("{n} messages in one frame"),
                });
            }
            DocMessage::Room(body)
        }
        AUTH => {
            let sub: u64 = cursor.read_var().map_err(FrameError::Auth)?;
            if sub != AUTH_TOKEN {
                // Only servers send the other auth sub-types.
                return Ok(Incoming::Doc {
                    key,
                    message: DocMessage::Unknown(kind),
                });
            }
            let token = cursor.read_string().map_err(FrameError::Auth)?.to_string();
            // Provider 4.x appends its version.
            if cursor.has_content() {
                cursor.read_string().map_err(FrameError::Auth)?;
            }
            ensure_consumed(&cursor, frame.len())?;
            DocMessage::Auth { token }
        }
        CLOSE => {
            ensure_consumed(&cursor, frame.len())?;
            DocMessage::Close
        }
        other => DocMessage::Unknown(other),
    };
    Ok(Incoming::Doc { key, message })
}

fn ensure_consumed(cursor: &Cursor, len: usize) -> Result<(), FrameError> {
    match len - cursor.next {
        0 => Ok(()),
        n => Err(FrameError::Trailing(n)),
    }
}

fn kind_name(kind: u64) -> &'static str {
    match kind {
        SYNC => "sync",
        AWARENESS => "awareness",
        QUERY_AWARENESS => "query awareness",
        STATELESS => "stateless",
        _ => "unknown",
    }
}

/// A frame for the provider: `key` then a message as the room encodes it.
pub(crate) fn encode(key: &str, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(key.len() + 2 + body.len());
    out.write_string(key);
    out.extend_from_slice(body);
    Bytes::from(out)
}

/// `[8][1]` or `[8][0]`: whether an update from this client is saved (refused for a
/// read-only client). The room sends it only once the update is committed.
pub(crate) fn sync_status(saved: bool) -> Bytes {
    const SAVED: [u8; 2] = [SYNC_STATUS as u8, 1];
    const NOT_SAVED: [u8; 2] = [SYNC_STATUS as u8, 0];
    Bytes::from_static(if saved { &SAVED } else { &NOT_SAVED })
}

/// What a room sends a peer, as frames for the provider's document `key`, and how many
/// times the frame is written. A commit is one queue slot however many updates it carried
/// (a burst cannot fill the peer's queue with acknowledgements), but the provider counts
/// sync-status messages one by one, so it gets one each.
pub(crate) fn encode_outgoing(key: &str, out: &Outgoing) -> (Bytes, u64) {
    match out {
        Outgoing::Message(body) | Outgoing::Stateless(body) => (encode(key, body), 1),
        Outgoing::Committed(n) => (encode(key, &sync_status(true)), *n),
        Outgoing::Refused => (encode(key, &sync_status(false)), 1),
    }
}

/// `[2][2] scope`, the answer to an accepted token.
pub(crate) fn authenticated(access: Access) -> Bytes {
    let scope = match access {
        Access::Read => "readonly",
        Access::Write => "read-write",
    };
    auth_reply(AUTH_AUTHENTICATED, scope)
}

/// `[2][1] reason`, the answer to a refused token.
pub(crate) fn permission_denied(reason: &str) -> Bytes {
    auth_reply(AUTH_PERMISSION_DENIED, reason)
}

fn auth_reply(sub: u64, text: &str) -> Bytes {
    let mut out = Vec::with_capacity(text.len() + 4);
    out.write_var(AUTH);
    out.write_var(sub);
    out.write_string(text);
    Bytes::from(out)
}

/// `[7] reason`: the server closed this one document; the socket stays open.
pub(crate) fn close(reason: &str) -> Bytes {
    let mut out = Vec::with_capacity(reason.len() + 4);
    out.write_var(CLOSE);
    out.write_string(reason);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::StateVector;

    fn frame(key: &str, body: &[u8]) -> Bytes {
        encode(key, body)
    }

    #[test]
    fn sync_and_awareness_bodies_pass_through_unchanged() {
        let step1 = protocol::sync_step1(StateVector::default());
        let got = decode(frame("notes", &step1)).unwrap();
        assert_eq!(
            got,
            Incoming::Doc {
                key: "notes".into(),
                message: DocMessage::Room(step1)
            }
        );
    }

    /// The transport checks the framing only; what a message holds is the room's to
    /// check (`protocol::decode_frame_walked`), so it is decoded once.
    #[test]
    fn a_message_is_passed_on_by_its_framing_and_decoded_by_the_room() {
        // an update claiming 50 million clients in 8 bytes
        let update = [0, 2, 6, 0x80, 0xe1, 0xeb, 0x17, 0, 0];
        assert_eq!(
            decode(frame("d", &update)).unwrap(),
            Incoming::Doc {
                key: "d".into(),
                message: DocMessage::Room(Bytes::copy_from_slice(&update))
            }
        );
        assert!(protocol::decode_frame_walked(&update).is_err());
    }

    #[test]
    fn auth_token_with_and_without_provider_version() {
        let mut body = Vec::new();
        body.write_var(AUTH);
        body.write_var(AUTH_TOKEN);
        body.write_string("tok");
        let v3 = decode(frame("a", &body)).unwrap();
        body.write_string("4.8.0");
        let v4 = decode(frame("a", &body)).unwrap();
        for got in [v3, v4] {
            assert_eq!(
                got,
                Incoming::Doc {
                    key: "a".into(),
                    message: DocMessage::Auth {
                        token: "tok".into()
                    }
                }
            );
        }
        body.push(1);
        assert!(matches!(
            decode(frame("a", &body)),
            Err(FrameError::Trailing(1))
        ));
    }

    #[test]
    fn pong_close_and_unknown_types() {
        assert_eq!(decode(Bytes::from_static(&[PONG])).unwrap(), Incoming::Pong);
        assert_eq!(
            decode(frame("d", &[7])).unwrap(),
            Incoming::Doc {
                key: "d".into(),
                message: DocMessage::Close
            }
        );
        assert_eq!(
            decode(frame("d", &[42, 1, 2, 3])).unwrap(),
            Incoming::Doc {
                key: "d".into(),
                message: DocMessage::Unknown(42)
            }
        );
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(matches!(decode(Bytes::new()), Err(FrameError::Empty)));
        // name length past the end
        assert!(matches!(
            decode(Bytes::from_static(&[40, b'a'])),
            Err(FrameError::Name(_))
        ));
        // no type after the name
        assert!(matches!(decode(frame("d", &[])), Err(FrameError::Type(_))));
        // an update whose length runs past the end
        assert!(matches!(
            decode(frame("d", &[0, 2, 200, 1])),
            Err(FrameError::Body { .. })
        ));
        // a sync message of an unknown sub-type
        assert!(matches!(
            decode(frame("d", &[0, 9, 1, 1])),
            Err(FrameError::Body { .. })
        ));
        // two messages in one frame
        let mut two = protocol::sync_step1(StateVector::default()).to_vec();
        two.extend_from_slice(&two.clone());
        assert!(matches!(
            decode(frame("d", &two)),
            Err(FrameError::Body { .. })
        ));
    }

    #[test]
    fn replies_match_the_provider_layout() {
        assert_eq!(
            authenticated(Access::Read).as_ref(),
            b"\x02\x02\x08readonly"
        );
        assert_eq!(
            authenticated(Access::Write).as_ref(),
            b"\x02\x02\x0aread-write"
        );
        assert_eq!(permission_denied("no").as_ref(), b"\x02\x01\x02no");
        assert_eq!(close("gone").as_ref(), b"\x07\x04gone");
        assert_eq!(encode("d", &sync_status(true)).as_ref(), &[1, b'd', 8, 1]);
        let saved = encode("d", &[8, 1]);
        assert_eq!(
            encode_outgoing("d", &Outgoing::Committed(300)),
            (saved, 300)
        );
        let refused = encode("d", &[8, 0]);
        assert_eq!(encode_outgoing("d", &Outgoing::Refused), (refused, 1));
        let body = Bytes::from_static(&[5, 2, b'h', b'i']);
        let stateless = encode("d", &body);
        assert_eq!(
            encode_outgoing("d", &Outgoing::Stateless(body)),
            (stateless, 1)
        );
        assert_eq!(document_of("doc\0session"), "doc");
        assert_eq!(document_of("doc"), "doc");
    }
}
