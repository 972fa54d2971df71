//! The trigger API on a real store (no binaries): what each trigger becomes.

use super::*;
use crate::task::{After, Command, On, Task};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("kit.db")).unwrap();
    (dir, s)
}

fn at(s: &str) -> Instant {
    clock::parse_stored(s).unwrap()
}

fn add(s: &Store, t: &Task) -> Result<()> {
    s.write(|tx| repo::upsert(tx, t, at("2026-01-01T00:00:00Z")).map(|_| ()))
}

fn event_task(name: &str) -> Task {
    Task::new(name, "@event", Command::Shell("true".into()))
}

fn ev<'a>(task: &'a str, key: Option<&'a str>, data: Option<&'a [u8]>) -> NewTrigger<'a> {
    NewTrigger {
        task,
        source: Source::Event,
        key,
        data,
        detail: serde_json::Value::Null,
    }
}

#[test]
fn a_trigger_queues_one_run_and_later_ones_coalesce_into_it_until_it_starts() {
    let (_d, s) = store();
    add(&s, &event_task("a")).unwrap();
    let now = at("2026-01-01T10:00:00Z");
    let first = fire(&s, &ev("a", None, Some(b"{\"n\": 1}")), now).unwrap();
    assert_eq!(first.outcome, Outcome::Queued);
    assert!(first.start);
    let second = fire(&s, &ev("a", None, Some(b"[2]")), now).unwrap();
    assert_eq!(second.outcome, Outcome::Coalesced);
    assert_eq!(second.execution_id, first.execution_id);
    assert!(!second.start);
    let consumed = rows::consumed_by(&s.conn, first.execution_id.unwrap()).unwrap();
    assert_eq!(consumed.len(), 2);
    // Data is stored compact, so each payload is one line of the event file.
    let data = rows::data_of(&s.conn, first.execution_id.unwrap()).unwrap();
    assert_eq!(data[&first.trigger_id], b"{\"n\":1}".to_vec());
    // Once the run is no longer queued, the next trigger queues a new one.
    s.conn
        .execute("UPDATE supervisor_executions SET status = 'running'", [])
        .unwrap();
    let third = fire(&s, &ev("a", None, None), now).unwrap();
    assert_eq!(third.outcome, Outcome::Queued);
    assert_ne!(third.execution_id, first.execution_id);
}

#[test]
fn a_key_seen_within_the_window_answers_with_the_first_run_and_is_recorded() {
    let (_d, s) = store();
    add(&s, &event_task("a")).unwrap();
    let now = at("2026-01-01T10:00:00Z");
    let first = fire(&s, &ev("a", Some("k"), None), now).unwrap();
    s.conn
        .execute("UPDATE supervisor_executions SET status = 'success'", [])
        .unwrap();
    let dup = fire(
        &s,
        &ev("a", Some("k"), None),
        now + chrono::Duration::hours(23),
    )
    .unwrap();
    assert_eq!(dup.outcome, Outcome::Duplicate);
    assert_eq!(dup.execution_id, first.execution_id);
    assert!(dup.reason.unwrap().contains("duplicate key \"k\""));
    // Past the window the key is new again.
    let later = fire(
        &s,
        &ev("a", Some("k"), None),
        now + chrono::Duration::hours(25),
    )
    .unwrap();
    assert_eq!(later.outcome, Outcome::Queued);
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM supervisor_triggers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3, "every trigger is a row, duplicates included");
}

#[test]
fn a_disabled_task_refuses_the_trigger_but_records_it_and_the_key_stays_free() {
    let (_d, s) = store();
    let mut t = event_task("a");
    t.enabled = false;
    add(&s, &t).unwrap();
    let now = at("2026-01-01T10:00:00Z");
    let f = fire(&s, &ev("a", Some("k"), None), now).unwrap();
    assert_eq!(f.outcome, Outcome::Refused);
    assert_eq!(f.execution_id, None);
    assert!(f.reason.unwrap().contains("disabled"));
    t.enabled = true;
    add(&s, &t).unwrap();
    let again = fire(&s, &ev("a", Some("k"), None), now).unwrap();
    assert_eq!(
        again.outcome,
        Outcome::Queued,
        "a refused trigger reserves no key"
    );
}

#[test]
fn bad_input_is_an_error_naming_the_field_and_records_nothing() {
    let (_d, s) = store();
    add(&s, &event_task("a")).unwrap();
    let now = at("2026-01-01T10:00:00Z");
    let e = fire(&s, &ev("nope", None, None), now).unwrap_err();
    assert!(matches!(e, Error::NoSuchTask { .. }), "{e}");
    let e = fire(&s, &ev("a", None, Some(b"{oops")), now).unwrap_err();
    assert!(e.to_string().starts_with("data: not valid JSON"), "{e}");
    let big = vec![b' '; DATA_CAP + 1];
    let e = fire(&s, &ev("a", None, Some(&big)), now).unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    let e = fire(&s, &ev("a", Some(""), None), now).unwrap_err();
    assert!(e.to_string().starts_with("key:"), "{e}");
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM supervisor_triggers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_chain_fires_once_per_matching_end_and_carries_the_upstream() {
    let (_d, s) = store();
    add(&s, &event_task("up")).unwrap();
    let mut ok = event_task("on-ok");
    ok.after = vec![After {
        task: "up".into(),
        on: On::Success,
    }];
    let mut bad = event_task("on-fail");
    bad.after = vec![After {
        task: "up".into(),
        on: On::Failure,
    }];
    let mut any = event_task("on-any");
    any.after = vec![After {
        task: "up".into(),
        on: On::Finish,
    }];
    for t in [&ok, &bad, &any] {
        add(&s, t).unwrap();
    }
    let now = at("2026-01-01T10:00:00Z");
    let fired = s
        .write(|tx| chain::after_finish(tx, "up", 7, "failed", now))
        .unwrap();
    let names: Vec<&str> = fired.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["on-any", "on-fail"]);
    let t = rows::consumed_by(&s.conn, fired[0].1.execution_id.unwrap()).unwrap();
    assert_eq!(
        consume::upstream_of(&t[0]),
        Some((7, "up".to_string(), "failed".to_string()))
    );
}

#[test]
fn a_cycle_is_refused_naming_it_in_run_order() {
    let (_d, s) = store();
    let mut a = event_task("a");
    a.after = vec![After {
        task: "c".into(),
        on: On::Success,
    }];
    let mut b = event_task("b");
    b.after = vec![After {
        task: "a".into(),
        on: On::Success,
    }];
    let mut c = event_task("c");
    c.after = vec![After {
        task: "b".into(),
        on: On::Finish,
    }];
    add(&s, &a).unwrap();
    add(&s, &b).unwrap();
    let e = add(&s, &c).unwrap_err().to_string();
    assert!(e.contains("c -> a -> b -> c"), "{e}");
    let mut selfish = event_task("d");
    selfish.after = vec![After {
        task: "d".into(),
        on: On::Success,
    }];
    let e = add(&s, &selfish).unwrap_err().to_string();
    assert!(e.contains("d -> d"), "{e}");
}

#[test]
fn a_debounced_run_is_due_only_after_the_quiet_period_since_its_newest_trigger() {
    let (_d, s) = store();
    let mut t = event_task("a");
    t.debounce = Some(crate::units::Dur(std::time::Duration::from_secs(30)));
    add(&s, &t).unwrap();
    let t0 = at("2026-01-01T10:00:00Z");
    let f = fire(&s, &ev("a", None, None), t0).unwrap();
    fire(&s, &ev("a", None, None), t0 + chrono::Duration::seconds(20)).unwrap();
    let id = f.execution_id.unwrap();
    assert!(
        pending::unowned_due(&s.conn, t0 + chrono::Duration::seconds(49))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        pending::unowned_due(&s.conn, t0 + chrono::Duration::seconds(50)).unwrap(),
        vec![(id, "a".to_string())]
    );
}

#[test]
fn the_sql_list_of_sources_names_every_source() {
    let list: Vec<String> = Source::ALL
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    assert_eq!(SOURCES_SQL, format!("({})", list.join(",")));
    assert!(is_triggered("watch") && !is_triggered("schedule"));
}
