//! Database trouble: with PostgreSQL behind a proxy we can cut, the server must keep
//! serving connected clients, report not-ready, write everything once the database is
//! back, and refuse new edits once its memory budget for unwritten updates is spent.

use crate::kit::{tcp_proxy::TcpProxy as Proxy, *};
use yrs::{ReadTxn, Transact};

async fn ready(server: &TestServer) -> u16 {
    Api::new(server).readyz().await.status().as_u16()
}

async fn wait_ready(server: &TestServer, want: u16) {
    wait_for(&format!("/readyz to answer {want}"), || async {
        (ready(server).await == want).then_some(())
    })
    .await
}

/// Waits until the database itself holds `want` for the document.
async fn wait_stored(store: &dyn tandem_persistence::Store, doc: &str, want: &str) {
    wait_for(&format!("the database to hold {want:?}"), || async {
        let stored = store.load(doc).await.unwrap().unwrap_or_default();
        (stored_text(&stored) == want).then_some(())
    })
    .await
}

/// A server on a fresh PostgreSQL database reached through a proxy the test can cut.
async fn server_behind_proxy(tag: &str, extra: &[&str]) -> (TestServer, Proxy, pg::TestDatabase) {
    let db = pg::TestDatabase::create(tag).await;
    let admin = pg::admin_url();
    // The proxy holds its port from start to end (cut and heal never give it up), so no
    // other process can take it while the server is cut off.
    let (host, port) = pg::host_port(&admin);
    let proxy = Proxy::start(format!("{host}:{port}")).await;
    let via_proxy = pg::with_host_port(&db.url, "127.0.0.1", proxy.port);
    let mut args = vec!["--database-url", via_proxy.as_str()];
    args.extend_from_slice(extra);
    let server = start(&args).await;
    (server, proxy, db)
}

/// The README's outage promise: connected clients keep collaborating from memory,
/// `/readyz` says 503, database errors are counted, past the budget edits are refused,
/// and once the database is back the server writes everything it held, with no help
/// from the clients, and nothing stays counted as unwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_rides_out_a_database_outage() {
    let (server, proxy, db) =
        server_behind_proxy("outage", &["--max-unwritten-bytes", "20000"]).await;
    let store = tandem_persistence::open(&db.url).await.unwrap();

    let mut a = Client::connect(&server.ws("out")).await;
    let mut b = Client::connect(&server.ws("out")).await;
    a.append("before ").await;
    b.pump_until(|c| c.text() == "before ", WAIT).await;
    assert_eq!(ready(&server).await, 200);
    assert_eq!(server.metric("tandem_database_errors_total").await, 0.0);

    proxy.cut();
    wait_ready(&server, 503).await;
    let body = Api::new(&server).readyz().await.text().await.unwrap();
    assert!(body.contains("database"), "{body}");

    // Collaboration goes on from memory; the failed commit is counted.
    a.append("during ").await;
    b.pump_until(|c| c.text() == "before during ", WAIT).await;
    server
        .wait_metric("tandem_database_errors_total", |v| v >= 1.0)
        .await;
    assert!(server.metric("tandem_unwritten_bytes").await > 0.0);

    // Past the budget for unwritten bytes, edits are refused with a clear close.
    let mut big = Client::connect(&server.ws("out")).await;
    big.append(&"x".repeat(30_000)).await;
    let (code, reason) = big.closed_with(WAIT).await;
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("storage unavailable"), "{reason}");
    // The refused edit was handled before this marker: had it been applied, b would
    // have had it first.
    a.append("!").await;
    b.pump_until(|c| c.text().ends_with('!'), WAIT).await;
    assert_eq!(
        b.text(),
        "before during !",
        "a refused edit must not be applied"
    );

    // The database comes back: everything held reaches it with no client resending.
    proxy.heal();
    wait_stored(&*store, "out", "before during !").await;
    wait_ready(&server, 200).await;
    server
        .wait_metric("tandem_unwritten_bytes", |v| v == 0.0)
        .await;
    assert!(a.closed.is_none() && b.closed.is_none());
    a.append("after").await;
    b.pump_until(|c| c.text() == "before during !after", WAIT)
        .await;
    wait_stored(&*store, "out", "before during !after").await;
}

/// A delete the database cannot carry out is refused with 503, and the clients are not
/// told the document is gone: they are closed as for any storage trouble and come back
/// with their copy (a y-websocket client resyncs on reconnect; here its state is resent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_during_an_outage_is_refused_and_loses_nothing() {
    let (server, proxy, db) = server_behind_proxy("outage_delete", &[]).await;
    let store = tandem_persistence::open(&db.url).await.unwrap();
    let mut a = Client::connect(&server.ws("out")).await;
    let mut b = Client::connect(&server.ws("out")).await;
    a.append("before ").await;
    b.pump_until(|c| c.text() == "before ", WAIT).await;

    proxy.cut();
    wait_ready(&server, 503).await;
    a.append("during ").await;
    b.pump_until(|c| c.text() == "before during ", WAIT).await;

    let del = Api::new(&server).delete("out").await;
    assert_eq!(del.status(), 503, "{:?}", del.text().await);
    let (code, reason) = a.closed_with(WAIT).await;
    assert_eq!(code, 1013, "{reason}");
    let (code, _) = b.closed_with(WAIT).await;
    assert_eq!(code, 1013);

    proxy.heal();
    wait_ready(&server, 200).await;
    // The document was not deleted: what reached the database before the outage is there.
    let mut b = Client::connect(&server.ws("out")).await;
    assert_eq!(b.text(), "before ");
    let state = a
        .doc
        .transact()
        .encode_state_as_update_v1(&Default::default());
    let mut a = Client::connect(&server.ws("out")).await;
    a.send(yrs::sync::Message::Sync(yrs::sync::SyncMessage::Update(
        state,
    )))
    .await;
    a.pump_until(|c| c.text() == "before during ", WAIT).await;
    b.pump_until(|c| c.text() == "before during ", WAIT).await;
    a.append("after").await;
    b.pump_until(|c| c.text() == "before during after", WAIT)
        .await;
    wait_stored(&*store, "out", "before during after").await;
    // Nothing is left counted as unwritten: not what the failed delete dropped.
    server
        .wait_metric("tandem_unwritten_bytes", |v| v == 0.0)
        .await;
}
