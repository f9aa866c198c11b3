//! SSE and long polling next to WebSocket peers in the same documents, bad HTTP input, and
//! transports switched off. The HTTP clients live in the kit (`SseClient`, `PollClient`); they
//! parse the wire format themselves and keep their own yrs document. Each transport's own
//! behaviour is in `http_sse.rs` and `http_polling.rs`, sessions that expire in
//! `http_session_expiry.rs`.

use std::time::{Duration, Instant};

use crate::kit::*;

#[tokio::test]
async fn websocket_sse_and_polling_share_a_room() {
    let server = start(&[]).await;
    let mut ws = Client::connect(&server.ws("mix")).await;
    let mut sse = SseClient::connect(&server, "mix").await;
    let mut poll = PollClient::connect(&server, "mix").await;
    const N: usize = 30;
    let quiet = Duration::from_millis(3);

    let a = tokio::spawn(async move {
        for i in 0..N {
            if i % 2 == 0 {
                ws.insert(0, &format!("<w{i}>")).await;
            } else {
                ws.append(&format!("<w{i}>")).await;
            }
            ws.drain(quiet).await;
        }
        ws
    });
    let b = tokio::spawn(async move {
        for i in 0..N {
            if i % 2 == 0 {
                sse.append(&format!("<s{i}>")).await;
            } else {
                sse.insert(0, &format!("<s{i}>")).await;
            }
            sse.drain(quiet).await;
        }
        sse
    });
    let c = tokio::spawn(async move {
        for i in 0..N {
            if i % 3 == 0 {
                poll.insert(0, &format!("<p{i}>")).await;
            } else {
                poll.append(&format!("<p{i}>")).await;
            }
            poll.poll(Some(0.0)).await;
        }
        poll
    });
    let (mut ws, mut sse, mut poll) = (a.await.unwrap(), b.await.unwrap(), c.await.unwrap());

    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        ws.drain(Duration::from_millis(30)).await;
        sse.drain(Duration::from_millis(30)).await;
        poll.drain(Duration::from_millis(30)).await;
        let t = ws.text();
        if sse.y.text() == t && poll.y.text() == t {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no convergence:\nws   {t}\nsse  {}\npoll {}",
            sse.y.text(),
            poll.y.text()
        );
    };
    for i in 0..N {
        for p in ["w", "s", "p"] {
            let token = format!("<{p}{i}>");
            assert_eq!(text.matches(&token).count(), 1, "{token} in {text}");
        }
    }
    assert_eq!(get_text(&server, "mix").await, text);
}

#[tokio::test]
async fn bad_http_input_is_refused_without_harm() {
    let server = start(&["--max-message-size", "4096"]).await;
    let http = reqwest::Client::new();
    let mut ws = Client::connect(&server.ws("bad")).await;
    ws.append("intact").await;
    ws.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let mut poll = PollClient::connect(&server, "bad").await;
    let mut sse = SseClient::connect(&server, "bad").await;

    for (what, url) in [
        ("poll", poll.url()),
        ("sse", {
            let s = sse.session.clone().unwrap();
            server.http(&format!("/sse/bad/{s}"))
        }),
    ] {
        let post = |body: Vec<u8>| {
            http.post(url.clone())
                .header("content-type", "application/octet-stream")
                .body(body)
                .send()
        };
        // garbage: a sync message with an unknown sub-type
        let e = expect_error(post(vec![0, 9, 200, 1]).await.unwrap(), 400).await;
        assert!(!e.is_empty(), "{what}");
        // a declared length running past the end
        expect_error(post(vec![0, 2, 200, 1]).await.unwrap(), 400).await;
        expect_error(post(Vec::new()).await.unwrap(), 400).await;
        // over --max-message-size
        let res = post(vec![0u8; 8192]).await.unwrap();
        assert_eq!(res.status(), 413, "{what}: {:?}", res.text().await);
    }

    // unknown sessions
    let unknown = "0123456789abcdef0123456789abcdef";
    let hello = poll.y.step1();
    let res = http
        .get(server.http(&format!("/poll/bad/{unknown}?cursor=0")))
        .send()
        .await
        .unwrap();
    expect_error(res, 410).await;
    for path in [
        format!("/poll/bad/{unknown}"),
        format!("/sse/bad/{unknown}"),
    ] {
        let res = http
            .post(server.http(&path))
            .header("content-type", "application/octet-stream")
            .body(hello.clone())
            .send()
            .await
            .unwrap();
        expect_error(res, 410).await;
    }
    let res = http
        .delete(server.http(&format!("/poll/bad/{unknown}")))
        .send()
        .await
        .unwrap();
    expect_error(res, 410).await;
    // A real session id under another document's name is unknown there.
    let res = http
        .get(server.http(&format!("/poll/other/{}?cursor=0", poll.session)))
        .send()
        .await
        .unwrap();
    expect_error(res, 410).await;

    // invalid document names
    let long = "x".repeat(129);
    for name in ["bad%20name", ".hidden", long.as_str()] {
        expect_error(
            http.post(server.http(&format!("/poll/{name}")))
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
        expect_error(
            http.get(server.http(&format!("/sse/{name}")))
                .send()
                .await
                .unwrap(),
            400,
        )
        .await;
    }

    // a cursor that is not a number
    let res = http
        .get(format!("{}?cursor=abc", poll.url()))
        .send()
        .await
        .unwrap();
    expect_error(res, 400).await;

    // Nothing above harmed the sessions, the room or the WebSocket peer.
    poll.append("!").await;
    ws.pump_until(|c| c.text() == "intact!", WAIT).await;
    sse.pump_until(|c| c.y.text() == "intact!", WAIT).await;
    sse.append("?").await;
    ws.pump_until(|c| c.text() == "intact!?", WAIT).await;
    poll.pump_until(|c| c.y.text() == "intact!?", WAIT).await;
    sse.pump_until(|c| c.y.text() == "intact!?", WAIT).await;
    ws.append(".").await;
    ws.pump_until(|c| c.text() == "intact!?.", WAIT).await;
    assert!(ws.closed.is_none());
    assert_eq!(get_text(&server, "bad").await, "intact!?.");
}

#[tokio::test]
async fn disabled_transports_are_refused() {
    let server = start(&["--disable-transports", "websocket"]).await;
    match tokio_tungstenite::connect_async(server.ws("d")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 403)
        }
        other => panic!("websocket upgrade not refused: {:?}", other.map(|_| ())),
    }
    let config = Api::new(&server).config().await;
    assert_eq!(config["transports"], serde_json::json!(["sse", "poll"]));
    let mut sse = SseClient::connect(&server, "d").await;
    let mut poll = PollClient::connect(&server, "d").await;
    sse.append("x").await;
    poll.pump_until(|c| c.y.text() == "x", WAIT).await;
    poll.append("y").await;
    sse.pump_until(|c| c.y.text() == "xy", WAIT).await;

    let server = start(&["--disable-transports", "sse,poll"]).await;
    let config = Api::new(&server).config().await;
    assert_eq!(config["transports"], serde_json::json!(["websocket"]));
    expect_error(reqwest::get(server.http("/sse/d")).await.unwrap(), 403).await;
    let http = reqwest::Client::new();
    expect_error(http.post(server.http("/poll/d")).send().await.unwrap(), 403).await;
    let ws = Client::connect(&server.ws("d")).await;
    assert!(ws.synced);
}
