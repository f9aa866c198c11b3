//! Unit tests of `holds`.

use super::*;

fn unlimited() -> Usage {
    Usage::new(&crate::usage::UsageLimits {
        max_updates_per_client_per_sec: 0,
        max_write_bytes_per_client: 0,
        write_window_secs: 1,
        rate_limit_cooldown_secs: 0,
    })
}

fn limits(per_ip: usize, per_token: usize) -> HoldLimits {
    HoldLimits {
        per_ip,
        per_token,
        memory_per_client: 0,
        linger: Duration::ZERO,
    }
}

#[test]
fn distinct_documents_are_counted_per_address_and_per_token() {
    let holds = Holds::new(limits(2, 1), unlimited());
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let other: IpAddr = "10.0.0.2".parse().unwrap();
    let a1 = holds.hold(ip, None, "a").unwrap();
    let _a2 = holds.hold(ip, None, "a").unwrap(); // the same document again
    let _b = holds.hold(ip, None, "b").unwrap();
    assert_eq!(holds.hold(ip, None, "c").err(), Some(HoldError::PerIp(2)));
    let _t = holds.hold(other, Some([7; 32]), "a").unwrap();
    assert_eq!(
        holds.hold(other, Some([7; 32]), "b").err(),
        Some(HoldError::PerToken(1))
    );
    // "a" stays held by the second connection to it; releasing both frees the place.
    drop(a1);
    assert!(holds.hold(ip, None, "c").is_err());
    drop(_a2);
    let _c = holds.hold(ip, None, "c").unwrap();
    assert!(holds.lock().by_ip[&ip].len() == 2);
}

#[test]
fn a_dropped_hold_lingers_while_its_document_stays_loaded() {
    let holds = Holds::new(
        HoldLimits {
            linger: Duration::from_secs(10),
            ..limits(1, 1)
        },
        unlimited(),
    );
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let t0 = Instant::now();
    holds.set_weight("a", 1);
    drop(holds.hold_at(ip, None, "a", t0).unwrap());
    // "a" is still in memory: it still counts for its client...
    let later = t0 + Duration::from_secs(5);
    assert_eq!(
        holds.hold_at(ip, None, "b", later).err(),
        Some(HoldError::PerIp(1))
    );
    // ...and may be opened again, which makes it a live hold once more.
    let again = holds.hold_at(ip, None, "a", later).unwrap();
    drop(again);
    // Past the linger the place is free.
    let past = Instant::now() + Duration::from_secs(11);
    assert!(holds.hold_at(ip, None, "b", past).is_ok());
    // A document that is not loaded (or has unloaded) does not linger at all.
    let holds = Holds::new(
        HoldLimits {
            linger: Duration::from_secs(10),
            ..limits(1, 1)
        },
        unlimited(),
    );
    holds.set_weight("a", 1);
    drop(holds.hold(ip, None, "a").unwrap());
    holds.unloaded("a");
    assert!(holds.hold(ip, None, "b").is_ok());
}

#[test]
fn memory_is_counted_over_a_clients_documents() {
    let holds = Holds::new(
        HoldLimits {
            memory_per_client: 100,
            ..limits(10, 10)
        },
        unlimited(),
    );
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let token = Some([3; 32]);
    let client = ClientKey { ip, token };
    holds.set_weight("a", 60);
    let _a = holds.hold(ip, token, "a").unwrap();
    assert_eq!(holds.admits(&client, "a", 40), Ok(()));
    assert_eq!(holds.admits(&client, "a", 41), Err(HoldError::Memory(100)));
    // A document the client does not hold counts too when it would grow it.
    holds.set_weight("x", 30);
    assert_eq!(holds.admits(&client, "x", 11), Err(HoldError::Memory(100)));
    let _b = holds.hold(ip, token, "b").unwrap();
    holds.set_weight("b", 50);
    // 110 of 100: nothing new, but what it holds it may open again.
    assert_eq!(
        holds.hold(ip, token, "c").err(),
        Some(HoldError::Memory(100))
    );
    assert!(holds.hold(ip, token, "a").is_ok());
    // The same client by token from another address is still over; another client is not.
    let other: IpAddr = "10.0.0.2".parse().unwrap();
    assert_eq!(
        holds.hold(other, token, "c").err(),
        Some(HoldError::Memory(100))
    );
    assert!(holds.hold(other, None, "c").is_ok());
    assert_eq!(
        holds.admits(
            &ClientKey {
                ip: other,
                token: None
            },
            "c",
            100
        ),
        Ok(())
    );
}
