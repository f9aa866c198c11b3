//! The change feed's reads: committed changes in position order, filtered by document or
//! prefix, paged; compaction reported in place of the rows it removed; a document's state
//! at a position; and no change skipped when commits finish out of position order.

use crate::common::*;
use anyhow::{ensure, Context, Result};
use sqlx::Connection;
use tandem_persistence::{AppendItem, ChangePage, FeedFilter, FeedItem, Store};

for_both_backends!(
    changes_come_in_order_filtered_and_paged,
    compaction_shows_in_place_of_its_rows,
    load_until_gives_the_state_at_a_position,
    commits_finishing_out_of_order_skip_nothing,
    many_writers_are_followed_without_gaps,
    a_long_transaction_in_another_database_does_not_hold_the_feed,
    authors_round_trip_through_the_log,
);

fn positions(page: &ChangePage) -> Vec<(String, i64)> {
    page.items
        .iter()
        .map(|i| (i.doc().to_string(), i.position()))
        .collect()
}

/// Every change the filter admits after `after`, following `next` page by page.
async fn drain(store: &dyn Store, mut after: i64, filter: &FeedFilter) -> Result<Vec<FeedItem>> {
    let mut all = Vec::new();
    loop {
        let page = store.changes_after(after, filter, 2).await?;
        ensure!(
            page.next >= after,
            "next went back: {} < {after}",
            page.next
        );
        if page.items.is_empty() && page.next == after {
            return Ok(all);
        }
        after = page.next;
        all.extend(page.items);
    }
}

async fn changes_come_in_order_filtered_and_paged(h: &Harness) -> Result<()> {
    let s = &h.store;
    let (a, b, c) = (Editor::new(), Editor::new(), Editor::new());
    s.append(&items("notes/a", &a.type_at_end("ab"))).await?;
    s.append(&items("other", &c.type_at_end("x"))).await?;
    s.append(&items("notes/b", &b.type_at_end("c"))).await?;
    s.append(&items("notes/a", &a.type_at_end("d"))).await?;
    let all = drain(s.as_ref(), 0, &FeedFilter::All).await?;
    let docs: Vec<&str> = all.iter().map(|i| i.doc()).collect();
    ensure!(
        docs == ["notes/a", "notes/a", "other", "notes/b", "notes/a"],
        "{docs:?}"
    );
    let pos: Vec<i64> = all.iter().map(|i| i.position()).collect();
    ensure!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    let under = drain(s.as_ref(), 0, &FeedFilter::Prefix("notes/".into())).await?;
    ensure!(under.len() == 4, "{under:?}");
    let one = drain(s.as_ref(), pos[1], &FeedFilter::Doc("notes/a".into())).await?;
    ensure!(one.len() == 1 && one[0].position() == pos[4], "{one:?}");
    let FeedItem::Change(row) = &one[0] else {
        anyhow::bail!("{one:?}");
    };
    let mut replayed = Editor::new();
    for item in &all {
        if let FeedItem::Change(c) = item {
            if c.doc == "notes/a" {
                replayed = apply(replayed, &c.data)?;
            }
        }
    }
    ensure!(replayed.string() == "abd", "{}", replayed.string());
    ensure!(!row.data.is_empty() && row.doc_id > 0);
    // Caught up: the same position again, nothing new.
    let head = s.feed_head().await?;
    ensure!(head == pos[4], "head {head} vs {pos:?}");
    let none = s.changes_after(head, &FeedFilter::All, 10).await?;
    ensure!(
        none.items.is_empty() && none.next == head,
        "{:?}",
        positions(&none)
    );
    Ok(())
}

fn apply(ed: Editor, update: &[u8]) -> Result<Editor> {
    use yrs::{updates::decoder::Decode, Transact, Update};
    ed.doc
        .transact_mut()
        .apply_update(Update::decode_v1(update)?)?;
    Ok(ed)
}

async fn compaction_shows_in_place_of_its_rows(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let first = s.append(&items("doc", &ed.type_at_end("abc"))).await?;
    let upto = first[0].last_seq;
    s.append(&items("other", &Editor::new().type_at_end("z")))
        .await?;
    s.compact("doc", &ed.snapshot(upto)).await?;
    let more = s.append(&items("doc", &ed.type_at_end("de"))).await?;
    let items = drain(s.as_ref(), 0, &FeedFilter::Doc("doc".into())).await?;
    ensure!(items.len() == 3, "{items:?}");
    let FeedItem::Compacted(c) = &items[0] else {
        anyhow::bail!("first should be the compaction: {items:?}");
    };
    ensure!(c.upto == upto && c.doc == "doc");
    ensure!(items[2].position() == more[0].last_seq);
    // A reader already past the compaction gets only the newer rows.
    let later = drain(s.as_ref(), upto, &FeedFilter::Doc("doc".into())).await?;
    ensure!(later.len() == 2, "{later:?}");
    ensure!(later.iter().all(|i| matches!(i, FeedItem::Change(_))));
    // The global feed shows the compaction between the other document's change and after.
    let all = drain(s.as_ref(), 0, &FeedFilter::All).await?;
    let kinds: Vec<(String, bool)> = all
        .iter()
        .map(|i| (i.doc().to_string(), matches!(i, FeedItem::Compacted(_))))
        .collect();
    ensure!(
        kinds
            == [
                ("doc".to_string(), true),
                ("other".to_string(), false),
                ("doc".to_string(), false),
                ("doc".to_string(), false)
            ],
        "{kinds:?}"
    );
    Ok(())
}

async fn load_until_gives_the_state_at_a_position(h: &Harness) -> Result<()> {
    let s = &h.store;
    let ed = Editor::new();
    let ab = s.append(&items("doc", &ed.type_at_end("ab"))).await?[0].last_seq;
    let cd = s.append(&items("doc", &ed.type_at_end("cd"))).await?[0].last_seq;
    let at_ab = s.load_until("doc", ab).await?.context("doc")?;
    ensure!(replay(&at_ab)? == "ab" && at_ab.last_seq == ab);
    ensure!(s.load_until("missing", ab).await?.is_none());
    s.compact("doc", &ed.snapshot(cd)).await?;
    // The state at `ab` is gone: the snapshot stands in, and says where it stands.
    let folded = s.load_until("doc", ab).await?.context("doc")?;
    ensure!(folded.last_seq == cd, "{}", folded.last_seq);
    ensure!(replay(&folded)? == "abcd");
    s.append(&items("doc", &ed.type_at_end("e"))).await?;
    let before_e = s.load_until("doc", cd).await?.context("doc")?;
    ensure!(replay(&before_e)? == "abcd");
    Ok(())
}

/// Two writers: the first to take a position commits last. A reader asking while the
/// first is still open must not move past its position, or it would never see it.
async fn commits_finishing_out_of_order_skip_nothing(h: &Harness) -> Result<()> {
    let s = &h.store;
    let (slow_ed, fast_ed) = (Editor::new(), Editor::new());
    s.append(&items("slow", &slow_ed.type_at_end("s"))).await?;
    let start = s.feed_head().await?;
    let pool = match &h.raw {
        // One writer: the out-of-order case cannot happen; the rest of the test still runs.
        Raw::Sqlite(_) => None,
        Raw::Pg(pool) => Some(pool.clone()),
    };
    // The slow writer does what an append does (touch the document, insert), then waits.
    let mut slow: Option<sqlx::PgConnection> = None;
    let mut slow_pos = 0;
    if let Some(pool) = &pool {
        let mut conn = pool.acquire().await?.detach();
        sqlx::query("BEGIN").execute(&mut conn).await?;
        sqlx::query("UPDATE documents SET updated_at = now() WHERE name = 'slow'")
            .execute(&mut conn)
            .await?;
        slow_pos = sqlx::query_scalar(
            "INSERT INTO updates (document_id, data, created_at)
             SELECT id, $1, now() FROM documents WHERE name = 'slow' RETURNING seq",
        )
        .bind(slow_ed.type_at_end("t").remove(0))
        .fetch_one(&mut conn)
        .await?;
        slow = Some(conn);
    }
    let fast = s.append(&items("fast", &fast_ed.type_at_end("f"))).await?[0].last_seq;
    ensure!(pool.is_none() || fast > slow_pos, "{fast} vs {slow_pos}");
    // Read while the slow writer is still open, then let it commit.
    let reader = {
        let store = s.clone();
        tokio::spawn(async move { store.changes_after(start, &FeedFilter::All, 100).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    if let Some(mut conn) = slow {
        sqlx::query("COMMIT").execute(&mut conn).await?;
        conn.close().await?;
    }
    let first = reader.await??;
    let mut seen: Vec<i64> = first.items.iter().map(|i| i.position()).collect();
    seen.extend(
        drain(s.as_ref(), first.next, &FeedFilter::All)
            .await?
            .iter()
            .map(|i| i.position()),
    );
    if pool.is_some() {
        ensure!(
            seen == [slow_pos, fast],
            "{seen:?}: slow {slow_pos}, fast {fast}"
        );
    } else {
        ensure!(seen == [fast], "{seen:?}");
    }
    Ok(())
}

async fn many_writers_are_followed_without_gaps(h: &Harness) -> Result<()> {
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let ed = Editor::new();
                for _ in 0..25 {
                    store
                        .append(&items(&format!("doc{w}"), &ed.type_at_end("x")))
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let done = writers.iter().all(|w| w.is_finished());
        let page = h.store.changes_after(after, &FeedFilter::All, 7).await?;
        seen.extend(page.items.iter().map(|i| i.position()));
        after = page.next;
        if done && page.items.is_empty() {
            break;
        }
    }
    for w in writers {
        w.await??;
    }
    seen.extend(
        drain(h.store.as_ref(), after, &FeedFilter::All)
            .await?
            .iter()
            .map(|i| i.position()),
    );
    ensure!(seen.len() == 100, "followed {} of 100 changes", seen.len());
    ensure!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    Ok(())
}

/// Only this database's writers can hold positions back: a transaction left open in another
/// database on the same server must not stall the feed.
async fn a_long_transaction_in_another_database_does_not_hold_the_feed(h: &Harness) -> Result<()> {
    if matches!(h.raw, Raw::Sqlite(_)) {
        return Ok(());
    }
    let admin = tandem_testkit::admin_url();
    let mut other = sqlx::PgConnection::connect(&admin).await?;
    sqlx::query("BEGIN").execute(&mut other).await?;
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut other)
        .await?;
    let start = h.store.feed_head().await?;
    h.store
        .append(&items("doc", &Editor::new().type_at_end("x")))
        .await?;
    let page = h.store.changes_after(start, &FeedFilter::All, 10).await?;
    sqlx::query("ROLLBACK").execute(&mut other).await?;
    ensure!(page.items.len() == 1, "{:?}", positions(&page));
    Ok(())
}

/// Each row keeps who sent it, written by the batch insert itself: one batch mixing
/// authors (and an unknown one) over two documents reads back row by row, and the
/// webhooks' summary names each author of a range once.
async fn authors_round_trip_through_the_log(h: &Harness) -> Result<()> {
    let s = &h.store;
    let (a, b) = (Editor::new(), Editor::new());
    let start = s.feed_head().await?;
    let sent = [
        ("a", a.type_at_end("1"), Some("ann")),
        ("b", b.type_at_end("2"), Some("bob")),
        ("a", a.type_at_end("3"), None),
        ("a", a.type_at_end("4"), Some("bob")),
        ("a", a.type_at_end("5"), Some("ann")),
    ];
    let batch: Vec<AppendItem> = sent
        .iter()
        .flat_map(|(doc, updates, author)| {
            updates.iter().map(move |u| AppendItem {
                doc: doc.to_string(),
                doc_id: None,
                data: u.clone(),
                author: author.map(String::from),
            })
        })
        .collect();
    ensure!(batch.len() == sent.len(), "one update per edit");
    s.append(&batch).await?;
    let rows: Vec<(String, Option<String>)> = drain(s.as_ref(), start, &FeedFilter::All)
        .await?
        .into_iter()
        .filter_map(|item| match item {
            FeedItem::Change(c) => Some((c.doc, c.author)),
            FeedItem::Compacted(_) => None,
        })
        .collect();
    let want: Vec<(String, Option<String>)> = sent
        .iter()
        .map(|(doc, _, author)| (doc.to_string(), author.map(String::from)))
        .collect();
    ensure!(rows == want, "{rows:?}");
    let id = s.load("a").await?.context("a")?.id;
    let head = s.feed_head().await?;
    let authors = s.change_authors(id, start, head).await?;
    ensure!(authors == ["ann", "bob"], "{authors:?}");
    // Readable in plain SQL.
    let sql = "SELECT author FROM document_log WHERE document = $1 ORDER BY seq";
    let logged: Vec<(Option<String>,)> = h.rows(sql, "a").await;
    let want = [Some("ann"), None, Some("bob"), Some("ann")].map(|a| (a.map(String::from),));
    ensure!(logged == want, "{logged:?}");
    Ok(())
}
