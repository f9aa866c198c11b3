//! Titles and names people see may not carry invisible formatting characters: a
//! right-to-left override (U+202E) before `fdp.exe` shows `reportexe.pdf`. Each is refused with
//! 400 and a message naming the character.

use crate::kit::*;
use serde_json::json;

const RLO: &str = "\u{202E}";

#[tokio::test]
async fn titles_names_and_labels_with_bidi_overrides_are_refused() {
    let server = start(&[
        "--secret",
        "invisible-secret-0123456789",
        "--admin-key",
        "k",
    ])
    .await;
    let api = Api::new(&server).bearer("k");
    let http = reqwest::Client::new();
    let create = |title: String| {
        http.post(server.http("/api/documents"))
            .bearer_auth("k")
            .json(&json!({ "title": title }))
            .send()
    };
    let e = expect_error(create(format!("report{RLO}fdp.exe")).await.unwrap(), 400).await;
    assert!(
        e.contains("a title may not contain invisible formatting characters")
            && e.contains("U+202E"),
        "{e}"
    );
    for c in [
        '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{202A}', '\u{200B}',
    ] {
        expect_error(create(format!("a{c}b")).await.unwrap(), 400).await;
    }
    let created = ok_json(create("Plain ✓".into()).await.unwrap(), 201).await;
    let doc = created["name"].as_str().unwrap().to_string();
    // Renaming, too.
    let res = http
        .patch(server.http(&format!("/api/documents/{doc}")))
        .bearer_auth("k")
        .json(&json!({ "title": format!("x{RLO}y") }))
        .send()
        .await
        .unwrap();
    expect_error(res, 400).await;
    // A token's name (shown in presence) and a version's label.
    let e = expect_error(
        api.mint_token(json!({ "doc": doc, "name": format!("ann{RLO}") }))
            .await,
        400,
    )
    .await;
    assert!(e.contains("the name may not contain invisible"), "{e}");
    let e = expect_error(api.create_version(&doc, &format!("v1{RLO}")).await, 400).await;
    assert!(e.contains("a label may not contain invisible"), "{e}");
}
