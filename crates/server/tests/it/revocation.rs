//! Share links are stored: the sharer lists and revokes them, a revoked link is refused on
//! new requests and its open connections are closed (4403), and `/s/<id>` is its short
//! address.

use crate::kit::*;
use serde_json::{json, Value};
use std::time::Duration;
use tandem::auth::{now_secs, Auth, Claims};
use tandem::Access;

const SECRET: &str = "revocation-secret-0123456789abcdef";

fn sharer() -> String {
    Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: "doc".into(),
            access: Access::Write,
            exp: now_secs() + 3600,
            name: Some("Ann".into()),
            share: true,
            by: None,
            lid: None,
        })
        .unwrap()
}

async fn share(server: &TestServer, bearer: &str) -> Value {
    let res = reqwest::Client::new()
        .post(server.http("/api/documents/doc/share"))
        .bearer_auth(bearer)
        .json(&json!({ "access": "write", "expires_in": 3600 }))
        .send()
        .await
        .unwrap();
    ok_json(res, 201).await
}

#[tokio::test]
async fn a_revoked_link_is_refused_and_its_open_connections_closed() {
    let server = start(&["--secret", SECRET]).await;
    let ann = sharer();
    let link = share(&server, &ann).await;
    let (id, token) = (
        link["id"].as_str().unwrap(),
        link["token"].as_str().unwrap(),
    );
    assert_eq!(link["short_url"], format!("/s/{id}"));
    let other = share(&server, &ann).await;

    // The short address leads to the editor with the token.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirects
        .get(server.http(&format!("/s/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/d/doc?token={token}"));
    let res = no_redirects
        .get(server.http("/s/nosuchlink"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Listed for the sharer, not for the link's holder (it cannot share).
    let listed = ok_json(
        Api::new(&server).bearer(&ann).document("doc/links").await,
        200,
    )
    .await;
    assert_eq!(listed["links"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["links"][1]["created_by"], "Ann");
    let e = Api::new(&server).bearer(token).document("doc/links").await;
    assert_eq!(e.status(), 403);

    let mut ws = Client::connect(&format!("{}?token={token}", server.ws("doc"))).await;
    let mut kept = Client::connect(&format!(
        "{}?token={}",
        server.ws("doc"),
        other["token"].as_str().unwrap()
    ))
    .await;
    let http = reqwest::Client::new();
    let poll: Value = ok_json(
        http.post(server.http(&format!("/poll/doc?token={token}")))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;

    let res = http
        .delete(server.http(&format!("/api/documents/doc/links/{id}")))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    let revoked = ok_json(res, 200).await;
    assert!(revoked["revoked_at"].as_i64().is_some(), "{revoked}");

    assert_eq!(
        ws.closed_with(Duration::from_secs(5)).await,
        (4403, "link revoked".to_string())
    );
    let session = poll["session"].as_str().unwrap();
    let res = http
        .get(server.http(&format!("/poll/doc/{session}?cursor=0&token={token}")))
        .send()
        .await
        .unwrap();
    let body = ok_json(res, 410).await;
    assert!(
        body["error"].as_str().unwrap().contains("link revoked"),
        "{body}"
    );
    let res = http
        .post(server.http(&format!("/poll/doc?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok_json(res, 403).await["code"], "token_revoked");
    let res = http
        .get(server.http(&format!("/api/documents/doc?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(ok_json(res, 403).await["code"], "token_revoked");

    // The other link still works.
    let msg = kept.insert_message(0, "still here");
    kept.send_raw(msg).await;
    wait_for("the other link's edit stored", || async {
        let res = http
            .get(server.http(&format!(
                "/api/documents/doc/text?token={}",
                other["token"].as_str().unwrap()
            )))
            .send()
            .await
            .unwrap();
        (res.text().await.unwrap() == "still here").then_some(())
    })
    .await;
}
