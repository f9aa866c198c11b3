//! Unit tests of `client_limits`.

use super::*;

fn unlimited() -> Usage {
    Usage::new(
        &crate::usage::UsageLimits {
            max_updates_per_client_per_sec: 0,
            max_write_bytes_per_client: 0,
            write_window_secs: 1,
            rate_limit_cooldown_secs: 0,
        },
        Duration::ZERO,
    )
}

fn settings(per_ip: usize, per_token: usize) -> ClientLimitSettings {
    ClientLimitSettings {
        per_ip,
        per_token,
        memory_per_client: 0,
        linger: Duration::ZERO,
    }
}

#[test]
fn distinct_documents_are_counted_per_address_and_per_token() {
    let limits = ClientLimits::new(settings(2, 1), unlimited());
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let other: IpAddr = "10.0.0.2".parse().unwrap();
    let a1 = limits.open(ip, None, "a").unwrap();
    let _a2 = limits.open(ip, None, "a").unwrap(); // the same document again
    let _b = limits.open(ip, None, "b").unwrap();
    assert_eq!(
        limits.open(ip, None, "c").err(),
        Some(ClientLimitError::PerIp(2))
    );
    let _t = limits.open(other, Some([7; 32]), "a").unwrap();
    assert_eq!(
        limits.open(other, Some([7; 32]), "b").err(),
        Some(ClientLimitError::PerToken(1))
    );
    // "a" stays held by the second connection to it; releasing both frees the place.
    drop(a1);
    assert!(limits.open(ip, None, "c").is_err());
    drop(_a2);
    let _c = limits.open(ip, None, "c").unwrap();
    assert!(limits.lock().by_ip[&ip].len() == 2);
}

#[test]
fn a_closed_document_lingers_while_its_document_stays_loaded() {
    let limits = ClientLimits::new(
        ClientLimitSettings {
            linger: Duration::from_secs(10),
            ..settings(1, 1)
        },
        unlimited(),
    );
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let t0 = Instant::now();
    limits.set_weight("a", 1);
    drop(limits.open_at(ip, None, "a", t0).unwrap());
    // "a" is still in memory: it still counts for its client...
    let later = t0 + Duration::from_secs(5);
    assert_eq!(
        limits.open_at(ip, None, "b", later).err(),
        Some(ClientLimitError::PerIp(1))
    );
    // ...and may be opened again, which makes it live once more.
    let again = limits.open_at(ip, None, "a", later).unwrap();
    drop(again);
    // Past the linger the place is free.
    let past = Instant::now() + Duration::from_secs(11);
    assert!(limits.open_at(ip, None, "b", past).is_ok());
    // A document that is not loaded (or has unloaded) does not linger at all.
    let limits = ClientLimits::new(
        ClientLimitSettings {
            linger: Duration::from_secs(10),
            ..settings(1, 1)
        },
        unlimited(),
    );
    limits.set_weight("a", 1);
    drop(limits.open(ip, None, "a").unwrap());
    limits.unloaded("a");
    assert!(limits.open(ip, None, "b").is_ok());
}

#[test]
fn memory_is_counted_over_a_clients_documents() {
    let limits = ClientLimits::new(
        ClientLimitSettings {
            memory_per_client: 100,
            ..settings(10, 10)
        },
        unlimited(),
    );
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let token = Some([3; 32]);
    let client = ClientKey { ip, token };
    limits.set_weight("a", 60);
    let _a = limits.open(ip, token, "a").unwrap();
    // What it may still add (40 bytes here) is a rule of `room::admission`.
    assert_eq!(limits.weight_of(&client, "a"), 60);
    // A document the client does not have open counts too when it would grow it.
    limits.set_weight("x", 30);
    assert_eq!(limits.weight_of(&client, "x"), 90);
    let _b = limits.open(ip, token, "b").unwrap();
    limits.set_weight("b", 50);
    // 110 of 100: nothing new, but what it holds it may open again.
    assert_eq!(
        limits.open(ip, token, "c").err(),
        Some(ClientLimitError::Memory(100))
    );
    assert!(limits.open(ip, token, "a").is_ok());
    // The same client by token from another address is still over; another client is not.
    let other: IpAddr = "10.0.0.2".parse().unwrap();
    assert_eq!(
        limits.open(other, token, "c").err(),
        Some(ClientLimitError::Memory(100))
    );
    assert!(limits.open(other, None, "c").is_ok());
    let other = ClientKey {
        ip: other,
        token: None,
    };
    assert_eq!(limits.weight_of(&other, "c"), 0);
}

/// A room sets its document's weight through its handle, without the lock, and what it
/// sets is what the client's check reads; an older room of the same document unloading
/// late does not take the newer room's entry with it.
#[test]
fn a_rooms_weight_handle_is_read_by_the_check_and_survives_an_older_rooms_unload() {
    let limits = ClientLimits::new(
        ClientLimitSettings {
            memory_per_client: 100,
            ..settings(10, 10)
        },
        unlimited(),
    );
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let client = ClientKey { ip, token: None };
    let _a = limits.open(ip, None, "a").unwrap();
    let older = limits.set_weight("a", 10);
    older.set(40);
    assert_eq!(limits.weight_of(&client, "a"), 40);
    // The older room left the registry; a newer one loaded "a" before the older one ended.
    limits.unloaded_room("a", &older);
    let newer = limits.set_weight("a", 20);
    limits.unloaded_room("a", &older);
    newer.set(70);
    assert_eq!(limits.weight_of(&client, "a"), 70);
    limits.unloaded_room("a", &newer);
    assert_eq!(limits.weight_of(&client, "a"), 0);
}

#[test]
fn refusals_name_the_setting_to_raise() {
    for (e, setting) in [
        (
            ClientLimitError::PerIp(1),
            "raise --max-documents-per-ip / TANDEM_MAX_DOCUMENTS_PER_IP",
        ),
        (
            ClientLimitError::PerToken(1),
            "raise --max-documents-per-token / TANDEM_MAX_DOCUMENTS_PER_TOKEN",
        ),
        (
            ClientLimitError::Memory(1 << 20),
            "raise --max-memory-per-client / TANDEM_MAX_MEMORY_PER_CLIENT",
        ),
    ] {
        assert!(e.to_string().contains(setting), "{e}");
    }
}
