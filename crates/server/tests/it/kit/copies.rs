//! For the whole-database commands (`tandem backup`, `restore`, `migrate`): a database
//! filled through a real server, and the commands run as the binary.

use serde_json::json;
use tandem::{
    auth::{now_secs, Auth, Claims},
    Access,
};
use tandem_persistence::NewEndpoint;

use super::{start, wait_for, Api, Client, Peer, TestServer};

pub const SECRET: &str = "copies-secret-0123456789abcdef";
pub const ADMIN: &str = "copies-admin-key-0123456789";

/// `tandem ARGS`, with no database setting inherited from the caller's environment.
pub fn tandem(args: &[&str]) -> std::process::Output {
    command(args).output().expect("run tandem")
}

pub fn command(args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"));
    c.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("TANDEM_DATA_DIR")
        .env_remove("TANDEM_SECRET");
    c
}

/// The output of a command that must succeed: (stdout, stderr).
pub fn ok(out: std::process::Output) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{:?}\n{stdout}\n{stderr}", out.status);
    (stdout, stderr)
}

pub fn sqlite_url(dir: &std::path::Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// A server on `url` that knows tokens (so edits have authors) and compacts often (so
/// documents have snapshots as well as logs).
pub async fn server_on(url: &str) -> TestServer {
    start(&[
        "--database-url",
        url,
        "--secret",
        SECRET,
        "--admin-key",
        ADMIN,
        "--compact-updates",
        "10",
        "--named-version-interval-secs",
        "0",
    ])
    .await
}

/// A client of `doc` whose edits are recorded as `name`'s (its token and its presence).
pub async fn writer(server: &TestServer, doc: &str, name: &str) -> Client {
    let mut c = Client::connect(&writer_url(server, doc, name)).await;
    let hello = c.awareness_message(&format!(r#"{{"user":{{"name":"{name}"}}}}"#));
    c.send_raw(hello).await;
    c
}

/// The WebSocket URL of `doc` for a writer named `name`.
pub fn writer_url(server: &TestServer, doc: &str, name: &str) -> String {
    let token = Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: doc.into(),
            access: Access::Write,
            exp: now_secs() + 600,
            name: Some(name.into()),
            share: false,
            by: None,
            lid: None,
        })
        .unwrap();
    format!("{}?token={token}", server.ws(doc))
}

pub async fn wait_text(api: &Api, doc: &str, needle: &str) {
    wait_for(&format!("{needle} in {doc}"), || async {
        let text = api.text(doc).await.text().await.unwrap();
        text.contains(needle).then_some(())
    })
    .await
}

/// Fills the database at `url` through a server: a titled document edited by two named
/// writers with named versions between them and a compacted log, a rich-text document,
/// an empty titled one, `extra` small plain ones, and a webhook endpoint.
pub async fn populate(url: &str, extra: usize) {
    let mut server = server_on(url).await;
    let admin = Api::new(&server).bearer(ADMIN);
    let created = admin
        .create_json(json!({ "name": "alpha", "title": "Alpha ✓ notes" }))
        .await;
    assert_eq!(created.status(), 201);
    let mut ann = writer(&server, "alpha", "Ann").await;
    for i in 0..25 {
        ann.append(&format!("<a:{i}>")).await;
    }
    wait_text(&admin, "alpha", "<a:24>").await;
    assert_eq!(admin.create_version("alpha", "draft").await.status(), 201);
    let mut bob = writer(&server, "alpha", "Bob").await;
    for i in 0..5 {
        bob.append(&format!("<b:{i}>")).await;
    }
    wait_text(&admin, "alpha", "<b:4>").await;
    assert_eq!(admin.create_version("alpha", "final").await.status(), 201);
    ann.close().await;
    bob.close().await;
    let rich = crate::rich::tiptap_content(&super::new_doc());
    assert_eq!(admin.apply_update("beta", rich).await.status(), 204);
    let created = admin
        .create_json(json!({ "name": "gamma", "title": "Empty one" }))
        .await;
    assert_eq!(created.status(), 201);
    for i in 0..extra {
        let update = text_update(&format!("document {i}"));
        let res = admin.apply_update(&format!("doc-{i}"), update).await;
        assert_eq!(res.status(), 204);
    }
    let store = tandem_persistence::open(url).await.unwrap();
    store
        .webhooks()
        .unwrap()
        .create_endpoint(&NewEndpoint {
            url: "https://hooks.example.com/tandem".into(),
            prefix: "al".into(),
            document: None,
            events: vec!["document.updated".into()],
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        })
        .await
        .unwrap();
    server.stop().await;
}

/// A Yjs update that appends `text` to the `content` text, from a new client.
pub fn text_update(text: &str) -> Vec<u8> {
    use yrs::{ReadTxn, Text, Transact};
    let doc = super::new_doc();
    let t = doc.get_or_insert_text("content");
    t.insert(&mut doc.transact_mut(), 0, text);
    let update = doc
        .transact()
        .encode_state_as_update_v1(&yrs::StateVector::default());
    update
}
