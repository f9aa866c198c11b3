//! Rich-text documents (a `Y.XmlFragment`, as Tiptap writes it): their kind, their text,
//! exports in every format, versions in SQL and restore, on both databases.

use std::{collections::HashMap, sync::Arc};

use serde_json::{json, Value};
use sqlx::Connection;
use yrs::{
    updates::decoder::Decode, Any, GetString, ReadTxn, Text, Transact, Update, Xml,
    XmlElementPrelim, XmlFragment, XmlTextPrelim,
};

use crate::kit::*;

/// Writes what Tiptap writes for `# Title` and `Hello **world** [site](https://e.x)` into
/// the fragment `default` of `doc`; returns the update.
pub(crate) fn tiptap_content(doc: &yrs::Doc) -> Vec<u8> {
    let fragment = doc.get_or_insert_xml_fragment("default");
    let mut txn = doc.transact_mut();
    let heading = fragment.insert(&mut txn, 0, XmlElementPrelim::empty("heading"));
    heading.insert_attribute(&mut txn, "level", Any::Number(1.into()));
    heading.insert(&mut txn, 0, XmlTextPrelim::new("Title"));
    let paragraph = fragment.insert(&mut txn, 1, XmlElementPrelim::empty("paragraph"));
    let text = paragraph.insert(&mut txn, 0, XmlTextPrelim::new("Hello "));
    let bold: HashMap<Arc<str>, Any> =
        HashMap::from([("bold".into(), Any::Map(Arc::new(HashMap::new())))]);
    text.insert_with_attributes(&mut txn, 6, "world", bold);
    // A plain insert would take the bold of the text before it.
    text.insert_with_attributes(&mut txn, 11, " ", HashMap::new());
    let link = HashMap::from([(
        "link".into(),
        Any::Map(Arc::new(HashMap::from([(
            "href".to_string(),
            Any::String("https://e.x".into()),
        )]))),
    )]);
    text.insert_with_attributes(&mut txn, 12, "site", link);
    txn.encode_update_v1()
}

pub(crate) fn expected_json() -> Value {
    json!({"type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 1}, "content": [{"type": "text", "text": "Title"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Hello "},
            {"type": "text", "text": "world", "marks": [{"type": "bold", "attrs": {}}]},
            {"type": "text", "text": " "},
            {"type": "text", "text": "site", "marks": [{"type": "link", "attrs": {"href": "https://e.x"}}]}
        ]}
    ]})
}

pub(crate) const TEXT: &str = "Title\n\nHello world site";
pub(crate) const MARKDOWN: &str = "# Title\n\nHello **world** [site](<https://e.x>)\n";

async fn export(api_base: &str, doc: &str, query: &str) -> reqwest::Response {
    reqwest::get(format!("{api_base}/api/documents/{doc}/export?{query}"))
        .await
        .unwrap()
}

/// The fragment `default` of a client's document, as yrs writes it out.
fn fragment_xml(doc: &yrs::Doc) -> String {
    let fragment = doc.get_or_insert_xml_fragment("default");
    let txn = doc.transact();
    fragment.get_string(&txn)
}

enum Db {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

/// `(text, format)` of one row of `document_history`.
async fn history_row(db: &Db, doc: &str, version: i64) -> (String, String) {
    let sql = format!(
        "SELECT text, format FROM document_history WHERE document = '{doc}' AND version = {version}"
    );
    match db {
        Db::Sqlite(path) => {
            let url = format!("sqlite://{}", path.display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_as(&sql).fetch_one(&mut c).await.unwrap()
        }
        Db::Postgres(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_as(&sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

async fn rich_documents(server: TestServer, db: Db) {
    let api = Api::new(&server);
    let base = server.http("");

    // The kind asked for at creation is what an empty document is known as.
    let created = api
        .create_json(json!({"name": "notes", "kind": "rich"}))
        .await;
    assert_eq!(ok_json(created, 201).await["kind"], "rich");
    assert_eq!(
        ok_json(api.document("notes").await, 200).await["kind"],
        "rich"
    );
    let plain = ok_json(api.create("plain").await, 201).await;
    assert_eq!(plain["kind"], "text");
    let bad = api.create_json(json!({"name": "x", "kind": "fancy"})).await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("kind must be"));

    // A Tiptap client writes; a second client is connected the whole time.
    let mut watcher = Client::connect(&server.ws("notes")).await;
    let writer = new_doc();
    let update = tiptap_content(&writer);
    assert_eq!(api.apply_update("notes", update).await.status(), 204);
    let want_xml = fragment_xml(&writer);
    watcher
        .pump_until(|c| fragment_xml(&c.doc) == want_xml, WAIT)
        .await;
    let state_before = api.state("notes").await.bytes().await.unwrap();

    assert_eq!(get_text(&server, "notes").await, TEXT);
    let json_export = export(&base, "notes", "format=json").await;
    assert_eq!(json_export.status(), 200);
    assert_eq!(json_export.json::<Value>().await.unwrap(), expected_json());
    let md = export(&base, "notes", "format=md").await;
    assert!(md.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    assert!(md.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("notes.md"));
    assert_eq!(md.text().await.unwrap(), MARKDOWN);
    let html = export(&base, "notes", "format=html")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        html,
        "<h1>Title</h1>\n<p>Hello <strong>world</strong> <a href=\"https://e.x\" \
         rel=\"noopener noreferrer nofollow\">site</a></p>\n"
    );
    assert_eq!(
        export(&base, "notes", "format=txt")
            .await
            .text()
            .await
            .unwrap(),
        TEXT
    );
    let bad = export(&base, "notes", "format=pdf").await;
    assert_eq!(bad.status(), 400);

    // Rendering changed nothing: the same state, and a client that joins now sees the
    // fragment as it was written.
    let yjs = export(&base, "notes", "format=yjs")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(yjs, state_before);
    assert_eq!(
        api.state("notes").await.bytes().await.unwrap(),
        state_before
    );
    let late = Client::connect(&server.ws("notes")).await;
    assert_eq!(fragment_xml(&late.doc), want_xml);

    // The list and the document say rich; a version holds the rendered text, in SQL too.
    let list = ok_json(api.list().await, 200).await;
    let docs = list["documents"].as_array().unwrap();
    let notes = docs.iter().find(|d| d["name"] == "notes").unwrap();
    assert_eq!(notes["kind"], "rich", "{list}");
    let v1 = ok_json(api.create_version("notes", "first").await, 201).await;
    assert_eq!(v1["format"], "rich");
    assert_eq!(v1["text_length"], TEXT.chars().count());
    let n1 = v1["version"].as_i64().unwrap();
    assert_eq!(
        history_row(&db, "notes", n1).await,
        (TEXT.to_string(), "rich".to_string())
    );
    let versions = ok_json(api.versions("notes").await, 200).await;
    assert_eq!(versions["versions"][0]["format"], "rich");

    // Edit, then restore version 1: one edit every connected client sees.
    {
        let fragment = writer.get_or_insert_xml_fragment("default");
        let remote = Update::decode_v1(&state_before).unwrap();
        writer.transact_mut().apply_update(remote).unwrap();
        let sv = writer.transact().state_vector();
        let mut txn = writer.transact_mut();
        fragment.remove_range(&mut txn, 0, 1);
        let p = fragment.insert(&mut txn, 1, XmlElementPrelim::empty("paragraph"));
        p.insert(&mut txn, 0, XmlTextPrelim::new("later"));
        drop(txn);
        let update = writer.transact().encode_state_as_update_v1(&sv);
        assert_eq!(api.apply_update("notes", update).await.status(), 204);
    }
    assert_eq!(
        get_text(&server, "notes").await,
        "Hello world site\n\nlater"
    );
    let edited = export(&base, "notes", &format!("format=md&version={n1}")).await;
    assert!(edited.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("notes-v1.md"));
    assert_eq!(edited.text().await.unwrap(), MARKDOWN);

    let restored = ok_json(api.restore("notes", n1).await, 200).await;
    assert_eq!(restored["format"], "rich");
    assert_eq!(get_text(&server, "notes").await, TEXT);
    let restored_json = export(&base, "notes", "format=json").await;
    assert_eq!(
        restored_json.json::<Value>().await.unwrap(),
        expected_json()
    );
    let want = |c: &Client| {
        let doc = &c.doc;
        let fragment = doc.get_or_insert_xml_fragment("default");
        let txn = doc.transact();
        let xml = fragment.get_string(&txn);
        xml.starts_with("<heading") && !xml.contains("later")
    };
    watcher.pump_until(want, WAIT).await;
    // The text root was never created as a side effect.
    assert!(watcher.doc.transact().get_text("content").is_none());

    // Markdown in: one edit, seen live, rendered back the same.
    let put = api
        .put_content(
            "notes",
            "text/markdown",
            "## Plan\n\n- [x] *done*\n- [ ] next\n",
        )
        .await;
    assert_eq!(put.status(), 204);
    watcher
        .pump_until(|c| fragment_xml(&c.doc).contains("taskList"), WAIT)
        .await;
    assert_eq!(get_text(&server, "notes").await, "Plan\n\ndone\n\nnext");
    assert_eq!(
        export(&base, "notes", "format=md")
            .await
            .text()
            .await
            .unwrap(),
        "## Plan\n\n- [x] _done_\n- [ ] next\n"
    );
    // ProseMirror JSON in: what the export gives back.
    let put = api
        .put_content("notes", "application/json", &expected_json().to_string())
        .await;
    assert_eq!(put.status(), 204);
    assert_eq!(
        export(&base, "notes", "format=json")
            .await
            .json::<Value>()
            .await
            .unwrap(),
        expected_json()
    );
    let v = ok_json(api.create_version("notes", "imported").await, 201).await;
    assert_eq!(
        history_row(&db, "notes", v["version"].as_i64().unwrap()).await,
        (TEXT.to_string(), "rich".to_string())
    );
    // Refusals say why.
    for (media, body, status, says) in [
        (
            "application/json",
            "{\"type\":\"doc\",\"content\":[{\"type\":\"text\"}]}",
            400,
            "doc.content[0]",
        ),
        ("application/json", "[1,", 400, "not valid JSON"),
        ("text/plain", "hello", 415, "text/markdown"),
    ] {
        let res = api.put_content("notes", media, body).await;
        assert_eq!(res.status(), status, "{media} {body}");
        assert!(res.text().await.unwrap().contains(says), "{says}");
    }
    // A field that holds plain text is not written as rich text.
    let plain_writer = new_doc();
    let update = {
        let text = plain_writer.get_or_insert_text("default");
        let mut txn = plain_writer.transact_mut();
        text.insert(&mut txn, 0, "plain");
        txn.encode_update_v1()
    };
    assert_eq!(api.apply_update("plain", update).await.status(), 204);
    let res = api.put_content("plain", "text/markdown", "# x").await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("holds plain text"));
}

#[tokio::test]
async fn rich_documents_on_sqlite() {
    let server = start(&[
        "--version-idle-secs",
        "3600",
        "--named-version-interval-secs",
        "0",
    ])
    .await;
    let db = Db::Sqlite(server.sqlite_path());
    rich_documents(server, db).await;
}

#[tokio::test]
async fn rich_documents_on_postgres() {
    let pg = pg::TestDatabase::create("rich").await;
    let server = start(&[
        "--version-idle-secs",
        "3600",
        "--named-version-interval-secs",
        "0",
        "--database-url",
        &pg.url,
    ])
    .await;
    rich_documents(server, Db::Postgres(pg.url.clone())).await;
}

/// `PUT /content` obeys what an update obeys: a read token may not write, a body over the
/// message size is refused, and a write token (of that document only) may.
#[tokio::test]
async fn content_import_has_the_access_and_limits_of_an_update() {
    use tandem::auth::{now_secs, Auth, Claims};
    use tandem::Access;
    const SECRET: &str = "rich-secret-0123456789";
    let server = start(&["--secret", SECRET, "--max-message-size", "2048"]).await;
    let mint = |doc: &str, access| {
        Auth::new(Some(SECRET), None)
            .mint(&Claims {
                doc: doc.into(),
                access,
                exp: now_secs() + 600,
                name: None,
                share: false,
                by: None,
                lid: None,
            })
            .unwrap()
    };
    let api = Api::new(&server);
    let reader = api.bearer(&mint("guarded", Access::Read));
    let other = api.bearer(&mint("elsewhere", Access::Write));
    let writer = api.bearer(&mint("guarded", Access::Write));

    assert_eq!(
        api.put_content("guarded", "text/markdown", "# x")
            .await
            .status(),
        401
    );
    assert_eq!(
        reader
            .put_content("guarded", "text/markdown", "# x")
            .await
            .status(),
        403
    );
    assert_eq!(
        other
            .put_content("guarded", "text/markdown", "# x")
            .await
            .status(),
        403
    );
    let big = "word ".repeat(1000);
    assert_eq!(
        writer
            .put_content("guarded", "text/markdown", &big)
            .await
            .status(),
        413
    );
    assert_eq!(
        writer
            .put_content("guarded", "text/markdown", "# x")
            .await
            .status(),
        204
    );
    let text = writer.text("guarded").await.text().await.unwrap();
    assert_eq!(text, "x");
}
