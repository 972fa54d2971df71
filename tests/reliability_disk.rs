//! Full disk: the DB on a 1 MiB tmpfs that is then filled (when the test
//! runs as root and can mount), and the same story under a file-size
//! rlimit (always). kit-tick and kit-run fail with a message that names the
//! DB and says what happened, and a non-zero exit (kit-run: 125); a slot
//! they could not take is not run behind the DB's back and not lost; the DB
//! passes `kit-db check` throughout; once space returns the same slots run.

mod reliability_util;
mod support;

use reliability_util::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn tasks(markers: &Path) -> String {
    format!(
        r#"
[[task]]
name = "job"
schedule = "* * * * *"
command = "touch '{m}/ran-'$(echo $KIT_SCHEDULED_FOR | tr -d :)"

[[task]]
name = "big"
schedule = "@daily"
command = "head -c 200000 /dev/zero | tr '\\0' x"
"#,
        m = markers.display()
    )
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf) -> Option<Tmpfs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        std::fs::create_dir_all(&at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1M,mode=0700", "tmpfs"])
            .arg(&at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(at))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` (a tmpfs) up to the last page,
/// then gives back `leave` bytes.
fn fill(dir: &Path, leave: u64) {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
}

fn free(dir: &Path) {
    std::fs::remove_file(dir.join("filler")).unwrap();
}

/// Runs `cmd` under a file-size limit of `bytes` (rounded to 512-byte
/// blocks, as `ulimit -f` counts them).
fn limited(mut cmd: Cmd, bytes: u64) -> Cmd {
    let mut wrapped = Command::new("/bin/sh");
    wrapped
        .arg("-c")
        .arg(format!("ulimit -f {}; exec \"$0\" \"$@\"", bytes / 512))
        .arg(cmd.inner.get_program())
        .args(cmd.inner.get_args());
    wrapped.env_clear();
    for (k, v) in cmd.inner.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    if let Some(d) = cmd.inner.get_current_dir() {
        wrapped.current_dir(d);
    }
    cmd.inner = wrapped;
    cmd
}

/// What a tool said when it could not write.
fn assert_clear_failure(out: &Out, db: &Path, who: &str) {
    assert!(!out.stderr.contains("panicked"), "{who}: {}", out.stderr);
    assert!(
        out.stderr.contains(&db.display().to_string()),
        "{who} does not name the DB: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("no space left for the database")
            || out.stderr.contains("could not be read or written"),
        "{who}: {}",
        out.stderr
    );
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "{who}: one line: {}",
        out.stderr
    );
    eprintln!("{who}: {}", out.stderr.trim());
}

fn markers(kit: &Kit) -> Vec<String> {
    let mut m: Vec<String> = std::fs::read_dir(kit.path("markers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    m.sort();
    m
}

/// The story both variants tell: `space(true)` takes the space away,
/// `space(false)` gives it back; `wrap` applies the constraint to a tool.
fn full_disk_story(kit: &mut Kit, out_of_space: &mut dyn FnMut(bool), wrap: &dyn Fn(Cmd) -> Cmd) {
    std::fs::create_dir_all(kit.path("markers")).unwrap();
    kit.tasks(&tasks(&kit.path("markers")));
    kit.at("2025-06-02T10:00:05Z");
    kit.tick().ok();
    kit.run().arg("job").ok();
    kit.at("2025-06-02T10:01:05Z");
    kit.tick().ok();
    // A fresh WAL: every further write needs new space.
    kit.kdb().arg("checkpoint").ok();

    out_of_space(true);
    kit.at("2025-06-02T10:02:05Z");
    let out = wrap(kit.tick()).run();
    assert_eq!(out.code, 1, "kit-tick: {}", out.stderr);
    assert_clear_failure(&out, &kit.db, "kit-tick");
    let out = wrap(kit.run().arg("job")).run();
    assert_eq!(out.code, 125, "kit-run: {}", out.stderr);
    assert_clear_failure(&out, &kit.db, "kit-run");
    // Nothing ran unrecorded: the 10:01 slot is still waiting for a run.
    assert_eq!(markers(kit), ["ran-2025-06-02T100000.000Z"]);
    assert_eq!(kit.statuses("job"), ["success", "queued"]);
    assert_db_valid(kit, "with the disk full");

    out_of_space(false);
    kit.at("2025-06-02T10:03:05Z");
    // 10:02 is a minute late, still on time: claimed with 10:03.
    let out = kit.tick().ok();
    assert_eq!(out.lines(), ["job", "job"]);
    for _ in 0..3 {
        kit.run().arg("job").ok();
    }
    assert_eq!(
        markers(kit),
        [
            "ran-2025-06-02T100000.000Z",
            "ran-2025-06-02T100100.000Z",
            "ran-2025-06-02T100200.000Z",
            "ran-2025-06-02T100300.000Z"
        ]
    );
    assert_eq!(kit.statuses("job"), ["success"; 4]);
    let slots: i64 = kit.scalar(
        "SELECT count(DISTINCT scheduled_for) FROM supervisor_executions WHERE task = 'job'",
    );
    assert_eq!(slots, 4);
    assert!(open_rows(kit).is_empty(), "{:?}", open_rows(kit));
    assert_db_valid(kit, "once space returned");
}

#[test]
fn a_full_tmpfs_fails_tick_and_run_clearly_and_loses_nothing_once_space_returns() {
    let mut kit = Kit::new();
    let Some(mnt) = Tmpfs::mount(kit.path("mnt")) else {
        eprintln!("skipped: not root or cannot mount a tmpfs here (the file-size-limit variant still runs)");
        return;
    };
    kit.db = mnt.0.join("kit.db");
    let dir = mnt.0.clone();
    full_disk_story(
        &mut kit,
        &mut |full| if full { fill(&dir, 0) } else { free(&dir) },
        &|c| c,
    );

    // The disk fills while a run's output is being recorded: the verdict is
    // kept without the 200 kB of output, and the row says so.
    kit.kdb().arg("checkpoint").ok();
    fill(&dir, 96 * 1024);
    let out = kit.run().arg("big").run();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("output not recorded: no space left"),
        "{}",
        out.stderr
    );
    let (status, reason, output): (String, String, Option<Vec<u8>>) = kit
        .conn()
        .query_row(
            "SELECT status, reason, output FROM supervisor_executions WHERE task = 'big'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(status, "success");
    assert!(
        reason.contains("its output (200000 bytes) was not recorded"),
        "{reason}"
    );
    assert_eq!(output, None);
    free(&dir);
    assert_db_valid(&kit, "after the output could not be recorded");
}

#[test]
fn a_file_size_limit_fails_tick_and_run_clearly_and_loses_nothing_once_lifted() {
    let mut kit = Kit::new();
    let limit = std::cell::Cell::new(false);
    let set = |on: bool| limit.set(on);
    let mut out_of_space = |full: bool| set(full);
    // 4 KiB: too small for the first WAL frame (and for the shared-memory
    // index, so the tools may fail as they open the DB: still a clear
    // error, exit non-zero, nothing changed).
    let wrap = |c: Cmd| if limit.get() { limited(c, 4096) } else { c };
    full_disk_story(&mut kit, &mut out_of_space, &wrap);

    // A limit that lets the run start but not record its 200 kB output:
    // kit-run exits 125 naming the problem; the row is settled `lost` by
    // the next tool, and nothing is left running.
    kit.kdb().arg("checkpoint").ok();
    let out = limited(kit.run().arg("big"), 96 * 1024).run();
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert_clear_failure(&out, &kit.db, "kit-run");
    kit.at("2025-06-02T10:04:05Z");
    kit.tick().ok();
    assert_eq!(kit.statuses("big"), ["lost"]);
    assert_db_valid(&kit, "after the output could not be recorded");
}
