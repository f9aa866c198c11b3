//! The bodies of webhook messages: `{"type", "timestamp", "data"}` as Standard Webhooks
//! suggests, one type per event.

use serde_json::{json, Value};

pub(crate) const CHANGED: &str = "document.changed";
pub(crate) const CREATED: &str = "document.created";
pub(crate) const DELETED: &str = "document.deleted";
pub(crate) const VERSION: &str = "version.created";
/// Sent only by `POST /api/webhooks/{id}/test`.
pub(crate) const TEST: &str = "webhook.test";

/// Every event an endpoint may ask for (the default is all of them).
pub(crate) const ALL: [&str; 4] = [CHANGED, CREATED, DELETED, VERSION];

pub(crate) fn body(event: &str, data: Value) -> String {
    json!({
        "type": event,
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

/// `document.changed`: the log positions it covers (`after` < position <= `upto`), who
/// wrote them (when known), and the text after them; without the text when the body would
/// pass `max_bytes`.
/// `(text, rich)`: a rich document's text is its rendered plain text (`format` "rich").
pub(crate) fn changed(
    doc: &str,
    (after, upto): (i64, i64),
    authors: &[String],
    (text, rich): (&str, bool),
    max_bytes: usize,
) -> String {
    let data = |text: Option<&str>| {
        json!({
            "document": doc,
            "positions": {"after": after, "upto": upto},
            "authors": authors,
            "format": if rich { "rich" } else { "text" },
            "length": text_length(text.unwrap_or_default()),
            "text": text,
            "text_omitted": text.is_none(),
        })
    };
    let full = body(CHANGED, data(Some(text)));
    if full.len() <= max_bytes {
        return full;
    }
    let mut short = data(None);
    short["length"] = json!(text_length(text));
    body(CHANGED, short)
}

/// Length as JavaScript counts it (UTF-16 units), as the editor and the feed do.
fn text_length(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_too_large_is_left_out_but_its_length_kept() {
        let small = changed("d", (1, 4), &[], ("héllo", false), 10_000);
        let v: Value = serde_json::from_str(&small).unwrap();
        assert_eq!(v["type"], CHANGED);
        assert_eq!(v["data"]["text"], "héllo");
        assert_eq!(v["data"]["positions"]["upto"], 4);
        let big = "x".repeat(5000);
        let body = changed("d", (1, 4), &[], (&big, true), 1000);
        assert!(body.len() <= 1000);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["text_omitted"], true);
        assert_eq!(v["data"]["length"], 5000);
    }
}
