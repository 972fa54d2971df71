//! The shared store, end to end through the real binaries: where the DB
//! lives and how private it is, creation and migration on open, refusing
//! what is not (or no longer) a kit DB without touching it, the `kit-db`
//! maintenance commands, and no write lost when many processes write at once.

mod support;

use kit::kit_db::store::schema;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use support::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Runs the tool with umask 0, so the modes it sets are its own doing.
fn no_umask(mut c: Cmd) -> Cmd {
    unsafe {
        c.inner.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    c
}

/// A DB's bytes, mtime and the files beside it, to prove "left untouched".
/// The WAL and shared-memory files are SQLite's own: a tool may create or
/// remove them (kit leaves the WAL in place on close), but a WAL that was
/// empty must stay empty, or the DB's content would have changed.
#[derive(PartialEq)]
struct Snapshot {
    bytes: Vec<u8>,
    mtime: SystemTime,
    siblings: Vec<String>,
}

fn wal_of(p: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", p.display()))
}

fn snapshot(p: &Path) -> Snapshot {
    let mut siblings: Vec<String> = std::fs::read_dir(p.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // kit-keep's lock file is taken before the DB is opened.
        .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm") && !n.ends_with(".keep.lock"))
        .collect();
    siblings.sort();
    let wal = wal_of(p);
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "snapshot of a DB with a non-empty WAL"
    );
    Snapshot {
        bytes: std::fs::read(p).unwrap(),
        mtime: std::fs::metadata(p).unwrap().modified().unwrap(),
        siblings,
    }
}

fn assert_untouched(before: &Snapshot, p: &Path, after_what: &str) {
    let now = snapshot(p);
    assert!(
        now.bytes == before.bytes,
        "{after_what}: {} changed",
        p.display()
    );
    assert!(
        now.mtime == before.mtime,
        "{after_what}: {} mtime changed",
        p.display()
    );
    assert_eq!(
        now.siblings, before.siblings,
        "{after_what}: files beside the DB changed"
    );
}

/// Every way a tool opens the DB, each pointed at `db`.
fn every_tool(kit: &Kit, db: &Path) -> Vec<(&'static str, Cmd)> {
    let tasks = kit.file(
        "store-tasks.toml",
        "[[task]]\nname = \"t\"\nschedule = \"@daily\"\ncommand = \"true\"\n",
    );
    let at = |c: Cmd| c.env("KIT_DB", db);
    vec![
        ("kit-db init", at(kit.kdb().arg("init"))),
        ("kit-db migrate", at(kit.kdb().arg("migrate"))),
        ("kit-db check", at(kit.kdb().arg("check"))),
        ("kit-ctl list", at(kit.ctl().arg("list"))),
        ("kit-ctl export", at(kit.ctl().arg("export"))),
        ("kit-ctl apply", at(kit.ctl().arg("apply").arg(&tasks))),
        (
            "kit-ctl add",
            at(kit
                .ctl()
                .args(["add", "u", "-s", "@daily", "--update", "--", "true"])),
        ),
        (
            "kit-run",
            at(kit.run().args(["--name", "adhoc", "--", "true"])),
        ),
        (
            "kit-tick",
            at(kit.tick().args(["--now", "2030-01-01T00:00:00Z"])),
        ),
        ("kit-heal", at(kit.heal())),
    ]
}

/// `every_tool` plus kit-keep, which on a good DB would run until stopped:
/// for the cases where every tool must refuse the DB.
fn refusing_tools(kit: &Kit, db: &Path) -> Vec<(&'static str, Cmd)> {
    let mut tools = every_tool(kit, db);
    tools.push((
        "kit-keep",
        kit.tool("kit-keep")
            .args(["--heal-every", "0"])
            .env("KIT_DB", db),
    ));
    tools
}

/// The same command run as `nobody`, from a copy of the tool inside the
/// test's directory: the build's own target dir may sit under a directory
/// only root can enter (a clone in a 0700 mktemp dir, say).
fn as_nobody(kit: &Kit, cmd: Cmd) -> Cmd {
    let bins = kit.path("nobody-bin");
    std::fs::create_dir_all(&bins).unwrap();
    std::fs::set_permissions(&bins, std::fs::Permissions::from_mode(0o755)).unwrap();
    let program = std::path::PathBuf::from(cmd.inner.get_program());
    let copy = bins.join(program.file_name().unwrap());
    if !copy.exists() {
        std::fs::copy(&program, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut c = std::process::Command::new(&copy);
    c.args(cmd.inner.get_args())
        .env_clear()
        .uid(65534)
        .gid(65534);
    for (k, v) in cmd.inner.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    if let Some(d) = cmd.inner.get_current_dir() {
        c.current_dir(d);
    }
    Cmd::from_command(c)
}

/// Runs a tool that must exit by itself; a tool still running after 30 s
/// has accepted what it should have refused.
fn bounded(what: &str, cmd: Cmd) -> Out {
    let mut child = cmd.spawn();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} is still running after 30 s:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A populated DB, fully checkpointed (no -wal beside it).
fn populated(kit: &Kit) {
    kit.tasks(
        "[[task]]\nname = \"a\"\nschedule = \"* * * * *\"\ncommand = \"true\"\n\n\
         [[task]]\nname = \"b\"\nschedule = \"@hourly\"\ncommand = [\"echo\", \"b\"]\n",
    );
    for _ in 0..20 {
        kit.run()
            .args(["--name", "fill", "--", "echo", "some output"])
            .ok();
    }
    let j = kit.kdb().args(["checkpoint", "--json"]).ok().json();
    assert_eq!(j["busy"], false);
    assert_eq!(
        std::fs::metadata(wal_of(&kit.db)).map_or(0, |m| m.len()),
        0,
        "the WAL was not merged"
    );
}

/// Deterministic garbage, so a failure reproduces.
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn write_at(p: &Path, offset: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn db_dir_is_created_0700_and_db_file_0600_whatever_the_umask() {
    let kit = Kit::new();
    let home = kit.path("deep/er/home");
    no_umask(
        kit.kdb()
            .env("KIT_HOME", &home)
            .env("KIT_DB", "")
            .arg("init"),
    )
    .ok();
    for d in [kit.path("deep"), kit.path("deep/er"), home.clone()] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    assert_eq!(mode(&home.join("kit.db")), 0o600);

    // The WAL and shared-memory files exist only while a tool holds the DB:
    // catch them with a kit-run whose command waits for a go-ahead file.
    let go = kit.path("go");
    let script = format!("while [ ! -e '{}' ]; do sleep 0.02; done", go.display());
    let mut child = no_umask(
        kit.run()
            .env("KIT_HOME", &home)
            .env("KIT_DB", "")
            .args(["--name", "hold", "--", "sh", "-c", &script]),
    )
    .spawn();
    let wal = home.join("kit.db-wal");
    let shm = home.join("kit.db-shm");
    wait_for(
        Duration::from_secs(20),
        "kit-run to hold the DB open",
        || wal.exists() && shm.exists(),
    );
    for f in [&wal, &shm] {
        assert_eq!(mode(f) & 0o077, 0, "{} is readable by others", f.display());
    }
    std::fs::write(&go, "").unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn db_path_comes_from_flag_then_kit_db_then_kit_home_then_home() {
    let kit = Kit::new();
    let path = |mut c: Cmd, drop: &[&str]| {
        for k in drop {
            c.inner.env_remove(k);
        }
        c.arg("path").ok().stdout.trim().to_string()
    };
    let flag = kit.path("flag.db");
    let env = kit.path("env.db");
    let home = kit.path("khome");
    assert_eq!(
        path(kit.kdb().env("KIT_DB", &env).arg("--db").arg(&flag), &[]),
        flag.display().to_string(),
        "--db wins over KIT_DB"
    );
    assert_eq!(
        path(kit.kdb().env("KIT_DB", &env), &[]),
        env.display().to_string()
    );
    assert_eq!(
        path(kit.kdb().env("KIT_HOME", &home), &["KIT_DB"]),
        home.join("kit.db").display().to_string()
    );
    assert_eq!(
        path(kit.kdb().env("KIT_HOME", &home).env("KIT_DB", ""), &[]),
        home.join("kit.db").display().to_string(),
        "an empty KIT_DB means unset"
    );
    assert_eq!(
        path(
            kit.kdb().env("HOME", kit.path("h")),
            &["KIT_DB", "KIT_HOME"]
        ),
        kit.path("h/.kit/kit.db").display().to_string()
    );
    let j = kit
        .kdb()
        .env("KIT_DB", &env)
        .args(["path", "--json"])
        .ok()
        .json();
    assert_eq!(j["path"], env.display().to_string());
    // `path` only prints: it creates nothing.
    assert!(!env.exists() && !flag.exists() && !home.exists());
}

#[test]
fn every_tool_creates_and_migrates_the_db_on_open_and_twice_is_harmless() {
    let kit = Kit::new();
    for (i, (what, _)) in every_tool(&kit, &kit.db).into_iter().enumerate() {
        let db = kit.path(&format!("fresh{i}/sub/kit.db"));
        for round in 0..2 {
            let (_, cmd) = every_tool(&kit, &db).into_iter().nth(i).unwrap();
            let out = cmd.run();
            assert_eq!(
                out.code, 0,
                "{what} (round {round}) on a new DB: {}",
                out.stderr
            );
        }
        let c = rusqlite::Connection::open(&db).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, schema::LATEST, "{what}");
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal", "{what}");
        for t in [
            "supervisor_tasks",
            "supervisor_executions",
            "supervisor_events",
            "today",
        ] {
            let n: i64 = c
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE name = ?1",
                    [t],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "{what} did not create {t}");
        }
        drop(c);
        let check = kit
            .kdb()
            .env("KIT_DB", &db)
            .args(["check", "--json"])
            .ok()
            .json();
        assert_eq!(check["ok"], true, "{what}: {check}");
    }
}

#[test]
fn an_older_schema_is_migrated_on_open_keeping_its_rows() {
    // Every version before the latest: build it from the migrations, put a
    // row in when the tables exist, and let an ordinary tool open it.
    for from in 0..schema::LATEST {
        let kit = Kit::new();
        std::fs::create_dir_all(&kit.home).unwrap();
        {
            let c = rusqlite::Connection::open(&kit.db).unwrap();
            for sql in &schema::MIGRATIONS[..from as usize] {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(&format!("PRAGMA user_version = {from}"))
                .unwrap();
            if from >= 1 {
                c.execute_batch(
                    "INSERT INTO supervisor_events (id, created_at, kind, severity, message, dedupe_key, delivery)
                     VALUES (7, '2025-06-01T10:00:00.000Z', 'missed', 'warning', 'kept', 'k:7', 'delivered')",
                )
                .unwrap();
                // A retry linked to its first try: a rebuild of the table
                // must keep the link (foreign keys are on in the tools).
                c.execute_batch(
                    "INSERT INTO supervisor_executions (id, task, trigger, created_at, status)
                     VALUES (1, 'a', 'manual', '2025-06-01T10:00:00.000Z', 'failed');
                     INSERT INTO supervisor_executions (id, task, trigger, attempt, created_at, status, retry_of)
                     VALUES (2, 'a', 'retry', 2, '2025-06-01T10:01:00.000Z', 'success', 1);",
                )
                .unwrap();
            }
        }
        kit.ctl().arg("list").ok();
        if from >= 1 {
            assert_eq!(
                kit.scalar::<String>(
                    "SELECT message || '/' || delivery FROM supervisor_events WHERE id = 7"
                ),
                "kept/delivered",
                "from v{from}"
            );
            assert_eq!(
                kit.scalar::<i64>("SELECT retry_of FROM supervisor_executions WHERE id = 2"),
                1,
                "from v{from}: retry_of"
            );
            assert_eq!(
                kit.scalar::<i64>("SELECT id FROM last_runs WHERE task = 'a'"),
                2,
                "from v{from}: the views still read the table"
            );
        }
        assert_eq!(
            kit.scalar::<i64>("PRAGMA user_version"),
            schema::LATEST,
            "from v{from}"
        );
        kit.kdb().arg("check").ok();
    }
}

#[test]
fn eight_tools_opening_a_new_db_at_once_all_succeed() {
    // Creating the DB races: one tool commits the schema while the others
    // are between reading the file and reading its version. Several rounds,
    // each on a fresh DB, so a window that narrow still shows.
    for round in 0..10 {
        let kit = Kit::new();
        let kids: Vec<_> = (0..8)
            .map(|i| {
                if i % 2 == 0 {
                    kit.ctl().arg("list").spawn()
                } else {
                    kit.run().args(["--name", "race", "--", "true"]).spawn()
                }
            })
            .collect();
        for k in kids {
            let out = k.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round}: {err}");
        }
        assert_eq!(kit.count("task = 'race'"), 4);
    }
}

#[test]
fn a_db_written_by_a_newer_kit_is_refused_and_left_byte_for_byte() {
    let kit = Kit::new();
    populated(&kit);
    {
        let c = kit.conn();
        c.execute_batch("PRAGMA user_version = 999").unwrap();
    }
    let before = snapshot(&kit.db);
    for (what, cmd) in refusing_tools(&kit, &kit.db) {
        bounded(what, cmd)
            .fails()
            .stderr_has("newer kit")
            .stderr_has("schema version 999")
            .stderr_has(&kit.db.display().to_string());
        assert_untouched(&before, &kit.db, what);
    }
}

#[test]
fn a_file_that_is_not_a_sqlite_db_is_refused_and_left_untouched() {
    let kit = Kit::new();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "text.db",
            b"hello, I am a shopping list\nmilk\neggs\n".to_vec(),
        ),
        ("short.db", b"SQLite".to_vec()),
        ("binary.db", garbage(8192, 42)),
    ];
    for (name, content) in cases {
        let p = kit.path(&format!("{name}/{name}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &content).unwrap();
        let before = snapshot(&p);
        for (what, cmd) in refusing_tools(&kit, &p) {
            bounded(what, cmd)
                .fails()
                .stderr_has("not a kit database")
                .stderr_has(&p.display().to_string());
            assert_untouched(&before, &p, &format!("{what} on {name}"));
        }
    }
    // Another program's SQLite DB: tables, but no kit schema version.
    let other = kit.path("other/app.sqlite");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE contacts(name TEXT); INSERT INTO contacts VALUES ('x');")
        .unwrap();
    let before = snapshot(&other);
    for (what, cmd) in refusing_tools(&kit, &other) {
        bounded(what, cmd).fails().stderr_has("some other program");
        assert_untouched(&before, &other, what);
    }
}

#[test]
fn a_corrupt_db_gives_a_clear_error_and_is_never_written() {
    // (how to damage it, what the error must say)
    type Damage = fn(&Path);
    let cases: Vec<(&str, Damage)> = vec![
        ("data pages garbled", |p| {
            let len = std::fs::metadata(p).unwrap().len() as usize;
            write_at(p, 4096, &garbage(len - 4096, 7));
        }),
        ("schema page garbled", |p| {
            write_at(p, 100, &garbage(3996, 9))
        }),
        ("header fields garbled", |p| {
            write_at(p, 16, &garbage(84, 11))
        }),
        ("truncated mid-page", |p| {
            let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
            f.set_len(4096 + 1000).unwrap();
        }),
    ];
    for (name, damage) in cases {
        let kit = Kit::new();
        populated(&kit);
        damage(&kit.db);
        let before = snapshot(&kit.db);
        let check = kit.kdb().arg("check").run().fails();
        let said = format!("{}{}", check.stdout, check.stderr);
        assert!(
            said.contains("malformed") || said.contains("corrupt") || said.contains("not a"),
            "{name}: kit-db check did not say what is wrong:\n{said}"
        );
        assert_untouched(&before, &kit.db, &format!("{name}: kit-db check"));
        for (what, cmd) in refusing_tools(&kit, &kit.db) {
            if what == "kit-db check" {
                continue;
            }
            let out = bounded(what, cmd);
            assert!(
                !out.stderr.contains("panicked"),
                "{name}: {what}: {}",
                out.stderr
            );
            // Opening alone reads only the header and the schema, so with
            // only data pages damaged `init`/`migrate` may succeed; they must
            // still write nothing. Whatever reads a table must fail, naming the file.
            if out.code == 0 {
                assert!(
                    what == "kit-db init" || what == "kit-db migrate",
                    "{name}: {what} succeeded"
                );
            } else {
                assert!(
                    out.stderr.contains(&kit.db.display().to_string()),
                    "{name}: {what}: error does not name the file: {}",
                    out.stderr
                );
            }
            assert_untouched(&before, &kit.db, &format!("{name}: {what}"));
        }
    }
}

#[test]
fn a_directory_as_the_db_is_refused() {
    let kit = Kit::new();
    let dir = kit.path("db-is-a-dir");
    std::fs::create_dir_all(dir.join("inside")).unwrap();
    for (what, cmd) in refusing_tools(&kit, &dir) {
        bounded(what, cmd)
            .fails()
            .stderr_has("it is a directory")
            .stderr_has("db-is-a-dir");
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "{what} wrote into the directory");
        assert!(!wal_of(&dir).exists(), "{what}");
    }
}

#[test]
fn a_db_path_under_a_regular_file_is_a_clear_error() {
    let kit = Kit::new();
    let file = kit.file("plain", "not a directory\n");
    let db = file.join("kit.db");
    for (what, cmd) in refusing_tools(&kit, &db) {
        let out = bounded(what, cmd)
            .fails()
            .stderr_has(&file.display().to_string());
        assert!(
            out.stderr.to_lowercase().contains("not a directory"),
            "{what}: {}",
            out.stderr
        );
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a directory\n");
}

#[test]
fn a_fifo_as_the_db_is_refused_without_hanging() {
    let kit = Kit::new();
    let fifo = kit.path("fifo.db");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    for (what, cmd) in refusing_tools(&kit, &fifo) {
        bounded(what, cmd).fails().stderr_has("not a regular file");
    }
}

#[test]
fn an_unreadable_db_is_refused_and_left_untouched() {
    let kit = Kit::new();
    populated(&kit);
    let before = snapshot(&kit.db);
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        // root reads any file whatever its mode, so run the tools as
        // `nobody` instead: they may reach the 0600 root-owned DB but not read it.
        for d in [kit.dir.path(), kit.home.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).unwrap();
        }
    } else {
        std::fs::set_permissions(&kit.db, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let before_mode = mode(&kit.db);
    for (what, mut cmd) in refusing_tools(&kit, &kit.db) {
        if root {
            cmd = as_nobody(&kit, cmd);
        }
        let out = bounded(what, cmd).fails();
        assert!(
            out.stderr.contains("ermission denied")
                && out.stderr.contains(&kit.db.display().to_string()),
            "{what}: {}",
            out.stderr
        );
        assert_eq!(mode(&kit.db), before_mode, "{what}");
    }
    std::fs::set_permissions(&kit.db, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(snapshot(&kit.db).bytes == before.bytes);
}

#[test]
fn kit_db_maintenance_commands_print_parseable_json() {
    let kit = Kit::new();
    let j = kit.kdb().args(["init", "--json"]).ok().json();
    assert_eq!(j["schema_version"], schema::LATEST);
    assert_eq!(j["path"], kit.db.display().to_string());
    let j = kit.kdb().args(["migrate", "--json"]).ok().json();
    assert_eq!(j["schema_version"], schema::LATEST);
    populated(&kit);
    let j = kit.kdb().args(["check", "--json"]).ok().json();
    assert_eq!(j["ok"], true);
    assert_eq!(j["integrity"], serde_json::json!(["ok"]));
    assert_eq!(j["schema_version"], schema::LATEST);
    assert_eq!(j["supported_version"], schema::LATEST);
    assert_eq!(j["tasks"], 2);
    assert_eq!(j["executions"], 20);
    assert_eq!(j["open_executions"], 0);
    let j = kit.kdb().args(["checkpoint", "--json"]).ok().json();
    assert_eq!(j["busy"], false);
    assert!(
        j["wal_frames"].is_i64() && j["checkpointed"].is_i64(),
        "{j}"
    );
    let j = kit.kdb().args(["vacuum", "--json"]).ok().json();
    assert_eq!(j["vacuumed"], kit.db.display().to_string());
    let j = kit
        .kdb()
        .args(["prune", "--older-than", "30d", "--json"])
        .ok()
        .json();
    assert_eq!(j["executions_deleted"], 0);
    // Human output for the same commands is one line of prose, not JSON.
    kit.kdb().arg("check").ok().stdout_has("integrity:      ok");
    kit.kdb().arg("vacuum").ok().stdout_has("vacuumed");
    assert_eq!(kit.count("1=1"), 20);
}

#[test]
fn checkpoint_merges_the_wal_into_the_db_file() {
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    // A reader that stays open keeps the WAL from being merged on close.
    let c = kit.conn();
    c.execute_batch("PRAGMA wal_autocheckpoint = 0").unwrap();
    for i in 0..30 {
        kit.run()
            .args(["--name", &format!("w{i}"), "--", "true"])
            .ok();
    }
    let wal = wal_of(&kit.db);
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let j = kit.kdb().args(["checkpoint", "--json"]).ok().json();
    assert_eq!(j["busy"], false, "{j}");
    assert!(j["wal_frames"].as_i64().unwrap() > 0, "{j}");
    assert_eq!(j["checkpointed"], j["wal_frames"], "{j}");
    assert_eq!(
        std::fs::metadata(&wal).unwrap().len(),
        0,
        "TRUNCATE leaves an empty WAL"
    );
    drop(c);
    assert_eq!(kit.count("1=1"), 30);
}

#[test]
fn prune_removes_old_finished_history_but_never_queued_or_running_rows() {
    let kit = Kit::new();
    let now = "2030-06-15T12:00:00Z";
    let old = "2030-04-01T08:00:00Z"; // 75 days before `now`
    kit.tasks("[[task]]\nname = \"m\"\nschedule = \"* * * * *\"\ncommand = \"true\"\n");
    // Two queued slots, claimed long ago and never run.
    kit.tick().args(["--now", old]).ok();
    kit.tick().args(["--now", "2030-04-01T08:01:00Z"]).ok();
    assert_eq!(kit.count("status = 'queued'"), 2);
    let at = |when: &str, name: &str, cmd: &[&str]| {
        kit.run()
            .args(["--now", when, "--name", name, "--"])
            .args(cmd)
            .run();
    };
    for _ in 0..3 {
        at(old, "old-ok", &["true"]);
    }
    for _ in 0..2 {
        at(old, "old-fail", &["false"]);
    }
    at("2030-05-16T11:59:00Z", "edge-old", &["true"]); // 30d + 1m old: goes
    at("2030-05-16T12:01:00Z", "edge-new", &["true"]); // 30d - 1m old: stays
    at("2030-06-14T12:00:00Z", "recent", &["true"]);
    // A run that started long ago and is still running.
    let go = kit.path("go");
    let script = format!("while [ ! -e '{}' ]; do sleep 0.02; done", go.display());
    let mut running = kit
        .run()
        .args([
            "--now",
            old,
            "--name",
            "old-running",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .spawn();
    wait_for(Duration::from_secs(20), "the old run to be running", || {
        kit.count("task = 'old-running' AND status = 'running'") == 1
    });
    assert_eq!(kit.count("1=1"), 2 + 3 + 2 + 3 + 1);

    let j = kit
        .kdb()
        .args(["prune", "--older-than", "30d", "--now", now, "--json"])
        .ok()
        .json();
    assert_eq!(j["executions_deleted"], 6, "{j}");
    assert_eq!(j["cutoff"], "2030-05-16T12:00:00.000Z");
    let left = |w: &str| kit.count(w);
    assert_eq!(
        left("status = 'queued'"),
        2,
        "queued rows are work, not history"
    );
    assert_eq!(left("task = 'old-running' AND status = 'running'"), 1);
    assert_eq!(left("task IN ('old-ok','old-fail','edge-old')"), 0);
    assert_eq!(left("task IN ('edge-new','recent')"), 2);
    // Pruning again removes nothing more.
    let j = kit
        .kdb()
        .args(["prune", "--older-than", "30d", "--now", now, "--json"])
        .ok()
        .json();
    assert_eq!(j["executions_deleted"], 0);

    std::fs::write(&go, "").unwrap();
    assert!(running.wait().unwrap().success());
    assert_eq!(left("task = 'old-running' AND status = 'success'"), 1);
    kit.kdb()
        .args(["prune", "--older-than", "100y", "--now", now])
        .ok();
    kit.kdb()
        .args(["prune", "--older-than", "10"])
        .run()
        .code(2)
        .stderr_has("no unit");
    kit.kdb()
        .args(["prune", "--older-than", "500000y"])
        .run()
        .code(2)
        .stderr_has("too large");
    kit.kdb().arg("check").ok();
}

/// `n` shell loops, each recording `per` ad-hoc runs named `{prefix}{i}`.
fn writer_loops(kit: &Kit, n: usize, per: usize, prefix: &str) -> Vec<std::process::Child> {
    let script = r#"i=0; while [ "$i" -lt "$2" ]; do "$0" --no-heal --name "$1" -- true || echo "kit-run exit $?" >&2; i=$((i+1)); done"#;
    (0..n)
        .map(|i| {
            std::process::Command::new("sh")
                .args(["-c", script])
                .arg(bin("kit-run"))
                .arg(format!("{prefix}{i}"))
                .arg(per.to_string())
                .env("KIT_HOME", &kit.home)
                .env("KIT_DB", &kit.db)
                .env_remove("KIT_NOW")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn finish(kids: Vec<std::process::Child>) -> String {
    let mut said = String::new();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        assert!(out.status.success());
        said.push_str(&String::from_utf8_lossy(&out.stdout));
        said.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    said
}

#[test]
fn backup_taken_while_writers_run_opens_and_passes_integrity_check() {
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    let writers = writer_loops(&kit, 3, 150, "bw");
    let pids: Vec<i32> = writers.iter().map(|k| k.id() as i32).collect();
    wait_for(Duration::from_secs(30), "writers to start", || {
        kit.count("1=1") > 10
    });
    let mut taken: Vec<(PathBuf, i64)> = Vec::new();
    let mut during = 0;
    for i in 0.. {
        let busy = pids.iter().any(|p| pid_alive(*p));
        if !busy && i >= 3 {
            break;
        }
        let dest = kit.path(&format!("backups/b{i}.db"));
        let j = no_umask(kit.kdb().arg("backup").arg(&dest).arg("--json"))
            .ok()
            .json();
        assert_eq!(j["backup"]["destination"], dest.display().to_string());
        assert_eq!(
            j["backup"]["bytes"],
            std::fs::metadata(&dest).unwrap().len()
        );
        assert_eq!(mode(&dest), 0o600, "a backup is as private as the DB");
        let c = rusqlite::Connection::open(&dest).unwrap();
        let ok: String = c
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "backup {i}");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, schema::LATEST);
        let n: i64 = c
            .query_row("SELECT count(*) FROM supervisor_executions", [], |r| {
                r.get(0)
            })
            .unwrap();
        let open: i64 = c
            .query_row(
                "SELECT count(*) FROM supervisor_executions WHERE status NOT IN ('running','success')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(open, 0, "backup {i} holds a half-written row");
        if busy && n < 450 {
            during += 1;
        }
        if let Some((_, prev)) = taken.last() {
            assert!(n >= *prev, "backups go back in time");
        }
        taken.push((dest, n));
    }
    let said = finish(writers);
    assert!(said.is_empty(), "writers reported errors:\n{said}");
    assert!(
        during >= 2,
        "only {during} backups were taken while the writers ran"
    );
    let last = kit.path("backups/last.db");
    kit.kdb().arg("backup").arg(&last).ok();
    let c = rusqlite::Connection::open(&last).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM supervisor_executions", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 450, "a backup after the writers has every row");
    kit.kdb().arg("check").ok();
    // The destination is never overwritten.
    let (first, _) = &taken[0];
    let before = snapshot(first);
    kit.kdb()
        .arg("backup")
        .arg(first)
        .run()
        .fails()
        .stderr_has("already exists");
    assert_untouched(&before, first, "backup onto an existing file");
}

#[test]
fn backup_dir_keeps_only_the_newest_n_and_never_touches_other_files() {
    let kit = Kit::new();
    populated(&kit);
    let dir = kit.path("rot");
    kit.file("rot/notes.txt", "mine\n");
    kit.file("rot/kit-mine.db", "also mine\n");
    let mut made: Vec<String> = Vec::new();
    for round in 0..5 {
        let j = kit
            .kdb()
            .args(["backup", "--keep", "3", "--json", "--dir"])
            .arg(&dir)
            .ok()
            .json();
        let dest = j["backup"]["destination"].as_str().unwrap().to_string();
        let removed: Vec<String> = j["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        if round < 3 {
            assert!(removed.is_empty(), "round {round}: {j}");
        } else {
            assert_eq!(removed, vec![made[round - 3].clone()], "round {round}");
        }
        made.push(dest);
    }
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    left.sort();
    let mut want: Vec<String> = made[2..].to_vec();
    want.push(dir.join("kit-mine.db").display().to_string());
    want.push(dir.join("notes.txt").display().to_string());
    want.sort();
    assert_eq!(left, want);
    for f in &made[2..] {
        let c = rusqlite::Connection::open(f).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM supervisor_executions", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 20);
    }
    kit.kdb().arg("backup").run().fails().stderr_has("--dir");
}

/// The concurrency proof the store issue asks for: 8 processes, 500 writes
/// each, all at once; every row is there and nobody saw SQLITE_BUSY.
/// Each write is a whole real `kit-run --name wN -- true` (open, migrate
/// check, insert running row, run `true`, record the result: two write
/// transactions per run), which is the busiest writer kit has.
#[test]
fn eight_writer_processes_of_500_writes_each_lose_nothing() {
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    let start = Instant::now();
    let said = finish(writer_loops(&kit, 8, 500, "w"));
    let took = start.elapsed();
    eprintln!("8 x 500 kit-run writes took {took:.1?}");
    let lower = said.to_lowercase();
    assert!(
        !lower.contains("busy") && !lower.contains("locked"),
        "SQLITE_BUSY surfaced:\n{said}"
    );
    assert!(said.is_empty(), "writers reported errors:\n{said}");
    assert_eq!(kit.count("1=1"), 4000);
    for i in 0..8 {
        assert_eq!(
            kit.count(&format!("task = 'w{i}' AND status = 'success'")),
            500,
            "w{i}"
        );
    }
    assert_eq!(
        kit.scalar::<i64>("SELECT count(DISTINCT id) FROM supervisor_executions"),
        4000
    );
    kit.kdb().arg("check").ok();
}
