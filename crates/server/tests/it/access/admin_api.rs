//! The admin API: what needs the admin key, and what a server without one refuses and why.

use super::*;

#[tokio::test]
async fn admin_api_needs_the_admin_key() {
    let server = token_server().await;
    let http = reqwest::Client::new();
    let write = token("hist", Access::Write);
    let mut w = Client::connect(&ws_url(&server, "hist", &write)).await;
    w.append("version one").await;
    w.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let res = http
        .post(server.http("/api/documents/hist/versions?token=") + &write)
        .json(&serde_json::json!({"label": "v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: serde_json::Value = res.json().await.unwrap();
    let n = v["version"].as_i64().unwrap();
    w.append(" and more").await;
    w.pump_until(|c| c.received_updates >= 2, WAIT).await;

    let api = Api::new(&server);
    let admin = api.bearer(ADMIN);
    assert_eq!(admin.create("x").await.status(), 201);

    // No key, a wrong key, and a document token (even a write one) are all refused.
    for who in [api.clone(), api.bearer("wrong-key"), api.bearer(&write)] {
        expect_error(who.list().await, 403).await;
        let why = expect_error(who.delete("x").await, 403).await;
        assert!(
            why.contains("only the server's admin") && why.contains("document token"),
            "{why}"
        );
        expect_error(who.restore("hist", n).await, 403).await;
        let mint = who.mint_token(serde_json::json!({"doc": "minted"})).await;
        expect_error(mint, 403).await;
    }
    assert_eq!(admin_text(&server, "hist").await, "version one and more");

    let v = ok_json(admin.list().await, 200).await;
    let names: Vec<&str> = v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"x") && names.contains(&"hist"), "{names:?}");

    assert_eq!(admin.delete("x").await.status(), 204);
    expect_error(admin.document("x").await, 404).await;

    let v = ok_json(admin.restore("hist", n).await, 200).await;
    assert_eq!(v["kind"], "restore");
    w.pump_until(|c| c.text() == "version one", WAIT).await;
    assert_eq!(admin_text(&server, "hist").await, "version one");

    let v = ok_json(
        admin.mint_token(serde_json::json!({"doc": "minted"})).await,
        201,
    )
    .await;
    let minted = v["token"].as_str().unwrap().to_string();
    let mut c = Client::connect(&ws_url(&server, "minted", &minted)).await;
    c.append("made with a minted token").await;
    c.pump_until(|c| c.received_updates >= 1, WAIT).await;
    assert_eq!(
        admin_text(&server, "minted").await,
        "made with a minted token"
    );
    allowed_everywhere(&server, "minted", &minted).await;
    refused_everywhere(&server, "hist", Some(&minted), 403).await;

    // A named, read-only token with a lifetime: its claims say so, and the server agrees.
    let t0 = now_secs();
    let res = admin
        .mint_token(serde_json::json!({
            "doc": "minted", "access": "read", "name": "Ann", "expires_in": 120
        }))
        .await;
    let t1 = now_secs();
    let v = ok_json(res, 201).await;
    assert_eq!(v["claims"]["name"], "Ann");
    assert_eq!(v["claims"]["access"], "read");
    let exp = v["claims"]["exp"].as_u64().unwrap();
    assert!(
        (t0 + 120..=t1 + 120).contains(&exp),
        "exp {exp} for {t0}..{t1}"
    );
    let named = v["token"].as_str().unwrap();
    let grant = Auth::new(Some(SECRET), None)
        .document("minted", Some(named), None)
        .unwrap();
    assert_eq!(grant.name.as_deref(), Some("Ann"));
    assert_eq!(grant.access, tandem::Access::Read);
    let mut reader = Client::connect(&ws_url(&server, "minted", named)).await;
    assert_eq!(reader.text(), "made with a minted token");
    reader.send_raw(hand_made_update("no")).await;
    reader.pump_until(|c| c.denied.is_some(), WAIT).await;
    // Expired (a lifetime of 1 s, past; tokens carry no leeway): refused. A lifetime of 0
    // is refused when minting (tests/it/bodies.rs).
    let res = admin
        .mint_token(serde_json::json!({"doc": "minted", "expires_in": 1}))
        .await;
    let v = ok_json(res, 201).await;
    let exp = v["claims"]["exp"].as_u64().unwrap();
    wait_for("the clock to pass the expiry", || async {
        (now_secs() > exp).then_some(())
    })
    .await;
    refused_everywhere(&server, "minted", v["token"].as_str(), 401).await;
    // The API reports token mode, and that admin actions take the key.
    let config = api.config().await;
    assert_eq!(
        (&config["auth"], &config["admin"]),
        (&"token".into(), &"key".into())
    );
}

#[tokio::test]
async fn without_an_admin_key_admin_actions_are_refused_and_say_why() {
    let server = start(&["--secret", SECRET]).await;
    let api = Api::new(&server);
    let write = token("*", Access::Write);
    let admin = api.bearer(&write);
    assert_eq!(admin.create("kept").await.status(), 201);
    for who in [api.clone(), admin] {
        let why = expect_error(who.delete("kept").await, 403).await;
        assert!(why.contains("no admin key"), "{why}");
        expect_error(who.list().await, 403).await;
    }
    assert_eq!(api.bearer(&write).document("kept").await.status(), 200);
    assert_eq!(api.config().await["admin"], "none");
}
