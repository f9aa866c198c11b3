//! Writing what the room queued: several frames per flush, in order.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use super::*;
use crate::peer::Outgoing;

/// A socket that records what is written and how often it is flushed.
#[derive(Default)]
struct Recorder {
    /// Each frame written, with the number of flushes before it.
    written: Vec<(Bytes, usize)>,
    flushes: usize,
}

impl futures::Sink<Message> for Recorder {
    type Error = std::convert::Infallible;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        let Message::Binary(data) = item else {
            panic!("only binary frames are written")
        };
        let flushes = self.flushes;
        self.written.push((data, flushes));
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.flushes += 1;
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

fn frame(n: u8) -> Frame {
    Arc::new(Outgoing::Message(Bytes::from(vec![0, 2, 1, n])))
}

#[tokio::test]
async fn queued_frames_are_written_in_order_with_one_flush() {
    let (tx, mut rx) = mpsc::channel(128);
    for n in 1..=3 {
        tx.try_send(frame(n)).unwrap();
    }
    let mut socket = Recorder::default();
    write_batch(&mut socket, frame(0), &mut rx).await.unwrap();
    let order: Vec<u8> = socket.written.iter().map(|(d, _)| d[3]).collect();
    assert_eq!(order, [0, 1, 2, 3]);
    // Every frame went out before the one flush: one syscall for the four.
    assert!(socket.written.iter().all(|(_, flushed)| *flushed == 0));
    assert_eq!(socket.flushes, 1);
    assert!(rx.try_recv().is_err(), "the queue is drained");
}

#[tokio::test]
async fn one_batch_takes_a_bounded_number_of_frames() {
    let (tx, mut rx) = mpsc::channel(128);
    for n in 1..=100 {
        tx.try_send(frame(n)).unwrap();
    }
    let mut socket = Recorder::default();
    write_batch(&mut socket, frame(0), &mut rx).await.unwrap();
    // The first and 64 more; the rest waits for the next turn of the socket loop, so
    // reading from the client is not starved by a long queue.
    assert_eq!(socket.written.len(), 65);
    assert_eq!(socket.flushes, 1);
    assert_eq!(rx.try_recv().ok().map(|f| f.len()), Some(4));
}

#[tokio::test]
async fn events_this_client_does_not_know_are_not_written() {
    let (tx, mut rx) = mpsc::channel(8);
    tx.try_send(Arc::new(Outgoing::Committed(1))).unwrap();
    tx.try_send(frame(1)).unwrap();
    let mut socket = Recorder::default();
    write_batch(&mut socket, frame(0), &mut rx).await.unwrap();
    let order: Vec<u8> = socket.written.iter().map(|(d, _)| d[3]).collect();
    assert_eq!(order, [0, 1]);
}
