//! What the loop does with each kind of read: which closes the socket, with which code.

use super::*;
use crate::peer::CloseReason;

const MAX: usize = 1000;

fn io_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")
}

fn ending_of(read: Option<Result<Read, SocketError>>) -> Ending {
    on_read(read, "y-protocol", MAX).expect_err("the loop goes on")
}

#[test]
fn binary_frames_go_on_and_control_frames_are_skipped() {
    let data = bytes::Bytes::from_static(&[0, 1]);
    let read = on_read(Some(Ok(Read::Binary(data.clone()))), "x", MAX);
    assert_eq!(read.ok(), Some(Some(data)));
    assert_eq!(on_read(Some(Ok(Read::Control)), "x", MAX).ok(), Some(None));
}

#[test]
fn a_text_frame_closes_with_1003_naming_the_binary_protocol() {
    let ending = ending_of(Some(Ok(Read::Text)));
    assert_eq!(
        ending.frame(),
        Some((
            1003,
            "text frames are not supported: send binary y-protocol messages".into()
        ))
    );
}

#[test]
fn the_client_closing_sends_no_frame_of_ours() {
    for read in [Some(Ok(Read::Close)), None] {
        let ending = ending_of(read);
        assert!(matches!(ending, Ending::ByClient), "{ending:?}");
        assert_eq!(ending.frame(), None);
        assert_eq!(ending.reason(), CloseReason::new(1000, "client closed"));
    }
}

#[test]
fn a_message_too_big_closes_with_1009_and_the_limit() {
    let ending = ending_of(Some(Err(SocketError::TooBig)));
    let expected = (1009, format!("message larger than {MAX} bytes"));
    assert_eq!(ending.frame(), Some(expected));
}

#[test]
fn size_errors_are_too_big_and_others_are_read_failures() {
    use tokio_tungstenite::{
        tungstenite::error::{CapacityError, Error},
        WebSocketStream,
    };
    type Socket = WebSocketStream<tokio::io::DuplexStream>;
    let long = CapacityError::MessageTooLong {
        size: 2,
        max_size: 1,
    };
    assert!(matches!(
        <Socket as Wire>::error(Error::Capacity(long)),
        SocketError::TooBig
    ));
    let read = <Socket as Wire>::error(Error::Io(io_error()));
    assert_eq!(read.to_string(), "read failed: IO error: reset");
}
