//! A frame as a client sends it (WebSocket message, or the body of an SSE/poll POST): decoding
//! must never panic or allocate beyond the input, and whatever decodes must apply safely
//! under the room's rule (updates with missing dependencies are held back until they can
//! be applied whole; see `yjs_bounds::missing_dependency`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::{Doc, ReadTxn, Transact, Update};

fuzz_target!(|data: &[u8]| {
    let Ok(messages) = tandem::fuzzing::decode_frame(data) else {
        return;
    };
    let doc = Doc::new();
    let mut held: Vec<Vec<u8>> = Vec::new();
    for msg in messages {
        if let Message::Sync(SyncMessage::SyncStep2(u) | SyncMessage::Update(u)) = msg {
            held.push(u);
            // apply whatever has become complete, as the room does after each update
            loop {
                let have = doc.transact().state_vector();
                let ready = held.iter().position(|u| {
                    matches!(tandem::fuzzing::missing_dependency(u, &have), Ok(None))
                });
                let Some(i) = ready else { break };
                let u = held.remove(i);
                let update = Update::decode_v1(&u).expect("a checked update decodes");
                let _ = doc.transact_mut().apply_update(update);
            }
        }
    }
});
