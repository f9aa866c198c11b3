//! Under the WebSocket library: each frame's header is read here first, and the frame is
//! handed on only once its bytes are charged to the connection's [`Account`]
//! (`crate::receiving`: per client address and in total).
//!
//! The library reserves (and zero-fills) a frame's whole declared length as soon as it
//! has read the frame's header, so the header is what must wait: a frame that does not
//! fit stays here (its header, at most 14 bytes, and at most [`READ_AHEAD`] bytes read
//! with it), and the rest stays unread in the kernel, where TCP flow control stops the
//! client, until a message of its address (or any, for the total) is handed on.
//!
//! What is charged: a message in one frame, its length; a fragmented message, the size
//! limit at its first frame (so a message that holds bytes never waits for more: its
//! further frames take from that, and the frame that would pass it ends the socket with
//! 1009 here, as the library would once it had read it); a control frame longer than a
//! valid one (125 bytes), its length. A message is released when the
//! reader asks for more bytes after it: by then the socket loop has handed it to its room.
//! Frames larger than the size limit are not charged: the library refuses them at their
//! header, before reserving anything.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::close::MessageTooBig;
use crate::receiving::Account;

/// Longest WebSocket frame header: 2 bytes, an 8-byte length, a 4-byte mask.
pub(crate) const MAX_HEADER: usize = 14;
/// Bytes read past the frame being received, so that one read takes many small frames.
/// What is read past a frame that must wait is kept here, so this bounds it.
const READ_AHEAD: u64 = 4 * 1024;
/// Longest payload of a valid control frame (RFC 6455, 5.5).
const MAX_CONTROL: u64 = 125;

/// The header's full length once its first bytes are known (2 until then), and the
/// payload length once the header is complete.
pub(crate) fn header_size(head: &[u8]) -> (usize, Option<u64>) {
    if head.len() < 2 {
        return (2, None);
    }
    let mask = if head[1] & 0x80 != 0 { 4 } else { 0 };
    let (ext, size) = match head[1] & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let full = 2 + ext + mask;
    if head.len() < full {
        return (full, None);
    }
    let size = size.unwrap_or_else(|| {
        head[2..2 + ext]
            .iter()
            .fold(0u64, |n, b| (n << 8) | u64::from(*b))
    });
    (full, Some(size))
}

/// Where the reader stands in the frames.
#[derive(Default)]
struct Frames {
    /// Payload bytes of the frame being passed.
    payload_left: u64,
    /// That frame ends a message.
    ends_message: bool,
    /// A fragmented message is being received.
    in_message: bool,
    /// What is left of that message's charge.
    reserve_left: u64,
}

pub(crate) struct Metered<S> {
    inner: S,
    account: Account,
    max_message: u64,
    frames: Frames,
    /// A header read but not yet handed on: being completed, or waiting to be charged.
    head: [u8; MAX_HEADER],
    head_len: usize,
    /// How much of a charged header has been handed on.
    handed: Option<usize>,
    /// Bytes read behind a header that had to wait, handed on before anything is read.
    stash: Vec<u8>,
    stash_at: usize,
}

impl<S> Metered<S> {
    pub(crate) fn new(inner: S, account: Account, max_message_size: usize) -> Metered<S> {
        Metered {
            inner,
            account,
            max_message: max_message_size as u64,
            frames: Frames::default(),
            head: [0; MAX_HEADER],
            head_len: 0,
            handed: None,
            stash: Vec::new(),
            stash_at: 0,
        }
    }

    /// Charges the frame whose complete header is `head`, or says it must wait.
    fn admit(&mut self, head: &[u8], cx: &mut Context<'_>) -> io::Result<bool> {
        let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
        let size = header_size(head).1.expect("a complete header");
        let frames = &mut self.frames;
        let control = opcode >= 8;
        let admitted = if size > self.max_message || (control && size <= MAX_CONTROL) {
            true
        } else if opcode == 0 && frames.in_message {
            // The library would refuse the message once this frame is read.
            if size > frames.reserve_left {
                return Err(io::Error::new(io::ErrorKind::InvalidData, MessageTooBig));
            }
            frames.reserve_left -= size;
            true
        } else if fin || control {
            self.account.charge(size, cx)
        } else {
            let reserve = size.max(self.max_message);
            let charged = self.account.charge(reserve, cx);
            if charged {
                frames.reserve_left = reserve - size;
            }
            charged
        };
        if admitted {
            frames.payload_left = size;
            frames.ends_message = !control && fin;
            if !control {
                frames.in_message = !fin;
            }
        }
        Ok(admitted)
    }

    /// The frame's last byte has been handed on.
    fn frame_end(&mut self) {
        if std::mem::take(&mut self.frames.ends_message) {
            self.frames.reserve_left = 0;
            self.account.received();
        }
    }

    /// Follows the frames through `data` (just placed in the reader's buffer) and charges
    /// each header; how many bytes may be handed on. A header that is incomplete or must
    /// wait stops it there.
    fn scan(&mut self, data: &[u8], cx: &mut Context<'_>) -> io::Result<usize> {
        let mut at = 0;
        loop {
            let left = self.frames.payload_left;
            if left > 0 {
                let n = left.min((data.len() - at) as u64);
                at += n as usize;
                self.frames.payload_left -= n;
                if self.frames.payload_left > 0 {
                    return Ok(at);
                }
                self.frame_end();
            }
            let rest = &data[at..];
            let (full, size) = header_size(&rest[..rest.len().min(MAX_HEADER)]);
            if size.is_none() {
                return Ok(at);
            }
            match self.admit(&rest[..full], cx) {
                Ok(true) => {}
                Err(e) if at == 0 => return Err(e),
                // What came before goes on first; a refused header is checked again after.
                Ok(false) | Err(_) => return Ok(at),
            }
            at += full;
            if self.frames.payload_left == 0 {
                self.frame_end();
            }
        }
    }

    fn stashed(&self) -> &[u8] {
        &self.stash[self.stash_at..]
    }

    fn unstash(&mut self, n: usize) {
        self.stash_at += n;
        if self.stash_at == self.stash.len() {
            (self.stash, self.stash_at) = (Vec::new(), 0);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Asking for more: what the library returned has been handed on.
        this.account.taken();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if let Some(at) = this.handed {
                let n = (this.head_len - at).min(buf.remaining());
                buf.put_slice(&this.head[at..at + n]);
                if at + n < this.head_len {
                    this.handed = Some(at + n);
                } else {
                    (this.handed, this.head_len) = (None, 0);
                    if this.frames.payload_left == 0 {
                        this.frame_end();
                    }
                }
                return Poll::Ready(Ok(()));
            }
            if this.head_len > 0 {
                let (full, size) = header_size(&this.head[..this.head_len]);
                if size.is_some() {
                    let head = this.head;
                    if !this.admit(&head[..full], cx)? {
                        return Poll::Pending;
                    }
                    this.handed = Some(0);
                    continue;
                }
                // Complete the header: from what was read with it, else exactly from the stream.
                let want = full - this.head_len;
                let have = this.stashed().len().min(want);
                if have > 0 {
                    let (from, to) = (this.stash_at, this.head_len);
                    this.head[to..to + have].copy_from_slice(&this.stash[from..from + have]);
                    this.head_len += have;
                    this.unstash(have);
                    continue;
                }
                let mut part = ReadBuf::new(&mut this.head[this.head_len..full]);
                std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
                let n = part.filled().len();
                if n == 0 {
                    return Poll::Ready(Ok(())); // the stream ended inside a header
                }
                this.head_len += n;
                continue;
            }
            let start = buf.filled().len();
            let from_stash = !this.stashed().is_empty();
            if from_stash {
                let n = this.stashed().len().min(buf.remaining());
                buf.put_slice(&this.stash[this.stash_at..this.stash_at + n]);
            } else {
                let ahead = this.frames.payload_left.saturating_add(READ_AHEAD);
                let max = usize::try_from(ahead)
                    .unwrap_or(usize::MAX)
                    .min(buf.remaining());
                let mut part = ReadBuf::new(buf.initialize_unfilled_to(max));
                std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
                let n = part.filled().len();
                if n == 0 {
                    return Poll::Ready(Ok(())); // end of stream
                }
                buf.advance(n);
            }
            let end = buf.filled().len();
            let kept = this.scan(&buf.filled()[start..end], cx)?;
            let mut used = end - start;
            if start + kept < end {
                // A header is incomplete or must wait: it goes to `head`, what follows
                // it stays (or goes) in the stash.
                let back = &buf.filled()[start + kept..end];
                let head = back.len().min(header_size(back).0);
                this.head[..head].copy_from_slice(&back[..head]);
                this.head_len = head;
                if !from_stash && back.len() > head {
                    (this.stash, this.stash_at) = (back[head..].to_vec(), 0);
                }
                used = kept + head;
                buf.set_filled(start + kept);
            }
            if from_stash {
                this.unstash(used);
            }
            if kept == 0 {
                continue;
            }
            return Poll::Ready(Ok(()));
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "metered_tests.rs"]
mod tests;
