//! One accepted TCP socket as the HTTP server and, after an upgrade, the WebSocket see it:
//! it carries the connection's place in the counts, and closes without a reset.
//!
//! Closing a socket whose client is still sending (an oversized message, a request the
//! server refused) makes the kernel answer with a reset, and a client whose write fails
//! on a reset reports an abnormal close (1006) or a network error, never the close frame
//! or the JSON refusal the server had sent. So a socket dropped before its client finished
//! sending lingers: it sends its end-of-stream, then reads and discards what the client
//! still sends until the client closes too, for at most [`LINGER`], or [`LINGER_IDLE`] of
//! silence (a client that sends nothing more can no longer be reset).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};

/// Longest a closed socket keeps reading what its client still sends ...
pub(crate) const LINGER: Duration = Duration::from_secs(3);
/// ... or waits for more while it sends nothing.
pub(crate) const LINGER_IDLE: Duration = Duration::from_secs(1);
/// Between a closed socket's reads, so that one read takes what many frames brought.
const LINGER_PAUSE: Duration = Duration::from_millis(20);
/// Bytes read at once from a closed socket.
const LINGER_READ: usize = 16 * 1024;

/// What a socket holds on to until it is really closed: its place in the connection
/// counts, or in the small pool of refused connections being answered.
pub(crate) enum Slot {
    Admitted(#[allow(dead_code)] super::caps::Permit),
    Refused(#[allow(dead_code)] tokio::sync::OwnedSemaphorePermit),
}

pub(crate) struct Socket {
    /// `None` only once dropped.
    stream: Option<TcpStream>,
    slot: Option<Slot>,
    /// The client closed its side: nothing more can arrive, so no reset is possible.
    read_eof: bool,
}

impl Socket {
    pub(crate) fn new(stream: TcpStream, slot: Slot) -> Socket {
        Socket {
            stream: Some(stream),
            slot: Some(slot),
            read_eof: false,
        }
    }

    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.stream.as_mut().expect("socket used after drop"))
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let wanted = buf.remaining() > 0;
        let polled = self.stream().poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if wanted && buf.filled().len() == before {
                self.read_eof = true;
            }
        }
        polled
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream().poll_shutdown(cx)
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let (Some(stream), slot) = (self.stream.take(), self.slot.take()) else {
            return;
        };
        if self.read_eof {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(linger(stream, slot));
        }
    }
}

/// Ends our side, then reads until the client ends its side (or stops sending, or
/// [`LINGER`] passes), so that what the server sent last is read rather than lost to a
/// reset.
///
/// Reads are paced ([`LINGER_PAUSE`]): once data is there, the socket waits, then reads
/// everything that came meanwhile. A client still writing small frames as fast as it can
/// (a flood closed for its rate) would otherwise wake the server once per frame for as
/// long as the socket lingers: with a hundred such sockets, hundreds of thousands of
/// wake-ups a second on the cores that serve everyone else. Paced, each costs at most one
/// wake-up per pause, and a client that sends faster than the kernel buffers is held back by
/// TCP flow control instead.
async fn linger(mut stream: TcpStream, slot: Option<Slot>) {
    let _ = stream.shutdown().await;
    let drain = async {
        let mut scratch = Vec::new();
        loop {
            match tokio::time::timeout(LINGER_IDLE, stream.readable()).await {
                Ok(Ok(())) => {}
                Err(_) | Ok(Err(_)) => return,
            }
            tokio::time::sleep(LINGER_PAUSE).await;
            scratch.resize(LINGER_READ, 0);
            loop {
                match stream.try_read(&mut scratch) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => return,
                }
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
    drop(slot);
}
