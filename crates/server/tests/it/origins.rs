//! `--allowed-origins`: which web pages may open WebSockets and send writes. A browser
//! names the page in `Origin`; requests without one (not from a page) and reads pass.

use crate::kit::*;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error as WsError};
use yrs::{Text, Transact};

const GOOD: &str = "https://good.example";

/// The status and JSON error of a WebSocket handshake sent with `origin`; `None` if the
/// server accepted it.
async fn handshake(url: &str, origin: Option<&str>) -> Option<(u16, String)> {
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => None,
        Err(WsError::Http(res)) => {
            let body = res.body().clone().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
            Some((
                res.status().as_u16(),
                v["error"].as_str().unwrap().to_string(),
            ))
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

fn update(text: &str) -> Vec<u8> {
    let d = new_doc();
    let t = d.get_or_insert_text("content");
    let mut txn = d.transact_mut();
    t.insert(&mut txn, 0, text);
    txn.encode_update_v1()
}

/// POSTs an update to `doc` with `origin`; the status.
async fn post(
    server: &TestServer,
    doc: &str,
    origin: Option<&str>,
    text: &str,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(server.http(&format!("/api/documents/{doc}/updates")))
        .header("content-type", "application/octet-stream")
        .body(update(text));
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn only_listed_origins_may_write() {
    let server = start(&[
        "--allowed-origins",
        "https://other.example:8443, HTTPS://Good.example/",
    ])
    .await;
    let hocuspocus = format!("ws://{}/hocuspocus", server.addr);
    let own = format!("http://{}", server.addr);
    for url in [server.ws("o"), hocuspocus] {
        let (status, error) = handshake(&url, Some("https://evil.example")).await.unwrap();
        assert_eq!(status, 403, "{url}: {error}");
        assert!(error.contains("https://evil.example"), "{error}");
        assert_eq!(handshake(&url, Some(GOOD)).await, None, "{url}");
        assert_eq!(
            handshake(&url, Some(&own)).await,
            None,
            "{url}: the server's own pages"
        );
        assert_eq!(
            handshake(&url, None).await,
            None,
            "{url}: no Origin, no page"
        );
    }
    // Writes over HTTP: refused from other pages, sandboxed ones (`null`) included.
    for origin in [
        "https://evil.example",
        "null",
        "https://good.example.evil.example",
    ] {
        let e = expect_error(post(&server, "o", Some(origin), "forged").await, 403).await;
        assert!(e.contains("may not write"), "{origin}: {e}");
    }
    let res = reqwest::Client::new()
        .delete(server.http("/api/documents/o"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect_error(res, 403).await;
    assert_eq!(post(&server, "o", Some(GOOD), "a").await.status(), 204);
    assert_eq!(
        post(&server, "o", Some("https://other.example:8443"), "b")
            .await
            .status(),
        204
    );
    assert_eq!(post(&server, "o", None, "c").await.status(), 204);
    // Reads from anywhere are answered (the browser keeps the answer from other pages).
    let res = reqwest::Client::new()
        .get(server.http("/api/documents/o/text"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap().len(),
        3,
        "only the allowed writes landed"
    );
    assert_eq!(
        server
            .metric("tandem_request_refusals_total{reason=\"origin\"}")
            .await,
        6.0
    );
}

#[tokio::test]
async fn without_the_setting_every_origin_may_write() {
    let server = start(&[]).await;
    assert_eq!(
        handshake(&server.ws("any"), Some("https://evil.example")).await,
        None
    );
    assert_eq!(
        post(&server, "any", Some("https://evil.example"), "x")
            .await
            .status(),
        204
    );
}

#[test]
fn a_malformed_allowed_origin_is_refused_at_start() {
    use clap::Parser;
    let err = tandem::config::Cli::try_parse_from(["tandem", "--allowed-origins", "good.example"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is not an origin like https://example.com"),
        "{err}"
    );
}
