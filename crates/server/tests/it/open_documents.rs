//! Documents one client may have open at once, per address and per access token, over
//! all its WebSockets, Hocuspocus sockets and SSE/polling sessions.

use crate::kit::*;
use futures::{SinkExt, StreamExt};
use tandem::{
    auth::{Auth, Claims},
    Access,
};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use yrs::encoding::{
    read::{Cursor, Read},
    write::Write,
};

const SECRET: &str = "documents-secret-0123456789";
const TOO_MANY: reqwest::StatusCode = reqwest::StatusCode::TOO_MANY_REQUESTS;

fn mint(doc: &str, name: &str) -> String {
    Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: doc.into(),
            access: Access::Write,
            exp: tandem::auth::now_secs() + 3600,
            name: Some(name.into()),
            share: false,
            by: None,
            lid: None,
        })
        .unwrap()
}

/// The status and JSON error of a refused WebSocket handshake; `None` if accepted (the
/// socket is then dropped).
async fn ws_refusal(url: &str) -> Option<(u16, String)> {
    match tokio_tungstenite::connect_async(url).await {
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

/// Opens `doc` on a Hocuspocus socket: `Ok` when authenticated, `Err(reason)` when the
/// server denies it.
async fn hocuspocus_open(server: &TestServer, doc: &str) -> Result<(), String> {
    let url = format!("ws://{}/hocuspocus", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut auth = Vec::new();
    auth.write_string(doc);
    auth.write_var(2u64); // auth
    auth.write_var(0u64); // token
    auth.write_string("");
    ws.send(WsMessage::Binary(auth.into())).await.unwrap();
    loop {
        let frame = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no answer to auth");
        let Some(Ok(WsMessage::Binary(data))) = frame else {
            panic!("socket ended: {frame:?}");
        };
        let mut c = Cursor::new(&data);
        assert_eq!(c.read_string().unwrap(), doc);
        if c.read_var::<u64>().unwrap() != 2 {
            continue; // sync and the like
        }
        return match c.read_var::<u64>().unwrap() {
            2 => Ok(()),
            1 => Err(c.read_string().unwrap().to_string()),
            other => panic!("auth sub-type {other}"),
        };
    }
}

#[tokio::test]
async fn documents_per_address_are_capped() {
    let server = start(&["--max-documents-per-ip", "2", "--unload-grace-secs", "5"]).await;
    let _a = Client::connect(&server.ws("a")).await;
    // The same document again holds no new place.
    let _a_again = Client::connect(&server.ws("a")).await;
    let b = PollClient::connect(&server, "b").await;
    // A third document is refused, whatever the transport.
    let (status, e) = ws_refusal(&server.ws("c")).await.expect("refused");
    assert_eq!(status, 429, "{e}");
    assert!(
        e.contains("too many documents open from this address (limit 2; raise --max-documents-per-ip / TANDEM_MAX_DOCUMENTS_PER_IP)"),
        "{e}"
    );
    assert_eq!(
        PollClient::open(&server, "c", None).await.err(),
        Some(TOO_MANY)
    );
    assert_eq!(
        SseClient::open(&server, "c", None).await.err(),
        Some(TOO_MANY)
    );
    let denied = hocuspocus_open(&server, "c").await.unwrap_err();
    assert!(
        denied.contains("too many documents open from this address"),
        "{denied}"
    );
    // Open ones may still be joined on any transport.
    assert!(hocuspocus_open(&server, "a").await.is_ok());
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"documents_per_ip\"}")
            .await,
        4.0
    );
    // Ending the session frees its document's place once the document has left memory:
    // until it unloads (the grace, 5 s here), it still counts for the client.
    assert_eq!(b.leave().await, 204);
    let (status, e) = ws_refusal(&server.ws("c")).await.expect("still refused");
    assert_eq!(status, 429, "{e}");
    server.wait_unloaded("b").await;
    assert_eq!(ws_refusal(&server.ws("c")).await, None);
}

#[tokio::test]
async fn documents_per_token_are_capped() {
    let server = start(&[
        "--secret",
        SECRET,
        "--admin-key",
        "documents-admin",
        "--max-documents-per-token",
        "1",
    ])
    .await;
    let (one, two) = (mint("*", "one"), mint("*", "two"));
    let with = |doc: &str, token: &str| format!("{}?token={token}", server.ws(doc));
    let _a = Client::connect(&with("a", &one)).await;
    let (status, e) = ws_refusal(&with("b", &one)).await.expect("refused");
    assert_eq!(status, 429, "{e}");
    assert!(
        e.contains("too many documents open with this access token (limit 1; raise"),
        "{e}"
    );
    assert_eq!(
        PollClient::open(&server, "b", Some(&one)).await.err(),
        Some(TOO_MANY)
    );
    // Another token, and the admin key, are counted apart.
    let _b = Client::connect(&with("b", &two)).await;
    let admin = |doc: &str| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = server.ws(doc).into_client_request().unwrap();
        let bearer = "Bearer documents-admin".parse().unwrap();
        req.headers_mut().insert("authorization", bearer);
        tokio_tungstenite::connect_async(req)
    };
    let _c = admin("c").await.expect("the admin key is not a token here");
    let _d = admin("d").await.expect("the admin key is not a token here");
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"documents_per_token\"}")
            .await,
        2.0
    );
}
