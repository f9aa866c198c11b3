//! One document's slow commit must not hold up the others: the writer keeps more than one
//! commit in flight (PostgreSQL), each document's batches still in order.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use crate::kit::{pg, server::config, Client, Peer, TestServer, WAIT};
use async_trait::async_trait;
use tandem_persistence::{
    AppendItem, Appended, ChangePage, CompactStats, DocumentInfo, Durability, FeedFilter,
    NewVersion, Snapshot, Store, StoredDoc, Version, VersionInfo,
};
use tokio::sync::{Notify, Semaphore};

/// A real store whose appends for one document wait, once armed, until released.
struct HeldStore {
    inner: Arc<dyn Store>,
    held_doc: &'static str,
    armed: AtomicBool,
    /// Signalled when an append for `held_doc` starts waiting.
    entered: Notify,
    release: Semaphore,
}

#[async_trait]
impl Store for HeldStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn durability(&self) -> Durability {
        self.inner.durability()
    }
    fn concurrent_appends(&self) -> usize {
        self.inner.concurrent_appends()
    }
    async fn load(&self, doc: &str) -> tandem_persistence::Result<Option<StoredDoc>> {
        self.inner.load(doc).await
    }
    async fn load_since(
        &self,
        doc: &str,
        after: i64,
    ) -> tandem_persistence::Result<Option<StoredDoc>> {
        self.inner.load_since(doc, after).await
    }
    async fn last_seqs(&self, docs: &[String]) -> tandem_persistence::Result<Vec<(String, i64)>> {
        self.inner.last_seqs(docs).await
    }
    async fn create_auto_version(
        &self,
        doc: &str,
        version: &tandem_persistence::NewVersion,
        unchanged: &(dyn for<'s> Fn(&'s [u8], &'s str) -> bool + Send + Sync),
    ) -> tandem_persistence::Result<Option<tandem_persistence::VersionInfo>> {
        self.inner
            .create_auto_version(doc, version, unchanged)
            .await
    }
    async fn create_named_version(
        &self,
        doc: &str,
        version: &tandem_persistence::NewVersion,
        unchanged: &(dyn for<'s> Fn(&'s [u8], &'s str) -> bool + Send + Sync),
    ) -> tandem_persistence::Result<tandem_persistence::VersionInfo> {
        self.inner
            .create_named_version(doc, version, unchanged)
            .await
    }
    async fn append(&self, items: &[AppendItem]) -> tandem_persistence::Result<Vec<Appended>> {
        if self.armed.load(Ordering::SeqCst) && items.iter().any(|i| i.doc == self.held_doc) {
            self.entered.notify_one();
            let _permit = self.release.acquire().await.unwrap();
        }
        self.inner.append(items).await
    }
    async fn compact(
        &self,
        doc: &str,
        snapshot: &Snapshot,
    ) -> tandem_persistence::Result<CompactStats> {
        self.inner.compact(doc, snapshot).await
    }
    async fn create_of_kind(
        &self,
        doc: &str,
        title: &str,
        kind: tandem_persistence::ContentKind,
    ) -> tandem_persistence::Result<DocumentInfo> {
        self.inner.create_of_kind(doc, title, kind).await
    }
    async fn set_title(&self, doc: &str, title: &str) -> tandem_persistence::Result<DocumentInfo> {
        self.inner.set_title(doc, title).await
    }
    async fn document(&self, doc: &str) -> tandem_persistence::Result<Option<DocumentInfo>> {
        self.inner.document(doc).await
    }
    async fn list_documents(&self) -> tandem_persistence::Result<Vec<DocumentInfo>> {
        self.inner.list_documents().await
    }
    async fn delete_document(&self, doc: &str) -> tandem_persistence::Result<bool> {
        self.inner.delete_document(doc).await
    }
    async fn create_version(
        &self,
        doc: &str,
        version: &NewVersion,
    ) -> tandem_persistence::Result<VersionInfo> {
        self.inner.create_version(doc, version).await
    }
    async fn list_versions(&self, doc: &str) -> tandem_persistence::Result<Vec<VersionInfo>> {
        self.inner.list_versions(doc).await
    }
    async fn version(
        &self,
        doc: &str,
        version: i64,
    ) -> tandem_persistence::Result<Option<Version>> {
        self.inner.version(doc, version).await
    }
    async fn ping(&self) -> tandem_persistence::Result<()> {
        self.inner.ping().await
    }
    async fn changes_after(
        &self,
        after: i64,
        filter: &FeedFilter,
        limit: usize,
    ) -> tandem_persistence::Result<ChangePage> {
        self.inner.changes_after(after, filter, limit).await
    }
    async fn load_until(
        &self,
        doc: &str,
        upto: i64,
    ) -> tandem_persistence::Result<Option<StoredDoc>> {
        self.inner.load_until(doc, upto).await
    }
    async fn change_authors(
        &self,
        doc_id: i64,
        after: i64,
        upto: i64,
    ) -> tandem_persistence::Result<Vec<String>> {
        self.inner.change_authors(doc_id, after, upto).await
    }
    async fn feed_head(&self) -> tandem_persistence::Result<i64> {
        self.inner.feed_head().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_other_documents_relay_while_one_commit_is_held() {
    let db = pg::TestDatabase::create("slowcommit").await;
    let url = db.url.clone();
    let inner = tandem_persistence::open_with(&url, Durability::Process)
        .await
        .unwrap();
    let store = Arc::new(HeldStore {
        inner,
        held_doc: "held",
        armed: AtomicBool::new(false),
        entered: Notify::new(),
        release: Semaphore::new(0),
    });
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &["--database-url", &url]);
    let server = tandem::start_with_store(config, store.clone())
        .await
        .unwrap();
    let mut server = TestServer {
        addr: server.addr,
        server: Some(server),
        dir,
    };

    let mut held_writer = Client::connect(&server.ws("held")).await;
    let mut held_reader = Client::connect(&server.ws("held")).await;
    let mut free_writer = Client::connect(&server.ws("free")).await;
    let mut free_reader = Client::connect(&server.ws("free")).await;

    store.armed.store(true, Ordering::SeqCst);
    held_writer.append("held edit").await;
    // The commit for "held" has started and now waits for us.
    tokio::time::timeout(WAIT, store.entered.notified())
        .await
        .expect("the held document's commit never started");

    free_writer.append("free edit").await;
    free_reader
        .pump_until(|c| c.text() == "free edit", WAIT)
        .await;
    free_writer
        .pump_until(|c| c.text() == "free edit" && c.received_updates >= 1, WAIT)
        .await;

    // Still held: nobody may have seen the uncommitted edit.
    while held_reader.step(std::time::Duration::ZERO).await {}
    assert_eq!(held_reader.text(), "", "relayed before its commit returned");

    store.release.add_permits(1_000);
    held_reader
        .pump_until(|c| c.text() == "held edit", WAIT)
        .await;
    server.stop().await;
}
