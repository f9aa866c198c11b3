//! An update body as `POST /api/documents/{doc}/updates` receives it: whatever passes the
//! bounds check must decode, and if nothing it builds on is missing, applying it to a
//! document with content must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, ReadTxn, Text, Transact, Update};

fuzz_target!(|data: &[u8]| {
    if tandem::fuzzing::check_update(data).is_err() {
        return;
    }
    let update = Update::decode_v1(data).expect("a checked update decodes");
    let doc = Doc::with_client_id(1);
    let text = doc.get_or_insert_text("content");
    text.insert(&mut doc.transact_mut(), 0, "hello");
    let have = doc.transact().state_vector();
    if tandem::fuzzing::missing_dependency(data, &have) != Ok(None) {
        return;
    }
    let _ = doc.transact_mut().apply_update(update);
    let _ = text.get_string(&doc.transact());
});
