//! Unit tests of the bounds checks: what yrs encodes passes, what amplifies, truncates,
//! overflows or builds on missing changes does not, including the inputs fuzzing found.

use super::*;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Array, Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update};

fn write_var(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A document with every kind of content the editor and other Yjs apps produce.
fn rich_doc() -> Doc {
    let doc = Doc::with_options(yrs::Options {
        client_id: yrs::ClientID::new(7),
        offset_kind: yrs::OffsetKind::Utf16,
        ..Default::default()
    });
    let text = doc.get_or_insert_text("content");
    let map = doc.get_or_insert_map("meta");
    let array = doc.get_or_insert_array("list");
    let mut txn = doc.transact_mut();
    text.insert(&mut txn, 0, "héllo wörld 👋 日本");
    text.remove_range(&mut txn, 2, 3);
    text.format(
        &mut txn,
        0,
        2,
        [("bold".into(), yrs::Any::Bool(true))]
            .into_iter()
            .collect(),
    );
    map.insert(&mut txn, "title", "notes");
    map.insert(&mut txn, "n", 42.5);
    map.insert(&mut txn, "blob", yrs::Any::Buffer(vec![1u8, 2, 3].into()));
    array.insert_range(&mut txn, 0, [1, 2, 3]);
    array.insert(&mut txn, 1, yrs::MapPrelim::default());
    drop(txn);
    doc
}

#[test]
fn accepts_what_yrs_encodes() {
    let doc = rich_doc();
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let shape = check_update(&update).unwrap();
    assert!(shape.structs > 3, "{shape:?}");
    // and the same bytes really are a valid update
    Update::decode_v1(&update).unwrap();
    check_state_vector(&doc.transact().state_vector().encode_v1()).unwrap();
}

#[test]
fn accepts_incremental_updates_of_a_session() {
    let doc = Doc::with_client_id(1);
    let text = doc.get_or_insert_text("content");
    let mut updates = Vec::new();
    for i in 0..50u32 {
        let before = doc.transact().state_vector();
        let mut txn = doc.transact_mut();
        if i % 7 == 6 {
            text.remove_range(&mut txn, 0, 1);
        } else {
            text.insert(&mut txn, i / 2, "ab");
        }
        drop(txn);
        updates.push(doc.transact().encode_state_as_update_v1(&before));
    }
    for u in &updates {
        check_update(u).unwrap();
    }
    let replica = Doc::new();
    let rt = replica.get_or_insert_text("content");
    for u in &updates {
        replica
            .transact_mut()
            .apply_update(Update::decode_v1(u).unwrap())
            .unwrap();
    }
    assert_eq!(
        rt.get_string(&replica.transact()),
        text.get_string(&doc.transact())
    );
}

#[test]
fn refuses_a_huge_client_count_in_a_few_bytes() {
    let mut bytes = Vec::new();
    write_var(&mut bytes, 50_000_000);
    bytes.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(
        check_update(&bytes),
        Err(BoundsError::CountExceedsInput { what: "client", .. })
    ));
}

#[test]
fn refuses_a_huge_struct_count() {
    let mut bytes = vec![1];
    write_var(&mut bytes, 40_000_000);
    bytes.extend_from_slice(&[5, 0, 0, 0]);
    assert!(matches!(
        check_update(&bytes),
        Err(BoundsError::CountExceedsInput { what: "struct", .. })
    ));
}

#[test]
fn refuses_huge_value_counts_inside_items() {
    // one client, one struct: an Any item (kind 8) with a named parent, claiming 10^7 values
    let mut bytes = vec![1, 1, 5, 0, ANY, 1];
    bytes.push(1);
    bytes.push(b'x');
    write_var(&mut bytes, 10_000_000);
    bytes.push(0);
    assert!(matches!(
        check_update(&bytes),
        Err(BoundsError::CountExceedsInput { what: "value", .. })
    ));
    // the same with a JSON item
    let mut bytes = vec![1, 1, 5, 0, JSON, 1, 1, b'x'];
    write_var(&mut bytes, 10_000_000);
    assert!(check_update(&bytes).is_err());
}

#[test]
fn refuses_clocks_yrs_would_truncate() {
    // a skip struct that starts just below u32::MAX and runs past it
    let mut bytes = vec![1, 1, 5];
    write_var(&mut bytes, u64::from(u32::MAX) - 1);
    bytes.push(SKIP);
    write_var(&mut bytes, 10);
    bytes.push(0);
    assert!(matches!(
        check_update(&bytes),
        Err(BoundsError::ClockOutOfRange(_))
    ));
    // a clock of 2^40 in a state vector
    let mut sv = vec![1, 5];
    write_var(&mut sv, 1 << 40);
    assert!(matches!(
        check_state_vector(&sv),
        Err(BoundsError::ClockOutOfRange(_))
    ));
    // and in a delete set
    let mut ds = vec![0, 1, 5, 1];
    write_var(&mut ds, u64::from(u32::MAX));
    write_var(&mut ds, 5);
    assert!(matches!(
        check_update(&ds),
        Err(BoundsError::ClockOutOfRange(_))
    ));
}

#[test]
fn refuses_client_ids_javascript_cannot_hold() {
    let mut bytes = vec![1, 1];
    write_var(&mut bytes, 1 << 60);
    bytes.extend_from_slice(&[0, SKIP, 1, 0]);
    assert!(matches!(
        check_update(&bytes),
        Err(BoundsError::ClientIdOutOfRange(_))
    ));
    // the largest safe id is fine
    let doc = Doc::with_client_id(MAX_CLIENT_ID);
    doc.get_or_insert_text("t")
        .insert(&mut doc.transact_mut(), 0, "x");
    check_update(
        &doc.transact()
            .encode_state_as_update_v1(&StateVector::default()),
    )
    .unwrap();
}

#[test]
fn refuses_truncations_and_trailing_bytes_of_a_real_update() {
    let update = rich_doc()
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    for cut in 0..update.len() {
        assert!(
            check_update(&update[..cut]).is_err(),
            "cut at {cut} of {} accepted",
            update.len()
        );
    }
    let mut longer = update.clone();
    longer.push(0);
    assert_eq!(check_update(&longer), Err(BoundsError::TrailingBytes(1)));
}

#[test]
fn refuses_values_nested_past_the_limit() {
    // an Any item whose single value is an array nested 100,000 deep
    let mut bytes = vec![1, 1, 5, 0, ANY, 1, 1, b'x', 1];
    for _ in 0..100_000 {
        bytes.extend_from_slice(&[117, 1]);
    }
    bytes.push(126);
    bytes.push(0);
    assert_eq!(
        check_update(&bytes),
        Err(BoundsError::Malformed("value nested too deeply"))
    );
    // nesting within the limit is fine
    let mut ok = vec![1, 1, 5, 0, ANY, 1, 1, b'x', 1];
    for _ in 0..10 {
        ok.extend_from_slice(&[117, 1]);
    }
    ok.push(126);
    ok.push(0);
    check_update(&ok).unwrap();
    Update::decode_v1(&ok).unwrap();
}

/// Found by `fuzz/` (target `update_apply`): two sections for one client, the second
/// restarting at a lower clock, make yrs 0.28 use freed memory.
#[test]
fn a_client_listed_twice_is_refused() {
    let bytes = [2, 2, 1, 1, 0, 0x7a, 0, 1, 2, 1, 0, 0, 0x10, 0, 1, 0];
    assert_eq!(
        check_update(&bytes),
        Err(BoundsError::Malformed("update lists a client twice"))
    );
}

#[test]
fn sub_documents_are_refused() {
    let doc = Doc::with_client_id(5);
    let map = doc.get_or_insert_map("m");
    map.insert(&mut doc.transact_mut(), "sub", Doc::new());
    let update = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    assert_eq!(
        check_update(&update),
        Err(BoundsError::Unsupported("sub-documents"))
    );
}

#[test]
fn gc_and_skip_are_the_whole_info_byte() {
    // info 0x60 is an item (right origin + parent sub) with content kind 0, which
    // yrs refuses; it must not be read as a GC range
    let bytes = [1, 1, 0xf6, 0, 1, 0x60, 1, 0];
    assert!(check_update(&bytes).is_err());
    assert!(Update::decode_v1(&bytes).is_err());
}

#[test]
fn awareness_counts_are_bounded() {
    let mut bytes = Vec::new();
    write_var(&mut bytes, 30_000_000);
    assert!(check_awareness(&bytes).is_err());
    // a real awareness update passes
    let mut ok = vec![1, 9, 3];
    let state = br#"{"user":{"name":"Ann"}}"#;
    write_var(&mut ok, state.len() as u64);
    ok.extend_from_slice(state);
    check_awareness(&ok).unwrap();
    let decoded = yrs::sync::AwarenessUpdate::decode_v1(&ok).expect("yrs agrees it is well formed");
    assert_eq!(decoded.clients.len(), 1);
}

/// Whatever the bytes, the check never panics, and whatever it accepts yrs decodes.
#[test]
fn random_mutations_of_real_updates_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7a4d);
    let base = rich_doc()
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    check_update(&base).expect("the unchanged update is accepted");
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let mut bytes = base.clone();
        for _ in 0..rng.gen_range(1..4) {
            let i = rng.gen_range(0..bytes.len());
            bytes[i] = rng.gen();
        }
        if check_update(&bytes).is_ok() {
            accepted += 1;
            assert!(
                Update::decode_v1(&bytes).is_ok(),
                "accepted bytes yrs cannot decode: {bytes:?}"
            );
        } else {
            refused += 1;
        }
    }
    // A check refusing everything would pass the loop: most changed bytes sit in text
    // content, where any value is still a well-formed update, so many must pass.
    assert!(
        accepted >= 2_000 && refused >= 100,
        "accepted {accepted}, refused {refused} of 20000 mutations"
    );
}
