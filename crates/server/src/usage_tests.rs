//! Unit tests of `usage`.

use std::time::Duration;

use super::*;

fn limits(rate: u32, bytes: u64) -> UsageLimits {
    UsageLimits {
        max_updates_per_client_per_sec: rate,
        max_write_bytes_per_client: bytes,
        write_window_secs: 100,
        rate_limit_cooldown_secs: 0,
    }
}

#[test]
fn buckets_are_shared_by_address_and_by_token() {
    let mut b = Buckets::new(1.0, 10.0);
    let (ip, other): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    let t0 = Instant::now();
    assert!(b.take(ip, Some([1; 32]), 10.0, t0));
    // The address is spent, whatever token it uses; the token is spent from anywhere.
    assert!(!b.take(ip, Some([2; 32]), 1.0, t0));
    assert!(!b.take(other, Some([1; 32]), 1.0, t0));
    assert!(b.take(other, Some([2; 32]), 1.0, t0));
    assert!(b.spent(ip, None, t0));
    // One second refills one unit.
    let t1 = t0 + Duration::from_secs(1);
    assert!(b.take(ip, None, 1.0, t1));
    assert!(!b.take(ip, None, 1.0, t1));
}

#[test]
fn zero_means_no_limit_and_the_refusal_names_the_setting() {
    let none = Usage::new(&limits(0, 0), Duration::ZERO);
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    for _ in 0..100_000 {
        none.message(ip, None).unwrap();
    }
    none.write(ip, None, usize::MAX).unwrap();
    let some = Usage::new(&limits(1, 1000), Duration::ZERO);
    some.write(ip, None, 1000).unwrap();
    let err = some.write(ip, None, 1).unwrap_err();
    assert!(err.to_string().contains("--max-write-bytes-per-client"));
    for _ in 0..10 {
        some.message(ip, None).unwrap();
    }
    assert!(some.out_of_messages(ip, None).is_err());
    assert_eq!(some.message(ip, None), Err(UsageError::Rate(1)));
}

/// The apply-time check and the quota charge of one update are one look at the
/// client's accounts: a client over its apply time is refused before anything is
/// charged, and a spent quota charges nothing.
#[test]
fn an_update_is_checked_for_apply_time_then_charged_its_quota() {
    let ms = Duration::from_millis(1);
    let usage = Usage::new(&limits(0, 1000), 10 * ms); // 100 ms of apply time owed at most
    let (ip, token) = ("10.0.0.1".parse::<IpAddr>().unwrap(), Some([1; 32]));
    assert_eq!(usage.admit_update(ip, token, false, Some(600)), Ok(()));
    // Not charged: nothing left for 600 more, but 400 fit.
    assert!(matches!(
        usage.admit_update(ip, token, false, Some(600)),
        Err(UpdateRefusal::Quota(UsageError::WriteBytes(1000, 100)))
    ));
    assert!(usage.apply_admits(ip, token));
    usage.charge_apply(ip, token, 150 * ms);
    assert!(!usage.apply_admits(ip, None), "over by address");
    let elsewhere: IpAddr = "10.0.0.2".parse().unwrap();
    assert!(!usage.apply_admits(elsewhere, token), "over by token");
    assert_eq!(
        usage.admit_update(ip, token, false, Some(400)),
        Err(UpdateRefusal::ApplyTime)
    );
    // The refused update was not charged: its 400 bytes still fit once it may write.
    let other_client: IpAddr = "10.0.0.3".parse().unwrap();
    assert_eq!(usage.admit_update(other_client, None, false, None), Ok(()));
    usage.write(ip, token, 400).unwrap();
    assert!(usage.write(ip, token, 1).is_err());
}

/// An update's message is counted in the same look at the client's accounts, as
/// `message` counts it: shared with its other messages, refused past the rate, and a
/// refused one is charged nothing else.
#[test]
fn an_update_counts_as_a_message_in_the_same_look() {
    let usage = Usage::new(&limits(1, 1000), Duration::ZERO); // ten messages at once
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    for _ in 0..5 {
        usage.message(ip, None).unwrap();
    }
    for _ in 0..5 {
        assert_eq!(usage.admit_update(ip, None, true, Some(10)), Ok(()));
    }
    assert_eq!(
        usage.admit_update(ip, None, true, Some(10)),
        Err(UpdateRefusal::Rate(UsageError::Rate(1)))
    );
    assert!(
        usage.message(ip, None).is_err(),
        "the updates took the messages"
    );
    // Not counted as a message: only the quota, of which 50 bytes were charged.
    assert_eq!(usage.admit_update(ip, None, false, Some(950)), Ok(()));
    assert!(usage.write(ip, None, 1).is_err());
}
