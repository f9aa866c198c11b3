//! The test kit: the server in-process (`server`) or as a process (`process`), one Yjs
//! peer (`peer`) spoken over each transport (`ws`, `sse`, `poll`), a typed client for the
//! HTTP API (`api`), and ways to make the database slow (`db`) or go away (`pg`). Cluster
//! tests add a private NATS server (`nats`) and several server processes on one database
//! (`cluster`). The clients are built on tokio-tungstenite, reqwest and yrs, independent
//! of the server's own code paths.

pub mod api;
pub mod bus;
pub mod cluster;
pub mod copies;
pub mod db;
pub mod dbstate;
pub mod feed;
pub mod nats;
pub mod peer;
pub mod pg;
pub mod poll;
pub mod process;
pub mod server;
pub mod sse;
pub mod stored;
pub mod tcp_proxy;
pub mod typing;
pub mod ws;

use std::time::Duration;

use yrs::{updates::decoder::Decode, Doc, OffsetKind, Options, Transact, Update};

pub use api::{ok_json, Api};
pub use db::SqliteWriteLock;
pub use peer::{Peer, YPeer};
pub use poll::PollClient;
pub use process::BinServer;
pub use server::{get_text, metric_in, start, start_in, TestServer};
pub use sse::{SseClient, SseEvent};
pub use ws::{converge, Client};

/// How long any single wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Polls `probe` until it yields a value; fails after `WAIT`. For state only visible by
/// asking (a row, a metric, a flag), where there is no message to wait on.
pub async fn wait_for<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_for_within(what, WAIT, probe).await
}

/// `wait_for` with its own limit (cluster tests wait on slower, cross-process events).
pub async fn wait_for_within<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn new_doc() -> Doc {
    Doc::with_options(Options {
        offset_kind: OffsetKind::Utf16,
        ..Options::default()
    })
}

/// The text a stored document holds: its snapshot and logged updates replayed, as the
/// server would load it.
pub fn stored_text(stored: &tandem_persistence::StoredDoc) -> String {
    let doc = new_doc();
    {
        let mut txn = doc.transact_mut();
        for bytes in stored.snapshot.iter().chain(stored.updates.iter()) {
            txn.apply_update(Update::decode_v1(bytes).expect("stored update decodes"))
                .expect("stored update applies");
        }
    }
    tandem::text::render_doc(&doc)
}

/// Appends `?token=` when a token is given.
/// An HTTP client that sends `token` as a bearer on every request: requests on an SSE or
/// polling session must present the token the session was opened with.
pub fn http_client(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {t}").parse().unwrap(),
        );
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

pub fn with_token(url: String, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("{url}?token={t}"),
        None => url,
    }
}

/// Asserts an error response: the status and a JSON body with an `error` string.
pub async fn expect_error(res: reqwest::Response, status: u16) -> String {
    let got = res.status();
    let body = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "body: {body}");
    let v: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("error body is not JSON: {body:?}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {body}"))
        .to_string()
}
