//! A reader that falls behind its hub's bounded buffer is told so (and its stream closed),
//! instead of silently missing events or holding memory for it.

use std::{sync::Arc, time::Duration};

use tandem_persistence::{FeedFilter, SqliteStore, StoredDoc};

use super::{Follow, FollowError};
use crate::feed::{event::DocState, Feed, HUB_CAPACITY};

async fn feed() -> (Arc<Feed>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Arc::new(SqliteStore::open(&url).await.unwrap());
    // The feeder reads nothing during the test: events come from `publish` alone.
    (
        Feed::start(store, Duration::from_secs(3600), Default::default()).await,
        dir,
    )
}

fn events(from: i64, n: usize) -> Vec<Arc<super::FeedEvent>> {
    let state = DocState::from_stored(&StoredDoc::default(), &Default::default());
    (0..n as i64)
        .map(|i| Arc::new(state.snapshot("d", from + i, chrono::Utc::now())))
        .collect()
}

#[tokio::test]
async fn a_reader_within_the_buffer_gets_every_event() {
    let (feed, _dir) = feed().await;
    let mut follow = Follow::new(&feed, FeedFilter::Doc("d".into()), None);
    feed.publish(events(1, HUB_CAPACITY), HUB_CAPACITY as i64);
    for want in 1..=HUB_CAPACITY as i64 {
        assert_eq!(follow.next().await.unwrap().position, want);
    }
}

#[tokio::test]
async fn a_reader_past_the_buffer_is_closed() {
    let (feed, _dir) = feed().await;
    let mut follow = Follow::new(&feed, FeedFilter::Doc("d".into()), None);
    feed.publish(events(1, HUB_CAPACITY + 1), HUB_CAPACITY as i64 + 1);
    assert!(matches!(follow.next().await, Err(FollowError::Lagged)));
}
