//! Framing of y-websocket messages on top of `yrs::sync`.
//!
//! `yrs` does the encoding; this module only adds what the wire needs: one message per
//! outgoing frame (the JavaScript client reads just the first message of a frame), and a
//! decoder that accepts several messages in one incoming frame (our own HTTP transports
//! batch them) while refusing trailing garbage.

use bytes::Bytes;

use crate::yjs_bounds::{self, BoundsError, Walked};
use yrs::encoding::read::Cursor;
use yrs::sync::{Awareness, AwarenessUpdate, Message, MessageReader, SyncMessage};
use yrs::updates::decoder::DecoderV1;
use yrs::updates::encoder::Encode;
use yrs::StateVector;

/// Decodes every message in a frame. An error means the frame as a whole is malformed.
///
/// `yrs::sync::MessageReader` takes running out of bytes for the end of the stream, so a
/// truncated message (say, a length prefix past the end) would vanish silently. Here each
/// message's extent is found first, and it must decode from exactly those bytes.
pub fn decode_frame(frame: &[u8]) -> Result<Vec<Message>, yrs::encoding::read::Error> {
    decode(frame, false).map(|msgs| msgs.into_iter().map(|d| d.msg).collect())
}

/// One message of a frame, with the bounds check's walk of its update (sync step 2 and
/// update messages), which the room's admission reads instead of walking it again.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) msg: Message,
    pub(crate) walked: Option<Walked>,
}

/// [`decode_frame`], keeping each update's walk (see [`Decoded`]).
pub(crate) fn decode_frame_walked(
    frame: &[u8],
) -> Result<Vec<Decoded>, yrs::encoding::read::Error> {
    decode(frame, true)
}

fn decode(frame: &[u8], keep: bool) -> Result<Vec<Decoded>, yrs::encoding::read::Error> {
    if frame.is_empty() {
        return Err(yrs::encoding::read::Error::EndOfBuffer(1));
    }
    let mut cursor = Cursor::new(frame);
    let mut out = Vec::new();
    while cursor.has_content() {
        let start = cursor.next;
        let walked = skip_message(&mut cursor, keep)?;
        let mut decoder = DecoderV1::new(Cursor::new(&frame[start..cursor.next]));
        let mut messages = MessageReader::new(&mut decoder);
        match messages.next() {
            Some(msg) => out.push(Decoded { msg: msg?, walked }),
            None => return Err(yrs::encoding::read::Error::EndOfBuffer(1)),
        }
    }
    Ok(out)
}

/// Moves past one message, following the framing `Message::decode` reads, and checks the
/// payloads `yrs` would otherwise decode unbounded (see `yjs_bounds`); an update's walk
/// is returned when `keep` asks for it.
fn skip_message(
    cursor: &mut Cursor,
    keep: bool,
) -> Result<Option<Walked>, yrs::encoding::read::Error> {
    use yrs::encoding::read::Read;
    let bounded = |e: BoundsError| yrs::encoding::read::Error::Custom(e.to_string());
    let tag: u8 = cursor.read_var()?;
    match tag {
        // sync: sub-type, then a buffer
        0 => {
            let sub: u8 = cursor.read_var()?;
            let payload = cursor.read_buf()?;
            match sub {
                0 => yjs_bounds::check_state_vector(payload).map_err(bounded)?,
                1 | 2 if keep => return Ok(Some(yjs_bounds::walk(payload).map_err(bounded)?)),
                1 | 2 => {
                    yjs_bounds::check_update(payload).map_err(bounded)?;
                }
                _ => {}
            }
        }
        // awareness: one awareness update
        1 => {
            let payload = cursor.read_buf()?;
            yjs_bounds::check_awareness(payload).map_err(bounded)?;
        }
        // auth: sub-type, then a reason string for "permission denied"
        2 => {
            if cursor.read_var::<u8>()? == 0 {
                cursor.read_string()?;
            }
        }
        // query awareness: nothing follows
        3 => {}
        // unknown types: one buffer
        _ => {
            cursor.read_buf()?;
        }
    }
    Ok(None)
}

/// The message type of stateless messages: free-form strings between clients of one
/// document (the Hocuspocus provider's; a custom type to `yrs::sync`).
pub(crate) const STATELESS: u64 = 5;

pub(crate) fn encode(msg: &Message) -> Bytes {
    Bytes::from(msg.encode_v1())
}

pub(crate) fn sync_step1(sv: StateVector) -> Bytes {
    encode(&Message::Sync(SyncMessage::SyncStep1(sv)))
}

pub(crate) fn sync_step2(update: Vec<u8>) -> Bytes {
    encode(&Message::Sync(SyncMessage::SyncStep2(update)))
}

pub(crate) fn sync_update(update: Vec<u8>) -> Bytes {
    encode(&Message::Sync(SyncMessage::Update(update)))
}

pub(crate) fn awareness(update: AwarenessUpdate) -> Bytes {
    encode(&Message::Awareness(update))
}

/// Every live awareness state, or `None` when nobody has announced one.
pub(crate) fn all_awareness(awareness: &Awareness) -> Option<Bytes> {
    let update = awareness.update().ok()?;
    (!update.clients.is_empty()).then(|| self::awareness(update))
}

/// `[2][0] reason`: what the y-websocket client understands as "permission denied".
pub(crate) fn permission_denied(reason: &str) -> Bytes {
    encode(&Message::Auth(Some(reason.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_several_messages_in_one_frame() {
        let mut frame = sync_step1(StateVector::default()).to_vec();
        frame.extend_from_slice(&encode(&Message::AwarenessQuery));
        let msgs = decode_frame(&frame).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[1], Message::AwarenessQuery);
    }

    /// The room reads each update's walk from the frame check instead of walking it again:
    /// the walk is kept for updates (and only for them) and answers what a walk of the
    /// update alone answers.
    #[test]
    fn an_update_is_walked_once_and_its_walk_kept_for_the_room() {
        use yrs::{ReadTxn, Text, Transact};
        let doc = yrs::Doc::with_client_id(7);
        let text = doc.get_or_insert_text("t");
        text.insert(&mut doc.transact_mut(), 0, "a");
        let first = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let sv = doc.transact().state_vector();
        text.insert(&mut doc.transact_mut(), 1, "b");
        let second = doc.transact().encode_state_as_update_v1(&sv);
        let mut frame = sync_update(second.clone()).to_vec();
        frame.extend_from_slice(&sync_step2(first.clone()));
        frame.extend_from_slice(&sync_step1(StateVector::default()));
        let msgs = decode_frame_walked(&frame).unwrap();
        let plain = decode_frame(&frame).unwrap();
        assert_eq!(msgs.len(), 3);
        for (walked, msg) in msgs.iter().zip(plain) {
            assert_eq!(walked.msg, msg);
        }
        let nothing = |_| 0;
        let update = msgs[0].walked.as_ref().expect("the update's walk is kept");
        assert_eq!(update.shape, yjs_bounds::check_update(&second).unwrap());
        // "b" builds on "a" (client 7, clock 0): missing from an empty document only.
        assert_eq!(update.missing(nothing), Some((7, 0)));
        assert_eq!(update.missing(|c| u64::from(c == 7)), None);
        let step2 = msgs[1]
            .walked
            .as_ref()
            .expect("a sync step 2's walk is kept");
        assert_eq!(step2.shape, yjs_bounds::check_update(&first).unwrap());
        assert_eq!(step2.missing(nothing), None);
        assert!(msgs[2].walked.is_none(), "a state vector is no update");
        // What the plain decoder refuses, this one refuses too.
        for bad in [
            &[0, 2, 200, 1][..],
            &[0, 2, 6, 0x80, 0xe1, 0xeb, 0x17, 0, 0],
            &[],
        ] {
            assert!(decode_frame_walked(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_garbage_and_empty_frames() {
        assert!(decode_frame(&[]).is_err());
        // sync message with an unknown sub-type
        assert!(decode_frame(&[0, 9, 1, 1]).is_err());
        // update whose declared length runs past the end
        assert!(decode_frame(&[0, 2, 200, 1]).is_err());
    }

    #[test]
    fn refuses_truncated_messages_after_good_ones() {
        let mut frame = sync_step1(StateVector::default()).to_vec();
        frame.extend_from_slice(&[0, 2, 5, 1]);
        assert!(decode_frame(&frame).is_err());
        // a state vector cut short inside its own buffer
        assert!(decode_frame(&[0, 0, 2, 1, 200]).is_err());
    }

    #[test]
    fn refuses_amplifying_payloads_before_yrs_decodes_them() {
        // an update claiming 50 million clients in 8 bytes
        let update = [0, 2, 6, 0x80, 0xe1, 0xeb, 0x17, 0, 0];
        let err = decode_frame(&update).unwrap_err().to_string();
        assert!(err.contains("client count"), "{err}");
        // a state vector claiming 50 million entries
        assert!(decode_frame(&[0, 0, 4, 0x80, 0xe1, 0xeb, 0x17]).is_err());
        // an awareness update claiming 50 million entries
        assert!(decode_frame(&[1, 4, 0x80, 0xe1, 0xeb, 0x17]).is_err());
    }

    #[test]
    fn unknown_message_types_decode_as_custom() {
        let msgs = decode_frame(&[7, 2, 1, 2]).unwrap();
        assert_eq!(msgs, vec![Message::Custom(7, vec![1, 2])]);
    }
}
