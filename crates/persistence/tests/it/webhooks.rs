//! The webhook tables (migration 0005) through `WebhookStore`, on both backends: a new
//! endpoint starts at the present, the work it is shown follows its cursor, a waiting
//! message holds its document back, an acknowledgement moves the cursor, deleted documents
//! are noticed, and one owner at a time holds an endpoint's lease.

use crate::common::*;
use anyhow::{ensure, Context, Result};
use tandem_persistence::{Attempt, Message, NewEndpoint, WebhookStore};

for_both_backends!(cursor_and_messages, leases);

fn endpoint(prefix: &str) -> NewEndpoint {
    NewEndpoint {
        url: "https://hooks.example.com/x".into(),
        prefix: prefix.into(),
        document: None,
        events: vec!["document.changed".into()],
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
    }
}

fn attempt(message: &Message, outcome: &str) -> Attempt {
    Attempt {
        message_id: message.id.clone(),
        event: message.event.clone(),
        document: message.document.clone(),
        attempt: 1,
        outcome: outcome.into(),
        status: Some(200),
        duration_ms: 3,
        error: None,
        at: chrono::Utc::now(),
    }
}

async fn cursor_and_messages(h: &Harness) -> Result<()> {
    let s = &h.store;
    let hooks: &dyn WebhookStore = s.webhooks().context("store keeps webhooks")?;
    let old = Editor::new();
    s.append(&items("team-old", &old.type_at_end("before")))
        .await?;
    s.create_document("other").await?;
    let e = hooks.create_endpoint(&endpoint("team-")).await?;
    ensure!(e.events == ["document.changed"] && e.enabled());
    ensure!(
        hooks.work(&e, 100).await?.is_empty(),
        "the past is not work"
    );

    // A change to a followed document, a new followed document, nothing for others.
    s.append(&items("team-old", &old.type_at_end(" after")))
        .await?;
    s.create_document("team-new").await?;
    s.append(&items("other", &Editor::new().type_at_end("x")))
        .await?;
    let work = hooks.work(&e, 100).await?;
    let names: Vec<&str> = work.iter().map(|w| w.document.as_str()).collect();
    ensure!(names == ["team-old", "team-new"], "{names:?}");
    let (seq, _) = work[0].cursor.context("the old document has a cursor")?;
    ensure!(work[0].last_seq > seq && work[1].cursor.is_none());

    // A waiting message holds its document back until acknowledged, which moves the cursor.
    let message = Message {
        id: "msg_1".into(),
        endpoint_id: e.id,
        document_id: work[0].document_id,
        document: "team-old".into(),
        event: "document.changed".into(),
        upto_seq: work[0].last_seq,
        upto_version: 0,
        body: "{}".into(),
        created_at: chrono::Utc::now(),
        attempts: 0,
        next_attempt_ms: 0,
    };
    hooks.enqueue(&message).await?;
    ensure!(hooks.pending(e.id).await?.len() == 1);
    let failed = Attempt {
        status: Some(500),
        ..attempt(&message, "failed")
    };
    hooks.failed(&message, &failed, 1234).await?;
    let pending = hooks.pending(e.id).await?;
    ensure!(pending[0].attempts == 1 && pending[0].next_attempt_ms == 1234);
    ensure!(hooks.work(&e, 100).await?.len() == 1, "held back");
    // Answers to sends made from a stale copy of the message (attempts 0, numbered 1 by
    // the sender) are numbered from the stored row: 2, then 3.
    hooks.failed(&message, &failed, 1234).await?;
    ensure!(hooks.pending(e.id).await?[0].attempts == 2);
    hooks
        .delivered(&message, &attempt(&message, "delivered"))
        .await?;
    ensure!(hooks.pending(e.id).await?.is_empty());
    // A late answer to a send of the message already acknowledged follows the last one.
    hooks
        .delivered(&message, &attempt(&message, "delivered"))
        .await?;
    let work = hooks.work(&e, 100).await?;
    ensure!(
        work.len() == 1 && work[0].document == "team-new",
        "{work:?}"
    );
    let attempts = hooks.attempts(e.id, 10).await?;
    let recorded: Vec<(i64, &str)> = attempts
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str()))
        .collect();
    ensure!(
        recorded
            == [
                (4, "delivered"),
                (3, "delivered"),
                (2, "failed"),
                (1, "failed")
            ],
        "{recorded:?}"
    );

    // Deleting a followed document leaves its cursor until that is acknowledged.
    let new_id = work[0].document_id;
    hooks.set_cursor(e.id, new_id, "team-new", 0, 0).await?;
    s.delete_document("team-new").await?;
    let deleted = hooks.deleted_documents(e.id).await?;
    ensure!(deleted == [(new_id, "team-new".to_string())], "{deleted:?}");
    hooks.drop_cursor(e.id, new_id).await?;
    ensure!(hooks.deleted_documents(e.id).await?.is_empty());

    ensure!(hooks.endpoints().await?.len() == 1);
    ensure!(hooks.delete_endpoint(e.id).await?);
    ensure!(!hooks.delete_endpoint(e.id).await?);
    ensure!(hooks.endpoint(e.id).await?.is_none());
    Ok(())
}

async fn leases(h: &Harness) -> Result<()> {
    let hooks = h.store.webhooks().context("store keeps webhooks")?;
    let e = hooks.create_endpoint(&endpoint("")).await?;
    ensure!(hooks.take_lease(e.id, "one", 1000, 2000).await?);
    ensure!(!hooks.take_lease(e.id, "two", 1500, 2500).await?, "held");
    ensure!(hooks.take_lease(e.id, "one", 1500, 2500).await?, "renewed");
    ensure!(
        hooks.take_lease(e.id, "two", 2600, 3600).await?,
        "expired: taken over"
    );
    hooks.release_lease(e.id, "one").await?;
    ensure!(
        !hooks.take_lease(e.id, "one", 2700, 3700).await?,
        "not one's to release"
    );
    hooks.release_lease(e.id, "two").await?;
    ensure!(hooks.take_lease(e.id, "one", 2700, 3700).await?, "released");
    hooks.disable_endpoint(e.id, "410").await?;
    ensure!(
        !hooks.take_lease(e.id, "one", 2800, 3800).await?,
        "disabled"
    );
    let e = hooks.endpoint(e.id).await?.context("still there")?;
    ensure!(!e.enabled() && e.disabled_reason.as_deref() == Some("410"));
    Ok(())
}
