//! One feed event, computed once and shared by every reader: a change (the text delta a
//! committed update made) or a snapshot (the whole text where compaction left the
//! document). Its JSON is rendered here once, with and without the whole text.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tandem_persistence::{ContentKind, StoredDoc};
use yrs::{
    types::Delta, updates::decoder::Decode, Doc, GetString, Observable, Out, TextRef, Transact,
    Update,
};

use crate::{
    render::{self, Content, Fields},
    text,
};

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
/// update applied. A plain-text document's delta is caught by an observer on the text
/// root (with its formatting attributes); a rich document (a `Y.XmlFragment`) has no text
/// to observe, so its delta is the difference between its rendered plain text before and
/// after the change.
pub(crate) struct DocState {
    doc: Doc,
    text: TextRef,
    fields: Fields,
    /// The position this state stands at: every change at or below it is applied.
    pub position: i64,
    delta: Arc<Mutex<Option<Value>>>,
    /// The text at `position` as the last event gave it, and whether it was rendered
    /// from rich text.
    rendered: String,
    rich: bool,
}

impl DocState {
    /// The state a store read returned (`StoredDoc::last_seq` is where it stands).
    /// `fields`: where rich text may be (`--rich-text-fields`).
    pub(crate) fn from_stored(stored: &StoredDoc, fields: &Fields) -> DocState {
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
        let mut state = DocState {
            doc,
            text,
            fields: fields.clone(),
            position: stored.last_seq,
            delta,
            rendered: String::new(),
            rich: false,
        };
        (state.rendered, state.rich) = state.text();
        state
    }

    /// The text the feed shows: the rendered plain text of a rich document (see
    /// `render::Content::plain_text`), else the text root's; and whether it was rich.
    fn text(&self) -> (String, bool) {
        let txn = self.doc.transact();
        match render::kind_of(&txn, &self.fields) {
            Some(ContentKind::Rich) => (Content::from_txn(&txn, &self.fields).plain_text(), true),
            _ => (self.text.get_string(&txn), false),
        }
    }

    /// Applies one committed update (sent by `author`, when known) and describes it. An
    /// update that does not decode or apply (a corrupt row) still moves the position, with
    /// an empty delta.
    ///
    /// `None` when the state already held everything the update carries: a compaction
    /// snapshot is taken from the room's memory, which may already hold updates whose rows
    /// commit just after the position it covers, and a row may be written twice (a retried
    /// write-out). A reader that started from such a snapshot has those changes in its text
    /// already; an event for them would repeat them.
    pub(crate) fn apply(
        &mut self,
        doc: &str,
        position: i64,
        at: DateTime<Utc>,
        update: &[u8],
        author: Option<&str>,
    ) -> Option<FeedEvent> {
        if let Ok(slot) = self.delta.lock().as_deref_mut() {
            *slot = None;
        }
        self.position = position;
        if let Ok(update) = Update::decode_v1(update) {
            let mut txn = self.doc.transact_mut();
            if txn.apply_update(update).is_ok() && !txn.has_changes() {
                return None;
            }
        }
        let observed = self.delta.lock().ok().and_then(|mut slot| slot.take());
        let (text, rich) = self.text();
        // Rich now or before: the text root's own delta does not describe the rendering.
        let delta = if rich || self.rich {
            text_delta(&self.rendered, &text)
        } else {
            observed.unwrap_or_else(|| Value::Array(Vec::new()))
        };
        self.rendered.clone_from(&text);
        self.rich = rich;
        let json = json!({
            "doc": doc,
            "seq": position,
            "at": stamp(at),
            "authors": author.into_iter().collect::<Vec<_>>(),
            "format": format(rich),
            "delta": delta,
            "length": utf16_len(&text),
        });
        Some(FeedEvent::new(doc, position, Kind::Change, json, text))
    }

    /// The whole text as a snapshot event at `position`.
    pub(crate) fn snapshot(&self, doc: &str, position: i64, at: DateTime<Utc>) -> FeedEvent {
        let json = json!({
            "doc": doc,
            "seq": position,
            "at": stamp(at),
            "format": format(self.rich),
            "length": utf16_len(&self.rendered),
        });
        FeedEvent::new(doc, position, Kind::Snapshot, json, self.rendered.clone())
    }
}

fn format(rich: bool) -> &'static str {
    if rich {
        "rich"
    } else {
        "text"
    }
}

/// Length as JavaScript counts it.
fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The Quill delta turning `before` into `after`: the common prefix retained, then what
/// changed inserted and deleted (UTF-16 units, never splitting a surrogate pair).
fn text_delta(before: &str, after: &str) -> Value {
    let a: Vec<u16> = before.encode_utf16().collect();
    let b: Vec<u16> = after.encode_utf16().collect();
    let (start, deleted, inserted) = text::diff_range(&a, &b);
    let mut ops = Vec::new();
    if start > 0 && (deleted > 0 || !inserted.is_empty()) {
        ops.push(json!({ "retain": start }));
    }
    if !inserted.is_empty() {
        ops.push(json!({ "insert": String::from_utf16_lossy(&b[inserted]) }));
    }
    if deleted > 0 {
        ops.push(json!({ "delete": deleted }));
    }
    Value::Array(ops)
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
    use yrs::{ReadTxn, StateVector, Text};

    use super::*;

    /// Applies a Quill delta to a text held as UTF-16 units, as a JavaScript reader would.
    fn apply_delta(text: &mut Vec<u16>, delta: &Value) {
        let mut at = 0;
        for op in delta.as_array().unwrap() {
            if let Some(n) = op["retain"].as_u64() {
                at += n as usize;
            } else if let Some(n) = op["delete"].as_u64() {
                text.drain(at..at + n as usize);
            } else {
                let ins: Vec<u16> = op["insert"].as_str().unwrap().encode_utf16().collect();
                text.splice(at..at, ins.iter().copied());
                at += ins.len();
            }
        }
    }

    #[test]
    fn rich_documents_change_their_rendered_text() {
        let fields = Fields::default();
        let doc = text::new_doc();
        let mut state = DocState::from_stored(&StoredDoc::default(), &fields);
        let mut rebuilt = Vec::new();
        let pages = [
            "# Title\n\nHello world",
            "# Title\n\nHello brave 😀 world",
            "Hello",
        ];
        for (i, markdown) in pages.into_iter().enumerate() {
            let update = {
                let node = crate::import::markdown::parse(markdown).unwrap();
                let mut txn = doc.transact_mut();
                crate::import::replace_rich(&mut txn, &fields, &node).unwrap();
                txn.encode_update_v1()
            };
            let event = state
                .apply("d", i as i64 + 1, Utc::now(), &update, None)
                .expect("a new edit is an event");
            let event: Value = serde_json::from_str(event.data(true)).unwrap();
            let want = Content::from_doc(&doc, &fields).plain_text();
            assert_eq!(event["format"], "rich");
            assert_eq!(event["text"], want.as_str());
            assert_eq!(event["length"], want.encode_utf16().count());
            apply_delta(&mut rebuilt, &event["delta"]);
            assert_eq!(
                String::from_utf16(&rebuilt).unwrap(),
                want,
                "after {markdown:?}"
            );
        }
        assert_eq!(String::from_utf16(&rebuilt).unwrap(), "Hello");
        let snapshot = state.snapshot("d", 3, Utc::now());
        let snapshot: Value = serde_json::from_str(snapshot.data(false)).unwrap();
        assert_eq!(
            (snapshot["format"].clone(), snapshot["text"].clone()),
            (json!("rich"), json!("Hello"))
        );
    }

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
        let mut state = DocState::from_stored(&StoredDoc::default(), &Fields::default());
        let at = Utc::now();
        let parse = |e: &FeedEvent| serde_json::from_str::<Value>(e.data(true)).unwrap();
        let one = parse(&state.apply("d", 1, at, &first, Some("ann")).unwrap());
        assert_eq!(one["delta"], json!([{ "insert": "a😀c" }]));
        assert_eq!(one["length"], 4);
        assert_eq!(one["authors"], json!(["ann"]));
        let two = parse(&state.apply("d", 2, at, &second, None).unwrap());
        assert_eq!(
            two["delta"],
            json!([{ "delete": 1 }, { "retain": 2 }, { "insert": "b" }])
        );
        assert_eq!(two["length"], 4);
        assert_eq!(two["text"], "😀bc");
        assert_eq!(two["format"], "text");
        assert_eq!(two["authors"], json!([]));
        assert_eq!(state.position, 2);
    }

    #[test]
    fn a_change_the_state_already_holds_is_no_event() {
        let (doc, t) = editor();
        let first = {
            let mut txn = doc.transact_mut();
            t.insert(&mut txn, 0, "one");
            txn.encode_update_v1()
        };
        let second = {
            let mut txn = doc.transact_mut();
            t.insert(&mut txn, 3, " two");
            txn.encode_update_v1()
        };
        // A snapshot taken from memory that already holds the second change, at position 1.
        let stored = StoredDoc {
            snapshot: Some(
                doc.transact()
                    .encode_state_as_update_v1(&StateVector::default()),
            ),
            last_seq: 1,
            ..StoredDoc::default()
        };
        let mut state = DocState::from_stored(&stored, &Fields::default());
        assert!(state.apply("d", 2, Utc::now(), &second, None).is_none());
        assert_eq!(state.position, 2, "the position moves on all the same");
        // A row written twice is one event.
        let mut fresh = DocState::from_stored(&StoredDoc::default(), &Fields::default());
        assert!(fresh.apply("d", 1, Utc::now(), &first, None).is_some());
        assert!(fresh.apply("d", 2, Utc::now(), &first, None).is_none());
        assert!(fresh.apply("d", 3, Utc::now(), &second, None).is_some());
    }
}
