//! One address, many people: an office behind one NAT address shares every per-address
//! allowance, so the defaults must admit a few hundred people at once (SECURITY.md, "One
//! address, many people"), and a refusal must say which setting to raise.

use crate::kit::*;

/// More than the old per-address defaults (256 connections, documents and sessions), far
/// fewer than the new ones: a bounded stand-in for an office of 2,000 people.
const PEOPLE: usize = 300;

#[tokio::test]
async fn a_few_hundred_people_behind_one_address_are_admitted_at_the_defaults() {
    let server = start(&[]).await;
    // Each with a WebSocket on a document of their own (distinct documents count), all
    // from 127.0.0.1 ...
    let mut tabs = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        tabs.push(Client::connect(&server.ws(&format!("office-{i}"))).await);
    }
    // ... and an SSE/poll session each (a second tab on a network without WebSockets).
    let mut sessions = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        match PollClient::open(&server, &format!("office-{i}"), None).await {
            Ok(s) => sessions.push(s),
            Err(status) => panic!("session {i} refused: {status}"),
        }
    }
    // Every tab still works, and the address may still open more.
    tabs[0].append("hello").await;
    tabs[0].pump_until(|c| c.received_updates >= 1, WAIT).await;
    let res = reqwest::get(server.http("/healthz")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"connections_per_ip\"}")
            .await
            + server
                .metric("tandem_limit_refusals_total{limit=\"documents_per_ip\"}")
                .await
            + server
                .metric("tandem_limit_refusals_total{limit=\"sessions_per_ip\"}")
                .await,
        0.0
    );
    drop(sessions);
}
