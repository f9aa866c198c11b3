//! The accounts of messages being received: what is counted, what waits, what wakes it.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures::task::{waker, ArcWake};

use super::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Counts its wake-ups.
#[derive(Default)]
struct Wakes(AtomicUsize);

impl ArcWake for Wakes {
    fn wake_by_ref(this: &Arc<Self>) {
        this.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An account and the waker its refusals register.
struct Conn {
    account: Account,
    wakes: Arc<Wakes>,
}

impl Conn {
    fn new(receiving: &Arc<Receiving>, ip: &str) -> Conn {
        Conn {
            account: receiving.account(ip.parse().unwrap()),
            wakes: Arc::default(),
        }
    }

    fn charge(&mut self, bytes: u64) -> bool {
        let waker = waker(self.wakes.clone());
        self.account.charge(bytes, &mut Context::from_waker(&waker))
    }

    fn woken(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn small_messages_are_not_counted_and_a_big_one_is_counted_whole() {
    let receiving = Receiving::new(MIB, 0);
    let mut a = Conn::new(&receiving, "10.0.0.1");
    assert!(a.charge(SMALL));
    assert_eq!(receiving.held(ip("10.0.0.1")), (0, 0));
    a.account.received();
    // A message that grows past the threshold is counted from its first byte.
    assert!(a.charge(60 * KIB));
    assert!(a.charge(10 * KIB));
    assert_eq!(receiving.held(ip("10.0.0.1")), (70 * KIB, 70 * KIB));
}

#[test]
fn a_big_message_waits_while_its_address_is_full_and_wakes_when_one_is_handed_on() {
    let receiving = Receiving::new(MIB, 0);
    let mut a = Conn::new(&receiving, "10.0.0.1");
    let mut b = Conn::new(&receiving, "10.0.0.1");
    let mut small = Conn::new(&receiving, "10.0.0.1");
    let mut elsewhere = Conn::new(&receiving, "10.0.0.2");
    assert!(a.charge(700 * KIB));
    assert!(!b.charge(600 * KIB), "past the address's budget");
    assert_eq!(receiving.held(ip("10.0.0.1")).1, 700 * KIB);
    // Small messages of the same address, and other addresses, go on.
    assert!(small.charge(SMALL));
    assert!(elsewhere.charge(600 * KIB));
    // Whole but not yet handed on: still held.
    a.account.received();
    assert_eq!(b.woken(), 0);
    assert!(!b.charge(600 * KIB));
    a.account.taken();
    assert_eq!(b.woken(), 1, "a release wakes the waiting connection");
    assert!(b.charge(600 * KIB));
    assert_eq!(receiving.held(ip("10.0.0.1")), (1200 * KIB, 600 * KIB));
}

#[test]
fn the_total_is_shared_by_every_address() {
    let receiving = Receiving::new(0, MIB);
    let mut a = Conn::new(&receiving, "10.0.0.1");
    let mut b = Conn::new(&receiving, "10.0.0.2");
    assert!(a.charge(700 * KIB));
    assert!(!b.charge(600 * KIB), "past the total");
    drop(a);
    assert_eq!(b.woken(), 1, "closing releases and wakes");
    assert!(b.charge(600 * KIB));
    assert_eq!(receiving.held(ip("10.0.0.2")), (600 * KIB, 600 * KIB));
}

#[test]
fn alone_a_message_larger_than_the_budget_passes() {
    let receiving = Receiving::new(MIB, MIB);
    let mut a = Conn::new(&receiving, "10.0.0.1");
    let mut b = Conn::new(&receiving, "10.0.0.1");
    assert!(a.charge(4 * MIB), "nothing else is held");
    assert!(!b.charge(100 * KIB));
    assert_eq!(receiving.held(ip("10.0.0.1")).1, 4 * MIB);
}

#[test]
fn closing_releases_everything_and_forgets_the_address() {
    let receiving = Receiving::new(MIB, 0);
    let mut a = Conn::new(&receiving, "10.0.0.1");
    let mut b = Conn::new(&receiving, "10.0.0.1");
    let mut waiting = Conn::new(&receiving, "10.0.0.1");
    assert!(a.charge(300 * KIB));
    a.account.received();
    assert!(b.charge(300 * KIB));
    assert!(!waiting.charge(600 * KIB));
    drop(a);
    drop(b);
    assert_eq!(receiving.held(ip("10.0.0.1")), (0, 0));
    drop(waiting);
    assert!(
        receiving.lock().per_ip.is_empty(),
        "no address is left behind"
    );
    assert!(receiving.lock().waiting.is_empty());
}

#[test]
fn an_address_and_its_mapped_form_share_one_budget() {
    let receiving = Receiving::new(MIB, 0);
    let mut a = Conn::new(&receiving, "10.0.0.1");
    let mut b = Conn::new(&receiving, "::ffff:10.0.0.1");
    assert!(a.charge(700 * KIB));
    assert!(!b.charge(600 * KIB));
}
