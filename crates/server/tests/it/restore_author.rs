//! A restore is somebody's edit: the name the editor sends with it is the restore update's
//! author in the log (and so in the change feed) and among the new version's authors.

use crate::kit::*;

#[tokio::test]
async fn a_restore_records_who_restored() {
    let server = start(&["--version-idle-secs", "3600"]).await;
    let api = Api::new(&server);
    let mut a = Client::connect(&server.ws("restored")).await;
    a.append("first").await;
    a.pump_until(|c| c.received_updates >= 1, WAIT).await;
    let v1 = ok_json(api.create_version("restored", "draft").await, 201).await;
    let n1 = v1["version"].as_i64().unwrap();
    a.append(" and more").await;
    a.pump_until(|c| c.received_updates >= 2, WAIT).await;

    let restored = ok_json(api.restore_by("restored", n1, "Rita").await, 200).await;
    assert_eq!(restored["kind"], "restore");
    a.pump_until(|c| c.text() == "first", WAIT).await;
    assert_eq!(
        restored["authors"],
        serde_json::json!(["Rita"]),
        "{restored}"
    );

    // The restore's own update in the log carries the name.
    let feed = ok_json(
        reqwest::get(server.http("/api/documents/restored/changes?after=0"))
            .await
            .unwrap(),
        200,
    )
    .await;
    let changes = feed["changes"].as_array().unwrap();
    let last = changes.last().expect("changes");
    assert_eq!(last["authors"], serde_json::json!(["Rita"]), "{feed}");

    // A name past 64 characters is refused, and nothing is restored.
    let long = "x".repeat(65);
    let refused = api.restore_by("restored", n1, &long).await;
    assert_eq!(refused.status(), 400);
}
