//! `--allowed-hosts`: against DNS rebinding, a page whose own name was made to resolve to
//! the server gets 421 on every route that reads or writes documents, even with an
//! `Origin` that matches its `Host` (the origin check's same-host exemption).

use crate::kit::*;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error as WsError};

/// The status of a WebSocket handshake to `url` with `host`; 101 if accepted.
async fn ws_status(url: &str, host: &str) -> (u16, String) {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("host", host.parse().unwrap());
    req.headers_mut()
        .insert("origin", format!("http://{host}").parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => (101, String::new()),
        Err(WsError::Http(res)) => {
            let body = res.body().clone().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
            (
                res.status().as_u16(),
                v["error"].as_str().unwrap().to_string(),
            )
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

/// A POST of an empty body to `path` with `host` and an `Origin` naming that host: the
/// status and body.
async fn post_status(server: &TestServer, path: &str, host: &str) -> (u16, String) {
    let res = reqwest::Client::new()
        .post(server.http(path))
        .header("host", host)
        .header("origin", format!("http://{host}"))
        .header("content-type", "application/octet-stream")
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn a_rebound_name_is_refused_on_every_route() {
    // An allowed-origins list makes the origin check run: the same-host exemption must not
    // let the rebound page through either.
    let server = start(&["--allowed-origins", "https://app.example"]).await;
    let port = server.addr.port();
    let evil = format!("evil.example:{port}");
    for url in [server.ws("d"), format!("ws://{}/hocuspocus", server.addr)] {
        let (status, error) = ws_status(&url, &evil).await;
        assert_eq!(status, 421, "{url}: {error}");
        assert!(
            error.contains("does not answer to the host \"evil.example:"),
            "{error}"
        );
        for ok in [format!("localhost:{port}"), server.addr.to_string()] {
            assert_eq!(ws_status(&url, &ok).await.0, 101, "{url} {ok}");
        }
    }
    for path in [
        "/api/documents/d/updates",
        "/api/documents",
        "/poll/d",
        "/sse/d/s",
        "/poll/d/s",
    ] {
        let (status, body) = post_status(&server, path, &evil).await;
        assert_eq!(status, 421, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
        assert!(v["error"].as_str().unwrap().contains("--allowed-hosts"));
    }
    // Reads of documents too: a rebound page could read their answers.
    let res = reqwest::Client::new()
        .get(server.http("/api/documents/d/text"))
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 421);
    let res = reqwest::Client::new()
        .get(server.http("/sse/d"))
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 421);
    // The probes answer whatever the name.
    let res = reqwest::Client::new()
        .get(server.http("/healthz"))
        .header("host", &evil)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The server's own names still write.
    let (status, body) = post_status(
        &server,
        "/api/documents/d/updates",
        &format!("localhost:{port}"),
    )
    .await;
    assert_ne!(status, 421, "{body}");
    assert!(
        server
            .metric("tandem_request_refusals_total{reason=\"host\"}")
            .await
            >= 9.0
    );
}

#[tokio::test]
async fn listed_names_are_answered() {
    let server = start(&["--allowed-hosts", "docs.example.com,*.corp.example"]).await;
    let url = server.ws("d");
    assert_eq!(ws_status(&url, "docs.example.com").await.0, 101);
    assert_eq!(ws_status(&url, "wiki.corp.example:8443").await.0, 101);
    assert_eq!(ws_status(&url, "evil.example").await.0, 421);
}
