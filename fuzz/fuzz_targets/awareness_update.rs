//! An awareness message's payload: bounded before yrs decodes it, and what passes decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrs::sync::AwarenessUpdate;
use yrs::updates::decoder::Decode;

fuzz_target!(|data: &[u8]| {
    if tandem::fuzzing::check_awareness(data).is_ok() {
        AwarenessUpdate::decode_v1(data).expect("a checked awareness update decodes");
    }
});
