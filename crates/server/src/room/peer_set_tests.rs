use bytes::Bytes;
use tokio::time::Instant;

use super::{Broadcast, Peer, PeerSet, Sent};
use crate::peer::{new_peer, Outgoing, PeerEnd, PeerId, Transport};
use crate::room::rate::TokenBucket;

/// A peer with a queue of `room` frames, and its transport's end (dropping which is the
/// transport going away).
fn peer(transport: Transport, room: usize) -> (Peer, PeerEnd) {
    let (handle, end) = new_peer(transport, None, room);
    let now = Instant::now();
    let p = Peer {
        handle,
        told_read_only: false,
        messages: TokenBucket::new(10, now),
        awareness: TokenBucket::new(10, now),
    };
    (p, end)
}

fn add(set: &mut PeerSet, transport: Transport, room: usize) -> (PeerId, PeerEnd) {
    let (p, end) = peer(transport, room);
    let id = p.handle.id;
    set.insert(p);
    (id, end)
}

#[test]
fn a_frame_is_queued_with_its_length() {
    let mut set = PeerSet::default();
    let (id, mut end) = add(&mut set, Transport::WebSocket, 4);
    assert_eq!(
        set.send(id, Outgoing::Message(Bytes::from_static(b"abc"))),
        Sent::Queued(3)
    );
    let got = end.outbound.try_recv().expect("queued");
    assert_eq!(*got, Outgoing::Message(Bytes::from_static(b"abc")));
}

#[test]
fn a_peer_whose_queue_is_full_is_too_slow_and_is_never_waited_for() {
    let mut set = PeerSet::default();
    let (id, _end) = add(&mut set, Transport::WebSocket, 2);
    let frame = || Outgoing::Message(Bytes::from_static(b"x"));
    assert_eq!(set.send(id, frame()), Sent::Queued(1));
    assert_eq!(set.send(id, frame()), Sent::Queued(1));
    assert_eq!(set.send(id, frame()), Sent::TooSlow);
}

#[test]
fn a_peer_whose_transport_ended_is_gone() {
    let mut set = PeerSet::default();
    let (id, end) = add(&mut set, Transport::Sse, 4);
    drop(end);
    assert_eq!(set.send(id, Outgoing::Refused), Sent::Gone);
    assert_eq!(set.send(12345, Outgoing::Refused), Sent::Unknown);
}

#[test]
fn a_broadcast_reaches_every_peer_and_names_the_slow_and_the_gone() {
    let mut set = PeerSet::default();
    let (fast, mut fast_end) = add(&mut set, Transport::WebSocket, 4);
    let (slow, _slow_end) = add(&mut set, Transport::WebSocket, 1);
    let (gone, gone_end) = add(&mut set, Transport::Poll, 4);
    drop(gone_end);
    let first = set.broadcast(&Bytes::from_static(b"one"));
    assert_eq!(first.delivered, 2);
    assert_eq!(first.gone, vec![gone]);
    assert!(first.too_slow.is_empty());
    let second = set.broadcast(&Bytes::from_static(b"two"));
    assert_eq!(second.delivered, 1, "only the fast peer has room");
    assert_eq!(second.too_slow, vec![slow]);
    // The fast peer got both, in order.
    assert_eq!(
        *fast_end.outbound.try_recv().unwrap(),
        Outgoing::Message(Bytes::from_static(b"one"))
    );
    assert_eq!(
        *fast_end.outbound.try_recv().unwrap(),
        Outgoing::Message(Bytes::from_static(b"two"))
    );
    assert!(set.contains(&fast));
    assert_eq!(
        PeerSet::default().broadcast(&Bytes::new()),
        Broadcast::default()
    );
}

#[test]
fn only_the_last_peer_leaving_empties_the_set() {
    let mut set = PeerSet::default();
    let (a, _ea) = add(&mut set, Transport::WebSocket, 4);
    let (b, _eb) = add(&mut set, Transport::WebSocket, 4);
    assert_eq!(set.remove(a).map(|(_, empty)| empty), Some(false));
    assert!(set.remove(a).is_none(), "a peer leaves once");
    assert_eq!(set.remove(b).map(|(_, empty)| empty), Some(true));
    assert!(set.is_empty());
}

#[test]
fn stateless_messages_go_to_the_other_peers_that_take_them() {
    let mut set = PeerSet::default();
    let (from, _e1) = add(&mut set, Transport::Hocuspocus, 4);
    let (other, _e2) = add(&mut set, Transport::Hocuspocus, 4);
    let (_plain, _e3) = add(&mut set, Transport::WebSocket, 4);
    assert_eq!(set.stateless_except(from), vec![other]);
}
