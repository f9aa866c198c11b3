//! The change feed over real HTTP (docs/change-feed.md): SSE resume seams, compaction
//! answered with a snapshot, access, JSON long polling, and the feed of every document.
//! The event-stream format and Quill deltas are parsed here, independently of the server.

use std::time::Duration;

use serde_json::Value;
use tandem::auth::{now_secs, Auth, Claims};
use tandem::Access;

use crate::kit::{feed::*, *};

async fn pg_server(extra: &[&str]) -> (TestServer, pg::TestDatabase) {
    let db = pg::TestDatabase::create("feed").await;
    let mut args = vec!["--database-url", db.url.as_str()];
    args.extend(extra);
    (start(&args).await, db)
}

/// Changes committed while a reader reconnects appear exactly once; the text rebuilt from
/// the deltas equals the document's. The server reads the log only every 400 ms, so each
/// reconnect's replay from the database reaches past what the live feed has sent yet:
/// the seam between the two is crossed every round.
async fn resume_seam(server: &TestServer) {
    let url = server.http("/api/documents/seam/changes?after=0");
    let mut writer = Client::connect(&server.ws("seam")).await;
    for ch in "hello".chars() {
        writer.append(&ch.to_string()).await;
    }
    let mut seen = Rebuilt::default();
    let mut feed = Stream::open(&url, None).await.unwrap();
    feed.follow_until(&mut seen, |r| r.string() == "hello")
        .await;
    for round in 0..3 {
        drop(feed);
        // Typed while no reader is connected: the live feed sends it to nobody...
        writer.append(&format!(" {round}")).await;
        tokio::time::sleep(Duration::from_millis(1300)).await;
        // ...then more, committed before the reader reconnects...
        writer.append("c").await;
        writer.append("d").await;
        let last = *seen.ids.last().unwrap();
        wait_for("the changes to be committed", || async {
            let page: Value =
                reqwest::get(server.http(&format!("/api/documents/seam/changes?after={last}")))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
            (page["changes"].as_array().unwrap().len() >= 3).then_some(())
        })
        .await;
        // ...and while it reconnects.
        let typing = async {
            for ch in "ab".chars() {
                writer.append(&ch.to_string()).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let (opened, ()) = tokio::join!(Stream::open(&url, Some(last)), typing);
        feed = opened.unwrap();
        let want = wait_for("the typing to reach the server", || async {
            Some(get_text(server, "seam").await).filter(|t| t.ends_with("ab"))
        })
        .await;
        feed.follow_until(&mut seen, |r| r.text.len() >= want.encode_utf16().count())
            .await;
        assert_eq!(seen.string(), want);
    }
    seen.assert_once_each();
    assert_eq!(seen.snapshots, 0);
    // Nothing more, nothing twice.
    assert!(feed.next(Duration::from_millis(2500)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_resume_seams_are_exact() {
    resume_seam(&start(&["--feed-poll-ms", "1000"]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_resume_seams_are_exact() {
    let (server, _db) = pg_server(&["--feed-poll-ms", "1000"]).await;
    resume_seam(&server).await;
}

/// `after` older than a compaction: one snapshot, then the rest (SSE and JSON).
async fn compaction_snapshot(server: &TestServer) {
    let mut writer = Client::connect(&server.ws("folded")).await;
    for ch in "compacted away".chars() {
        writer.append(&ch.to_string()).await;
    }
    let text = wait_for("the log to be compacted", || async {
        let page: Value = reqwest::get(server.http("/api/documents/folded/changes?after=0"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let first = page["changes"][0].clone();
        (first["type"] == "snapshot").then_some(first)
    })
    .await;
    // Compaction runs every 5 updates while the text is typed, so the first snapshot seen
    // may hold any prefix of it (its own position says which).
    let folded = text["text"].as_str().unwrap();
    assert!(
        !folded.is_empty() && "compacted away".starts_with(folded),
        "{text}"
    );
    assert_eq!(
        text["length"].as_u64(),
        Some(folded.encode_utf16().count() as u64)
    );
    for ch in "!!".chars() {
        writer.append(&ch.to_string()).await;
    }
    let want = wait_for("the text", || async {
        Some(get_text(server, "folded").await).filter(|t| t.ends_with("!!"))
    })
    .await;
    let mut seen = Rebuilt::default();
    let url = server.http("/api/documents/folded/changes");
    let mut feed = Stream::open(&url, Some(0)).await.unwrap();
    feed.follow_until(&mut seen, |r| r.string() == want).await;
    assert_eq!(seen.snapshots, 1);
    seen.assert_once_each();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_after_a_compaction_gives_a_snapshot_then_the_rest() {
    compaction_snapshot(&start(&["--compact-updates", "5"]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_after_a_compaction_gives_a_snapshot_then_the_rest() {
    let (server, _db) = pg_server(&["--compact-updates", "5"]).await;
    compaction_snapshot(&server).await;
}

const SECRET: &str = "feed-secret-0123456789";
const ADMIN: &str = "feed-admin-key";

fn token(doc: &str, exp: u64) -> String {
    Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: doc.into(),
            access: Access::Read,
            exp,
            name: None,
            share: false,
            by: None,
            lid: None,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_rules_apply_and_expiry_ends_the_stream() {
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    let url = |doc: &str, token: Option<&str>| {
        with_token(server.http(&format!("/api/documents/{doc}/changes")), token)
    };
    let (status, _) = Stream::open(&url("a", None), None).await.err().unwrap();
    assert_eq!(status, 401);
    let other = token("b", now_secs() + 600);
    let (status, _) = Stream::open(&url("a", Some(&other)), None)
        .await
        .err()
        .unwrap();
    assert_eq!(status, 403);
    let (status, _) = Stream::open(&with_token(server.http("/api/changes"), Some(&other)), None)
        .await
        .map(|_| (200, String::new()))
        .unwrap_or_else(|e| e);
    assert_eq!(
        status, 200,
        "a token sees its own documents in the global feed"
    );
    let (status, _) = Stream::open(&server.http("/api/changes"), None)
        .await
        .err()
        .unwrap();
    assert_eq!(status, 401);
    // A read-only token that expires in 2 s: the stream ends then.
    let short = token("a", now_secs() + 2);
    let mut feed = Stream::open(&url("a", Some(&short)), None).await.unwrap();
    let started = std::time::Instant::now();
    let (event, _, data) = feed.next(WAIT).await.expect("a close event at expiry");
    assert_eq!(event, "close", "{data}");
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(
        feed.next(Duration::from_secs(2)).await.is_none(),
        "the stream ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_long_polling_and_the_feed_of_every_document() {
    let server = start(&["--secret", SECRET, "--admin-key", ADMIN]).await;
    let admin = reqwest::Client::new();
    let head: Value = admin
        .get(server.http("/api/changes"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = head["next"].as_i64().unwrap();
    let writer_token = Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: "*".into(),
            access: Access::Write,
            exp: now_secs() + 600,
            name: None,
            share: false,
            by: None,
            lid: None,
        })
        .unwrap();
    let poll = {
        let url = format!(
            "{}?after={next}&wait=20&token={}",
            server.http("/api/changes"),
            token("team-*", now_secs() + 600)
        );
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            (page, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut other =
        Client::connect(&format!("{}?token={writer_token}", server.ws("private"))).await;
    other.append("x").await;
    let mut team = Client::connect(&format!("{}?token={writer_token}", server.ws("team-a"))).await;
    team.append("y").await;
    let (page, took) = poll.await.unwrap();
    assert!(
        took >= Duration::from_millis(400),
        "held until a change: {took:?} {page}"
    );
    let changes = page["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{page}");
    assert!(
        changes.iter().all(|c| c["doc"] == "team-a"),
        "a prefix token sees only its documents: {page}"
    );
    assert_eq!(changes[0]["delta"], serde_json::json!([{ "insert": "y" }]));
    // Bad input gets a clear error.
    let res = admin
        .get(server.http("/api/changes?after=soon"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let message = expect_error(res, 400).await;
    assert!(message.contains("after"), "{message}");
}

/// The feed of every document, live, while two commits finish out of position order: a
/// transaction that took a position stays open while a later one commits. The feed must
/// hold the later one back until the earlier one commits, and then send both, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_global_feed_skips_nothing_when_commits_finish_out_of_order() {
    use sqlx::Connection;
    use yrs::{Text, Transact};
    let (server, db) = pg_server(&[]).await;
    let mut slow_writer = Client::connect(&server.ws("slow")).await;
    slow_writer.append("s").await;
    let mut fast_writer = Client::connect(&server.ws("fast")).await;
    let url = server.http("/api/changes");
    let mut feed = Stream::open(&url, None).await.unwrap();
    wait_for("the first change to be committed", || async {
        let page: Value = reqwest::get(server.http("/api/documents/slow/changes?after=0"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (!page["changes"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    // The slow writer does what an append does (touch the document, insert) and waits.
    let update = {
        let doc = new_doc();
        let text = doc.get_or_insert_text("content");
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "held ");
        txn.encode_update_v1()
    };
    let mut slow = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut slow).await.unwrap();
    sqlx::query("UPDATE documents SET updated_at = now() WHERE name = 'slow'")
        .execute(&mut slow)
        .await
        .unwrap();
    let slow_pos: i64 = sqlx::query_scalar(
        "INSERT INTO updates (document_id, data, created_at)
         SELECT id, $1, now() FROM documents WHERE name = 'slow' RETURNING seq",
    )
    .bind(update)
    .fetch_one(&mut slow)
    .await
    .unwrap();
    // A later position commits first.
    fast_writer.append("f").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    sqlx::query("COMMIT").execute(&mut slow).await.unwrap();
    let mut got: Vec<(String, i64)> = Vec::new();
    while !got.iter().any(|(doc, _)| doc == "fast") {
        let (_, id, data) = feed.next(WAIT).await.expect("the fast change");
        let data: Value = serde_json::from_str(&data).unwrap();
        got.push((
            data["doc"].as_str().unwrap().to_string(),
            id.unwrap().parse().unwrap(),
        ));
    }
    let n = got.len();
    assert!(n >= 2, "{got:?}");
    assert_eq!(got[n - 2], ("slow".to_string(), slow_pos), "{got:?}");
    assert!(got[n - 1].1 > slow_pos, "{got:?}");
    // Nothing late.
    assert!(feed.next(Duration::from_millis(500)).await.is_none());
}
