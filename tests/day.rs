//! The reference workload (examples/assistant.toml, the original system's
//! 72 tasks) run through a whole simulated day: one real `kit-tick --now T`
//! per minute, each claimed slot run by the real `kit-run`. The expected
//! number of executions per task comes from an independent model of cron's
//! rules below (a literal minute-by-minute simulation of cronie's loop,
//! sharing no code with kit), never from kit's own output.
//!
//! Run `cargo test --test day -- --nocapture` to see how long the day takes
//! and how much the DB grew.

mod support;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use kit_db::task::file::{self, TaskFile};
use kit_db::task::Command;
use std::collections::BTreeMap;
use std::path::PathBuf;
use support::*;

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/assistant.toml")
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The example as shipped, with two test-only changes: the stand-ins that
/// sleep become `true` (a day must take seconds), and kit's own maintenance
/// tasks find the kit-db under test on their PATH.
fn reference_workload(kit: &Kit) -> TaskFile {
    let mut f = file::load(&example()).unwrap_or_else(|e| panic!("{e}"));
    for t in &mut f.tasks {
        if t.command.display().contains("sleep") && !t.is_daemon() {
            t.command = Command::Argv(vec!["true".into()]);
        }
        if t.name.starts_with("kit-db-") {
            let path = format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir().display());
            t.env.insert("PATH".into(), path);
        }
    }
    let copy = kit.file("assistant.toml", &file::export(&f));
    kit.ctl().arg("apply").arg(&copy).ok();
    f
}

/// Ticks every minute from `start` for `minutes` minutes, piping each
/// tick's claims into kit-run. Returns how long it took.
fn simulate(kit: &Kit, start: DateTime<Utc>, minutes: i64) -> std::time::Duration {
    let begun = std::time::Instant::now();
    for i in 0..minutes {
        let now = stamp(start + Duration::minutes(i));
        let claims = kit.tick().arg("--json").env("KIT_NOW", &now).ok();
        if claims.stdout.trim().is_empty() {
            continue;
        }
        kit.run()
            .arg("-")
            .env("KIT_NOW", &now)
            .stdin(&claims.stdout)
            .ok();
    }
    begun.elapsed()
}

fn counts(kit: &Kit) -> BTreeMap<String, i64> {
    let c = kit.conn();
    let mut s = c
        .prepare("SELECT task, count(*) FROM supervisor_executions GROUP BY task")
        .unwrap();
    s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Executions the schedules imply for ticks at every minute of
/// [start, start + minutes), task by task (zero entries left out).
fn expected(f: &TaskFile, start: DateTime<Utc>, minutes: i64) -> BTreeMap<String, i64> {
    let default_zone = f
        .settings
        .as_ref()
        .and_then(|s| s.timezone.as_deref())
        .unwrap_or("UTC");
    let mut out = BTreeMap::new();
    for t in f.tasks.iter().filter(|t| t.enabled && !t.is_daemon()) {
        let zone: Tz = t
            .timezone
            .as_deref()
            .unwrap_or(default_zone)
            .parse()
            .unwrap();
        let n = oracle::count(&t.schedule, zone, start, minutes);
        if n > 0 {
            out.insert(t.name.clone(), n);
        }
    }
    out
}

/// Nothing left open, nothing missed, skipped or failed.
fn assert_all_succeeded(kit: &Kit) {
    let bad: Vec<(String, String, Option<String>)> = {
        let c = kit.conn();
        let mut s = c
            .prepare("SELECT task, status, reason FROM supervisor_executions WHERE status <> 'success' LIMIT 20")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert!(bad.is_empty(), "executions that did not succeed: {bad:#?}");
}

fn db_bytes(kit: &Kit) -> u64 {
    kit.kdb().arg("checkpoint").ok();
    std::fs::metadata(&kit.db).unwrap().len()
}

#[test]
fn a_simulated_day_of_the_reference_workload_runs_exactly_the_slots_its_schedules_imply() {
    let kit = Kit::new();
    let f = reference_workload(&kit);
    assert_eq!(
        f.tasks.len(),
        72,
        "the reference workload models the original's 72 tasks"
    );
    assert_eq!(f.tasks.iter().filter(|t| t.is_daemon()).count(), 11);
    assert_eq!(f.tasks.iter().filter(|t| t.enabled).count(), 71);

    // Wednesday 11 June 2025 in Warsaw (CEST all day): an article day.
    let zone: Tz = "Europe/Warsaw".parse().unwrap();
    let start = zone
        .with_ymd_and_hms(2025, 6, 11, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let before = db_bytes(&kit);
    let took = simulate(&kit, start, 1440);

    let want = expected(&f, start, 1440);
    let total: i64 = want.values().sum();
    assert_eq!(counts(&kit), want, "executions per task");
    assert_all_succeeded(&kit);
    assert_eq!(kit.count("status IN ('queued', 'running')"), 0);
    // Spot checks of the model itself, so a wrong oracle cannot pass quietly.
    assert_eq!(want["camera-motion-review"], 288);
    assert_eq!(want["device-poll"], 144);
    assert_eq!(want["security-scan"], 4);
    assert_eq!(want["article"], 1);
    assert_eq!(want["market-quotes"], 36);
    assert!(!want.contains_key("weekly-reflection") && !want.contains_key("security-adaptive"));

    // kit's own maintenance ran for real against this DB.
    assert_eq!(
        kit.count("task = 'kit-db-checkpoint' AND status = 'success'"),
        24
    );
    let backups = std::fs::read_dir(kit.home.join("backups"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        backups, 1,
        "kit-db-backup leaves one backup in $KIT_HOME/backups"
    );

    let end = stamp(start + Duration::minutes(1439) + Duration::seconds(30));
    let status = kit
        .ctl()
        .args(["status", "--json"])
        .env("KIT_NOW", &end)
        .run();
    let s = status.json();
    assert_eq!(s["tasks"]["total"], 72, "{s:#}");
    assert_eq!(s["tasks"]["enabled"], 71, "{s:#}");
    assert_eq!(s["today"]["total"], total, "{s:#}");
    assert_eq!(s["today"]["by_status"]["success"], total, "{s:#}");
    assert_eq!(s["running"], 0, "{s:#}");
    assert_eq!(s["queued"], 0, "{s:#}");

    let after = db_bytes(&kit);
    eprintln!(
        "simulated day: {total} executions in {:.1}s; DB {before} -> {after} bytes ({:.0} bytes per 1,000 executions)",
        took.as_secs_f64(),
        (after - before) as f64 * 1000.0 / total as f64
    );
}

/// Simulates the reference workload for `minutes` from local midnight of
/// `day` in Warsaw; every task runs as often as its schedule implies and
/// every run succeeds.
fn warsaw_night_runs_as_expected(kit: &Kit, (y, m, d): (i32, u32, u32), minutes: i64) {
    let f = reference_workload(kit);
    let zone: Tz = "Europe/Warsaw".parse().unwrap();
    let start = zone
        .with_ymd_and_hms(y, m, d, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    simulate(kit, start, minutes);
    assert_eq!(counts(kit), expected(&f, start, minutes));
    assert_all_succeeded(kit);
}

/// Spring forward in Warsaw (02:00 CET -> 03:00 CEST): wildcard jobs skip
/// the missing hour; a fixed-time job due in it runs once, at 03:00.
#[test]
fn the_night_the_clocks_go_forward_follows_cronie() {
    let kit = Kit::new();
    // local 00:00 to 04:59 (four real hours)
    warsaw_night_runs_as_expected(&kit, (2025, 3, 30), 4 * 60);
    assert_eq!(
        kit.count("task = 'weather'"),
        4,
        "hourly: 0, 1, 3 and 4 o'clock"
    );
    let slot: String =
        kit.scalar("SELECT scheduled_for FROM supervisor_executions WHERE task = 'distillation'");
    assert_eq!(
        slot, "2025-03-30T01:00:00.000Z",
        "02:00 does not exist: it runs at 03:00 CEST"
    );
}

/// Fall back in Warsaw (03:00 CEST -> 02:00 CET): wildcard jobs run in both
/// passes of the repeated hour; fixed-time jobs run once.
#[test]
fn the_night_the_clocks_go_back_follows_cronie() {
    let kit = Kit::new();
    // local 00:00 to 04:59 (six real hours)
    warsaw_night_runs_as_expected(&kit, (2025, 10, 26), 6 * 60);
    assert_eq!(
        kit.count("task = 'weather'"),
        6,
        "hourly: 0, 1, 2, 2 again, 3 and 4 o'clock"
    );
    assert_eq!(
        kit.count("task = 'distillation'"),
        1,
        "02:00 comes twice, runs once"
    );
    assert_eq!(kit.count("task = 'camera-motion-review'"), 72);
}

/// A literal model of cron's rules, written from cronie's documented
/// behaviour and independent of kit's scheduler.
mod oracle {
    use super::*;

    struct Cron {
        minute: Vec<bool>,
        hour: Vec<bool>,
        dom: Vec<bool>,
        month: Vec<bool>,
        dow: Vec<bool>,
        /// cronie: a day field is "starred" when it begins with '*'.
        dom_star: bool,
        dow_star: bool,
        /// cronie: a job is "wildcard" when its minute or hour field begins with '*'.
        wildcard: bool,
    }

    fn field(text: &str, lo: usize, hi: usize) -> Vec<bool> {
        let mut set = vec![false; hi + 1];
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (r, s.parse::<usize>().unwrap()),
                None => (part, 1),
            };
            let (a, b) = match range {
                "*" => (lo, hi),
                r => match r.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => {
                        let a: usize = r.parse().unwrap();
                        (a, if step > 1 { hi } else { a })
                    }
                },
            };
            for v in (a..=b).step_by(step) {
                set[v] = true;
            }
        }
        set
    }

    fn parse(expr: &str) -> Cron {
        let expr = match expr {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            e => e,
        };
        let f: Vec<&str> = expr.split_whitespace().collect();
        assert_eq!(
            f.len(),
            5,
            "the oracle reads five-field expressions: {expr}"
        );
        let mut dow = field(f[4], 0, 7);
        if dow[7] {
            dow[0] = true;
        }
        Cron {
            minute: field(f[0], 0, 59),
            hour: field(f[1], 0, 23),
            dom: field(f[2], 1, 31),
            month: field(f[3], 1, 12),
            dow,
            dom_star: f[2].starts_with('*'),
            dow_star: f[4].starts_with('*'),
            wildcard: f[0].starts_with('*') || f[1].starts_with('*'),
        }
    }

    fn matches(c: &Cron, t: NaiveDateTime) -> bool {
        use chrono::{Datelike, Timelike};
        let dom = c.dom[t.day() as usize];
        let dow = c.dow[t.weekday().num_days_from_sunday() as usize];
        let day = if c.dom_star || c.dow_star {
            dom && dow
        } else {
            dom || dow
        };
        c.minute[t.minute() as usize]
            && c.hour[t.hour() as usize]
            && c.month[t.month() as usize]
            && day
    }

    /// Executions of `schedule` for ticks at each minute of [start, start+minutes).
    pub fn count(schedule: &str, zone: Tz, start: DateTime<Utc>, minutes: i64) -> i64 {
        if let Some(every) = schedule.strip_prefix("@every ") {
            // Anchored at the first tick: start, start+step, ...
            let every = every.trim();
            let (n, unit) = every.split_at(every.len() - 1);
            let step = n.parse::<i64>().unwrap()
                * if unit == "h" {
                    60
                } else {
                    assert_eq!(unit, "m");
                    1
                };
            return (minutes - 1) / step + 1;
        }
        let c = parse(schedule);
        let local = |u: DateTime<Utc>| u.with_timezone(&zone).naive_local();
        // cronie's loop: `seen` is the last local minute handled. A forward
        // jump runs fixed-time jobs for every skipped minute (once) and
        // wildcard jobs for the current one; a backward jump runs only
        // wildcard jobs until the local clock passes `seen` again.
        let mut seen = local(start - Duration::minutes(1));
        let mut n = 0;
        for i in 0..minutes {
            let now = local(start + Duration::minutes(i));
            let d = (now - seen).num_minutes();
            let fire = if d == 1 || c.wildcard {
                matches(&c, now)
            } else if d > 1 {
                (1..=d).any(|k| matches(&c, seen + Duration::minutes(k)))
            } else {
                false
            };
            n += fire as i64;
            seen = seen.max(now);
        }
        n
    }
}
