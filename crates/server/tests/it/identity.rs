//! A document's identity: a new document under a deleted one's name is another document,
//! and a client naming the deleted one's identity (`?doc_id=`, as the editor does for its
//! offline copy) is refused on every transport before its copy could be written.

use crate::kit::*;
use tokio_tungstenite::tungstenite::Error as WsError;

async fn create(api: &Api, doc: &str) -> i64 {
    ok_json(api.create(doc).await, 201).await["id"]
        .as_i64()
        .expect("a document has an id")
}

/// The status and `code` of a refused WebSocket handshake; `None` if it was accepted.
async fn ws_refusal(url: &str) -> Option<(u16, String)> {
    match tokio_tungstenite::connect_async(url).await {
        Ok(_) => None,
        Err(WsError::Http(res)) => {
            let body = res.body().clone().unwrap_or_default();
            let v: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
            Some((
                res.status().as_u16(),
                v["code"].as_str().unwrap_or("").into(),
            ))
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

#[tokio::test]
async fn a_deleted_documents_copy_is_refused_on_every_transport() {
    let server = start(&[]).await;
    let api = Api::new(&server);
    let old = create(&api, "phoenix").await;
    assert_eq!(ok_json(api.document("phoenix").await, 200).await["id"], old);

    let mut client = Client::connect(&format!("{}?doc_id={old}", server.ws("phoenix"))).await;
    let msg = client.insert_message(0, "old text");
    client.send_raw(msg).await;
    wait_for("the old text stored", || async {
        (get_text(&server, "phoenix").await == "old text").then_some(())
    })
    .await;
    client.close().await;

    assert_eq!(api.delete("phoenix").await.status(), 204);
    let new = create(&api, "phoenix").await;
    assert_ne!(
        new, old,
        "a new document under the same name is another document"
    );

    let stale = format!("{}?doc_id={old}", server.ws("phoenix"));
    assert_eq!(
        ws_refusal(&stale).await,
        Some((410, "document_deleted".to_string()))
    );
    let http = reqwest::Client::new();
    for req in [
        http.get(server.http(&format!("/sse/phoenix?doc_id={old}"))),
        http.post(server.http(&format!("/poll/phoenix?doc_id={old}"))),
    ] {
        let res = req.send().await.unwrap();
        let body = ok_json(res, 410).await;
        assert_eq!(body["code"], "document_deleted", "{body}");
    }
    assert_eq!(get_text(&server, "phoenix").await, "");

    // The document's own identity, or none, is let in.
    let current = format!("{}?doc_id={new}", server.ws("phoenix"));
    assert_eq!(ws_refusal(&current).await, None);
    assert_eq!(ws_refusal(&server.ws("phoenix")).await, None);
    let res = http
        .post(server.http(&format!("/poll/phoenix?doc_id={new}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}
