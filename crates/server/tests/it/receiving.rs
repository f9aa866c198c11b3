//! The budget of WebSocket messages being received per client address
//! (`--max-receiving-bytes-per-ip`, SECURITY.md): a big message that does not fit waits
//! unread until others of its address are received, small ones always pass, and closing
//! releases what a connection held.

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{tcp::OwnedWriteHalf, TcpStream},
};

use crate::kit::*;

const KIB: usize = 1024;
const HELD: &str = "tandem_receiving_bytes";
const WAITS: &str = "tandem_receiving_waits_total";

/// A y-websocket client written by hand, so that it can send part of a frame. What the
/// server sends is read and dropped in the background: the server never waits for it.
struct Raw {
    tx: OwnedWriteHalf,
    y: YPeer,
}

impl Raw {
    async fn connect(server: &TestServer, doc: &str) -> Raw {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET /ws/{doc} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            server.addr
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        // The answer's head, a byte at a time: frames may follow it at once.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let (mut rx, tx) = tcp.into_split();
        tokio::spawn(async move { tokio::io::copy(&mut rx, &mut tokio::io::sink()).await });
        Raw {
            tx,
            y: YPeer::new(),
        }
    }

    /// One binary frame appending `text`, masked with a zero key (the payload unchanged).
    fn append_frame(&mut self, text: &str) -> Vec<u8> {
        let payload = self.y.append_message(text);
        let mut frame = vec![0x82, 0x80 | 127];
        frame.extend((payload.len() as u64).to_be_bytes());
        frame.extend([0; 4]);
        frame.extend(payload);
        frame
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.tx.write_all(bytes).await.unwrap();
    }
}

fn count(text: &str, c: char) -> usize {
    text.chars().filter(|&x| x == c).count()
}

async fn wait_text(server: &TestServer, what: &str, done: impl Fn(&str) -> bool) -> String {
    wait_for(what, || async {
        let text = get_text(server, "budget").await;
        done(&text).then_some(text)
    })
    .await
}

#[tokio::test]
async fn a_big_message_waits_for_its_address_while_small_ones_pass() {
    let server = start(&["--max-receiving-bytes-per-ip", "1048576"]).await;
    let mut a = Raw::connect(&server, "budget").await;
    let mut b = Raw::connect(&server, "budget").await;
    let mut c = Client::connect(&server.ws("budget")).await;

    // A sends most of a 1,000 KiB message: its header charges the whole of it.
    let a_frame = a.append_frame(&"a".repeat(1000 * KIB));
    let split = 100 * KIB;
    a.write(&a_frame[..split]).await;
    let a_len = (a_frame.len() - 14) as f64;
    server.wait_metric(HELD, |v| v == a_len).await;

    // B's 600 KiB message does not fit in the 1 MiB of the address: it waits unread.
    let b_frame = b.append_frame(&"b".repeat(600 * KIB));
    let b_sending = tokio::spawn(async move {
        b.write(&b_frame).await;
        b
    });
    server.wait_metric(WAITS, |v| v == 1.0).await;

    // A small edit from the same address still passes (it would not fit in the 24 KiB
    // left), and B's has not arrived.
    c.append(&"c".repeat(40 * KIB)).await;
    let text = wait_text(&server, "the small edit", |t| count(t, 'c') == 40 * KIB).await;
    assert_eq!(count(&text, 'b'), 0, "B's message was read past the budget");
    assert_eq!(
        server.metric(HELD).await,
        a_len,
        "A's message alone is held"
    );

    // A finishes: its message is applied, then B's goes through.
    a.write(&a_frame[split..]).await;
    wait_text(&server, "both big messages", |t| {
        count(t, 'a') == 1000 * KIB && count(t, 'b') == 600 * KIB
    })
    .await;
    let b = b_sending.await.unwrap();
    server.wait_metric(HELD, |v| v == 0.0).await;
    drop((a, b, c));

    // A connection that closes in the middle of a big message gives its share back.
    let mut d = Raw::connect(&server, "budget").await;
    let d_frame = d.append_frame(&"d".repeat(900 * KIB));
    d.write(&d_frame[..KIB]).await;
    server.wait_metric(HELD, |v| v >= (900 * KIB) as f64).await;
    drop(d);
    server.wait_metric(HELD, |v| v == 0.0).await;
    // And the whole budget is there again for the next big message.
    let mut e = Raw::connect(&server, "budget").await;
    let e_frame = e.append_frame(&"e".repeat(900 * KIB));
    e.write(&e_frame).await;
    wait_text(&server, "E's message", |t| count(t, 'e') == 900 * KIB).await;
    assert_eq!(server.metric(WAITS).await, 1.0, "only B waited");
}
