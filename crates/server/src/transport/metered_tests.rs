//! The reader under the WebSocket library: frames pass intact, and a big one waits at its
//! header while its address's budget is full.

use std::{net::IpAddr, sync::Arc, time::Duration};

use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::receiving::{Receiving, SMALL};

const KIB: usize = 1024;
const MAX: usize = 16 * 1024 * KIB;

/// A masked client frame header: `fin`, `opcode`, a payload of `len` bytes.
fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | opcode];
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

fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
    let mut f = header(fin, opcode, len as u64);
    f.extend((0..len).map(|i| i as u8));
    f
}

fn ip() -> IpAddr {
    "10.0.0.1".parse().unwrap()
}

/// A client's end and the server's reader over it.
fn conn(receiving: &Arc<Receiving>, pipe: usize) -> (DuplexStream, Metered<DuplexStream>) {
    let (client, server) = duplex(pipe);
    (client, Metered::new(server, receiving.account(ip()), MAX))
}

/// Whether the reader hands on anything within a moment.
async fn hands_on(reader: &mut Metered<DuplexStream>) -> bool {
    let mut one = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(50), reader.read(&mut one))
        .await
        .is_ok()
}

#[tokio::test]
async fn frames_pass_intact_whatever_the_reads() {
    let receiving = Receiving::new(MAX as u64, 0);
    // A one-byte pipe splits every header; a large one puts many frames in one read.
    for pipe in [1, 7, 64 * KIB] {
        let (mut client, mut reader) = conn(&receiving, pipe);
        let mut sent = Vec::new();
        for (fin, opcode, len) in [
            (true, 2, 3),
            (true, 9, 4),
            (true, 2, 0),
            (true, 2, 300),
            (true, 2, 70 * KIB),
            (false, 2, 10),
            (true, 10, 2),
            (false, 0, 66 * KIB),
            (true, 0, 5),
            (true, 2, 1),
        ] {
            sent.extend(frame(fin, opcode, len));
        }
        let expected = sent.clone();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.unwrap();
            client
        });
        let mut got: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 5000];
        while got.len() < expected.len() {
            let n = reader.read(&mut chunk).await.unwrap();
            got.extend(&chunk[..n]);
        }
        assert_eq!(got, expected, "pipe of {pipe}");
        let _client = writer.await.unwrap();
        // Every message is whole: asking for more releases them all.
        assert!(!hands_on(&mut reader).await);
        assert_eq!(receiving.held(ip()), (0, 0));
    }
}

#[tokio::test]
async fn a_big_frame_waits_at_its_header_until_the_address_has_room() {
    let receiving = Receiving::new(1024 * KIB as u64, 0);
    let (mut a_client, mut a) = conn(&receiving, 1 << 20);
    let (mut b_client, mut b) = conn(&receiving, 1 << 20);
    let (mut c_client, mut c) = conn(&receiving, 1 << 20);

    // A: most of a 700 KiB message, counted whole from its header.
    let a_frame = frame(true, 2, 700 * KIB);
    a_client.write_all(&a_frame[..100 * KIB]).await.unwrap();
    let mut got = vec![0u8; 100 * KIB];
    a.read_exact(&mut got).await.unwrap();
    assert_eq!(receiving.held(ip()).1, 700 * KIB as u64);

    // B: a 600 KiB message does not fit; not even its header is handed on.
    let b_frame = frame(true, 2, 600 * KIB);
    b_client.write_all(&b_frame).await.unwrap();
    assert!(
        !hands_on(&mut b).await,
        "a frame past the budget was handed on"
    );

    // C: a small message of the same address passes.
    let c_frame = frame(true, 2, SMALL as usize - 100);
    c_client.write_all(&c_frame).await.unwrap();
    let mut got_c = vec![0u8; c_frame.len()];
    c.read_exact(&mut got_c).await.unwrap();
    assert_eq!(got_c, c_frame);

    // A finishes; once its reader asks for more, B goes on.
    a_client.write_all(&a_frame[100 * KIB..]).await.unwrap();
    let mut rest = vec![0u8; a_frame.len() - 100 * KIB];
    a.read_exact(&mut rest).await.unwrap();
    assert_eq!(
        receiving.held(ip()).1,
        700 * KIB as u64,
        "held until handed on"
    );
    assert!(!hands_on(&mut a).await);
    let mut got_b = vec![0u8; b_frame.len()];
    tokio::time::timeout(Duration::from_secs(5), b.read_exact(&mut got_b))
        .await
        .expect("B went on")
        .unwrap();
    assert_eq!(got_b, b_frame);
    assert_eq!(receiving.held(ip()).1, 600 * KIB as u64);
    drop(b);
    assert_eq!(receiving.held(ip()), (0, 0), "closing releases");
}

#[tokio::test]
async fn a_fragmented_message_holds_the_size_limit_from_its_first_frame() {
    let receiving = Receiving::new(0, 0);
    let (mut client, mut reader) = conn(&receiving, 1 << 20);
    let first = frame(false, 2, 10);
    client.write_all(&first).await.unwrap();
    let mut got = vec![0u8; first.len()];
    reader.read_exact(&mut got).await.unwrap();
    assert_eq!(receiving.held(ip()).1, MAX as u64);
    // Its further frames take from that charge.
    let next = frame(true, 0, 100 * KIB);
    client.write_all(&next).await.unwrap();
    let mut got = vec![0u8; next.len()];
    reader.read_exact(&mut got).await.unwrap();
    assert_eq!(receiving.held(ip()).1, MAX as u64);
    assert!(!hands_on(&mut reader).await);
    assert_eq!(receiving.held(ip()).1, 0);
}

#[tokio::test]
async fn the_fragment_that_passes_the_size_limit_ends_the_socket_unread() {
    let receiving = Receiving::new(0, 0);
    let (mut client, server) = duplex(1 << 20);
    let mut reader = Metered::new(server, receiving.account(ip()), 1000);
    let fits = [frame(false, 2, 10), frame(false, 0, 990)].concat();
    client.write_all(&fits).await.unwrap();
    client.write_all(&frame(true, 0, 1)).await.unwrap();
    let mut got = vec![0u8; fits.len()];
    reader.read_exact(&mut got).await.unwrap();
    assert_eq!(got, fits);
    let err = reader.read(&mut [0u8; 64]).await.unwrap_err();
    assert!(
        err.get_ref().is_some_and(|e| e.is::<MessageTooBig>()),
        "{err}"
    );
}

#[tokio::test]
async fn a_frame_past_the_size_limit_is_handed_on_uncharged() {
    // The library refuses it at its header, before reserving anything.
    let receiving = Receiving::new(1, 1);
    let (mut client, mut reader) = conn(&receiving, 1 << 20);
    let head = header(true, 2, MAX as u64 + 1);
    client.write_all(&head).await.unwrap();
    let mut got = vec![0u8; head.len()];
    reader.read_exact(&mut got).await.unwrap();
    assert_eq!(receiving.held(ip()), (0, 0));
}

#[test]
fn header_sizes() {
    assert_eq!(header_size(&[0x82]), (2, None));
    assert_eq!(header_size(&header(true, 2, 5)), (6, Some(5)));
    assert_eq!(header_size(&header(true, 2, 300)[..3]), (8, None));
    assert_eq!(header_size(&header(true, 2, 300)), (8, Some(300)));
    assert_eq!(header_size(&header(true, 2, 1 << 24)), (14, Some(1 << 24)));
}
