//! Everything a user can get back from a database, read through the store and replayed
//! with yrs: to compare a database with its restored backup or its migrated copy.

use std::collections::BTreeMap;

use tandem_persistence::{ContentKind, FeedFilter, FeedItem, Store};
use yrs::{ReadTxn, StateVector, Transact};

use super::new_doc;

#[derive(Debug, PartialEq)]
pub struct VersionState {
    pub version: i64,
    pub kind: String,
    pub label: Option<String>,
    pub authors: Vec<String>,
    pub format: ContentKind,
    pub created_micros: i64,
    pub text: String,
    pub state: Vec<u8>,
}

#[derive(Debug, PartialEq)]
pub struct DocState {
    pub title: String,
    pub kind: ContentKind,
    pub text: String,
    /// Rich text too (rendered with the default fields).
    pub plain: String,
    pub state_vector: StateVector,
    pub versions: Vec<VersionState>,
    /// The log as the change feed gives it: (position, author) of each change, or the
    /// position a compaction folded the log up to.
    pub log: Vec<(i64, Option<String>)>,
}

/// Every document of the database at `url`.
pub async fn db_state(url: &str) -> BTreeMap<String, DocState> {
    let store = tandem_persistence::open(url)
        .await
        .expect("open the database");
    state_of(&*store).await
}

pub async fn state_of(store: &dyn Store) -> BTreeMap<String, DocState> {
    let mut out = BTreeMap::new();
    for info in store.list_documents().await.unwrap() {
        let name = info.name.clone();
        let stored = store
            .load(&name)
            .await
            .unwrap()
            .expect("listed, so it loads");
        let doc = new_doc();
        assert!(
            tandem::text::replay(&doc, &stored).is_empty(),
            "{name} replays"
        );
        let plain = tandem::render::Content::from_doc(&doc, &Default::default()).plain_text();
        let (text, state_vector) = {
            let txn = doc.transact();
            (tandem::text::render_doc(&doc), txn.state_vector())
        };
        let mut versions = Vec::new();
        for v in store.list_versions(&name).await.unwrap().into_iter().rev() {
            let full = store.version(&name, v.version).await.unwrap().unwrap();
            versions.push(VersionState {
                version: v.version,
                kind: v.kind.as_str().to_string(),
                label: v.label,
                authors: v.authors,
                format: v.format,
                created_micros: v.created_at.timestamp_micros(),
                text: full.text,
                state: full.state,
            });
        }
        let page = store
            .changes_after(0, &FeedFilter::Doc(name.clone()), 100_000)
            .await
            .unwrap();
        let log = page
            .items
            .iter()
            .map(|item| match item {
                FeedItem::Change(c) => (c.position, c.author.clone()),
                FeedItem::Compacted(c) => (c.upto, Some("(compacted)".into())),
            })
            .collect();
        out.insert(
            name,
            DocState {
                title: info.title,
                kind: info.kind,
                text,
                plain,
                state_vector,
                versions,
                log,
            },
        );
    }
    out
}

/// The webhook endpoints' URLs and document choices, in id order.
pub async fn endpoints(url: &str) -> Vec<(i64, String, String)> {
    let store = tandem_persistence::open(url).await.unwrap();
    let hooks = store.webhooks().expect("a store with webhooks");
    hooks
        .endpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.url, e.prefix))
        .collect()
}
