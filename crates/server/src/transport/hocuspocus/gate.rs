//! What a Hocuspocus socket may send before any of its tokens has been accepted.
//!
//! The WebSocket library reserves (and zero-fills) a frame's whole declared length as soon
//! as it has read the frame's header, and a client may declare 16 MiB and then send
//! nothing more. Its frame limit is fixed when the socket opens, and after authentication
//! a Hocuspocus socket needs the full one. So the gate sits under the library, between it
//! and the TCP stream: until the socket is [`Opener::open`]ed it reads each frame header
//! itself, and hands a frame on only if it fits in what is left of [`PRE_AUTH_BYTES`].
//! A frame that does not fit stays unread in the kernel (the gate holds its header, at
//! most 14 bytes) until a token is accepted or the authentication deadline closes the
//! socket. A real provider's auth message comes first and is small, and frames it sends
//! behind it simply wait for the answer, so nothing a provider does is refused. Once
//! open, the gate passes bytes straight through.

use std::{
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll},
};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::transport::metered::{header_size, MAX_HEADER};

/// Bytes of frames (headers included) a socket may send before a token is accepted: room
/// for the auth, sync and awareness messages of many documents, not for content.
pub(crate) const PRE_AUTH_BYTES: u64 = 64 * 1024;

#[derive(Default)]
struct Shared {
    open: AtomicBool,
    waker: AtomicWaker,
}

/// Lets the connection's handler open the gate once a token is accepted.
#[derive(Clone)]
pub(crate) struct Opener(Arc<Shared>);

impl Opener {
    pub(crate) fn open(&self) {
        self.0.open.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    pub(crate) fn is_open(&self) -> bool {
        self.0.open.load(Ordering::Acquire)
    }
}

pub(crate) struct Gate<S> {
    inner: S,
    shared: Arc<Shared>,
    /// The header being read (and checked) before the library sees it.
    head: [u8; MAX_HEADER],
    head_len: usize,
    /// Bytes of a checked header already handed on.
    handed: usize,
    checked: bool,
    /// Payload bytes of the current frame still to pass.
    payload_left: u64,
    budget: u64,
}

impl<S> Gate<S> {
    pub(crate) fn new(inner: S) -> (Gate<S>, Opener) {
        let shared = Arc::new(Shared::default());
        let gate = Gate {
            inner,
            shared: shared.clone(),
            head: [0; MAX_HEADER],
            head_len: 0,
            handed: 0,
            checked: false,
            payload_left: 0,
            budget: PRE_AUTH_BYTES,
        };
        (gate, Opener(shared))
    }

    fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::Acquire)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Gate<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.checked {
                let n = (this.head_len - this.handed).min(buf.remaining());
                buf.put_slice(&this.head[this.handed..this.handed + n]);
                this.handed += n;
                if this.handed == this.head_len {
                    (this.head_len, this.handed, this.checked) = (0, 0, false);
                }
                return Poll::Ready(Ok(()));
            }
            if this.payload_left > 0 {
                let max = usize::try_from(this.payload_left)
                    .unwrap_or(usize::MAX)
                    .min(buf.remaining());
                let mut part = ReadBuf::new(buf.initialize_unfilled_to(max));
                std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
                let n = part.filled().len();
                buf.advance(n);
                this.payload_left -= n as u64;
                return Poll::Ready(Ok(()));
            }
            if this.is_open() {
                if this.head_len > 0 {
                    // A header begun before the gate opened goes on as it is.
                    this.checked = true;
                    continue;
                }
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            }
            let (full, size) = header_size(&this.head[..this.head_len]);
            let Some(size) = size else {
                let mut part = ReadBuf::new(&mut this.head[this.head_len..full]);
                std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut part))?;
                let n = part.filled().len();
                if n == 0 {
                    return Poll::Ready(Ok(())); // end of stream
                }
                this.head_len += n;
                continue;
            };
            let frame = full as u64 + size;
            if frame > this.budget {
                this.shared.waker.register(cx.waker());
                if this.is_open() {
                    continue;
                }
                return Poll::Pending;
            }
            this.budget -= frame;
            this.payload_left = size;
            this.checked = true;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Gate<S> {
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
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A masked client frame header for a payload of `len` bytes.
    fn header(len: u64) -> Vec<u8> {
        let mut h = vec![0x82];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend((len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend(len.to_be_bytes());
            }
        }
        h.extend([1, 2, 3, 4]);
        h
    }

    #[tokio::test]
    async fn small_frames_pass_and_a_big_one_waits_for_the_opener() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let (mut gate, opener) = Gate::new(server);
        let mut small = header(5);
        small.extend(b"hello");
        let mut big = header(1 << 20);
        big.extend(vec![7u8; 1000]);
        client.write_all(&small).await.unwrap();
        client.write_all(&big).await.unwrap();

        let mut got = vec![0u8; small.len()];
        gate.read_exact(&mut got).await.unwrap();
        assert_eq!(got, small);
        // The big frame's header is not handed on while the gate is shut.
        let mut more = [0u8; 1];
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), gate.read(&mut more)).await;
        assert!(waited.is_err(), "a frame past the budget was read");

        opener.open();
        let mut got = vec![0u8; big.len()];
        gate.read_exact(&mut got).await.unwrap();
        assert_eq!(got, big);
    }

    #[tokio::test]
    async fn the_budget_covers_the_sum_of_frames() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let (mut gate, _opener) = Gate::new(server);
        let frame = {
            let mut f = header(1000);
            f.extend(vec![0u8; 1000]);
            f
        };
        let fit = PRE_AUTH_BYTES as usize / frame.len();
        for _ in 0..fit + 1 {
            client.write_all(&frame).await.unwrap();
        }
        let mut got = vec![0u8; frame.len() * fit];
        gate.read_exact(&mut got).await.unwrap();
        let mut more = [0u8; 1];
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), gate.read(&mut more)).await;
        assert!(waited.is_err(), "read past the pre-authentication budget");
    }

    #[tokio::test]
    async fn headers_split_across_reads_pass_intact_and_opening_mid_header_is_safe() {
        let (mut client, server) = tokio::io::duplex(64);
        let (mut gate, opener) = Gate::new(server);
        let mut frames = Vec::new();
        for len in [3u64, 300, 70_000] {
            frames.extend(header(len));
            frames.extend((0..len).map(|i| i as u8));
        }
        let sent = frames.clone();
        let writer = tokio::spawn(async move {
            // A byte at a time: every header arrives in pieces.
            for b in sent {
                client.write_all(&[b]).await.unwrap();
            }
        });
        // The first two fit the budget; the 70,000-byte one waits until the gate opens,
        // possibly while its header is still arriving.
        let first = header(3).len() + 3 + header(300).len() + 300;
        let mut got = vec![0u8; first];
        gate.read_exact(&mut got).await.unwrap();
        opener.open();
        let mut rest = vec![0u8; frames.len() - first];
        gate.read_exact(&mut rest).await.unwrap();
        got.extend(rest);
        assert_eq!(got, frames);
        writer.await.unwrap();
    }
}
