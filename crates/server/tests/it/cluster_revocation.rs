//! A share link revoked on one instance closes what it has open on the others too (they
//! read revocations from the database at their sweep), and is refused everywhere at once.

use std::time::Duration;

use serde_json::{json, Value};
use tandem::{
    auth::{now_secs, Auth, Claims},
    Access,
};

use crate::kit::{cluster::Cluster, ok_json, Client};

const SECRET: &str = "cluster-revocation-secret-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_revoked_on_one_instance_closes_its_sockets_on_another() {
    let cluster = Cluster::start(
        "revoke",
        2,
        &["--secret", SECRET, "--cluster-resync-ms", "300"],
    )
    .await;
    let ann = Auth::new(Some(SECRET), None)
        .mint(&Claims {
            doc: "doc".into(),
            access: Access::Write,
            exp: now_secs() + 3600,
            name: Some("Ann".into()),
            share: true,
            by: None,
            lid: None,
        })
        .unwrap();
    let http = reqwest::Client::new();
    let link: Value = ok_json(
        http.post(cluster.http(0, "/api/documents/doc/share"))
            .bearer_auth(&ann)
            .json(&json!({ "access": "write", "expires_in": 3600 }))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let (id, token) = (
        link["id"].as_str().unwrap(),
        link["token"].as_str().unwrap(),
    );
    // The link's holder is on instance 1; the sharer revokes on instance 0.
    let mut holder = Client::connect(&format!("{}?token={token}", cluster.ws(1, "doc"))).await;
    let res = http
        .delete(cluster.http(0, &format!("/api/documents/doc/links/{id}")))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        holder.closed_with(Duration::from_secs(15)).await,
        (4403, "link revoked".to_string())
    );
    // And instance 1 refuses the link from now on.
    let again = http
        .post(cluster.http(1, &format!("/poll/doc?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403);
}
