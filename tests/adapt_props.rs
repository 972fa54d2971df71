//! The switch-boundary property through the real kit-tick and kit-ctl:
//! ticks at random times (gaps included), an override and a pause set at
//! random seconds between them. Every minute at which the schedule in
//! force fires gets exactly one row (claimed, missed or skipped), and no
//! other minute gets one: nothing doubles, nothing is lost at a switch.

mod support;

use chrono::{DateTime, Duration, Utc};
use kit::kit_db::schedule::Schedule;
use proptest::prelude::*;
use support::*;

const BASE: &str = "0 * * * *";
const PACE: &str = "*/7 * * * *";

fn t0() -> DateTime<Utc> {
    "2026-03-02T10:00:00Z".parse().unwrap()
}

fn fmt(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn fires(expr: &str, t: DateTime<Utc>) -> bool {
    Schedule::parse(expr)
        .unwrap()
        .next_after(t - Duration::seconds(1), chrono_tz::UTC)
        == Some(t)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn every_slot_of_the_schedule_in_force_is_recorded_once_across_switches(
        gaps in prop::collection::vec((1i64..25, 0i64..60), 6..10),
        override_at in 60i64..2 * 3600,
        override_len in 600i64..2 * 3600,
        pause_at in 60i64..3 * 3600,
        pause_len in 300i64..3600,
    ) {
        let mut kit = Kit::new();
        kit.tasks(&format!(
            "[[task]]\nname = \"p\"\nschedule = \"{BASE}\"\ncommand = \"true\"\n"
        ));
        let ov = t0() + Duration::seconds(override_at);
        let ps = t0() + Duration::seconds(pause_at);
        let mut changes = vec![
            (ov, vec!["override".to_string(), "p".into(), "--schedule".into(), PACE.into(),
                      "--for".into(), format!("{override_len}s"), "--reason".into(), "prop".into()]),
            (ps, vec!["pause".to_string(), "p".into(), "--for".into(), format!("{pause_len}s"),
                      "--reason".into(), "prop".into()]),
        ];
        changes.sort_by_key(|c| c.0);
        let mut t = t0() + Duration::seconds(3);
        let mut last = t;
        for (min, sec) in gaps {
            // The changes due before this tick happen first.
            while changes.first().is_some_and(|c| c.0 < t) {
                let (at, args) = changes.remove(0);
                kit.at(&fmt(at));
                kit.ctl().args(&args).ok();
            }
            kit.at(&fmt(t));
            kit.tick().ok();
            last = t;
            t = t + Duration::minutes(min) + Duration::seconds(sec - t.timestamp() % 60);
        }
        // The reference: each minute from the first tick's to the last's.
        let ov_end = ov + Duration::seconds(override_len);
        let ps_end = ps + Duration::seconds(pause_len);
        let mut want = Vec::new();
        let mut m = t0();
        while m <= last {
            let over = ov <= m && m < ov_end && ov < last;
            let pace = if over { PACE } else { BASE };
            if fires(pace, m) {
                let paused = ps <= m && m < ps_end && ps < last;
                want.push((m.format("%H:%M").to_string(), paused));
            }
            m += Duration::minutes(1);
        }
        let c = kit.conn();
        let mut s = c.prepare(
            "SELECT substr(scheduled_for, 12, 5), status FROM supervisor_executions
             WHERE task = 'p' ORDER BY scheduled_for, id").unwrap();
        let got: Vec<(String, bool)> = s
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)? == "skipped")))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        prop_assert_eq!(got, want);
    }
}
