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
    decode(frame, Check::Bounds).map(|msgs| {
        msgs.into_iter()
            .map(|d| match d {
                Decoded::Message(msg) => msg,
                Decoded::Update { step2, update, .. } => update.into_message(step2),
            })
            .collect()
    })
}

/// One message of a frame as the room takes it.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// A sync step 2 (`step2`) or an update: its bytes, copied once from the frame straight
    /// into the frame the room relays ([`UpdateFrame`]), and the bounds check's walk of
    /// it, which the room's admission reads instead of walking it again.
    Update {
        step2: bool,
        update: UpdateFrame,
        walked: Walked,
    },
    /// Any other message, as `yrs` decodes it.
    Message(Message),
}

/// [`decode_frame`] for the room: updates come out as [`Decoded::Update`], not decoded by
/// `yrs` (their walk is kept, and their bytes copied once, into their relay frame).
pub(crate) fn decode_frame_walked(
    frame: &[u8],
) -> Result<Vec<Decoded>, yrs::encoding::read::Error> {
    decode(frame, Check::Walk)
}

/// How many messages a frame holds, by their framing alone: each message's type and the
/// lengths that delimit it, not its contents (no bounds walk, no `yrs`). For a transport
/// that passes the frame on to a room, which decodes it ([`decode_frame_walked`]).
pub(crate) fn count_messages(frame: &[u8]) -> Result<usize, yrs::encoding::read::Error> {
    if frame.is_empty() {
        return Err(yrs::encoding::read::Error::EndOfBuffer(1));
    }
    let mut cursor = Cursor::new(frame);
    let mut n = 0;
    while cursor.has_content() {
        skip_message(&mut cursor, Check::Framing)?;
        n += 1;
    }
    Ok(n)
}

/// What [`skip_message`] checks of a message besides its framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The framing only.
    Framing,
    /// The payloads `yrs` would otherwise decode unbounded (see `yjs_bounds`).
    Bounds,
    /// As `Bounds`, and an update's walk is kept and returned.
    Walk,
}

fn decode(frame: &[u8], check: Check) -> Result<Vec<Decoded>, yrs::encoding::read::Error> {
    if frame.is_empty() {
        return Err(yrs::encoding::read::Error::EndOfBuffer(1));
    }
    let mut cursor = Cursor::new(frame);
    let mut out = Vec::new();
    while cursor.has_content() {
        let start = cursor.next;
        if let Some(u) = skip_message(&mut cursor, check)? {
            out.push(Decoded::Update {
                step2: u.step2,
                update: UpdateFrame::new(u.payload),
                walked: u.walked,
            });
            continue;
        }
        let mut decoder = DecoderV1::new(Cursor::new(&frame[start..cursor.next]));
        let mut messages = MessageReader::new(&mut decoder);
        match messages.next() {
            Some(msg) => out.push(Decoded::Message(msg?)),
            None => return Err(yrs::encoding::read::Error::EndOfBuffer(1)),
        }
    }
    Ok(out)
}

/// A sync step 2 or update found by [`skip_message`] with [`Check::Walk`].
struct Found<'a> {
    step2: bool,
    payload: &'a [u8],
    walked: Walked,
}

/// Moves past one message, following the framing `Message::decode` reads, and checks what
/// `check` asks; an update's walk is returned when it asks for that.
fn skip_message<'a>(
    cursor: &mut Cursor<'a>,
    check: Check,
) -> Result<Option<Found<'a>>, yrs::encoding::read::Error> {
    use yrs::encoding::read::Read;
    let bounded = |e: BoundsError| yrs::encoding::read::Error::Custom(e.to_string());
    let contents = check != Check::Framing;
    let tag: u8 = cursor.read_var()?;
    match tag {
        // sync: sub-type, then a buffer
        0 => {
            let sub: u8 = cursor.read_var()?;
            // The payload as a slice of the frame, not of the cursor's borrow: an update's
            // is handed on (`Found`).
            let len = cursor.read_buf()?.len();
            let frame: &'a [u8] = cursor.buf;
            let payload = &frame[cursor.next - len..cursor.next];
            match sub {
                0 if contents => yjs_bounds::check_state_vector(payload).map_err(bounded)?,
                1 | 2 if check == Check::Walk => {
                    let walked = yjs_bounds::walk(payload).map_err(bounded)?;
                    let step2 = sub == 1;
                    return Ok(Some(Found {
                        step2,
                        payload,
                        walked,
                    }));
                }
                1 | 2 if contents => {
                    yjs_bounds::check_update(payload).map_err(bounded)?;
                }
                0..=2 => {}
                _ => return Err(yrs::encoding::read::Error::UnexpectedValue),
            }
        }
        // awareness: one awareness update
        1 => {
            let payload = cursor.read_buf()?;
            if contents {
                yjs_bounds::check_awareness(payload).map_err(bounded)?;
            }
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

/// An update as a room keeps it between accepting and relaying it: its relay frame
/// `[0, 2, length, update]` (what [`sync_update`] encodes), made with one copy of the
/// update into an allocation of its own, and the update a slice of that frame. The log
/// gets the slice, every peer the frame: the update is neither copied again nor held twice.
/// (The received frame itself is not kept: it may share the socket's read buffer, which a
/// slice of it would keep alive for as long as the update waits for its commit.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpdateFrame {
    frame: Bytes,
    start: usize,
}

impl UpdateFrame {
    pub(crate) fn new(update: &[u8]) -> UpdateFrame {
        use yrs::encoding::write::Write;
        // The two type bytes and at most five of length.
        let mut frame = Vec::with_capacity(update.len() + 7);
        frame.write_var(MSG_SYNC);
        frame.write_var(MSG_SYNC_UPDATE);
        frame.write_buf(update);
        let start = frame.len() - update.len();
        UpdateFrame {
            frame: Bytes::from(frame),
            start,
        }
    }

    /// The update's bytes.
    pub(crate) fn update(&self) -> &[u8] {
        &self.frame[self.start..]
    }

    /// The update as its own `Bytes` (a slice of the frame: no copy).
    pub(crate) fn update_bytes(&self) -> Bytes {
        self.frame.slice(self.start..)
    }

    /// The update's length.
    pub(crate) fn len(&self) -> usize {
        self.frame.len() - self.start
    }

    /// The frame that relays it to a peer.
    pub(crate) fn frame(&self) -> &Bytes {
        &self.frame
    }

    fn into_message(self, step2: bool) -> Message {
        let update = self.update().to_vec();
        Message::Sync(match step2 {
            true => SyncMessage::SyncStep2(update),
            false => SyncMessage::Update(update),
        })
    }
}

const MSG_SYNC: u8 = 0;
const MSG_SYNC_UPDATE: u8 = 2;

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
#[path = "protocol_tests.rs"]
mod tests;
