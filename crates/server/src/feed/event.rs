//! One feed event, computed once and shared by every reader: a change (the text delta a
//! committed update made) or a snapshot (the whole text where compaction left the
//! document). Its JSON is rendered here once, with and without the whole text.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tandem_persistence::StoredDoc;
use yrs::{
    types::Delta, updates::decoder::Decode, Doc, GetString, Observable, Out, Text, TextRef,
    Transact, Update,
};

use crate::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Change,
    Snapshot,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Change => "change",
            Kind::Snapshot => "snapshot",
        }
    }
}

/// Rendered once, sent to every reader as is.
#[derive(Debug)]
pub(crate) struct FeedEvent {
    pub doc: String,
    pub position: i64,
    pub kind: Kind,
    /// The event's JSON without the whole text (snapshots always carry it).
    plain: String,
    /// The same with `text`, the whole text after the change (`?include=text`).
    with_text: String,
}

impl FeedEvent {
    fn new(doc: &str, position: i64, kind: Kind, mut json: Value, text: String) -> FeedEvent {
        let plain = (kind == Kind::Change).then(|| json.to_string());
        json["text"] = Value::String(text);
        let with_text = json.to_string();
        FeedEvent {
            doc: doc.to_string(),
            position,
            kind,
            plain: plain.unwrap_or_else(|| with_text.clone()),
            with_text,
        }
    }

    /// The event's JSON, with the whole text when asked (snapshots always have it).
    pub(crate) fn data(&self, include_text: bool) -> &str {
        if include_text {
            &self.with_text
        } else {
            &self.plain
        }
    }
}

/// A document as the feed replays it: its state at `position`, and the delta of the last
/// update applied, caught by an observer on the text root.
pub(crate) struct DocState {
    doc: Doc,
    text: TextRef,
    /// The position this state stands at: every change at or below it is applied.
    pub position: i64,
    delta: Arc<Mutex<Option<Value>>>,
}

impl DocState {
    /// The state a store read returned (`StoredDoc::last_seq` is where it stands).
    pub(crate) fn from_stored(stored: &StoredDoc) -> DocState {
        let doc = text::new_doc();
        // A corrupt row is skipped here as on load; the room reports it.
        let _ = text::replay(&doc, stored);
        let text = text::text_ref(&doc);
        let delta = Arc::new(Mutex::new(None));
        let slot = delta.clone();
        text.observe("feed", move |txn, event: &yrs::types::text::TextEvent| {
            let ops: Vec<Value> = event.delta(txn).iter().map(quill_op).collect();
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(Value::Array(ops));
            }
        });
        DocState {
            doc,
            text,
            position: stored.last_seq,
            delta,
        }
    }

    fn text(&self) -> (String, u32) {
        let txn = self.doc.transact();
        (self.text.get_string(&txn), self.text.len(&txn))
    }

    /// Applies one committed update and describes it. An update that does not decode or
    /// apply (a corrupt row) still moves the position, with an empty delta.
    pub(crate) fn apply(
        &mut self,
        doc: &str,
        position: i64,
        at: DateTime<Utc>,
        update: &[u8],
    ) -> FeedEvent {
        if let Ok(slot) = self.delta.lock().as_deref_mut() {
            *slot = None;
        }
        if let Ok(update) = Update::decode_v1(update) {
            let _ = self.doc.transact_mut().apply_update(update);
        }
        self.position = position;
        let delta = self
            .delta
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
            .unwrap_or_else(|| Value::Array(Vec::new()));
        let (text, length) = self.text();
        let json = json!({
            "doc": doc,
            "seq": position,
            "at": stamp(at),
            "authors": [],
            "delta": delta,
            "length": length,
        });
        FeedEvent::new(doc, position, Kind::Change, json, text)
    }

    /// The whole text as a snapshot event at `position`.
    pub(crate) fn snapshot(&self, doc: &str, position: i64, at: DateTime<Utc>) -> FeedEvent {
        let (text, length) = self.text();
        let json = json!({ "doc": doc, "seq": position, "at": stamp(at), "length": length });
        FeedEvent::new(doc, position, Kind::Snapshot, json, text)
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One Yjs text delta operation in Quill's form. Counts are UTF-16 units: the feed's
/// documents are created with UTF-16 offsets, as JavaScript counts.
fn quill_op(op: &Delta) -> Value {
    let attributes = |attrs: &Option<Box<yrs::types::Attrs>>| {
        attrs.as_ref().map(|attrs| {
            Value::Object(
                attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), any_json(v)))
                    .collect(),
            )
        })
    };
    let (mut op, attrs) = match op {
        Delta::Inserted(value, attrs) => {
            let insert = match value {
                Out::Any(any) => any_json(any),
                other => Value::String(other.clone().to_string(&yrs::Doc::new().transact())),
            };
            (json!({ "insert": insert }), attributes(attrs))
        }
        Delta::Deleted(n) => (json!({ "delete": n }), None),
        Delta::Retain(n, attrs) => (json!({ "retain": n }), attributes(attrs)),
    };
    if let Some(attrs) = attrs {
        op["attributes"] = attrs;
    }
    op
}

fn any_json(any: &yrs::Any) -> Value {
    let mut buf = String::new();
    any.to_json(&mut buf);
    serde_json::from_str(&buf).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn editor() -> (Doc, TextRef) {
        let doc = text::new_doc();
        let text = text::text_ref(&doc);
        (doc, text)
    }

    #[test]
    fn deltas_count_utf16_units_as_javascript_does() {
        let (doc, t) = editor();
        let first = {
            let mut txn = doc.transact_mut();
            t.insert(&mut txn, 0, "a😀c");
            txn.encode_update_v1()
        };
        let second = {
            let mut txn = doc.transact_mut();
            t.insert(&mut txn, 3, "b");
            t.remove_range(&mut txn, 0, 1);
            txn.encode_update_v1()
        };
        let mut state = DocState::from_stored(&StoredDoc::default());
        let at = Utc::now();
        let parse = |e: &FeedEvent| serde_json::from_str::<Value>(e.data(true)).unwrap();
        let one = parse(&state.apply("d", 1, at, &first));
        assert_eq!(one["delta"], json!([{ "insert": "a😀c" }]));
        assert_eq!(one["length"], 4);
        let two = parse(&state.apply("d", 2, at, &second));
        assert_eq!(
            two["delta"],
            json!([{ "delete": 1 }, { "retain": 2 }, { "insert": "b" }])
        );
        assert_eq!(two["length"], 4);
        assert_eq!(two["text"], "😀bc");
        assert_eq!(state.position, 2);
    }
}
