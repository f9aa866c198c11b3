use super::*;

fn update(entries: &[(u64, u32, &str)]) -> AwarenessUpdate {
    AwarenessUpdate {
        clients: entries
            .iter()
            .map(|(id, clock, json)| {
                (
                    ClientID::new(*id),
                    AwarenessUpdateEntry {
                        clock: *clock,
                        json: (*json).into(),
                    },
                )
            })
            .collect(),
    }
}

/// The room's view, kept up to date as a room would (applying what `admit` returns).
#[derive(Default)]
struct View(HashMap<u64, (u32, bool)>);

impl View {
    fn admit(
        &mut self,
        own: &mut Ownership,
        peer: PeerId,
        name: Option<&str>,
        entries: &[(u64, u32, &str)],
    ) -> (Vec<(u64, u32, String)>, Vec<Refusal>) {
        let (out, refused) = own.admit(peer, name, update(entries), |id| {
            self.0.get(&id.get()).copied()
        });
        let mut out: Vec<_> = out
            .clients
            .into_iter()
            .map(|(id, e)| (id.get(), e.clock, e.json.to_string()))
            .collect();
        out.sort();
        for (id, clock, json) in &out {
            self.0.insert(*id, (*clock, json != "null"));
        }
        (out, refused)
    }
}

const A: PeerId = 1;
const B: PeerId = 2;

#[test]
fn another_peers_client_id_cannot_be_changed_or_removed() {
    let mut own = Ownership::new(4);
    let mut view = View::default();
    let (out, refused) = view.admit(&mut own, A, None, &[(10, 1, r#"{"c":1}"#)]);
    assert_eq!(out, vec![(10, 1, r#"{"c":1}"#.to_string())]);
    assert!(refused.is_empty());

    // B writes A's client id with a clock far ahead, then removes it.
    let (out, refused) = view.admit(&mut own, B, None, &[(10, u32::MAX, r#"{"x":1}"#)]);
    assert!(out.is_empty());
    assert_eq!(refused, vec![Refusal::NotOwner]);
    let (out, refused) = view.admit(&mut own, B, None, &[(10, 2, "null")]);
    assert!(out.is_empty());
    assert_eq!(refused, vec![Refusal::NotOwner]);

    // A's own next change still goes through.
    let (out, _) = view.admit(&mut own, A, None, &[(10, 2, r#"{"c":2}"#)]);
    assert_eq!(out, vec![(10, 2, r#"{"c":2}"#.to_string())]);
}

#[test]
fn resending_known_states_is_not_counted_as_an_attempt() {
    let mut own = Ownership::new(4);
    let mut view = View::default();
    view.admit(&mut own, A, None, &[(10, 5, "{}")]);
    // B answers an awareness query with every state it knows, A's included, unchanged.
    let (out, refused) = view.admit(&mut own, B, None, &[(10, 5, "{}"), (20, 1, "{}")]);
    assert_eq!(out, vec![(20, 1, "{}".to_string())]);
    assert!(refused.is_empty());
}

#[test]
fn the_server_numbers_clocks_so_none_can_be_pinned() {
    let mut own = Ownership::new(4);
    let mut view = View::default();
    view.admit(&mut own, A, None, &[(10, 3, "{}")]);
    // The owner jumps its own clock to the top: relayed one step ahead only.
    let (out, _) = view.admit(&mut own, A, None, &[(10, u32::MAX - 1, r#"{"a":1}"#)]);
    assert_eq!(out, vec![(10, 4, r#"{"a":1}"#.to_string())]);
    // Stale by the peer's own clock: dropped.
    let (out, refused) = view.admit(&mut own, A, None, &[(10, 7, r#"{"a":2}"#)]);
    assert!(out.is_empty() && refused.is_empty());

    // A leaves; B claims the free id with a huge clock: still one step ahead.
    assert_eq!(own.release(A), vec![ClientID::new(10)]);
    view.0.insert(10, (5, false)); // the room removed the state (clock + 1)
    let (out, _) = view.admit(&mut own, B, None, &[(10, u32::MAX, "{}")]);
    assert_eq!(out, vec![(10, 6, "{}".to_string())]);
}

#[test]
fn a_peer_owns_a_bounded_number_of_client_ids() {
    let mut own = Ownership::new(2);
    let mut view = View::default();
    let (out, refused) = view.admit(
        &mut own,
        A,
        None,
        &[(1, 1, "{}"), (2, 1, "{}"), (3, 1, "{}")],
    );
    assert_eq!(out.len(), 2);
    assert_eq!(refused, vec![Refusal::TooManyClients]);
    assert_eq!(own.owned_by(A), 2);
    // The ones it owns still update.
    let (out, refused) = view.admit(&mut own, A, None, &[(1, 2, r#"{"a":1}"#)]);
    assert_eq!(out.len(), 1);
    assert!(refused.is_empty());
}

#[test]
fn a_token_name_replaces_the_chosen_one() {
    let mut own = Ownership::new(4);
    let mut view = View::default();
    let (out, _) = view.admit(
        &mut own,
        A,
        Some("Alice"),
        &[(
            1,
            1,
            r##"{"user":{"name":"Mallory","color":"#f00"},"cursor":null}"##,
        )],
    );
    let state: serde_json::Value = serde_json::from_str(&out[0].2).unwrap();
    assert_eq!(state["user"]["name"], "Alice");
    assert_eq!(state["user"]["color"], "#f00");
    // A state without a user object gets one; a non-object is refused.
    let (out, _) = view.admit(&mut own, A, Some("Alice"), &[(2, 1, r#"{"user":7}"#)]);
    assert_eq!(out[0].2, r#"{"user":{"name":"Alice"}}"#);
    let (out, refused) = view.admit(&mut own, A, Some("Alice"), &[(3, 1, r#""hi""#)]);
    assert!(out.is_empty());
    assert_eq!(refused, vec![Refusal::NotAnObject]);
    // A removal stays a removal.
    let (out, _) = view.admit(&mut own, A, Some("Alice"), &[(1, 2, "null")]);
    assert_eq!(out, vec![(1, 2, "null".to_string())]);
}

#[test]
fn removing_an_unowned_id_does_nothing_and_leaving_frees_ids() {
    let mut own = Ownership::new(1);
    let mut view = View::default();
    let (out, refused) = view.admit(&mut own, B, None, &[(9, 4, "null")]);
    assert!(out.is_empty() && refused.is_empty());
    view.admit(&mut own, A, None, &[(1, 1, "{}")]);
    assert_eq!(own.release(A), vec![ClientID::new(1)]);
    assert_eq!(own.owned_by(A), 0);
    // Freed, the id may be announced by its next holder.
    view.0.insert(1, (2, false));
    let (out, _) = view.admit(&mut own, B, None, &[(1, 3, "{}")]);
    assert_eq!(out, vec![(1, 3, "{}".to_string())]);
}

#[test]
fn only_colours_pass_as_colours() {
    let mut own = Ownership::new(8);
    let mut view = View::default();
    let hostile = r##"{"user":{"name":"M","color":"red;position:fixed;inset:0","colorLight":"url(https://evil.example/x)"},"cursor":1}"##;
    for name in [None, Some("Mallory")] {
        let id = if name.is_some() { 2 } else { 1 };
        let (out, refused) = view.admit(&mut own, A, name, &[(id, 1, hostile)]);
        assert!(refused.is_empty());
        let state: serde_json::Value = serde_json::from_str(&out[0].2).unwrap();
        assert!(state["user"].get("color").is_none(), "{state}");
        assert!(state["user"].get("colorLight").is_none(), "{state}");
        assert_eq!(state["cursor"], 1);
    }
    for (color, light, kept) in [
        ("#abc", "#aabbcc33", true),
        ("#A0b1C2", "#a0b1c2", true),
        ("#abcd", "#abc", false),
        ("#ggg", "#aabbcc", false),
        ("blue", "#aabbcc", false),
    ] {
        let json = format!(r#"{{"user":{{"color":"{color}","colorLight":"{light}"}}}}"#);
        let (out, _) = view.admit(&mut own, B, None, &[(3, view_clock(&view, 3), &json)]);
        let state: serde_json::Value = serde_json::from_str(&out[0].2).unwrap();
        assert_eq!(state["user"].get("color").is_some(), kept, "{color}");
        assert_eq!(state["user"]["colorLight"], light, "{light}");
    }
    // A colour that is not a string is no colour either.
    let (out, _) = view.admit(&mut own, B, None, &[(4, 1, r#"{"user":{"color":7}}"#)]);
    assert_eq!(out[0].2, r#"{"user":{}}"#);
}

/// The next clock for `id` a peer would send.
fn view_clock(view: &View, id: u64) -> u32 {
    view.0.get(&id).map_or(1, |(c, _)| c + 1)
}
