//! Share links: each carries a name for presence (its label and the sharer's name), and
//! one token mints a bounded number of them an hour, since every link is a token with
//! budgets of its own.

use crate::kit::*;
use base64::Engine;
use serde_json::{json, Value};
use tandem::{
    auth::{now_secs, Auth, Claims},
    Access,
};

const SECRET: &str = "share-links-secret-0123456789";

fn sharer(name: &str) -> String {
    Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: "s".into(),
            access: Access::Write,
            exp: now_secs() + 3600,
            name: Some(name.into()),
            share: true,
            by: None,
            lid: None,
        })
        .unwrap()
}

async fn share(server: &TestServer, bearer: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.http("/api/documents/s/share"))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The `name` claim inside a minted token.
fn name_in(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["name"].as_str().map(str::to_string)
}

#[tokio::test]
async fn links_carry_a_name_and_are_bounded_per_token() {
    let server = start(&["--secret", SECRET, "--admin-key", "k"]).await;
    let ann = sharer("Ann");
    let link = ok_json(
        share(
            &server,
            &ann,
            json!({ "access": "read", "label": " Review team " }),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(link["name"], "Review team (from Ann)");
    assert_eq!(
        name_in(link["token"].as_str().unwrap()).as_deref(),
        Some("Review team (from Ann)")
    );
    let link = ok_json(share(&server, &ann, json!({})).await, 201).await;
    assert_eq!(
        name_in(link["token"].as_str().unwrap()).as_deref(),
        Some("guest of Ann")
    );
    let e = expect_error(
        share(&server, &ann, json!({ "label": "x\u{202E}y" })).await,
        400,
    )
    .await;
    assert!(e.contains("invisible"), "{e}");

    // 20 an hour per token: 2 minted above, 18 more, then refused.
    for _ in 0..18 {
        ok_json(share(&server, &ann, json!({})).await, 201).await;
    }
    let e = expect_error(share(&server, &ann, json!({})).await, 429).await;
    assert!(e.contains("minted 20 links within the hour"), "{e}");
    // Another token has its own quota; the admin key has none.
    ok_json(share(&server, &sharer("Bob"), json!({})).await, 201).await;
    for _ in 0..25 {
        ok_json(share(&server, "k", json!({})).await, 201).await;
    }
    assert_eq!(
        server
            .metric("tandem_limit_refusals_total{limit=\"share_links\"}")
            .await,
        1.0
    );
}
