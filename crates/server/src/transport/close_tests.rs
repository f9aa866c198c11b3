//! What is sent when a socket closes, and which library errors are "too big".

use super::*;

fn io_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset")
}

#[test]
fn a_broken_socket_is_logged_as_1006_and_sent_nothing() {
    let read = Ending::of_read(SocketError::Read(Box::new(io_error())), 1000);
    assert_eq!(read.frame(), None);
    assert_eq!(
        read.reason(),
        CloseReason::new(ABNORMAL, "read failed: reset")
    );
    let send = Ending::Broken(SocketError::Send);
    assert_eq!(send.frame(), None);
    assert_eq!(send.reason(), CloseReason::new(ABNORMAL, "send failed"));
    // Not even when a reason carries the code by mistake.
    assert_eq!(Ending::from(CloseReason::new(ABNORMAL, "x")).frame(), None);
}

#[test]
fn server_reasons_are_sent_cut_to_123_bytes_on_a_character_boundary() {
    let deleted = Ending::from(CloseReason::deleted());
    assert_eq!(deleted.frame(), Some((4404, "document deleted".into())));
    // 122 ASCII bytes and a 2-byte character: the character does not fit.
    let long = format!("{}é and more", "a".repeat(122));
    let (code, sent) = Ending::from(CloseReason::new(4413, long)).frame().unwrap();
    assert_eq!((code, sent.len()), (4413, 122));
    assert_eq!(fit_reason("short"), "short");
}

#[test]
fn the_transport_reasons_keep_their_documented_codes() {
    assert_eq!(
        auth_timeout(10),
        CloseReason::new(4408, "no token accepted within 10 s")
    );
    assert_eq!(too_big(5).code, 1009);
    assert_eq!(text_frame("Hocuspocus").code, 1003);
    let held = held_before_auth(1000, 4096);
    assert_eq!(held.code, 1008);
    assert!(
        held.reason.contains("before authentication"),
        "{}",
        held.reason
    );
}

#[test]
fn size_errors_of_our_tungstenite_are_too_big_and_others_are_read_failures() {
    use tokio_tungstenite::tungstenite::{
        error::{CapacityError, ProtocolError},
        Error,
    };
    let long = CapacityError::MessageTooLong {
        size: 2,
        max_size: 1,
    };
    assert!(is_too_big(&Error::Capacity(long)));
    let control = Error::Protocol(ProtocolError::ControlFrameTooBig);
    assert!(is_too_big(&control));
    assert!(!is_too_big(&Error::Io(io_error())));
    let ours = std::io::Error::new(std::io::ErrorKind::InvalidData, MessageTooBig);
    assert!(is_too_big(&Error::Io(ours)));
    assert!(!is_too_big(&Error::ConnectionClosed));
}
