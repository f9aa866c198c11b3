//! One reader following a feed: replay from the database after its position, then the
//! live events of its hub, skipping what the replay already gave (the seam).

use std::{collections::VecDeque, sync::Arc, time::Duration};

use tandem_persistence::{FeedFilter, StoreError};
use tokio::sync::broadcast::{self, error::RecvError};

use super::{Feed, FeedEvent, Reader, PAGE};

#[derive(Debug, thiserror::Error)]
pub(crate) enum FollowError {
    #[error("the reader fell too far behind the live feed")]
    Lagged,
    #[error("the feed stopped")]
    Closed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) struct Follow {
    feed: Arc<Feed>,
    filter: FeedFilter,
    rx: broadcast::Receiver<Arc<FeedEvent>>,
    /// Replaying from the database until it reaches the live head.
    replay: Option<Reader>,
    /// Pages the feeder had begun when this reader subscribed.
    pages_begun: u64,
    /// The last position handed out.
    last: i64,
    pending: VecDeque<Arc<FeedEvent>>,
}

impl Follow {
    /// Follows `filter` from after `after`, or from now when `None`. A given position is
    /// always replayed from the database first, even at or past the live head: the feeder
    /// may be in the middle of a page it began before this reader subscribed, passing over
    /// this reader's document; the replay goes on until that page is published and the
    /// replay has reached the head it moved to.
    pub(crate) fn new(feed: &Arc<Feed>, filter: FeedFilter, after: Option<i64>) -> Follow {
        let sub = feed.subscribe(&filter);
        let replay = after.map(|after| feed.reader(filter.clone(), after));
        Follow {
            feed: feed.clone(),
            filter,
            rx: sub.rx,
            replay,
            pages_begun: sub.pages_begun,
            last: after.unwrap_or(sub.head),
            pending: VecDeque::new(),
        }
    }

    /// The next event, in position order.
    pub(crate) async fn next(&mut self) -> Result<Arc<FeedEvent>, FollowError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last = self.last.max(event.position);
                return Ok(event);
            }
            if let Some(reader) = &mut self.replay {
                let events = reader.next_page(PAGE, |_| true).await?;
                if events.is_empty() {
                    let (head, pages_done) = self.feed.progress();
                    if pages_done >= self.pages_begun && reader.after >= head {
                        self.replay = None;
                    } else {
                        // The feeder's page, or in-flight writers holding the horizon
                        // back: read again shortly.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                self.pending.extend(events);
                continue;
            }
            match self.rx.recv().await {
                Ok(event) => {
                    if event.position > self.last && self.filter.admits(&event.doc) {
                        self.last = event.position;
                        return Ok(event);
                    }
                }
                Err(RecvError::Lagged(_)) => return Err(FollowError::Lagged),
                Err(RecvError::Closed) => return Err(FollowError::Closed),
            }
        }
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
