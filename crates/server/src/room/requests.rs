//! Questions and commands from the HTTP API.

use bytes::Bytes;
use tandem_persistence::VersionKind;
use yrs::{ReadTxn, StateVector, Transact};

use super::{
    mailbox::{Request, RoomError, RoomInfo},
    weight, Room, Waiter,
};
use crate::text;

impl Room {
    pub(super) fn on_request(&mut self, req: Request) {
        match req {
            Request::Info(reply) => {
                let _ = reply.send(RoomInfo {
                    connections: self.peers.len(),
                    users: self.users(),
                });
            }
            Request::Text(reply) => {
                let _ = reply.send(text::render_doc(self.awareness.doc()));
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
                done,
            } => match self.accept_update(Bytes::from(update), Some(&client)) {
                Ok(()) => {
                    if let Some(Waiter::Api(done)) = self.commit.when_committed(Waiter::Api(done)) {
                        let _ = done.send(Ok(()));
                    }
                }
                Err(err) => {
                    let _ = done.send(Err(err));
                }
            },
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
            Request::Restore { text, label, done } => {
                let doc = self.awareness.doc().clone();
                let text_ref = text::text_ref(&doc);
                let update = {
                    let mut txn = doc.transact_mut();
                    text::replace_text(&mut txn, &text_ref, &text);
                    txn.encode_update_v1()
                };
                // Already applied above; this only queues it for the log and the peers.
                self.upkeep.edited(update.len(), weight::structs(&update));
                self.report_weight();
                self.enqueue(Bytes::from(update));
                self.spawn_version(VersionKind::Restore, label, done);
            }
        }
    }
}
