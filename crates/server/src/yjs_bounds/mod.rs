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

use yrs::StateVector;

mod deps;
mod walker;

use deps::{DepSink, Deps, NoDeps};
use walker::Walker;

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
    let known = |c: u64| u64::from(have.get(&yrs::block::ClientID::new(c)));
    check_dependencies(bytes, known).map(|(_, missing)| missing)
}

/// [`check_update`] and [`missing_dependency`] in one walk, against `known(client)`: how
/// far the document has `client`'s changes (its state-vector entry). Only the clients the
/// update names are asked about, so the cost is the update's, not the document's: a
/// document can have 100,000 client ids, and a full state vector has an entry for each.
pub(crate) fn check_dependencies(
    bytes: &[u8],
    known: impl Fn(u64) -> u64,
) -> Result<(UpdateShape, Option<(u64, u64)>), BoundsError> {
    let walked = walk(bytes)?;
    Ok((walked.shape, walked.missing(known)))
}

/// An update walked once: what [`check_update`] found, and what it builds on, to be
/// checked against a document later ([`Walked::missing`]). The frame check keeps it for
/// the room, so an accepted update is walked once, not once per question.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Walked {
    pub(crate) shape: UpdateShape,
    deps: Deps,
}

impl Walked {
    /// What [`check_dependencies`] answers for the walked bytes against `known`.
    pub(crate) fn missing(&self, known: impl Fn(u64) -> u64) -> Option<(u64, u64)> {
        self.deps.first_missing(known)
    }
}

/// [`check_update`], keeping what the update builds on.
pub(crate) fn walk(bytes: &[u8]) -> Result<Walked, BoundsError> {
    let mut deps = Deps::default();
    let shape = walk_update(bytes, &mut deps)?;
    Ok(Walked { shape, deps })
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
mod dependency_tests;
#[cfg(test)]
mod tests;
