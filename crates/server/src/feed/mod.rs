//! The change feed: committed changes read from the log, for readers that do not speak
//! Yjs (see docs/change-feed.md).
//!
//! One feeder task per process follows the whole log from the store (so it also sees
//! commits made by other instances) and computes each change's event once, against the
//! document's state right before it; per-document hubs broadcast it to every reader of
//! that document, one more channel to readers of many documents. Readers never touch the
//! commit path: the feeder polls the log, and a reader that falls behind its hub's bounded
//! buffer is closed and resumes from its last position. A reader resuming from a position
//! replays from the database with the same code (`reader.rs`), then joins its hub live;
//! positions at or below the last one replayed are skipped, so the seam has no gap and no
//! duplicate.

mod event;
mod follow;
mod reader;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
    time::Duration,
};

use tandem_persistence::{FeedFilter, Store};

use crate::render::Fields;
use tokio::sync::broadcast;

pub(crate) use event::FeedEvent;
pub(crate) use follow::{Follow, FollowError};
pub(crate) use reader::Reader;

/// How often the feeder moves its head while nobody follows anything (a new reader wakes
/// it at once).
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Events per read of the log; below a hub's capacity, so one page never overruns it.
const PAGE: usize = 256;
/// Events a hub holds for its slowest reader before that reader is closed.
const HUB_CAPACITY: usize = 1024;
/// The same for the channel of readers of many documents.
const ALL_CAPACITY: usize = 4096;

pub(crate) struct Feed {
    store: Arc<dyn Store>,
    /// Where rich text may be (`--rich-text-fields`): rich documents' events carry their
    /// rendered plain text.
    fields: Fields,
    /// Set when the server shuts down: every stream and long poll ends.
    closing: tokio::sync::watch::Sender<bool>,
    /// Wakes an idle feeder when a reader arrives.
    wake: tokio::sync::Notify,
    shared: Mutex<Shared>,
}

struct Shared {
    /// Every change at or below this has been broadcast.
    head: i64,
    /// Pages of the log the feeder has begun, and published.
    pages_begun: u64,
    pages_done: u64,
    hubs: HashMap<String, broadcast::Sender<Arc<FeedEvent>>>,
    all: broadcast::Sender<Arc<FeedEvent>>,
}

/// A reader's place in the live feed: events broadcast after `head` arrive on `rx`.
pub(crate) struct Subscription {
    pub head: i64,
    /// Pages the feeder had begun by then (one may be publishing without this reader).
    pub pages_begun: u64,
    pub rx: broadcast::Receiver<Arc<FeedEvent>>,
}

impl Feed {
    /// Starts following the log from its horizon now, reading it every `poll`.
    pub(crate) async fn start(store: Arc<dyn Store>, poll: Duration, fields: Fields) -> Arc<Feed> {
        let mut head = None;
        for _ in 0..5 {
            match store.feed_head().await {
                Ok(h) => {
                    head = Some(h);
                    break;
                }
                Err(err) => tracing::warn!(error = %err, "change feed: reading the log head"),
            }
        }
        // Without a head the feeder starts from the beginning: slower, never wrong.
        let head = head.unwrap_or(0);
        let reader = Reader::new(store.clone(), FeedFilter::All, head, fields.clone());
        let feed = Arc::new(Feed {
            store,
            fields,
            closing: tokio::sync::watch::channel(false).0,
            wake: tokio::sync::Notify::new(),
            shared: Mutex::new(Shared {
                head,
                pages_begun: 0,
                pages_done: 0,
                hubs: HashMap::new(),
                all: broadcast::channel(ALL_CAPACITY).0,
            }),
        });
        tokio::spawn(feeder(Arc::downgrade(&feed), reader, poll));
        feed
    }

    /// Ends every stream and long poll (the server is shutting down: its graceful shutdown
    /// waits for requests in flight, and a stream would never end by itself).
    pub(crate) fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Feed::close_all`] was called.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }

    /// A reader of the log from after `after`, rendering as the live feed does.
    pub(crate) fn reader(&self, filter: FeedFilter, after: i64) -> Reader {
        Reader::new(self.store.clone(), filter, after, self.fields.clone())
    }

    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Joins the live feed: one document's hub, or the channel of every document.
    pub(crate) fn subscribe(&self, filter: &FeedFilter) -> Subscription {
        let mut shared = self.shared();
        let rx = match filter {
            FeedFilter::Doc(doc) => shared
                .hubs
                .entry(doc.clone())
                .or_insert_with(|| broadcast::channel(HUB_CAPACITY).0)
                .subscribe(),
            _ => shared.all.subscribe(),
        };
        self.wake.notify_one();
        Subscription {
            head: shared.head,
            pages_begun: shared.pages_begun,
            rx,
        }
    }

    /// The live head and how many pages have been published.
    pub(crate) fn progress(&self) -> (i64, u64) {
        let shared = self.shared();
        (shared.head, shared.pages_done)
    }

    fn begin_page(&self) {
        self.shared().pages_begun += 1;
    }

    /// Whether anyone follows anything.
    fn anyone(&self) -> bool {
        let shared = self.shared();
        shared.all.receiver_count() > 0 || shared.hubs.values().any(|h| h.receiver_count() > 0)
    }

    /// Whether anyone follows `doc` (the feeder keeps no state for other documents).
    fn wanted(&self, doc: &str) -> bool {
        let shared = self.shared();
        shared.all.receiver_count() > 0
            || shared
                .hubs
                .get(doc)
                .is_some_and(|hub| hub.receiver_count() > 0)
    }

    /// Broadcasts a page's events and moves the head past it, under one lock: a reader
    /// that subscribes sees either all of the page live or none of it (then its replay
    /// from the database reaches past it).
    fn publish(&self, events: Vec<Arc<FeedEvent>>, head: i64) {
        let mut shared = self.shared();
        for event in events {
            if let Some(hub) = shared.hubs.get(&event.doc) {
                let _ = hub.send(event.clone());
            }
            let _ = shared.all.send(event);
        }
        shared.head = head;
        shared.pages_done += 1;
        shared.hubs.retain(|_, hub| hub.receiver_count() > 0);
    }
}

async fn feeder(feed: Weak<Feed>, mut reader: Reader, poll: Duration) {
    let mut full = false;
    loop {
        if !full {
            tokio::time::sleep(poll).await;
        }
        let Some(feed) = feed.upgrade() else {
            return;
        };
        feed.begin_page();
        if !feed.anyone() {
            // Nobody to send to: move the head without reading the log's rows.
            full = false;
            match feed.store.feed_head().await {
                Ok(head) => reader.skip_to(head),
                Err(err) => tracing::debug!(error = %err, "change feed: reading the log head"),
            }
            feed.publish(Vec::new(), reader.after);
            tokio::select! {
                _ = tokio::time::sleep(IDLE_POLL.saturating_sub(poll)) => {}
                _ = feed.wake.notified() => {}
            }
            continue;
        }
        match reader.next_page(PAGE, |doc| feed.wanted(doc)).await {
            Ok(events) => {
                full = events.len() >= PAGE;
                feed.publish(events, reader.after);
            }
            Err(err) => {
                feed.publish(Vec::new(), reader.after);
                full = false;
                tracing::warn!(error = %err, "change feed: reading the log");
                drop(feed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
