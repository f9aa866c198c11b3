//! Unit tests of `admission`: each limit accepts at its bound, refuses past it, with the
//! right reason and close code.

use std::time::Duration;

use super::*;

const BYTES: usize = 100;

fn limits() -> Limits {
    Limits {
        max_pending_bytes: 1000,
        max_document_bytes: 10_000,
        max_unwritten_bytes: 5000,
        max_memory_per_client: 1_000_000,
        max_apply_per_client: Duration::from_millis(200),
        max_apply_per_document: Duration::from_millis(500),
    }
}

/// Plain numbers in place of the room's accounts; records what was asked, in order.
struct Fake {
    /// The client's message rate is spent: the reason.
    rate_spent: Option<String>,
    sender_over: bool,
    document_over: bool,
    quota: Result<(), String>,
    shape: Result<Shape, String>,
    awaiting: usize,
    unwritten: usize,
    document: usize,
    weight: Option<u64>,
    asked: Vec<&'static str>,
    charged: usize,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            rate_spent: None,
            sender_over: false,
            document_over: false,
            quota: Ok(()),
            shape: Ok(Shape {
                structs: 2,
                missing: None,
            }),
            awaiting: 0,
            unwritten: 0,
            document: 0,
            weight: Some(0),
            asked: Vec::new(),
            charged: 0,
        }
    }

    fn missing(mut self) -> Fake {
        self.shape = Ok(Shape {
            structs: 2,
            missing: Some((7, 3)),
        });
        self
    }
}

impl Ledgers for Fake {
    fn document_over_apply_time(&mut self) -> bool {
        self.asked.push("document_apply");
        self.document_over
    }
    /// As `usage::admit_update`: the apply time, then the quota, in one call.
    fn sender(&mut self, quota: Option<usize>) -> Result<(), SenderRefusal> {
        self.asked.push("sender");
        if let Some(why) = self.rate_spent.clone() {
            return Err(SenderRefusal::Rate(why));
        }
        if self.sender_over {
            return Err(SenderRefusal::ApplyTime);
        }
        let Some(bytes) = quota else { return Ok(()) };
        self.quota.clone().map_err(SenderRefusal::WriteQuota)?;
        self.charged += bytes;
        Ok(())
    }
    fn read(&mut self) -> Result<Shape, String> {
        self.asked.push("read");
        self.shape.clone()
    }
    fn awaiting_bytes(&self) -> usize {
        self.awaiting
    }
    fn unwritten_bytes(&self) -> usize {
        self.unwritten
    }
    fn document_bytes(&self) -> usize {
        self.document
    }
    fn sender_weight(&mut self) -> Option<u64> {
        self.asked.push("weight");
        self.weight
    }
}

fn admit(l: Limits, mut f: Fake) -> (Verdict, Fake) {
    let v = Admission::new(l).admit(BYTES, &mut f);
    (v, f)
}

fn accepted() -> Verdict {
    Verdict::Accept {
        structs: 2,
        extra_weight: weight::estimate(BYTES, 2),
    }
}

fn refusal(v: Verdict) -> Refusal {
    match v {
        Verdict::Refuse(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_update_within_every_limit_is_accepted_after_asking_in_order() {
    let (v, f) = admit(limits(), Fake::new());
    assert_eq!(v, accepted());
    // The sender's apply time and quota are asked in one call: one lock.
    assert_eq!(f.asked, ["document_apply", "sender", "read", "weight"]);
    assert_eq!(
        f.charged, BYTES,
        "the write quota is charged the update's bytes"
    );
}

#[test]
fn a_sender_over_its_apply_time_is_refused_before_anything_is_charged() {
    let (v, f) = admit(
        limits(),
        Fake {
            sender_over: true,
            ..Fake::new()
        },
    );
    let r = refusal(v);
    assert_eq!(
        r,
        Refusal::ApplyTime {
            over: Over::Client,
            per_sec: Duration::from_millis(200)
        }
    );
    assert_eq!(r.limit_label(), Some("apply_time_client"));
    let close = r.error().close_reason();
    assert_eq!(close.code, 1013);
    assert!(close
        .reason
        .contains("client over 200 ms/s (raise --max-apply-ms-per-sec"));
    assert_eq!(f.charged, 0, "a refused update costs no write quota");
}

#[test]
fn a_document_over_its_apply_time_refuses_updates() {
    let (v, f) = admit(
        limits(),
        Fake {
            document_over: true,
            ..Fake::new()
        },
    );
    assert_eq!(
        f.charged, 0,
        "an update the document refuses costs no write quota"
    );
    assert!(!f.asked.contains(&"read"), "refused before it is read");
    let r = refusal(v);
    assert_eq!(r.limit_label(), Some("apply_time_document"));
    let close = r.error().close_reason();
    assert_eq!(close.code, 1013);
    assert!(close
        .reason
        .contains("document over 500 ms/s (raise --max-document-apply-ms-per-sec)"));
}

#[test]
fn a_sender_over_its_apply_time_is_named_before_the_document() {
    let (v, f) = admit(
        limits(),
        Fake {
            sender_over: true,
            document_over: true,
            ..Fake::new()
        },
    );
    assert_eq!(refusal(v).limit_label(), Some("apply_time_client"));
    assert_eq!(f.charged, 0);
}

#[test]
fn a_spent_client_rate_refuses_with_its_reason_before_anything_is_charged() {
    let spent = Fake {
        rate_spent: Some("client rate spent".into()),
        ..Fake::new()
    };
    let (v, f) = admit(limits(), spent);
    let r = refusal(v);
    assert_eq!(r, Refusal::ClientRate("client rate spent".into()));
    assert_eq!(r.limit_label(), None, "usage counts its own refusals");
    let close = r.error().close_reason();
    assert_eq!(close, CloseReason::new(1008, "client rate spent"));
    assert_eq!((f.charged, f.asked.contains(&"read")), (0, false));
}

#[test]
fn a_spent_write_quota_refuses_with_its_reason() {
    let (v, f) = admit(
        limits(),
        Fake {
            quota: Err("write quota spent".into()),
            ..Fake::new()
        },
    );
    let r = refusal(v);
    assert_eq!(r, Refusal::WriteQuota("write quota spent".into()));
    assert_eq!(r.limit_label(), None, "usage counts its own refusals");
    let close = r.error().close_reason();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (4429, "write quota spent")
    );
    assert!(!f.asked.contains(&"read"), "refused before it is read");
}

#[test]
fn an_update_that_does_not_decode_is_invalid() {
    let (v, _) = admit(
        limits(),
        Fake {
            shape: Err("bad varint".into()),
            ..Fake::new()
        },
    );
    let close = refusal(v).error().close_reason();
    assert_eq!(close.code, 1007);
    assert!(close.reason.contains("update does not decode: bad varint"));
}

#[test]
fn an_update_with_missing_dependencies_waits_up_to_the_bound() {
    let at_bound = Fake {
        awaiting: 1000 - BYTES,
        ..Fake::new().missing()
    };
    let (v, f) = admit(limits(), at_bound);
    assert_eq!(
        v,
        Verdict::AwaitDependencies {
            client: 7,
            clock: 3
        }
    );
    assert!(
        !f.asked.contains(&"weight"),
        "nothing else is asked of a waiting update"
    );
    let past = Fake {
        awaiting: 1000 - BYTES + 1,
        ..Fake::new().missing()
    };
    let r = refusal(admit(limits(), past).0);
    assert_eq!(r, Refusal::AwaitingFull { max: 1000 });
    assert_eq!(r.limit_label(), Some("pending"));
    assert_eq!(r.error().close_reason().code, 1008);
}

#[test]
fn the_unwritten_budget_admits_up_to_its_limit() {
    let at = Fake {
        unwritten: 5000 - BYTES,
        ..Fake::new()
    };
    assert_eq!(admit(limits(), at).0, accepted());
    let past = Fake {
        unwritten: 5000 - BYTES + 1,
        ..Fake::new()
    };
    let r = refusal(admit(limits(), past).0);
    assert_eq!(r, Refusal::Unwritten);
    assert!(matches!(r.error(), RoomError::Storage(_)));
    assert_eq!(r.error().close_reason(), CloseReason::storage_unavailable());
}

#[test]
fn the_document_size_admits_up_to_its_limit_and_zero_is_none() {
    let at = Fake {
        document: 10_000 - BYTES,
        ..Fake::new()
    };
    assert_eq!(admit(limits(), at).0, accepted());
    let past = || Fake {
        document: 10_000 - BYTES + 1,
        ..Fake::new()
    };
    let r = refusal(admit(limits(), past()).0);
    assert_eq!(r, Refusal::DocumentSize { max: 10_000 });
    assert_eq!(r.limit_label(), Some("document_size"));
    assert_eq!(r.error().close_reason().code, 4413);
    let unlimited = Limits {
        max_document_bytes: 0,
        ..limits()
    };
    assert_eq!(admit(unlimited, past()).0, accepted());
}

#[test]
fn the_senders_memory_admits_up_to_its_limit() {
    let extra = weight::estimate(BYTES, 2);
    let at = Fake {
        weight: Some(1_000_000 - extra),
        ..Fake::new()
    };
    assert_eq!(admit(limits(), at).0, accepted());
    let past = || Fake {
        weight: Some(1_000_000 - extra + 1),
        ..Fake::new()
    };
    let r = refusal(admit(limits(), past()).0);
    assert_eq!(r, Refusal::ClientMemory { max: 1_000_000 });
    assert_eq!(r.limit_label(), Some("memory_per_client"));
    assert_eq!(r.error().close_reason().code, 4413);
    // No limit, or no known sender: nothing to count against.
    let unlimited = Limits {
        max_memory_per_client: 0,
        ..limits()
    };
    assert_eq!(admit(unlimited, past()).0, accepted());
    let unknown = Fake {
        weight: None,
        ..Fake::new()
    };
    assert_eq!(admit(limits(), unknown).0, accepted());
}

#[test]
fn a_released_update_passes_only_what_it_adds() {
    let mut f = Fake {
        sender_over: true,
        document_over: true,
        quota: Err("spent".into()),
        ..Fake::new()
    };
    let a = Admission::new(limits());
    assert_eq!(a.admit_released(BYTES, &mut f), accepted());
    assert_eq!(f.asked, ["read", "weight"]);
    let mut full = Fake {
        unwritten: 5000,
        ..Fake::new()
    };
    assert_eq!(
        a.admit_released(BYTES, &mut full),
        Verdict::Refuse(Refusal::Unwritten)
    );
}

#[test]
fn apply_time_refusals_name_the_setting_within_a_close_reason() {
    let limits = Limits {
        max_apply_per_client: Duration::from_millis(u64::from(u32::MAX)),
        max_apply_per_document: Duration::from_millis(u64::from(u32::MAX)),
        ..limits()
    };
    for (over, setting) in [
        (
            Over::Client,
            "raise --max-apply-ms-per-sec / TANDEM_MAX_APPLY_MS_PER_SEC",
        ),
        (Over::Document, "raise --max-document-apply-ms-per-sec"),
    ] {
        let close = super::apply_time(&limits, over).error().close_reason();
        assert_eq!(close.code, 1013);
        let reason = close.reason;
        assert!(reason.len() <= 123, "{} bytes: {reason}", reason.len());
        assert!(reason.contains(setting), "{reason}");
        assert!(reason.starts_with("apply time limit"), "{reason}");
    }
}
