//! Questions and commands from the HTTP API.

use std::sync::Arc;

use tandem_persistence::VersionKind;
use yrs::{ReadTxn, StateVector, Transact};

use super::{
    accept::Rate,
    mailbox::{Request, RoomError, RoomInfo},
    weight, Room, Waiter,
};
use crate::{
    import,
    protocol::UpdateFrame,
    render::{self, Content},
    text,
};

impl Room {
    fn content(&self) -> Content {
        Content::from_doc(self.awareness.doc(), &self.ctx.settings.rich_fields)
    }

    pub(super) fn on_request(&mut self, req: Request) {
        match req {
            Request::Info(reply) => {
                let fields = &self.ctx.settings.rich_fields;
                let _ = reply.send(RoomInfo {
                    connections: self.peers.len(),
                    users: self.users(),
                    kind: render::kind_of(&self.awareness.doc().transact(), fields),
                });
            }
            Request::Text(reply) => {
                let _ = reply.send(self.content().plain_text());
            }
            Request::Content(reply) => {
                let _ = reply.send(self.content());
            }
            Request::State(reply) => {
                let state = self
                    .awareness
                    .doc()
                    .transact()
                    .encode_state_as_update_v1(&StateVector::default());
                let _ = reply.send(state);
            }
            Request::Apply {
                update,
                client,
                author,
                done,
            } => {
                // The handler took the edit's message from its client's rate.
                match self.accept_update(
                    UpdateFrame::new(&update),
                    None,
                    Some(&client),
                    author.map(Into::into),
                    Rate::Counted,
                ) {
                    Ok(()) => {
                        if let Some(Waiter::Api(done)) =
                            self.commit.when_committed(Waiter::Api(done))
                        {
                            let _ = done.send(Ok(()));
                        }
                    }
                    Err(err) => {
                        let _ = done.send(Err(err));
                    }
                }
            }
            Request::CreateVersion { kind, label, done } => {
                if kind == VersionKind::Named {
                    let now = tokio::time::Instant::now();
                    let interval = self.ctx.settings.named_version_interval;
                    if self
                        .upkeep
                        .last_named
                        .is_some_and(|last| now < last + interval)
                    {
                        metrics::counter!(crate::metric_names::LIMIT_REFUSALS, "limit" => "version_rate")
                            .increment(1);
                        let _ = done.send(Err(RoomError::RateLimited(format!(
                            "one named version per {} s per document; try again later",
                            interval.as_secs()
                        ))));
                        return;
                    }
                    self.upkeep.last_named = Some(now);
                }
                self.spawn_version(kind, label, done)
            }
            Request::Restore {
                state,
                label,
                author,
                done,
            } => {
                let doc = self.awareness.doc().clone();
                let old = text::new_doc();
                if !text::replay_bytes(&old, &state) {
                    let _ = done.send(Err(RoomError::InvalidUpdate(
                        "the stored version does not decode".into(),
                    )));
                    return;
                }
                let update = {
                    let mut txn = doc.transact_mut();
                    if let Err(e) = import::restore(&mut txn, &old, &self.ctx.settings.rich_fields)
                    {
                        // Nothing was written before the check failed.
                        let _ = done.send(Err(RoomError::Conflict(e.to_string())));
                        return;
                    }
                    txn.encode_update_v1()
                };
                // Already applied above; this only queues it for the log and the peers.
                self.upkeep.edited(update.len(), weight::structs(&update));
                self.report_weight();
                self.enqueue(UpdateFrame::new(&update), author.as_deref().map(Arc::from));
                if let Some(name) = author {
                    self.upkeep.edited_by(name);
                }
                self.spawn_version(VersionKind::Restore, label, done);
            }
        }
    }
}
