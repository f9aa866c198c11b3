//! Unit tests of `admission::message_rate`, the rate rule for every message.

use super::*;

#[test]
fn awareness_past_its_rate_is_dropped_and_other_messages_close() {
    let ok = || Ok::<(), String>(());
    let spent = || Err::<(), String>("client rate spent".into());
    assert_eq!(message_rate(true, true, ok, 5), MessageVerdict::Pass);
    assert_eq!(message_rate(true, false, ok, 5), MessageVerdict::Drop);
    assert_eq!(message_rate(true, true, spent, 5), MessageVerdict::Drop);
    assert_eq!(message_rate(false, true, ok, 5), MessageVerdict::Pass);
    assert_eq!(
        message_rate(false, false, ok, 5),
        MessageVerdict::Close {
            reason: CloseReason::rate_limited(5),
            limit: Some("update_rate"),
        }
    );
    assert_eq!(
        message_rate(false, true, spent, 5),
        MessageVerdict::Close {
            reason: CloseReason::new(1008, "client rate spent"),
            limit: None,
        }
    );
}

#[test]
fn a_message_refused_by_its_peer_costs_its_client_nothing() {
    let asked = std::cell::Cell::new(false);
    let client = || {
        asked.set(true);
        Ok::<(), String>(())
    };
    let _ = message_rate(false, false, client, 5);
    assert!(!asked.get());
}
