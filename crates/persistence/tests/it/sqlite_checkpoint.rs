//! SQLite: commits never checkpoint the WAL themselves (that would stall the commit that
//! crosses the threshold); a background task on its own connection does it instead.

use std::time::Duration;

use tandem_persistence::{AppendItem, Durability};

#[tokio::test]
async fn the_wal_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tandem.db");
    let url = format!("sqlite://{}", path.display());
    let store = tandem_persistence::open_with(&url, Durability::Process)
        .await
        .unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    // About 2 MiB of updates: well below SQLite's default automatic checkpoint (1,000
    // pages, 4 MiB), so only the background task can move them into the database file.
    for batch in 0..8 {
        let items: Vec<AppendItem> = (0..256)
            .map(|i| AppendItem {
                doc: format!("doc-{batch}"),
                doc_id: None,
                data: vec![(i % 251) as u8; 1024],
                author: None,
            })
            .collect();
        store.append(&items).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = std::fs::metadata(&path).unwrap().len();
        if now >= before + 2 * 1024 * 1024 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "database file still {now} bytes (was {before}): the WAL was never checkpointed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = store.load("doc-7").await.unwrap().unwrap();
    assert_eq!(stored.updates.len(), 256);
}
