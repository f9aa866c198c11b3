//! Unit tests of `missing_dependency`: updates in order build on nothing missing; gaps,
//! unknown origins and deletions of unknown items are found, as is the pair fuzzing found.

use super::*;
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, StateVector, Text, Transact, Update};

/// Updates of one editing session, each the diff since the previous one.
fn session_updates(client: u64, n: u32) -> (Doc, Vec<Vec<u8>>) {
    let doc = Doc::with_client_id(client);
    let text = doc.get_or_insert_text("content");
    let mut updates = Vec::new();
    for i in 0..n {
        let before = doc.transact().state_vector();
        let mut txn = doc.transact_mut();
        if i % 5 == 4 {
            text.remove_range(&mut txn, 0, 1);
        } else {
            text.insert(&mut txn, i / 3, "xy");
        }
        drop(txn);
        updates.push(doc.transact().encode_state_as_update_v1(&before));
    }
    (doc, updates)
}

#[test]
fn updates_in_order_depend_on_nothing_missing() {
    let (source, updates) = session_updates(11, 30);
    let replica = Doc::new();
    for u in &updates {
        let have = replica.transact().state_vector();
        assert_eq!(missing_dependency(u, &have).unwrap(), None);
        replica
            .transact_mut()
            .apply_update(Update::decode_v1(u).unwrap())
            .unwrap();
    }
    // a full state against an empty document needs nothing either
    let full = source
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    assert_eq!(
        missing_dependency(&full, &StateVector::default()).unwrap(),
        None
    );
}

#[test]
fn an_update_that_skips_ahead_is_missing_its_predecessor() {
    let (_, updates) = session_updates(11, 4);
    let replica = Doc::new();
    replica
        .transact_mut()
        .apply_update(Update::decode_v1(&updates[0]).unwrap())
        .unwrap();
    let have = replica.transact().state_vector();
    // update 2 builds on update 1, which the replica does not have
    let missing = missing_dependency(&updates[2], &have).unwrap();
    assert_eq!(missing.map(|(c, _)| c), Some(11));
}

#[test]
fn references_to_unknown_items_are_missing() {
    // B types after A's text; a server that never saw A's text lacks B's origin
    let a = Doc::with_client_id(1);
    a.get_or_insert_text("content")
        .insert(&mut a.transact_mut(), 0, "hello");
    let b = Doc::with_client_id(2);
    let a_state = a
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    b.transact_mut()
        .apply_update(Update::decode_v1(&a_state).unwrap())
        .unwrap();
    let before = b.transact().state_vector();
    b.get_or_insert_text("content")
        .insert(&mut b.transact_mut(), 5, " world");
    let b_update = b.transact().encode_state_as_update_v1(&before);
    assert_eq!(
        missing_dependency(&b_update, &StateVector::default()).unwrap(),
        Some((1, 4))
    );
    // with A's text known, nothing is missing
    assert_eq!(
        missing_dependency(&b_update, &a.transact().state_vector()).unwrap(),
        None
    );
    // a deletion of A's text sent to a server without it is missing too
    let before = b.transact().state_vector();
    b.get_or_insert_text("content")
        .remove_range(&mut b.transact_mut(), 0, 2);
    let deletion = b.transact().encode_state_as_update_v1(&before);
    let mut have_b_only = StateVector::default();
    have_b_only.set_max(yrs::block::ClientID::new(2), 6);
    assert_eq!(
        missing_dependency(&deletion, &have_b_only).unwrap(),
        Some((1, 0))
    );
}

/// Found by `fuzz/` (target `protocol_frame`): given these two updates in a row, `yrs`
/// 0.28 reads freed memory while retrying its pending structs. The first depends on
/// clocks nobody sent, so the server holds it back and `yrs` never sees the pair.
#[test]
fn the_pair_that_corrupts_yrs_memory_is_held_back() {
    let gap = [1, 1, 3, 0x25, 0, 3, 1, 8, 0];
    let covering = [1, 1, 3, 0, 1, 1, 0, 0x39, 0];
    check_update(&gap).unwrap();
    check_update(&covering).unwrap();
    let empty = StateVector::default();
    assert_eq!(missing_dependency(&gap, &empty).unwrap(), Some((3, 0)));
    assert_eq!(missing_dependency(&covering, &empty).unwrap(), None);
}

/// The room checks updates against the clocks of the clients they name, never a full
/// state vector: only those clients are asked about, whatever the document holds.
#[test]
fn only_the_clients_an_update_names_are_asked_about() {
    let (_, updates) = session_updates(11, 2);
    let asked = std::cell::RefCell::new(Vec::new());
    // the second update builds on the first: present, it applies
    let (shape, missing) = check_dependencies(&updates[1], |c| {
        asked.borrow_mut().push(c);
        if c == 11 {
            2
        } else {
            0
        }
    })
    .unwrap();
    assert_eq!(missing, None);
    assert_eq!(shape.structs, 1);
    assert!(
        asked.borrow().iter().all(|&c| c == 11),
        "{:?}",
        asked.borrow()
    );
    // missing, it is held
    let (_, missing) = check_dependencies(&updates[1], |_| 0).unwrap();
    assert_eq!(missing, Some((11, 0)));
}
