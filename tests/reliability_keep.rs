//! Chaos on kit-keep: 30 times, kit-keep is SIGKILLed at a random moment
//! and started again, while its daemons run, crash on their own (two of
//! them exit every fraction of a second) and are SIGKILLed by the test.
//! Never are two instances of a daemon alive at once (counted by a unique
//! marker in each daemon's command line, scanned from /proc every few
//! milliseconds throughout, and by the pid and start time kit-keep records),
//! never has a daemon two `running` rows, and after a final graceful stop
//! (SIGTERM) no process of any daemon is left, every row is terminal, and
//! the DB passes `kit-db check`.
//!
//! tests/keep_adopt.rs shows one kill -9 and the adoption rules; this is
//! the repeated version with crashes racing the restarts. The moments come
//! from a seeded LCG (replay with KIT_SEED=N); `KIT_SOAK=1` does 300 rounds.

mod keep_util;
mod reliability_util;
mod support;

use keep_util::*;
use reliability_util::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::*;

/// (name, script): the marker comment keeps `sh` itself running (a last
/// command would be exec'd) and names the instance in its command line.
fn daemons(tag: &str) -> Vec<(String, String)> {
    [
        ("steady-a", "sleep 1000; exit 0"),
        ("steady-b", "sleep 1000; exit 0"),
        ("flaky", "sleep 0.3; exit 1"),
        ("flaky-ok", "sleep 0.7; exit 0"),
    ]
    .iter()
    .map(|(n, s)| (n.to_string(), format!("{s} # kitchaos-{n}-{tag}")))
    .collect()
}

fn tasks(ds: &[(String, String)]) -> String {
    ds.iter()
        .map(|(n, s)| {
            format!(
                "[[task]]\nname = \"{n}\"\nschedule = \"@daemon\"\ncommand = \"{s}\"\n\
                 restart_delay = \"10ms\"\nrestart_max_delay = \"100ms\"\nstable_after = \"200ms\"\n\
                 crashloop = {{ failures = 1000, within = \"1m\" }}\n\n"
            )
        })
        .collect()
}

/// Live daemon leaders per daemon, found by the marker in their command
/// line. A /proc scan is not atomic, so every hit is checked again after
/// the scan: two processes still alive then were alive together.
fn instances(ds: &[(String, String)]) -> BTreeMap<String, Vec<i32>> {
    let mut found: Vec<(String, i32, Option<i64>)> = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd);
        // Only session leaders: kit-keep starts each daemon in its own
        // session, and a child `sh` forks shows the same command line
        // until it execs.
        if session_of(pid) != Some(pid) {
            continue;
        }
        for (name, script) in ds {
            let marker = script.rsplit_once("# ").unwrap().1;
            if cmd.contains(marker) {
                found.push((name.clone(), pid, start_time(pid)));
            }
        }
    }
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (name, pid, start) in found {
        if same_process_alive(i64::from(pid), start) {
            out.entry(name).or_default().push(pid);
        }
    }
    out
}

/// Field 6 of /proc/PID/stat: the session id.
fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

fn assert_single_instances(ds: &[(String, String)], ctx: &str) {
    let live = instances(ds);
    for (name, pids) in &live {
        assert!(pids.len() <= 1, "{ctx}: two instances of {name}: {pids:?}");
    }
}

/// At most one `running` row per daemon (checked once kit-keep has settled
/// its startup).
fn assert_one_running_row(kit: &Kit, ctx: &str) {
    let dup: Vec<String> = {
        let c = kit.conn();
        let mut s = c
            .prepare(
                "SELECT task FROM supervisor_executions WHERE status = 'running'
                 GROUP BY task HAVING count(*) > 1",
            )
            .unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert!(dup.is_empty(), "{ctx}: two running rows for {dup:?}");
}

/// Every process of a daemon (found by the environment kit-keep gives
/// them, inherited by their children) is in the process group of a live
/// daemon leader: what a dead instance left behind does not run on.
fn assert_no_stray_processes(kit: &Kit, ds: &[(String, String)], ctx: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let leaders: Vec<i32> = instances(ds).into_values().flatten().collect();
        let stray = daemon_processes(&kit.db, None)
            .into_iter()
            .filter(|&p| !pgid_of(p).is_some_and(|g| leaders.contains(&g)))
            .map(|p| {
                let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                format!(
                    "{p} (group {:?}): {}",
                    pgid_of(p),
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                )
            })
            .collect::<Vec<_>>();
        if stray.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{ctx}: processes of dead daemon instances still run: {stray:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Field 5 of /proc/PID/stat: the process group.
fn pgid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// Watches for `d`, checking the invariant every few milliseconds.
fn watch(ds: &[(String, String)], d: Duration, ctx: &str) {
    let end = Instant::now() + d;
    loop {
        assert_single_instances(ds, ctx);
        if Instant::now() >= end {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kit_keep_killed_30_times_while_daemons_crash_never_runs_a_daemon_twice_nor_leaves_one_behind() {
    let rounds = if soak() { 300 } else { 30 };
    let seed = seed(0x5EED_0002);
    let ctx0 = format!("seed {seed} (replay: KIT_SEED={seed} cargo test --test reliability_keep)");
    eprintln!("{ctx0}");
    let mut rng = Lcg::new(seed);
    let kit = Kit::new();
    let ds = daemons(&std::process::id().to_string());
    kit.tasks(&tasks(&ds));

    let mut keep = start(&kit);
    let mut test_kills = 0;
    let mut retired = Vec::new();
    for round in 0..rounds {
        let ctx = format!("{ctx0}, round {round}");
        // kit-keep runs for a random while; a daemon may be killed under it.
        watch(&ds, Duration::from_millis(50 + rng.below(250)), &ctx);
        if rng.below(2) == 0 {
            let (name, _) = &ds[rng.below(ds.len() as u64) as usize];
            if let Some(&pid) = instances(&ds).get(name).and_then(|p| p.first()) {
                // SAFETY: plain kill of a daemon leader this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                test_kills += 1;
            }
            watch(&ds, Duration::from_millis(rng.below(30)), &ctx);
        }
        keep.kill9();
        // Nobody supervises for a moment: daemons die and are not replaced.
        // A leader killed now leaves its `sleep` child behind in its group,
        // for the next kit-keep to deal with.
        if rng.below(3) == 0 {
            let (name, _) = &ds[rng.below(ds.len() as u64) as usize];
            if let Some(&pid) = instances(&ds).get(name).and_then(|p| p.first()) {
                // SAFETY: plain kill of a daemon leader this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                test_kills += 1;
            }
        }
        watch(&ds, Duration::from_millis(rng.below(150)), &ctx);
        // (The old handle is kept: dropping one kills every daemon, which is
        // keep_util's cleanup after a failure, not what kit-keep does.)
        retired.push(std::mem::replace(&mut keep, start(&kit)));
        assert_single_instances(&ds, &ctx);
        assert_one_running_row(&kit, &ctx);
        assert_no_stray_processes(&kit, &ds, &ctx);
    }

    // Settled: each daemon runs as exactly the process kit-keep recorded.
    for (name, _) in ds.iter().filter(|(n, _)| n.starts_with("steady")) {
        let pid = wait_running(&kit, name);
        let (rec_pid, rec_start): (i64, Option<i64>) = kit
            .conn()
            .query_row(
                "SELECT pid, pid_start FROM supervisor_daemons WHERE task = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(rec_pid, i64::from(pid));
        assert!(
            same_process_alive(rec_pid, rec_start),
            "{ctx0}: {name}'s record is stale"
        );
        assert_eq!(
            instances(&ds).get(name.as_str()),
            Some(&vec![pid]),
            "{ctx0}: {name}"
        );
    }
    assert_one_running_row(&kit, &ctx0);

    // A graceful stop leaves nothing: no daemon, no child of one.
    assert_eq!(keep.term(), 0, "{ctx0}: {}", keep.stderr());
    let left = daemon_processes(&kit.db, None);
    assert!(
        left.is_empty(),
        "{ctx0}: processes left after the stop: {left:?}"
    );
    assert!(instances(&ds).is_empty(), "{ctx0}");
    assert!(
        open_rows(&kit).is_empty(),
        "{ctx0}: open rows: {:?}",
        open_rows(&kit)
    );
    assert_db_valid(&kit, &ctx0);
    let starts: i64 = kit.scalar("SELECT count(*) FROM supervisor_executions");
    eprintln!(
        "{ctx0}: {rounds} kill -9 of kit-keep, {test_kills} daemons killed by the test, \
         {starts} daemon runs recorded, statuses {:?}",
        status_counts(&kit)
    );
}
