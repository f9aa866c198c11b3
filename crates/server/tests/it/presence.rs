//! Presence ownership over real WebSocket connections: a peer (a read-only one here) cannot
//! rewrite, remove or pin another user's awareness state, and a token's user name is what
//! the others see.

use std::collections::HashMap;

use crate::kit::*;
use tandem::auth::{now_secs, Auth, Claims};
use tandem::Access;
use yrs::{
    block::ClientID,
    sync::{awareness::AwarenessUpdateEntry, AwarenessUpdate, Message},
};

const SECRET: &str = "presence-secret-0123456789";

fn token(doc: &str, access: Access, name: &str) -> String {
    Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: doc.into(),
            access,
            exp: now_secs() + 600,
            name: Some(name.into()),
            share: false,
            by: None,
            lid: None,
        })
        .unwrap()
}

fn url(server: &TestServer, doc: &str, token: &str) -> String {
    format!("{}?token={token}", server.ws(doc))
}

/// One raw awareness entry, as an attacker would craft it.
fn entry(client: u64, clock: u32, json: &str) -> Message {
    Message::Awareness(AwarenessUpdate {
        clients: HashMap::from([(
            ClientID::new(client),
            AwarenessUpdateEntry {
                clock,
                json: json.into(),
            },
        )]),
    })
}

fn name_of(c: &Client, id: u64) -> Option<String> {
    let json = c.peers.get(&id)?.as_ref()?;
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(v["user"]["name"].as_str()?.to_string())
}

#[tokio::test]
async fn a_read_only_peer_cannot_touch_another_users_presence() {
    let server = start(&["--secret", SECRET, "--admin-key", "k"]).await;
    let doc = "owned";
    let mut ann = Client::connect(&url(&server, doc, &token(doc, Access::Write, "ann"))).await;
    let mut eve = Client::connect(&url(&server, doc, &token(doc, Access::Read, "eve"))).await;
    let mut obs = Client::connect(&url(&server, doc, &token(doc, Access::Read, "obs"))).await;
    let victim = ann.client_id();

    // The token's name wins over the one the client picked.
    ann.set_awareness(r#"{"user":{"name":"Mallory","color":"red"}}"#)
        .await;
    obs.pump_until(|c| name_of(c, victim).as_deref() == Some("ann"), WAIT)
        .await;

    // Eve overwrites Ann's state with a clock at the top, then removes it, then shows
    // her own presence (allowed for a read-only peer): a marker that the rest was handled.
    eve.send(entry(victim, u32::MAX, r#"{"user":{"name":"hacked"}}"#))
        .await;
    eve.send(entry(victim, u32::MAX, "null")).await;
    eve.set_awareness(r#"{"user":{"name":"whoever"}}"#).await;
    let marker = eve.client_id();
    obs.pump_until(|c| name_of(c, marker).as_deref() == Some("eve"), WAIT)
        .await;
    assert_eq!(
        name_of(&obs, victim).as_deref(),
        Some("ann"),
        "Ann's state changed: {:?}",
        obs.peers.get(&victim)
    );
    assert_eq!(
        server
            .metric("tandem_awareness_refused_total{reason=\"not_owner\"}")
            .await,
        2.0
    );

    // Not pinned: Ann's next ordinary change reaches everyone.
    ann.set_awareness(r#"{"user":{"name":"x"},"cursor":5}"#)
        .await;
    obs.pump_until(
        |c| matches!(c.peers.get(&victim), Some(Some(s)) if s.contains("\"cursor\":5")),
        WAIT,
    )
    .await;
    // And the API shows the token names.
    let info: serde_json::Value = reqwest::Client::new()
        .get(server.http(&format!("/api/documents/{doc}")))
        .bearer_auth(token(doc, Access::Read, "obs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["users"], serde_json::json!(["ann", "eve"]));

    // Eve leaving takes only her own state away.
    eve.close().await;
    obs.pump_until(|c| matches!(c.peers.get(&marker), Some(None)), WAIT)
        .await;
    assert_eq!(name_of(&obs, victim).as_deref(), Some("ann"));
}

#[tokio::test]
async fn one_connection_owns_a_bounded_number_of_client_ids() {
    let server = start(&["--max-awareness-clients", "2"]).await;
    let mut flood = Client::connect(&server.ws("ids")).await;
    let mut obs = Client::connect(&server.ws("ids")).await;
    let clients = (1..=5)
        .map(|id| {
            (
                ClientID::new(id),
                AwarenessUpdateEntry {
                    clock: 1,
                    json: r#"{"user":{"name":"n"}}"#.into(),
                },
            )
        })
        .collect();
    flood
        .send(Message::Awareness(AwarenessUpdate { clients }))
        .await;
    server
        .wait_metric(
            "tandem_awareness_refused_total{reason=\"too_many_clients\"}",
            |v| v == 3.0,
        )
        .await;
    // The two it was allowed are relayed (in the one frame that carried all five).
    obs.pump_until(|c| c.peers.len() == 2, WAIT).await;
    assert_eq!(
        obs.peers
            .keys()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [1, 2].into()
    );
}

/// A viewer's `user.color` goes into every editor's caret style: anything but a colour is
/// removed before the others see the state, whatever the transport (here WebSocket and
/// long polling, without a secret).
#[tokio::test]
async fn a_colour_that_is_not_a_colour_is_removed() {
    let server = start(&[]).await;
    let doc = "colours";
    let mut obs = Client::connect(&server.ws(doc)).await;
    let mut ws = Client::connect(&server.ws(doc)).await;
    let mut poll = PollClient::connect(&server, doc).await;
    ws.set_awareness(r#"{"user":{"name":"w","color":"red;position:fixed;inset:0"}}"#)
        .await;
    let hostile = poll
        .y
        .awareness_message(r##"{"user":{"name":"p","color":"#0f0","colorLight":"#0f0;background:url(https://evil.example/x)"}}"##);
    poll.send(hostile).await;
    let (w, p) = (ws.client_id(), poll.y.client_id());
    obs.pump_until(|c| name_of(c, w).is_some() && name_of(c, p).is_some(), WAIT)
        .await;
    let user = |id: u64| -> serde_json::Value {
        let json = obs.peers[&id].as_ref().unwrap();
        serde_json::from_str::<serde_json::Value>(json).unwrap()["user"].clone()
    };
    assert_eq!(user(w), serde_json::json!({"name": "w"}));
    assert_eq!(user(p), serde_json::json!({"name": "p", "color": "#0f0"}));
}
