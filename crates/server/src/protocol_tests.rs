//! Unit tests of `protocol`.

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
/// update alone answers; the update comes out in its relay frame, which is the frame
/// `sync_update` encodes.
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
    assert_eq!(decode_frame(&frame).unwrap().len(), 3);
    assert_eq!(count_messages(&frame).unwrap(), 3);
    let nothing = |_| 0;
    let Decoded::Update {
        step2: false,
        update,
        walked,
    } = &msgs[0]
    else {
        panic!("an update: {:?}", msgs[0]);
    };
    assert_eq!(update.update(), &second[..]);
    assert_eq!(update.len(), second.len());
    assert_eq!(update.frame(), &sync_update(second.clone()));
    assert_eq!(update.update_bytes(), second);
    assert_eq!(walked.shape, yjs_bounds::check_update(&second).unwrap());
    // "b" builds on "a" (client 7, clock 0): missing from an empty document only.
    assert_eq!(walked.missing(nothing), Some((7, 0)));
    assert_eq!(walked.missing(|c| u64::from(c == 7)), None);
    let Decoded::Update {
        step2: true,
        update,
        walked,
    } = &msgs[1]
    else {
        panic!("a sync step 2: {:?}", msgs[1]);
    };
    assert_eq!(update.update(), &first[..]);
    assert_eq!(walked.shape, yjs_bounds::check_update(&first).unwrap());
    assert_eq!(walked.missing(nothing), None);
    assert!(
        matches!(
            msgs[2],
            Decoded::Message(Message::Sync(SyncMessage::SyncStep1(_)))
        ),
        "a state vector is no update"
    );
    // What the plain decoder refuses, this one refuses too.
    for bad in [
        &[0, 2, 200, 1][..],
        &[0, 2, 6, 0x80, 0xe1, 0xeb, 0x17, 0, 0],
        &[0, 9, 1, 1],
        &[],
    ] {
        assert!(decode_frame_walked(bad).is_err(), "{bad:?}");
    }
    // A relay frame's length prefix takes as many bytes as the length needs.
    let long = vec![1; 300];
    assert_eq!(UpdateFrame::new(&long).frame(), &sync_update(long.clone()));
}

/// The framing alone: what the payloads hold is left to the room's decoding.
#[test]
fn messages_are_counted_by_their_framing() {
    assert_eq!(
        count_messages(&[0, 2, 6, 0x80, 0xe1, 0xeb, 0x17, 0, 0]).unwrap(),
        1
    );
    assert_eq!(count_messages(&[1, 4, 0x80, 0xe1, 0xeb, 0x17]).unwrap(), 1);
    for bad in [&[0, 2, 200, 1][..], &[0, 9, 1, 1], &[0], &[]] {
        assert!(count_messages(bad).is_err(), "{bad:?}");
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
