//! SSE and long polling end to end, next to WebSocket peers in the same documents. The
//! HTTP clients live in `common` (`SseClient`, `PollClient`); they parse the wire format
//! themselves and keep their own yrs document.

use std::time::{Duration, Instant};

use crate::kit::*;

fn sees(peers: &std::collections::HashMap<u64, Option<String>>, id: u64, name: &str) -> bool {
    matches!(peers.get(&id), Some(Some(s)) if s.contains(name))
}

fn removed(peers: &std::collections::HashMap<u64, Option<String>>, id: u64) -> bool {
    matches!(peers.get(&id), Some(None))
}

/// `<session>:<seq>` of a message event.
fn seq_of(event: &SseEvent, session: &str) -> u64 {
    let id = event.id.as_deref().expect("message events carry an id");
    let (s, seq) = id.split_once(':').expect("id is <session>:<seq>");
    assert_eq!(s, session, "event id names the session");
    seq.parse().expect("numeric sequence")
}

#[tokio::test]
async fn sse_handshake_relay_and_awareness() {
    let server = start(&[]).await;
    let mut ws = Client::connect(&server.ws("sse-a")).await;
    ws.append("before ").await;
    ws.pump_until(|c| c.received_updates >= 1, WAIT).await;

    let mut sse = SseClient::open(&server, "sse-a", None).await.unwrap();
    assert!(sse.step(WAIT).await, "no first event");
    let first = sse.events[0].clone();
    assert_eq!(first.event, "session", "{first:?}");
    assert_eq!(first.id, None, "the session event has no id");
    let session = sse.session.clone().unwrap();
    assert!(
        session.len() >= 16,
        "session id too short to be unguessable"
    );
    // Our step 1 was POSTed on the session event; the answer is step 2 with the text.
    sse.pump_until(|c| c.y.synced, WAIT).await;
    assert_eq!(sse.y.text(), "before ");
    // The server's own step 1 arrived too (and was answered with step 2).
    assert_eq!(sse.y.step1_count, 1);

    ws.append("from ws").await;
    sse.pump_until(|c| c.y.text() == "before from ws", WAIT)
        .await;

    sse.insert(0, "sse:").await;
    ws.pump_until(|c| c.text() == "sse:before from ws", WAIT)
        .await;
    // The SSE client's own edit is echoed back as its acknowledgement.
    let got = sse.y.received_updates;
    sse.pump_until(|c| c.y.received_updates > got, WAIT).await;

    sse.set_awareness(r#"{"user":{"name":"sse-user","color":"red"}}"#)
        .await;
    let sse_id = sse.y.client_id();
    ws.pump_until(|c| sees(&c.peers, sse_id, "sse-user"), WAIT)
        .await;
    ws.set_awareness(r#"{"user":{"name":"ws-user","color":"blue"}}"#)
        .await;
    let ws_id = ws.client_id();
    sse.pump_until(|c| sees(&c.y.peers, ws_id, "ws-user"), WAIT)
        .await;

    // Every message event is numbered within the session, strictly increasing.
    let seqs: Vec<u64> = sse
        .events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| seq_of(e, &session))
        .collect();
    assert!(seqs.len() >= 5, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(get_text(&server, "sse-a").await, "sse:before from ws");
}

#[tokio::test]
async fn sse_resumes_with_last_event_id() {
    let server = start(&[]).await;
    let mut ws = Client::connect(&server.ws("replay")).await;
    let mut sse = SseClient::connect(&server, "replay").await;
    ws.append("a").await;
    // Nothing the room sends comes after the relayed edit, so this is the last event.
    sse.pump_until(|c| c.y.text() == "a", WAIT).await;
    let session = sse.session.clone().unwrap();
    let last = sse.last_id.clone().unwrap();
    let last_seq = seq_of(sse.events.last().unwrap(), &session);

    sse.disconnect();
    let before = sse.y.received_updates;
    for i in 0..3 {
        ws.append(&format!("<{i}>")).await;
    }
    ws.pump_until(|c| c.received_updates >= 4, WAIT).await;

    sse.reconnect(Some(&last)).await.unwrap();
    // A marker sent after them: when it is in, anything replayed twice would be too.
    ws.append(".").await;
    sse.pump_until(|c| c.y.text().ends_with('.'), WAIT).await;
    assert!(
        sse.events.iter().all(|e| e.event == "message"),
        "no new session on resume: {:?}",
        sse.events
    );
    assert_eq!(sse.session.as_deref(), Some(session.as_str()));
    let seqs: Vec<u64> = sse.events.iter().map(|e| seq_of(e, &session)).collect();
    assert_eq!(
        seqs,
        vec![last_seq + 1, last_seq + 2, last_seq + 3, last_seq + 4],
        "exactly the missed messages, in order, then the marker"
    );
    assert_eq!(sse.y.received_updates, before + 4, "no duplicates");
    assert_eq!(sse.y.text(), ws.text());
    assert_eq!(sse.y.text(), "a<0><1><2>.");

    // The resumed session still works upstream.
    sse.append("!").await;
    ws.pump_until(|c| c.text() == "a<0><1><2>.!", WAIT).await;

    // An id the server does not know: a new session and a fresh sync.
    ws.append("?").await;
    ws.pump_until(|c| c.text() == "a<0><1><2>.!?", WAIT).await;
    for stale in [
        "0123456789abcdef0123456789abcdef:3".to_string(),
        format!("{session}:999999"),
        "garbage".to_string(),
    ] {
        sse.y.synced = false;
        sse.reconnect(Some(&stale)).await.unwrap();
        sse.pump_until(|c| c.y.synced, WAIT).await;
        assert_eq!(sse.events[0].event, "session", "{stale}: {:?}", sse.events);
        assert_ne!(sse.session.as_deref(), Some(session.as_str()));
        assert_eq!(sse.y.text(), "a<0><1><2>.!?");
    }
}

/// Every relayed update reaches the poller exactly once, whatever the batch boundaries,
/// and every answer is "lost" once: the poller asks again with the same cursor and must
/// get the same messages (plus, in some rounds, news that arrived in between).
#[tokio::test]
async fn long_polling_loses_and_duplicates_nothing() {
    let server = start(&[]).await;
    let mut poll = PollClient::connect(&server, "lp").await;
    let mut ws = Client::connect(&server.ws("lp")).await;
    const ROUNDS: usize = 12;
    const PER_ROUND: usize = 25;
    let mut written = 0usize;
    let mut polls = 0usize;
    let mut retried = 0usize;
    let mut replayed = 0usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for round in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            ws.append(&format!("<{written}>")).await;
            written += 1;
        }
        while poll.y.received_updates < written {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {written} updates arrived",
                poll.y.received_updates
            );
            // Held (no timeout), short and immediate GETs in turn; news is always on its
            // way here, so a held GET returns with it.
            let timeout = [None, Some(2.0), Some(0.0)][polls % 3];
            polls += 1;
            let (status, first) = poll.get(poll.cursor, timeout).await;
            assert_eq!(status, 200);
            let first = first.unwrap();
            if first.messages.is_empty() {
                assert_eq!(first.cursor, poll.cursor, "an empty batch keeps the cursor");
                continue;
            }
            assert!(
                first.cursor >= poll.cursor + first.messages.len() as u64,
                "cursor must move past the batch"
            );
            // The answer is lost: ask again from the same cursor. In odd rounds one more
            // update is sent first, and the retry is repeated until it shows up after the
            // messages already returned.
            let want_more = round % 2 == 1;
            if want_more {
                ws.append(&format!("<{written}>")).await;
                written += 1;
            }
            let retry_deadline = tokio::time::Instant::now() + WAIT;
            let again = loop {
                let (status, again) = poll.get(poll.cursor, Some(0.0)).await;
                assert_eq!(status, 200);
                let again = again.unwrap();
                retried += 1;
                assert!(again.cursor >= first.cursor);
                assert_eq!(
                    &again.messages[..first.messages.len()],
                    &first.messages[..],
                    "a retried GET returned different messages"
                );
                if !want_more || again.messages.len() > first.messages.len() {
                    break again;
                }
                assert!(
                    tokio::time::Instant::now() < retry_deadline,
                    "news never appeared after the retried messages"
                );
            };
            if again.messages.len() == first.messages.len() {
                // Nothing new: the retry is the lost answer itself, cursor and all.
                assert_eq!(
                    again.cursor, first.cursor,
                    "a replayed batch moved the cursor"
                );
                replayed += 1;
            }
            poll.handle(again).await;
        }
        ws.pump_until(|c| c.received_updates >= written, WAIT).await;
    }
    // Both kinds of retry happened: one answered with the very batch that was lost (the
    // growing kind is forced in odd rounds by the loop above).
    assert!(
        replayed >= 1,
        "no retry replayed its lost batch ({retried} retries)"
    );

    // No duplicates: a marker sent after everything arrives, and nothing else did.
    ws.append("<end>").await;
    written += 1;
    poll.pump_until(|c| c.y.text().ends_with("<end>"), WAIT)
        .await;
    assert_eq!(poll.y.received_updates, written, "duplicates arrived");
    let text = poll.y.text();
    assert_eq!(text, ws.text());
    for i in 0..written - 1 {
        assert_eq!(text.matches(&format!("<{i}>")).count(), 1, "token {i}");
    }

    // Acknowledged messages are gone: once a GET carries the latest cursor, an old
    // cursor no longer replays them.
    let (status, batch) = poll.get(poll.cursor, Some(0.0)).await;
    assert_eq!(status, 200);
    assert!(
        batch.unwrap().messages.is_empty(),
        "nothing after the marker"
    );
    let (status, batch) = poll.get(0, Some(0.0)).await;
    assert_eq!(status, 200);
    assert!(batch.unwrap().messages.is_empty());
}

#[tokio::test]
async fn held_poll_returns_on_news_or_after_timeout() {
    let server = start(&[]).await;
    let mut poll = PollClient::connect(&server, "hold").await;
    let mut ws = Client::connect(&server.ws("hold")).await;
    // A marker: once it is in, everything the joins produced is in too.
    ws.append("a").await;
    poll.pump_until(|c| c.y.text() == "a", WAIT).await;

    // Nothing new: an empty list, the cursor unchanged, once the requested time passed.
    let t = Instant::now();
    let (status, batch) = poll.get(poll.cursor, Some(0.5)).await;
    assert_eq!(status, 200);
    let batch = batch.unwrap();
    assert!(batch.messages.is_empty(), "{batch:?}");
    assert_eq!(batch.cursor, poll.cursor);
    // A lower bound the server promises, not a speed: it never answers before the timeout.
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );

    // Held without a timeout: it returns with the news. Leave one message unacknowledged
    // (`old` still points before it) so we can tell when the held GET has reached the
    // server: its cursor acknowledges that message, and a GET from `old` then finds it gone.
    ws.append("b").await;
    let old = poll.cursor;
    let (status, pending) = poll.get(old, Some(WAIT.as_secs_f64())).await;
    assert_eq!(status, 200);
    let pending = pending.unwrap();
    assert!(!pending.messages.is_empty());
    let held_url = format!("{}?cursor={}", poll.url(), pending.cursor);
    let http = poll.http.clone();
    let held = tokio::spawn(async move { http.get(held_url).send().await.unwrap() });
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, batch) = poll.get(old, Some(0.0)).await;
        assert_eq!(status, 200);
        if batch.unwrap().messages.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the held GET never reached the server"
        );
    }
    ws.append("c").await;
    let res = held.await.unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    let messages = v["messages"].as_array().unwrap();
    assert!(
        !messages.is_empty(),
        "the held GET returned without the news: {v}"
    );
    assert!(v["cursor"].as_u64().unwrap() > pending.cursor);
    poll.handle(pending).await;
    poll.pump_until(|c| c.y.text() == "abc", WAIT).await;
}

/// Waits until a poll session opened now, which stops polling at once, has expired: then
/// more than the idle limit has passed for every session opened before it. Polls `keep`
/// meanwhile (each poll must succeed) and hands it back.
async fn outlive_a_quitter(
    server: &TestServer,
    ws: &mut Client,
    doc: &str,
    keep: Option<PollClient>,
) -> Option<PollClient> {
    let mut quitter = PollClient::connect(server, doc).await;
    quitter
        .set_awareness(r#"{"user":{"name":"quitter"}}"#)
        .await;
    let qid = quitter.y.client_id();
    ws.pump_until(|c| sees(&c.peers, qid, "quitter"), WAIT)
        .await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keeper = keep.map(|mut keep| {
        let stop = stop.clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                keep.poll(Some(0.3)).await;
            }
            keep
        })
    });
    ws.pump_until(|c| removed(&c.peers, qid), WAIT).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (status, _) = quitter.get(quitter.cursor, Some(0.0)).await;
    assert_eq!(status, 410, "the quitter's session outlived its removal");
    match keeper {
        Some(k) => Some(k.await.expect("a polling session expired")),
        None => None,
    }
}

#[tokio::test]
async fn idle_poll_session_expires_and_its_awareness_goes() {
    let server = start(&["--session-idle-secs", "1"]).await;
    let mut ws = Client::connect(&server.ws("exp")).await;
    let mut poll = PollClient::connect(&server, "exp").await;
    poll.set_awareness(r#"{"user":{"name":"poller"}}"#).await;
    let id = poll.y.client_id();
    ws.pump_until(|c| sees(&c.peers, id, "poller"), WAIT).await;

    // While it keeps polling the session lives past the idle limit: a later session that
    // stopped has expired, this one still takes messages and its cursor is still shown.
    let mut poll = outlive_a_quitter(&server, &mut ws, "exp", Some(poll))
        .await
        .unwrap();
    poll.set_awareness(r#"{"user":{"name":"poller-2"}}"#).await;
    ws.pump_until(|c| sees(&c.peers, id, "poller-2"), WAIT)
        .await;

    // It stops polling: the awareness is removed for the others, the session is gone.
    ws.pump_until(|c| removed(&c.peers, id), WAIT).await;
    let (status, _) = poll.get(poll.cursor, Some(0.1)).await;
    assert_eq!(status, 410);
    expect_error(poll.post(poll.y.step1()).await, 410).await;
}

#[tokio::test]
async fn abandoned_sse_session_expires_and_its_awareness_goes() {
    let server = start(&["--session-idle-secs", "1"]).await;
    let mut ws = Client::connect(&server.ws("exp-sse")).await;
    let mut sse = SseClient::connect(&server, "exp-sse").await;
    sse.set_awareness(r#"{"user":{"name":"streamer"}}"#).await;
    let id = sse.y.client_id();
    ws.pump_until(|c| sees(&c.peers, id, "streamer"), WAIT)
        .await;

    // An open (quiet) stream keeps the session alive past the idle limit.
    outlive_a_quitter(&server, &mut ws, "exp-sse", None).await;
    sse.set_awareness(r#"{"user":{"name":"streamer-2"}}"#).await;
    ws.pump_until(|c| sees(&c.peers, id, "streamer-2"), WAIT)
        .await;
    sse.pump_until(|c| sees(&c.y.peers, id, "streamer-2"), WAIT)
        .await;
    let last = sse.last_id.clone().unwrap();
    let session = sse.session.clone().unwrap();

    // The stream drops and is not resumed.
    sse.disconnect();
    ws.pump_until(|c| removed(&c.peers, id), WAIT).await;
    expect_error(sse.post(sse.y.step1()).await, 410).await;
    // Resuming now is too late: a fresh session.
    sse.reconnect(Some(&last)).await.unwrap();
    assert!(sse.step(WAIT).await);
    assert_eq!(sse.events[0].event, "session");
    assert_ne!(sse.session.as_deref(), Some(session.as_str()));
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

/// `DELETE /poll/{doc}/{session}`: the client leaves at once (its cursor disappears for the
/// others without waiting for expiry) and the session is gone.
#[tokio::test]
async fn leaving_a_poll_session_ends_it_at_once() {
    let server = start(&[]).await;
    let mut ws = Client::connect(&server.ws("leave")).await;
    let mut poll = PollClient::connect(&server, "leave").await;
    poll.set_awareness(r#"{"user":{"name":"leaver"}}"#).await;
    let id = poll.y.client_id();
    ws.pump_until(|c| sees(&c.peers, id, "leaver"), WAIT).await;

    assert_eq!(poll.leave().await, 204);
    ws.pump_until(|c| removed(&c.peers, id), WAIT).await;
    let (status, _) = poll.get(poll.cursor, Some(0.0)).await;
    assert_eq!(status, 410);
    expect_error(poll.post(poll.y.step1()).await, 410).await;
    let res = poll.http.delete(poll.url()).send().await.unwrap();
    expect_error(res, 410).await;
    // The room carries on for the others.
    ws.append("still here").await;
    ws.pump_until(|c| c.text() == "still here", WAIT).await;
}
