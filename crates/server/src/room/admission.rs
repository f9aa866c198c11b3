//! Admission: whether the room takes one update, decided in one place.
//!
//! An update from a client passes these limits, in this order (what its sender owes first,
//! then what needs the update read, then what taking it would add):
//!
//! 1. the apply time its sender, then the document, owes (`apply_budget`): refused while
//!    either owes more than a burst, before any work is done for it;
//! 2. its sender's write quota (`usage`), charged here: whatever is accepted is written
//!    (1 and 2 for the sender are one look at its accounts, [`Ledgers::sender`]: one lock);
//! 3. its dependencies: an update that builds on changes the room does not have waits for
//!    them (`awaiting_deps`), at most `--max-pending-bytes` per document;
//! 4. the unwritten-bytes budget shared by every room (`budget`, `--max-unwritten-bytes`);
//! 5. the document's size (`--max-document-bytes`);
//! 6. the memory of its sender's open documents (`client_limits`, `--max-memory-per-client`).
//!
//! An update released after waiting for its dependencies passes 4 to 6 only: its sender is
//! not known any more, and it was within the others when it came. Before any of this, every
//! message (not only updates) passes its peer's and its client's rate ([`message_rate`]);
//! for an update that comes here, its client's rate is taken in the same look at the
//! client's accounts as 1 and 2 ([`Ledgers::sender`], [`SenderRefusal::Rate`]).
//!
//! Nothing here does IO or takes a lock: what other rooms and connections share (the
//! client's accounts, the global budget) is asked through [`Ledgers`], which the room
//! implements over its context, so every rule is tested with plain numbers
//! (`admission_tests.rs`). The room calls [`Admission::admit`] once per update and performs
//! the verdict: applies it, keeps it until its dependencies arrive, or refuses it.

use std::time::Duration;

use super::{apply_budget::Over, mailbox::RoomError, settings::RoomSettings, weight};
use crate::peer::CloseReason;

/// The limits, from the server's settings; 0 means none where noted.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub max_pending_bytes: usize,
    /// 0: no limit.
    pub max_document_bytes: usize,
    pub max_unwritten_bytes: usize,
    /// 0: no limit.
    pub max_memory_per_client: u64,
    pub max_apply_per_client: Duration,
    pub max_apply_per_document: Duration,
}

impl Limits {
    /// The room's settings, the global unwritten-bytes budget and the per-client memory.
    pub(super) fn from_settings(
        s: &RoomSettings,
        max_unwritten_bytes: usize,
        max_memory_per_client: u64,
    ) -> Limits {
        Limits {
            max_pending_bytes: s.max_pending_bytes,
            max_document_bytes: s.max_document_bytes,
            max_unwritten_bytes,
            max_memory_per_client,
            max_apply_per_client: s.max_apply_per_client,
            max_apply_per_document: s.max_apply_per_document,
        }
    }
}

/// What admission asks of the world. Methods that charge or settle an account take
/// `&mut self`; each is asked at most once per update, in the order of the rules.
pub(super) trait Ledgers {
    /// Whether the document owes more apply time than a burst (the room's own account).
    fn document_over_apply_time(&mut self) -> bool;
    /// Rules 1 and 2 for the sender, in one look at its accounts: refused while it owes
    /// more apply time than a burst; else, when `quota` is given, that many bytes are
    /// charged to its write quota (nothing is charged when that is refused). `Ok` when the
    /// sender is not known.
    fn sender(&mut self, quota: Option<usize>) -> Result<(), SenderRefusal>;
    /// Reads the update: its struct count and the first change it builds on that the
    /// document does not have; why it does not decode.
    fn read(&mut self) -> Result<Shape, String>;
    /// Bytes of this document's updates waiting for their dependencies.
    fn awaiting_bytes(&self) -> usize;
    /// Bytes accepted by every room and not yet committed.
    fn unwritten_bytes(&self) -> usize;
    /// Encoded bytes of the document.
    fn document_bytes(&self) -> usize;
    /// What the sender's open documents weigh, this one among them (the larger of its
    /// address's and its token's); `None` when the sender is not known.
    fn sender_weight(&mut self) -> Option<u64>;
}

/// Why [`Ledgers::sender`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SenderRefusal {
    /// Its message rate is spent (when the room left the update's message to be counted
    /// here): the reason.
    Rate(String),
    /// It owes more apply time than a burst.
    ApplyTime,
    /// Its write quota is spent: the reason.
    WriteQuota(String),
}

/// What reading an update found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    pub structs: u64,
    /// The first change it builds on that the document lacks: (client, clock).
    pub missing: Option<(u64, u64)>,
}

/// What the room does with an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Apply it; it holds `structs` structs and makes the document `extra_weight` heavier.
    Accept {
        structs: u64,
        extra_weight: u64,
    },
    /// Keep it, unapplied and unrelayed, until the change (client, clock) arrives.
    AwaitDependencies {
        client: u64,
        clock: u64,
    },
    Refuse(Refusal),
}

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// It does not decode.
    Invalid(String),
    /// Its sender or the document owes too much apply time (`per_sec`: the rate that was
    /// passed).
    ApplyTime {
        over: Over,
        per_sec: Duration,
    },
    /// Its sender's write quota is spent.
    WriteQuota(String),
    /// Its sender's message rate is spent (`usage`).
    ClientRate(String),
    /// Too many bytes of this document already wait for their dependencies.
    AwaitingFull {
        max: usize,
    },
    /// Too many bytes wait for the database, over every room.
    Unwritten,
    DocumentSize {
        max: usize,
    },
    ClientMemory {
        max: u64,
    },
}

impl Refusal {
    /// The error the room answers with: the HTTP API maps it to a status, the room to a
    /// close reason for a peer (`RoomError::close_reason`).
    pub(super) fn error(&self) -> RoomError {
        match self {
            Refusal::Invalid(e) => RoomError::InvalidUpdate(e.clone()),
            Refusal::ApplyTime { .. } => RoomError::RateLimited(self.apply_time_message()),
            Refusal::WriteQuota(why) => RoomError::WriteQuota(why.clone()),
            Refusal::ClientRate(why) => RoomError::ClientRate(why.clone()),
            Refusal::AwaitingFull { max } => RoomError::MissingDependencies(*max),
            Refusal::Unwritten => {
                RoomError::Storage("too many updates waiting for the database".into())
            }
            Refusal::DocumentSize { max } => RoomError::TooLarge(*max),
            Refusal::ClientMemory { max } => RoomError::ClientMemory(*max),
        }
    }

    /// Its label in `tandem_limit_refusals_total`, when the room counts it there (the write
    /// quota and the client's rate are counted by `usage`; bad input and the unwritten
    /// budget are not limits of a client).
    pub(super) fn limit_label(&self) -> Option<&'static str> {
        match self {
            Refusal::ApplyTime { over, .. } => Some(over.label()),
            Refusal::AwaitingFull { .. } => Some("pending"),
            Refusal::DocumentSize { .. } => Some("document_size"),
            Refusal::ClientMemory { .. } => Some("memory_per_client"),
            Refusal::Invalid(_)
            | Refusal::WriteQuota(_)
            | Refusal::ClientRate(_)
            | Refusal::Unwritten => None,
        }
    }

    fn apply_time_message(&self) -> String {
        let Refusal::ApplyTime { over, per_sec } = self else {
            return String::new();
        };
        // Within a close reason's 123 bytes with "; retry later" (`CloseReason::work_limited`).
        let (whose, setting) = match over {
            Over::Client => (
                "client",
                "--max-apply-ms-per-sec / TANDEM_MAX_APPLY_MS_PER_SEC",
            ),
            Over::Document => ("document", "--max-document-apply-ms-per-sec"),
        };
        format!(
            "apply time limit: {whose} over {} ms/s (raise {setting})",
            per_sec.as_millis()
        )
    }
}

/// The apply-time refusal for `over`, for work other than updates (sync replies, joins).
pub(super) fn apply_time(limits: &Limits, over: Over) -> Refusal {
    let per_sec = match over {
        Over::Client => limits.max_apply_per_client,
        Over::Document => limits.max_apply_per_document,
    };
    Refusal::ApplyTime { over, per_sec }
}

/// Decides on updates under fixed limits.
pub(super) struct Admission {
    limits: Limits,
}

impl Admission {
    pub(super) fn new(limits: Limits) -> Admission {
        Admission { limits }
    }

    /// Decides on an update of `bytes` bytes from a client or the API.
    pub(super) fn admit(&self, bytes: usize, books: &mut impl Ledgers) -> Verdict {
        // The document's account is the room's own (no lock); the sender's check and its
        // charge are then one look at its accounts, which charges nothing for an update
        // the document refuses. A sender over its apply time is named first.
        let document_over = books.document_over_apply_time();
        match books.sender((!document_over).then_some(bytes)) {
            Ok(()) => {}
            Err(SenderRefusal::ApplyTime) => {
                return Verdict::Refuse(apply_time(&self.limits, Over::Client));
            }
            Err(SenderRefusal::WriteQuota(why)) => {
                return Verdict::Refuse(Refusal::WriteQuota(why));
            }
            Err(SenderRefusal::Rate(why)) => return Verdict::Refuse(Refusal::ClientRate(why)),
        }
        if document_over {
            return Verdict::Refuse(apply_time(&self.limits, Over::Document));
        }
        let shape = match books.read() {
            Ok(shape) => shape,
            Err(e) => return Verdict::Refuse(Refusal::Invalid(e)),
        };
        if let Some((client, clock)) = shape.missing {
            return self.await_dependencies(bytes, client, clock, books);
        }
        self.fits(bytes, shape.structs, books)
    }

    /// Decides on an update that waited for its dependencies and now has them.
    pub(super) fn admit_released(&self, bytes: usize, books: &mut impl Ledgers) -> Verdict {
        match books.read() {
            Ok(shape) => self.fits(bytes, shape.structs, books),
            Err(e) => Verdict::Refuse(Refusal::Invalid(e)),
        }
    }

    /// Rule 3: the update may wait while this document's waiting updates stay within the bound.
    fn await_dependencies(
        &self,
        bytes: usize,
        client: u64,
        clock: u64,
        books: &impl Ledgers,
    ) -> Verdict {
        let max = self.limits.max_pending_bytes;
        if books.awaiting_bytes().saturating_add(bytes) > max {
            return Verdict::Refuse(Refusal::AwaitingFull { max });
        }
        Verdict::AwaitDependencies { client, clock }
    }

    /// Rules 4 to 6: what taking the update adds must fit.
    fn fits(&self, bytes: usize, structs: u64, books: &mut impl Ledgers) -> Verdict {
        let l = &self.limits;
        if books.unwritten_bytes().saturating_add(bytes) > l.max_unwritten_bytes {
            return Verdict::Refuse(Refusal::Unwritten);
        }
        let max = l.max_document_bytes;
        if max > 0 && books.document_bytes().saturating_add(bytes) > max {
            return Verdict::Refuse(Refusal::DocumentSize { max });
        }
        let extra_weight = weight::estimate(bytes, structs);
        let max = l.max_memory_per_client;
        if max > 0 {
            if let Some(weight) = books.sender_weight() {
                if weight.saturating_add(extra_weight) > max {
                    return Verdict::Refuse(Refusal::ClientMemory { max });
                }
            }
        }
        Verdict::Accept {
            structs,
            extra_weight,
        }
    }
}

/// What becomes of one message past its rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MessageVerdict {
    Pass,
    /// Dropped without a word: awareness past its rate (presence is ephemeral, and the
    /// next change carries the latest state; closing would cut off a user dragging a
    /// selection).
    Drop,
    /// The connection is closed: the room cannot stall its shared queue for one peer, and
    /// a client that reconnects resyncs without losing anything. `limit`: the label to count
    /// it under, when the room counts it (the client's rate is counted by `usage`).
    Close {
        reason: CloseReason,
        limit: Option<&'static str>,
    },
}

/// The rate rule for every message. `peer_within`: whether the peer's own bucket for this
/// kind of message had a token; `client`: takes one from its client's rate over all its
/// connections (asked only when the peer's passed, so a refused message costs the client
/// nothing); `max_per_sec`: the peer's update rate, for the close reason.
pub(super) fn message_rate<E: std::fmt::Display>(
    awareness: bool,
    peer_within: bool,
    client: impl FnOnce() -> Result<(), E>,
    max_per_sec: u32,
) -> MessageVerdict {
    if awareness {
        return if peer_within && client().is_ok() {
            MessageVerdict::Pass
        } else {
            MessageVerdict::Drop
        };
    }
    if !peer_within {
        return MessageVerdict::Close {
            reason: CloseReason::rate_limited(max_per_sec),
            limit: Some("update_rate"),
        };
    }
    match client() {
        Ok(()) => MessageVerdict::Pass,
        Err(err) => MessageVerdict::Close {
            reason: CloseReason::client_rate_limited(err),
            limit: None,
        },
    }
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "admission_rate_tests.rs"]
mod rate_tests;
