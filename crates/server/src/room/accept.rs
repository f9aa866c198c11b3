//! Taking an update in: the room asks `admission` once, then performs its verdict (applies
//! and queues the update, keeps it until its dependencies arrive, or refuses it).

use std::{sync::Arc, time::Duration};

use yrs::{updates::decoder::Decode, Transact, Update};

use super::{
    admission::{Admission, Ledgers, Limits, Refusal, SenderRefusal, Shape, Verdict},
    apply_budget::{self, DocCost},
    clocks::Clocks,
    heavy,
    mailbox::RoomError,
    settings::RoomContext,
    Room,
};
use crate::{
    client_limits::{ClientKey, DocWeight},
    metric_names as m,
    protocol::UpdateFrame,
    usage::UpdateRefusal,
    yjs_bounds::{self, Walked},
};

/// Whether an update's message still counts against its client's message rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rate {
    /// Counted already (or not a client's message: the HTTP API counts its own edits).
    Counted,
    /// To count in admission's look at the client's accounts, with its apply time and quota.
    Here,
}

/// What became of an update admission let through or held back.
enum Outcome {
    Applied { changed: bool, structs: u64 },
    Verdict(Verdict),
}

impl Room {
    /// The room's admission, under the server's limits.
    pub(super) fn admission(&self) -> Admission {
        Admission::new(self.limits())
    }

    pub(super) fn limits(&self) -> Limits {
        let memory = self.ctx.client_limits.memory_per_client();
        Limits::from_settings(&self.ctx.settings, self.ctx.budget.max(), memory)
    }

    /// Admits, applies and queues one update from a client or the API (`from`: who sent
    /// it, for its per-client limits; `walked`: the frame check's walk of it, when there was
    /// one, so it is not walked again). An update that builds on changes the room does not
    /// have waits until they arrive (see `awaiting_deps`). `Rate::Here`: the update's
    /// message is counted against its client's rate in admission's look at the client's
    /// accounts (one lock for both); an empty update (no admission) is counted at once.
    pub(super) fn accept_update(
        &mut self,
        update: UpdateFrame,
        walked: Option<Walked>,
        from: Option<&ClientKey>,
        author: Option<Arc<str>>,
        rate: Rate,
    ) -> Result<(), RoomError> {
        // A sync step 2 from a client with nothing new is an empty update: nothing to
        // store or relay.
        if update.update() == [0, 0] {
            if let (Rate::Here, Some(c)) = (rate, from) {
                let usage = self.ctx.client_limits.usage();
                let counted = usage.message(c.ip(), c.token());
                counted.map_err(|e| RoomError::ClientRate(e.to_string()))?;
            }
            return Ok(());
        }
        if self.admit_and_apply(update, walked, from, author, false, rate)? {
            self.release_awaiting();
        }
        Ok(())
    }

    /// Every limit is checked before `yrs` decodes anything: decoding is most of the work.
    /// Large (or expensive) updates are admitted and applied inside `heavy::run_if`, one
    /// at a time, so several of one client's cannot all pass the memory check before any
    /// of them is counted. Returns whether the update was applied.
    fn admit_and_apply(
        &mut self,
        update: UpdateFrame,
        walked: Option<Walked>,
        from: Option<&ClientKey>,
        author: Option<Arc<str>>,
        released: bool,
        rate: Rate,
    ) -> Result<bool, RoomError> {
        let heavy = update.len() >= heavy::LARGE || self.cost.expensive();
        let admission = self.admission();
        let doc = self.awareness.doc().clone();
        let grown_from = self.upkeep.weight();
        let mut books = Books {
            ctx: &self.ctx,
            name: &self.name,
            cost: &mut self.cost,
            clocks: &self.clocks,
            awaiting_bytes: self.awaiting.bytes(),
            document_bytes: self.upkeep.doc_bytes,
            update: update.update(),
            from,
            weight: &self.weight,
            walked: walked.as_ref(),
            count_message: rate == Rate::Here,
        };
        let (outcome, cost) = heavy::run_if(heavy, || {
            let verdict = if released {
                admission.admit_released(update.len(), &mut books)
            } else {
                admission.admit(update.len(), &mut books)
            };
            let Verdict::Accept {
                structs,
                extra_weight,
            } = verdict
            else {
                return Ok((Outcome::Verdict(verdict), Duration::ZERO));
            };
            let (changed, cost) = apply_budget::measure(|| {
                let decoded = Update::decode_v1(update.update())
                    .map_err(|e| RoomError::InvalidUpdate(e.to_string()))?;
                let mut txn = doc.transact_mut();
                txn.apply_update(decoded)
                    .map_err(|e| RoomError::InvalidUpdate(e.to_string()))?;
                // A duplicate (a client resending what the room has) changes nothing: it
                // is logged and relayed as usual, but is no reason for a new version.
                // (What the transaction inserted or deleted, not its state vectors before
                // and after, which cost a map entry per client id of the document.)
                Ok::<_, RoomError>(txn.has_changes())
            });
            let changed = changed?;
            if changed {
                let grown = grown_from.saturating_add(extra_weight);
                // Lock-free: the sender's check above took the limits' lock once.
                books.weight.set(grown);
            }
            Ok::<_, RoomError>((Outcome::Applied { changed, structs }, cost))
        })?;
        match outcome {
            Outcome::Applied { changed, structs } => {
                self.charge_apply(from, cost, true);
                if changed {
                    self.upkeep.edited(update.len(), structs);
                }
                self.enqueue(update, author);
                Ok(true)
            }
            Outcome::Verdict(Verdict::AwaitDependencies { client, clock }) => {
                tracing::debug!(doc = %self.name, client, clock, "keeping an update until what it builds on arrives");
                metrics::counter!(m::UPDATES_HELD).increment(1);
                self.awaiting.push(update);
                Ok(false)
            }
            Outcome::Verdict(Verdict::Refuse(refusal)) => Err(self.refused(&refusal)),
            Outcome::Verdict(Verdict::Accept { .. }) => unreachable!("applied above"),
        }
    }

    /// Counts and logs a refusal; the error to answer with.
    pub(super) fn refused(&self, refusal: &Refusal) -> RoomError {
        if let Some(limit) = refusal.limit_label() {
            metrics::counter!(m::LIMIT_REFUSALS, "limit" => limit).increment(1);
        }
        match refusal {
            Refusal::Invalid(_) => {}
            Refusal::ApplyTime { over, .. } => {
                tracing::debug!(doc = %self.name, limit = over.label(), "refusing work: apply-time budget")
            }
            Refusal::Unwritten => {
                tracing::warn!(doc = %self.name, "refusing update: unwritten-bytes budget exhausted")
            }
            other => tracing::info!(doc = %self.name, refusal = ?other, "refusing work"),
        }
        refusal.error()
    }

    /// Tells `client_limits` what the document weighs now (see `weight`), and keeps the
    /// handle the accepted-update path sets without its lock.
    pub(super) fn report_weight(&mut self) {
        self.weight = self
            .ctx
            .client_limits
            .set_weight(&self.name, self.upkeep.weight());
    }

    /// Applies every waiting update that has become complete, oldest first.
    pub(super) fn release_awaiting(&mut self) {
        if self.awaiting.is_empty() {
            return;
        }
        loop {
            let clocks = self.clocks.view();
            // The walk that finds it ready is the one admission reads: one walk per release.
            let ready = self.awaiting.take_ready(|u| {
                let walked = yjs_bounds::walk(u).ok()?;
                walked
                    .missing(|c| clocks.clock(c))
                    .is_none()
                    .then_some(walked)
            });
            drop(clocks);
            let Some((update, walked)) = ready else { break };
            // Its sender is not known any more; it was within its limits when it came.
            let again = self.admit_and_apply(update, Some(walked), None, None, true, Rate::Counted);
            if let Err(err) = again {
                // Its sender still has it and sends it again when it resyncs.
                tracing::info!(doc = %self.name, error = %err, "dropping an update that waited for its dependencies");
            }
        }
    }
}

/// The room's answers to admission's questions, over its context.
struct Books<'a> {
    ctx: &'a RoomContext,
    name: &'a str,
    cost: &'a mut DocCost,
    clocks: &'a Clocks,
    awaiting_bytes: usize,
    document_bytes: usize,
    update: &'a [u8],
    from: Option<&'a ClientKey>,
    /// The document's weight entry in `client_limits`.
    weight: &'a DocWeight,
    /// The update's walk, when the frame check already made it.
    walked: Option<&'a Walked>,
    /// Whether the update's message is counted against its client's rate here.
    count_message: bool,
}

impl Ledgers for Books<'_> {
    fn document_over_apply_time(&mut self) -> bool {
        let rate = self.ctx.settings.max_apply_per_document;
        self.cost.over(std::time::Instant::now(), rate)
    }

    /// One lock: the client's rate, apply time and write quota are kept together (`usage`).
    fn sender(&mut self, quota: Option<usize>) -> Result<(), SenderRefusal> {
        let Some(c) = self.from else { return Ok(()) };
        let usage = self.ctx.client_limits.usage();
        usage
            .admit_update(c.ip(), c.token(), self.count_message, quota)
            .map_err(|refusal| match refusal {
                UpdateRefusal::Rate(e) => SenderRefusal::Rate(e.to_string()),
                UpdateRefusal::ApplyTime => SenderRefusal::ApplyTime,
                UpdateRefusal::Quota(e) => SenderRefusal::WriteQuota(e.to_string()),
            })
    }

    /// The frame check's walk when there was one, else one walk here; the document's
    /// clocks are asked only about the clients the update names (never a full state
    /// vector: see `clocks`).
    fn read(&mut self) -> Result<Shape, String> {
        let clocks = self.clocks.view();
        let known = |c| clocks.clock(c);
        let (structs, missing) = match self.walked {
            Some(walked) => (walked.shape.structs, walked.missing(known)),
            None => yjs_bounds::check_dependencies(self.update, known)
                .map(|(shape, missing)| (shape.structs, missing))
                .map_err(|e| e.to_string())?,
        };
        Ok(Shape { structs, missing })
    }

    fn awaiting_bytes(&self) -> usize {
        self.awaiting_bytes
    }

    fn unwritten_bytes(&self) -> usize {
        self.ctx.budget.unwritten()
    }

    fn document_bytes(&self) -> usize {
        self.document_bytes
    }

    fn sender_weight(&mut self) -> Option<u64> {
        let c = self.from?;
        Some(self.ctx.client_limits.weight_of(c, self.name))
    }
}
