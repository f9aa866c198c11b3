//! Who wrote each change, and rich documents, in the change feed over real HTTP
//! (docs/change-feed.md): a change's `authors` name the token (or presence name) of the
//! client that sent it; a rich document's events carry its rendered plain text.

use serde_json::Value;
use tandem::auth::{now_secs, Auth, Claims};
use tandem::Access;

use crate::kit::{feed::Rebuilt, *};

const SECRET: &str = "feed-authors-secret-0123456789";

fn token(doc: &str, access: Access, name: Option<&str>) -> String {
    Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: doc.into(),
            access,
            exp: now_secs() + 600,
            name: name.map(String::from),
            share: false,
            by: None,
            lid: None,
        })
        .unwrap()
}

/// Every change of `doc` after 0, as the JSON feed answers, once it holds at least `n`.
async fn changes(server: &TestServer, doc: &str, n: usize) -> Vec<Value> {
    let reader = token(doc, Access::Read, None);
    let url = server.http(&format!(
        "/api/documents/{doc}/changes?after=0&include=text"
    ));
    wait_for("the changes in the feed", || async {
        let page: Value = http_client(Some(&reader))
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let all = page["changes"].as_array().unwrap().clone();
        (all.len() >= n).then_some(all)
    })
    .await
}

async fn two_writers(server: &TestServer) {
    let url = |name| {
        format!(
            "{}?token={}",
            server.ws("pair"),
            token("pair", Access::Write, Some(name))
        )
    };
    let mut ann = Client::connect(&url("Ann")).await;
    ann.append("a").await;
    ann.append("b").await;
    wait_for("Ann's text", || async {
        (get_text_as(server, "pair").await == "ab").then_some(())
    })
    .await;
    let mut bob = Client::connect(&url("Bob")).await;
    bob.append("c").await;
    let events = changes(server, "pair", 3).await;
    let authors: Vec<Value> = events.iter().map(|e| e["authors"].clone()).collect();
    assert_eq!(
        authors,
        [
            serde_json::json!(["Ann"]),
            serde_json::json!(["Ann"]),
            serde_json::json!(["Bob"])
        ],
        "{events:?}"
    );
    assert!(events.iter().all(|e| e["format"] == "text"), "{events:?}");
}

async fn get_text_as(server: &TestServer, doc: &str) -> String {
    let reader = token(doc, Access::Read, None);
    http_client(Some(&reader))
        .get(server.http(&format!("/api/documents/{doc}/text")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_changes_name_their_authors() {
    two_writers(&start(&["--secret", SECRET]).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_name_their_authors() {
    let db = pg::TestDatabase::create("feedauthors").await;
    two_writers(&start(&["--secret", SECRET, "--database-url", db.url.as_str()]).await).await;
}

/// A document typed as Markdown through `PUT .../content` is rich: its events say so,
/// carry the rendered plain text's length, and their deltas rebuild that text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_documents_are_followed_through_their_rendered_text() {
    let server = start(&["--secret", SECRET]).await;
    let writer = http_client(Some(&token("notes", Access::Write, Some("Cy"))));
    let pages = [
        "# Title\n\nHello world",
        "# Title\n\nHello *brave* 😀 world\n\n- one\n- two",
    ];
    let mut rebuilt = Rebuilt::default();
    let mut seen = 0;
    for markdown in pages {
        let res = writer
            .put(server.http("/api/documents/notes/content"))
            .header("content-type", "text/markdown")
            .body(markdown)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
        let want = get_text_as(&server, "notes").await;
        let events = changes(&server, "notes", seen + 1).await;
        for event in &events[seen..] {
            assert_eq!(event["format"], "rich", "{event}");
            assert_eq!(event["authors"], serde_json::json!(["Cy"]), "{event}");
            rebuilt.take("change", None, event);
        }
        seen = events.len();
        let last = events.last().unwrap();
        assert!(last["length"].as_u64().unwrap() > 0, "{last}");
        assert_eq!(last["text"], want.as_str());
        assert_eq!(rebuilt.string(), want);
    }
    assert!(
        rebuilt.string().contains("brave 😀 world"),
        "{}",
        rebuilt.string()
    );
}
