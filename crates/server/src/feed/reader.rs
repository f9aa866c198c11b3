//! Turns pages of the log into feed events, keeping each followed document's state so a
//! change's delta is computed against the state right before it. The live feed and every
//! resuming reader use this same code, so the same change reads the same either way.

use std::{collections::HashMap, sync::Arc};

use tandem_persistence::{FeedFilter, FeedItem, Store, StoreError};

use super::event::{DocState, FeedEvent};
use crate::render::Fields;

pub(crate) struct Reader {
    store: Arc<dyn Store>,
    filter: FeedFilter,
    /// Everything the filter admits at or below this has been read.
    pub after: i64,
    states: HashMap<String, DocState>,
    /// Where rich text may be (`--rich-text-fields`).
    fields: Fields,
}

impl Reader {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        filter: FeedFilter,
        after: i64,
        fields: Fields,
    ) -> Reader {
        Reader {
            store,
            filter,
            after,
            states: HashMap::new(),
            fields,
        }
    }

    /// The next page of events (empty when caught up with the horizon). `wanted` says
    /// which documents anyone follows: the others are passed over and their state dropped.
    pub(crate) async fn next_page(
        &mut self,
        limit: usize,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Vec<Arc<FeedEvent>>, StoreError> {
        let page = self
            .store
            .changes_after(self.after, &self.filter, limit)
            .await?;
        let mut events = Vec::with_capacity(page.items.len());
        for item in page.items {
            let doc = item.doc().to_string();
            if !wanted(&doc) {
                self.states.remove(&doc);
                continue;
            }
            match item {
                FeedItem::Change(row) => {
                    if !self.states.contains_key(&doc) {
                        let Some(state) = self.load(&doc, row.position - 1).await? else {
                            continue; // deleted meanwhile
                        };
                        if state.position >= row.position {
                            // Compaction already folded this change into the snapshot. The
                            // event keeps the page's position (the ids of a stream only
                            // grow); the changes it covers are skipped below.
                            events.push(Arc::new(state.snapshot(&doc, row.position, row.at)));
                        }
                        self.states.insert(doc.clone(), state);
                    }
                    let Some(state) = self.states.get_mut(&doc) else {
                        continue;
                    };
                    if row.position <= state.position {
                        continue;
                    }
                    let event =
                        state.apply(&doc, row.position, row.at, &row.data, row.author.as_deref());
                    events.extend(event.map(Arc::new));
                }
                FeedItem::Compacted(c) => {
                    // This reader lacks some of the changes the snapshot replaced.
                    let Some(state) = self.load(&doc, c.upto).await? else {
                        self.states.remove(&doc);
                        continue;
                    };
                    events.push(Arc::new(state.snapshot(&doc, c.upto, c.at)));
                    self.states.insert(doc, state);
                }
            }
        }
        self.after = page.next;
        Ok(events)
    }

    /// Moves past everything up to `position` without reading it (nobody follows).
    pub(crate) fn skip_to(&mut self, position: i64) {
        self.states.clear();
        self.after = self.after.max(position);
    }

    async fn load(&self, doc: &str, upto: i64) -> Result<Option<DocState>, StoreError> {
        let stored = self.store.load_until(doc, upto.max(0)).await?;
        Ok(stored
            .as_ref()
            .map(|s| DocState::from_stored(s, &self.fields)))
    }
}
