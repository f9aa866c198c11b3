//! Bounds checks for untrusted Yjs encodings, run before `yrs` decodes them.
//!
//! `yrs` reserves memory for the element counts an encoding *claims* (clients of an update,
//! structs per client, values of an `Any` or JSON item, entries of a state vector or of an
//! awareness update) before it has read them. A few bytes can therefore claim millions of
//! entries and make the server allocate hundreds of megabytes before the message is found to
//! be truncated. The walks here mirror `yrs`'s v1 decoders without building anything: every
//! claimed count is checked against the bytes that remain (each element takes at least one
//! byte), so whatever `yrs` reserves afterwards is bounded by the size of the input.
//!
//! They also refuse values `yrs` cannot hold. Clocks are `u32` inside `yrs`, so a struct
//! whose clock range passes `u32::MAX` would be truncated and the server's copy would
//! disagree with the browsers' for good; client ids past 2^53 cannot be represented by
//! JavaScript clients.

use yrs::encoding::read::{Cursor, Read};
use yrs::StateVector;

/// Largest client id a JavaScript peer can represent (`Number.MAX_SAFE_INTEGER`).
pub(crate) const MAX_CLIENT_ID: u64 = (1 << 53) - 1;

/// Deepest nesting of maps and arrays accepted inside an update's values. Editors nest a
/// handful of levels; the limit only has to keep recursive decoding off the stack's edge.
pub(crate) const MAX_ANY_DEPTH: usize = 128;

/// Why an encoding was refused. The messages go back to clients, so they name the problem
/// without echoing the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    #[error("message ends early")]
    Truncated,
    #[error("{what} count {claimed} exceeds the {remaining} bytes that follow")]
    CountExceedsInput {
        what: &'static str,
        claimed: u64,
        remaining: usize,
    },
    #[error("clock {0} is out of range")]
    ClockOutOfRange(u64),
    #[error("client id {0} is out of range")]
    ClientIdOutOfRange(u64),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("{0} are not supported")]
    Unsupported(&'static str),
    #[error("{0} trailing bytes after the encoding")]
    TrailingBytes(usize),
}

impl From<yrs::encoding::read::Error> for BoundsError {
    fn from(e: yrs::encoding::read::Error) -> Self {
        match e {
            yrs::encoding::read::Error::EndOfBuffer(_) => BoundsError::Truncated,
            _ => BoundsError::Malformed("value"),
        }
    }
}

/// What a checked update contains; used for per-document limits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UpdateShape {
    /// Structs (items, GC and skip ranges) across all clients.
    pub structs: u64,
    /// Clients with structs plus clients in the delete set.
    pub clients: u64,
}

/// A cursor that knows how many bytes are left, so counts can be checked against them.
struct Walker<'a> {
    cursor: Cursor<'a>,
}

impl<'a> Walker<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Walker {
            cursor: Cursor::new(bytes),
        }
    }

    fn remaining(&self) -> usize {
        self.cursor.buf.len() - self.cursor.next
    }

    fn u8(&mut self) -> Result<u8, BoundsError> {
        Ok(self.cursor.read_u8()?)
    }

    fn var(&mut self) -> Result<u64, BoundsError> {
        Ok(self.cursor.read_var::<u64>()?)
    }

    /// A count of elements that each take at least `min_bytes` bytes.
    fn count(&mut self, what: &'static str, min_bytes: usize) -> Result<u64, BoundsError> {
        let claimed = self.var()?;
        let remaining = self.remaining();
        if claimed.saturating_mul(min_bytes as u64) > remaining as u64 {
            return Err(BoundsError::CountExceedsInput {
                what,
                claimed,
                remaining,
            });
        }
        Ok(claimed)
    }

    fn clock(&mut self) -> Result<u64, BoundsError> {
        let clock = self.var()?;
        if clock > u64::from(u32::MAX) {
            return Err(BoundsError::ClockOutOfRange(clock));
        }
        Ok(clock)
    }

    fn client(&mut self) -> Result<u64, BoundsError> {
        let client = self.var()?;
        if client > MAX_CLIENT_ID {
            return Err(BoundsError::ClientIdOutOfRange(client));
        }
        Ok(client)
    }

    fn id(&mut self) -> Result<(u64, u64), BoundsError> {
        Ok((self.client()?, self.clock()?))
    }

    fn buf(&mut self) -> Result<&[u8], BoundsError> {
        Ok(self.cursor.read_buf()?)
    }

    fn string(&mut self) -> Result<&str, BoundsError> {
        Ok(self.cursor.read_string()?)
    }

    /// An `Any` value (lib0 encoding). `yrs` decodes these recursively and reserves the claimed
    /// length of maps and arrays, so both the counts and the nesting depth are bounded here:
    /// a frame of nested one-byte arrays would otherwise overflow the stack.
    fn any(&mut self, depth: usize) -> Result<(), BoundsError> {
        if depth > MAX_ANY_DEPTH {
            return Err(BoundsError::Malformed("value nested too deeply"));
        }
        match self.u8()? {
            // undefined, null, false, true
            127 | 126 | 121 | 120 => {}
            // integer
            125 => {
                self.var_signed()?;
            }
            // float32, float64, bigint
            124 => self.skip(4)?,
            123 | 122 => self.skip(8)?,
            // string, buffer
            119 => {
                self.string()?;
            }
            116 => {
                self.buf()?;
            }
            // map: key and value per entry
            118 => {
                let len = self.count("map entry", 2)?;
                for _ in 0..len {
                    self.string()?;
                    self.any(depth + 1)?;
                }
            }
            // array
            117 => {
                let len = self.count("array element", 1)?;
                for _ in 0..len {
                    self.any(depth + 1)?;
                }
            }
            _ => return Err(BoundsError::Malformed("value")),
        }
        Ok(())
    }

    /// A JSON text (embeds and formatting attributes). serde_json limits nesting itself.
    fn json(&mut self) -> Result<(), BoundsError> {
        let text = self.string()?;
        serde_json::from_str::<serde::de::IgnoredAny>(text)
            .map_err(|_| BoundsError::Malformed("JSON value"))?;
        Ok(())
    }

    fn var_signed(&mut self) -> Result<(), BoundsError> {
        self.cursor.read_var_signed::<i64>()?;
        Ok(())
    }

    fn skip(&mut self, n: usize) -> Result<(), BoundsError> {
        self.cursor.read_exact(n)?;
        Ok(())
    }

    fn finish(self) -> Result<(), BoundsError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(BoundsError::TrailingBytes(n)),
        }
    }
}

// Struct kinds, as numbered by the Yjs v1 encoding (`info & 0b1_1111`).
const GC: u8 = 0;
const DELETED: u8 = 1;
const JSON: u8 = 2;
const BINARY: u8 = 3;
const STRING: u8 = 4;
const EMBED: u8 = 5;
const FORMAT: u8 = 6;
const TYPE: u8 = 7;
const ANY: u8 = 8;
const DOC: u8 = 9;
const SKIP: u8 = 10;
const HAS_ORIGIN: u8 = 0b1000_0000;
const HAS_RIGHT_ORIGIN: u8 = 0b0100_0000;
const HAS_PARENT_SUB: u8 = 0b0010_0000;
// Shared types that carry a name after their type number (XmlElement).
const TYPE_XML_ELEMENT: u8 = 3;
// Array, map, text, XML element/fragment/hook/text, sub-document, undefined: what `yrs`
// decodes without its optional `weak` feature.
const KNOWN_TYPES: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 9, 15];

/// Checks a v1-encoded update (what y-websocket sends in sync step 2 and update messages).
pub fn check_update(bytes: &[u8]) -> Result<UpdateShape, BoundsError> {
    walk_update(bytes, &mut NoDeps)
}

/// The first change `bytes` builds on that neither a document with state vector `have` nor
/// the update itself contains, if any: `(client, clock)`.
///
/// `yrs` keeps such structs aside as "pending" and integrates them when the missing part
/// arrives. That retry path is where fuzzing found `yrs` 0.28 reading freed memory (two
/// short updates: a GC range past the known clock, then a deleted item covering it), so the
/// room never hands `yrs` an update with a gap: it holds it until the gap is filled.
pub fn missing_dependency(
    bytes: &[u8],
    have: &StateVector,
) -> Result<Option<(u64, u64)>, BoundsError> {
    let mut deps = Deps::default();
    walk_update(bytes, &mut deps)?;
    Ok(deps.first_missing(have))
}

/// What a walk reports besides sizes: the ranges each client section covers and every id
/// the structs refer to.
trait DepSink {
    fn section(&mut self, _client: u64) {}
    fn range(&mut self, _start: u64, _end: u64, _skip: bool) {}
    fn reference(&mut self, _client: u64, _clock: u64) {}
    fn deleted(&mut self, _client: u64, _start: u64, _end: u64) {}
}

struct NoDeps;
impl DepSink for NoDeps {}

#[derive(Default)]
struct Deps {
    /// (client, start, end, is_skip) in update order.
    ranges: Vec<(u64, u64, u64, bool)>,
    refs: Vec<(u64, u64)>,
    deleted: Vec<(u64, u64, u64)>,
    current: u64,
}

impl DepSink for Deps {
    fn section(&mut self, client: u64) {
        self.current = client;
    }
    fn range(&mut self, start: u64, end: u64, skip: bool) {
        self.ranges.push((self.current, start, end, skip));
    }
    fn reference(&mut self, client: u64, clock: u64) {
        self.refs.push((client, clock));
    }
    fn deleted(&mut self, client: u64, start: u64, end: u64) {
        self.deleted.push((client, start, end));
    }
}

impl Deps {
    fn first_missing(&self, have: &StateVector) -> Option<(u64, u64)> {
        use std::collections::HashMap;
        let known = |c: u64| u64::from(have.get(&yrs::block::ClientID::new(c)));
        // How far each client's clocks are known once the update's contiguous structs are
        // added to what the document has. A struct may start anywhere up to that point
        // (overlap is fine: yrs skips what it has) but not past it.
        let mut end: HashMap<u64, u64> = HashMap::new();
        for &(client, start, stop, skip) in &self.ranges {
            let e = end.entry(client).or_insert_with(|| known(client));
            if skip {
                continue;
            }
            if start > *e {
                return Some((client, *e));
            }
            *e = (*e).max(stop);
        }
        let covered = |c: u64| end.get(&c).copied().unwrap_or_else(|| known(c));
        if let Some(&(c, k)) = self.refs.iter().find(|&&(c, k)| k >= covered(c)) {
            return Some((c, k));
        }
        self.deleted
            .iter()
            .find(|&&(c, _, stop)| stop > covered(c))
            .map(|&(c, start, _)| (c, start))
    }
}

fn walk_update(bytes: &[u8], deps: &mut impl DepSink) -> Result<UpdateShape, BoundsError> {
    let mut w = Walker::new(bytes);
    let mut shape = UpdateShape::default();
    // each client section holds at least its struct count, client id and clock
    let clients = w.count("client", 3)?;
    shape.clients = clients;
    // Encoders write each client once; yrs appends a repeated section to the first one's
    // structs out of clock order, which fuzzing showed corrupts its memory.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..clients {
        // each struct takes at least an info byte and a length or content byte
        let structs = w.count("struct", 2)?;
        let client = w.client()?;
        if !seen.insert(client) {
            return Err(BoundsError::Malformed("update lists a client twice"));
        }
        deps.section(client);
        let mut clock = w.clock()?;
        for _ in 0..structs {
            let (len, skip) = struct_len(&mut w, deps)?;
            let start = clock;
            clock += len;
            if clock > u64::from(u32::MAX) {
                return Err(BoundsError::ClockOutOfRange(clock));
            }
            deps.range(start, clock, skip);
        }
        shape.structs += structs;
    }
    shape.clients += check_delete_set(&mut w, deps)?;
    w.finish()?;
    Ok(shape)
}

/// Walks one struct and returns how many clock ticks it covers, and whether it is a skip
/// (a range the update does not carry).
fn struct_len(w: &mut Walker, deps: &mut impl DepSink) -> Result<(u64, bool), BoundsError> {
    let info = w.u8()?;
    // GC and skip ranges are recognised by the whole info byte; anything else is an item
    // whose low four bits name its content (as `yrs` reads them).
    match info {
        SKIP => return Ok((nonzero(w.var()?)?, true)),
        GC => return Ok((nonzero(w.var()?)?, false)),
        _ => {}
    }
    if info & HAS_ORIGIN != 0 {
        let (c, k) = w.id()?;
        deps.reference(c, k);
    }
    if info & HAS_RIGHT_ORIGIN != 0 {
        let (c, k) = w.id()?;
        deps.reference(c, k);
    }
    if info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN) == 0 {
        // no origin to copy the parent from: the parent is named or an item id
        if w.var()? == 1 {
            w.string()?;
        } else {
            let (c, k) = w.id()?;
            deps.reference(c, k);
        }
        if info & HAS_PARENT_SUB != 0 {
            w.string()?;
        }
    }
    Ok((content_len(w, info & 0b1111)?, false))
}

fn nonzero(len: u64) -> Result<u64, BoundsError> {
    if len == 0 {
        Err(BoundsError::Malformed("empty struct"))
    } else {
        Ok(len)
    }
}

fn content_len(w: &mut Walker, kind: u8) -> Result<u64, BoundsError> {
    match kind {
        DELETED => nonzero(w.var()?),
        JSON => {
            // yrs reads one more string than the count says (the count is "last index")
            let count = w.count("JSON value", 1)?;
            for _ in 0..=count {
                w.string()?;
            }
            Ok(count + 1)
        }
        BINARY => {
            w.buf()?;
            Ok(1)
        }
        STRING => {
            let s = w.string()?;
            // Yjs measures text in UTF-16 units
            nonzero(s.encode_utf16().count() as u64)
        }
        EMBED => {
            w.json()?;
            Ok(1)
        }
        FORMAT => {
            w.string()?;
            w.json()?;
            Ok(1)
        }
        TYPE => {
            let type_ref = w.u8()?;
            if !KNOWN_TYPES.contains(&type_ref) {
                return Err(BoundsError::Malformed("shared type"));
            }
            if type_ref == TYPE_XML_ELEMENT {
                w.string()?;
            }
            Ok(1)
        }
        ANY => {
            let count = w.count("value", 1)?;
            for _ in 0..count {
                w.any(0)?;
            }
            nonzero(count)
        }
        // Sub-documents: `yrs` 0.28 leaks every sub-document it decodes (found by fuzzing),
        // so a client could grow the server's memory without bound. A text editor needs none.
        DOC => Err(BoundsError::Unsupported("sub-documents")),
        _ => Err(BoundsError::Malformed("struct kind")),
    }
}

/// The delete set that ends every update: per client, ranges of deleted clocks.
fn check_delete_set(w: &mut Walker, deps: &mut impl DepSink) -> Result<u64, BoundsError> {
    let clients = w.count("deleted client", 2)?;
    for _ in 0..clients {
        let client = w.client()?;
        let ranges = w.count("deleted range", 2)?;
        for _ in 0..ranges {
            let clock = w.clock()?;
            let len = w.var()?;
            let end = clock.saturating_add(len);
            if end > u64::from(u32::MAX) {
                return Err(BoundsError::ClockOutOfRange(end));
            }
            if len > 0 {
                deps.deleted(client, clock, end);
            }
        }
    }
    Ok(clients)
}

/// Checks a v1-encoded state vector (sync step 1).
pub fn check_state_vector(bytes: &[u8]) -> Result<(), BoundsError> {
    let mut w = Walker::new(bytes);
    let entries = w.count("state vector entry", 2)?;
    for _ in 0..entries {
        w.client()?;
        w.clock()?;
    }
    w.finish()
}

/// Checks an awareness update: per client, its id, clock and JSON state.
pub fn check_awareness(bytes: &[u8]) -> Result<(), BoundsError> {
    let mut w = Walker::new(bytes);
    let entries = w.count("awareness entry", 3)?;
    for _ in 0..entries {
        w.client()?;
        w.clock()?;
        w.string()?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::updates::decoder::Decode;
    use yrs::updates::encoder::Encode;
    use yrs::{Array, Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update};

    fn write_var(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    /// A document with every kind of content the editor and other Yjs apps produce.
    fn rich_doc() -> Doc {
        let doc = Doc::with_options(yrs::Options {
            client_id: yrs::ClientID::new(7),
            offset_kind: yrs::OffsetKind::Utf16,
            ..Default::default()
        });
        let text = doc.get_or_insert_text("content");
        let map = doc.get_or_insert_map("meta");
        let array = doc.get_or_insert_array("list");
        let mut txn = doc.transact_mut();
        text.insert(&mut txn, 0, "héllo wörld 👋 日本");
        text.remove_range(&mut txn, 2, 3);
        text.format(
            &mut txn,
            0,
            2,
            [("bold".into(), yrs::Any::Bool(true))]
                .into_iter()
                .collect(),
        );
        map.insert(&mut txn, "title", "notes");
        map.insert(&mut txn, "n", 42.5);
        map.insert(&mut txn, "blob", yrs::Any::Buffer(vec![1u8, 2, 3].into()));
        array.insert_range(&mut txn, 0, [1, 2, 3]);
        array.insert(&mut txn, 1, yrs::MapPrelim::default());
        drop(txn);
        doc
    }

    #[test]
    fn accepts_what_yrs_encodes() {
        let doc = rich_doc();
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let shape = check_update(&update).unwrap();
        assert!(shape.structs > 3, "{shape:?}");
        // and the same bytes really are a valid update
        Update::decode_v1(&update).unwrap();
        check_state_vector(&doc.transact().state_vector().encode_v1()).unwrap();
    }

    #[test]
    fn accepts_incremental_updates_of_a_session() {
        let doc = Doc::with_client_id(1);
        let text = doc.get_or_insert_text("content");
        let mut updates = Vec::new();
        for i in 0..50u32 {
            let before = doc.transact().state_vector();
            let mut txn = doc.transact_mut();
            if i % 7 == 6 {
                text.remove_range(&mut txn, 0, 1);
            } else {
                text.insert(&mut txn, i / 2, "ab");
            }
            drop(txn);
            updates.push(doc.transact().encode_state_as_update_v1(&before));
        }
        for u in &updates {
            check_update(u).unwrap();
        }
        let replica = Doc::new();
        let rt = replica.get_or_insert_text("content");
        for u in &updates {
            replica
                .transact_mut()
                .apply_update(Update::decode_v1(u).unwrap())
                .unwrap();
        }
        assert_eq!(
            rt.get_string(&replica.transact()),
            text.get_string(&doc.transact())
        );
    }

    #[test]
    fn refuses_a_huge_client_count_in_a_few_bytes() {
        let mut bytes = Vec::new();
        write_var(&mut bytes, 50_000_000);
        bytes.extend_from_slice(&[0, 0, 0]);
        assert!(matches!(
            check_update(&bytes),
            Err(BoundsError::CountExceedsInput { what: "client", .. })
        ));
    }

    #[test]
    fn refuses_a_huge_struct_count() {
        let mut bytes = vec![1];
        write_var(&mut bytes, 40_000_000);
        bytes.extend_from_slice(&[5, 0, 0, 0]);
        assert!(matches!(
            check_update(&bytes),
            Err(BoundsError::CountExceedsInput { what: "struct", .. })
        ));
    }

    #[test]
    fn refuses_huge_value_counts_inside_items() {
        // one client, one struct: an Any item (kind 8) with a named parent, claiming 10^7 values
        let mut bytes = vec![1, 1, 5, 0, ANY, 1];
        bytes.push(1);
        bytes.push(b'x');
        write_var(&mut bytes, 10_000_000);
        bytes.push(0);
        assert!(matches!(
            check_update(&bytes),
            Err(BoundsError::CountExceedsInput { what: "value", .. })
        ));
        // the same with a JSON item
        let mut bytes = vec![1, 1, 5, 0, JSON, 1, 1, b'x'];
        write_var(&mut bytes, 10_000_000);
        assert!(check_update(&bytes).is_err());
    }

    #[test]
    fn refuses_clocks_yrs_would_truncate() {
        // a skip struct that starts just below u32::MAX and runs past it
        let mut bytes = vec![1, 1, 5];
        write_var(&mut bytes, u64::from(u32::MAX) - 1);
        bytes.push(SKIP);
        write_var(&mut bytes, 10);
        bytes.push(0);
        assert!(matches!(
            check_update(&bytes),
            Err(BoundsError::ClockOutOfRange(_))
        ));
        // a clock of 2^40 in a state vector
        let mut sv = vec![1, 5];
        write_var(&mut sv, 1 << 40);
        assert!(matches!(
            check_state_vector(&sv),
            Err(BoundsError::ClockOutOfRange(_))
        ));
        // and in a delete set
        let mut ds = vec![0, 1, 5, 1];
        write_var(&mut ds, u64::from(u32::MAX));
        write_var(&mut ds, 5);
        assert!(matches!(
            check_update(&ds),
            Err(BoundsError::ClockOutOfRange(_))
        ));
    }

    #[test]
    fn refuses_client_ids_javascript_cannot_hold() {
        let mut bytes = vec![1, 1];
        write_var(&mut bytes, 1 << 60);
        bytes.extend_from_slice(&[0, SKIP, 1, 0]);
        assert!(matches!(
            check_update(&bytes),
            Err(BoundsError::ClientIdOutOfRange(_))
        ));
        // the largest safe id is fine
        let doc = Doc::with_client_id(MAX_CLIENT_ID);
        doc.get_or_insert_text("t")
            .insert(&mut doc.transact_mut(), 0, "x");
        check_update(
            &doc.transact()
                .encode_state_as_update_v1(&StateVector::default()),
        )
        .unwrap();
    }

    #[test]
    fn refuses_truncations_and_trailing_bytes_of_a_real_update() {
        let update = rich_doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        for cut in 0..update.len() {
            assert!(
                check_update(&update[..cut]).is_err(),
                "cut at {cut} of {} accepted",
                update.len()
            );
        }
        let mut longer = update.clone();
        longer.push(0);
        assert_eq!(check_update(&longer), Err(BoundsError::TrailingBytes(1)));
    }

    #[test]
    fn refuses_values_nested_past_the_limit() {
        // an Any item whose single value is an array nested 100,000 deep
        let mut bytes = vec![1, 1, 5, 0, ANY, 1, 1, b'x', 1];
        for _ in 0..100_000 {
            bytes.extend_from_slice(&[117, 1]);
        }
        bytes.push(126);
        bytes.push(0);
        assert_eq!(
            check_update(&bytes),
            Err(BoundsError::Malformed("value nested too deeply"))
        );
        // nesting within the limit is fine
        let mut ok = vec![1, 1, 5, 0, ANY, 1, 1, b'x', 1];
        for _ in 0..10 {
            ok.extend_from_slice(&[117, 1]);
        }
        ok.push(126);
        ok.push(0);
        check_update(&ok).unwrap();
        Update::decode_v1(&ok).unwrap();
    }

    /// Updates of one editing session, each the diff since the previous one.
    fn session_updates(client: u64, n: u32) -> (Doc, Vec<Vec<u8>>) {
        let doc = Doc::with_client_id(client);
        let text = doc.get_or_insert_text("content");
        let mut updates = Vec::new();
        for i in 0..n {
            let before = doc.transact().state_vector();
            let mut txn = doc.transact_mut();
            if i % 5 == 4 {
                text.remove_range(&mut txn, 0, 1);
            } else {
                text.insert(&mut txn, i / 3, "xy");
            }
            drop(txn);
            updates.push(doc.transact().encode_state_as_update_v1(&before));
        }
        (doc, updates)
    }

    #[test]
    fn updates_in_order_depend_on_nothing_missing() {
        let (source, updates) = session_updates(11, 30);
        let replica = Doc::new();
        for u in &updates {
            let have = replica.transact().state_vector();
            assert_eq!(missing_dependency(u, &have).unwrap(), None);
            replica
                .transact_mut()
                .apply_update(Update::decode_v1(u).unwrap())
                .unwrap();
        }
        // a full state against an empty document needs nothing either
        let full = source
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert_eq!(
            missing_dependency(&full, &StateVector::default()).unwrap(),
            None
        );
    }

    #[test]
    fn an_update_that_skips_ahead_is_missing_its_predecessor() {
        let (_, updates) = session_updates(11, 4);
        let replica = Doc::new();
        replica
            .transact_mut()
            .apply_update(Update::decode_v1(&updates[0]).unwrap())
            .unwrap();
        let have = replica.transact().state_vector();
        // update 2 builds on update 1, which the replica does not have
        let missing = missing_dependency(&updates[2], &have).unwrap();
        assert_eq!(missing.map(|(c, _)| c), Some(11));
    }

    #[test]
    fn references_to_unknown_items_are_missing() {
        // B types after A's text; a server that never saw A's text lacks B's origin
        let a = Doc::with_client_id(1);
        a.get_or_insert_text("content")
            .insert(&mut a.transact_mut(), 0, "hello");
        let b = Doc::with_client_id(2);
        let a_state = a
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        b.transact_mut()
            .apply_update(Update::decode_v1(&a_state).unwrap())
            .unwrap();
        let before = b.transact().state_vector();
        b.get_or_insert_text("content")
            .insert(&mut b.transact_mut(), 5, " world");
        let b_update = b.transact().encode_state_as_update_v1(&before);
        assert_eq!(
            missing_dependency(&b_update, &StateVector::default()).unwrap(),
            Some((1, 4))
        );
        // with A's text known, nothing is missing
        assert_eq!(
            missing_dependency(&b_update, &a.transact().state_vector()).unwrap(),
            None
        );
        // a deletion of A's text sent to a server without it is missing too
        let before = b.transact().state_vector();
        b.get_or_insert_text("content")
            .remove_range(&mut b.transact_mut(), 0, 2);
        let deletion = b.transact().encode_state_as_update_v1(&before);
        let mut have_b_only = StateVector::default();
        have_b_only.set_max(yrs::block::ClientID::new(2), 6);
        assert_eq!(
            missing_dependency(&deletion, &have_b_only).unwrap(),
            Some((1, 0))
        );
    }

    /// Found by `fuzz/` (target `protocol_frame`): given these two updates in a row, `yrs`
    /// 0.28 reads freed memory while retrying its pending structs. The first depends on
    /// clocks nobody sent, so the server holds it back and `yrs` never sees the pair.
    #[test]
    fn the_pair_that_corrupts_yrs_memory_is_held_back() {
        let gap = [1, 1, 3, 0x25, 0, 3, 1, 8, 0];
        let covering = [1, 1, 3, 0, 1, 1, 0, 0x39, 0];
        check_update(&gap).unwrap();
        check_update(&covering).unwrap();
        let empty = StateVector::default();
        assert_eq!(missing_dependency(&gap, &empty).unwrap(), Some((3, 0)));
        assert_eq!(missing_dependency(&covering, &empty).unwrap(), None);
    }

    /// Found by `fuzz/` (target `update_apply`): two sections for one client, the second
    /// restarting at a lower clock, make yrs 0.28 use freed memory.
    #[test]
    fn a_client_listed_twice_is_refused() {
        let bytes = [2, 2, 1, 1, 0, 0x7a, 0, 1, 2, 1, 0, 0, 0x10, 0, 1, 0];
        assert_eq!(
            check_update(&bytes),
            Err(BoundsError::Malformed("update lists a client twice"))
        );
    }

    #[test]
    fn sub_documents_are_refused() {
        let doc = Doc::with_client_id(5);
        let map = doc.get_or_insert_map("m");
        map.insert(&mut doc.transact_mut(), "sub", Doc::new());
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        assert_eq!(
            check_update(&update),
            Err(BoundsError::Unsupported("sub-documents"))
        );
    }

    #[test]
    fn gc_and_skip_are_the_whole_info_byte() {
        // info 0x60 is an item (right origin + parent sub) with content kind 0, which
        // yrs refuses; it must not be read as a GC range
        let bytes = [1, 1, 0xf6, 0, 1, 0x60, 1, 0];
        assert!(check_update(&bytes).is_err());
        assert!(Update::decode_v1(&bytes).is_err());
    }

    #[test]
    fn awareness_counts_are_bounded() {
        let mut bytes = Vec::new();
        write_var(&mut bytes, 30_000_000);
        assert!(check_awareness(&bytes).is_err());
        // a real awareness update passes
        let mut ok = vec![1, 9, 3];
        let state = br#"{"user":{"name":"Ann"}}"#;
        write_var(&mut ok, state.len() as u64);
        ok.extend_from_slice(state);
        check_awareness(&ok).unwrap();
        let decoded =
            yrs::sync::AwarenessUpdate::decode_v1(&ok).expect("yrs agrees it is well formed");
        assert_eq!(decoded.clients.len(), 1);
    }

    /// Whatever the bytes, the check never panics, and whatever it accepts yrs decodes.
    #[test]
    fn random_mutations_of_real_updates_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7a4d);
        let base = rich_doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        for _ in 0..20_000 {
            let mut bytes = base.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..bytes.len());
                bytes[i] = rng.gen();
            }
            if check_update(&bytes).is_ok() {
                assert!(
                    Update::decode_v1(&bytes).is_ok(),
                    "accepted bytes yrs cannot decode: {bytes:?}"
                );
            }
        }
    }
}
