//! Tests with real processes (sh, env, sleep, head: present on Linux and
//! macOS alike).

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::*;

fn base_env() -> Vec<(OsString, OsString)> {
    vec![("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into())]
}

fn spec(argv: &[&str]) -> SpawnSpec {
    let mut s = SpawnSpec::new(argv.iter().copied());
    s.env = base_env();
    s
}

fn sh(script: &str) -> SpawnSpec {
    spec(&["sh", "-c", script])
}

/// Runs to completion, returning (output, status code).
fn run(mut s: SpawnSpec) -> (String, i32) {
    s.output = Output::Pipe;
    let child = spawn(&s).expect("spawn");
    let out = read_capped(child.output.expect("pipe"), 1 << 20).unwrap();
    let outcome = wait_child(child.pid, None).unwrap();
    (
        String::from_utf8_lossy(&out.bytes).into_owned(),
        exit_status_code(outcome),
    )
}

/// Waits (without reaping) until `pid` has exited; false after 10 s.
fn until_zombie(pid: i32, start: ProcStart) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_same_process(pid, start) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

fn in_10s() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(10))
}

/// A scratch directory unique to the test, removed by the caller's guard.
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("kit-proc-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn exit_codes_and_signals() {
    assert_eq!(run(sh("exit 0")).1, 0);
    assert_eq!(run(sh("exit 3")).1, 3);
    let child = spawn(&sh("kill -TERM $$")).unwrap();
    let outcome = wait_child(child.pid, in_10s()).unwrap();
    assert_eq!(outcome, WaitOutcome::Signaled(libc::SIGTERM, false));
    assert_eq!(exit_status_code(outcome), 143);
}

#[test]
fn not_found() {
    let err = spawn(&spec(&["nosuchcmd-kit"])).unwrap_err();
    assert!(matches!(err, SpawnError::NotFound { .. }), "{err:?}");
    assert_eq!(err.to_string(), r#"command not found: "nosuchcmd-kit""#);
    assert_eq!(err.exit_code(), 127);
    // PATH is the child's: sh is not found through an empty one.
    let mut s = spec(&["sh", "-c", "true"]);
    s.env = vec![("PATH".into(), "/nonexistent".into())];
    assert!(matches!(spawn(&s), Err(SpawnError::NotFound { .. })));
    assert!(matches!(
        spawn(&spec(&["/no/such/program"])),
        Err(SpawnError::NotFound { .. })
    ));
    assert!(matches!(spawn(&spec(&[])), Err(SpawnError::Invalid { .. })));
}

#[test]
fn not_executable() {
    let err = spawn(&spec(&["/etc/passwd"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"cannot execute "/etc/passwd": Permission denied"#
    );
    assert_eq!(err.exit_code(), 126);

    let dir = TempDir::new("noexec");
    // Executable bits but neither a binary nor a #! line: ENOEXEC.
    let junk = dir.0.join("junk");
    std::fs::write(&junk, b"\x01\x02\x03 not a program\n").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = spawn(&spec(&[junk.to_str().unwrap()])).unwrap_err();
    assert!(
        matches!(&err, SpawnError::NotExecutable { reason, .. } if reason.contains("format")),
        "{err}"
    );
    // A #! interpreter that does not exist: ENOENT, but the script exists.
    let script = dir.0.join("script");
    std::fs::write(&script, b"#!/no/such/interpreter\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = spawn(&spec(&[script.to_str().unwrap()])).unwrap_err();
    assert!(
        matches!(&err, SpawnError::NotExecutable { reason, .. } if reason.contains("bad interpreter")),
        "{err}"
    );
    // Found through PATH and the cwd: a relative PATH entry is resolved
    // against the child's working directory, as execvp does.
    let mut s = spec(&["script"]);
    s.env = vec![("PATH".into(), ".".into())];
    s.cwd = Some(dir.0.clone());
    assert!(matches!(
        spawn(&s),
        Err(SpawnError::NotExecutable { program, .. }) if program == "./script"
    ));
}

#[test]
fn bad_cwd() {
    let mut s = sh("true");
    s.cwd = Some("/nope".into());
    let err = spawn(&s).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"cannot change directory to "/nope": No such file or directory"#
    );
    assert_eq!(err.exit_code(), 125);
    let mut s = spec(&["pwd"]);
    s.cwd = Some("/".into());
    assert_eq!(run(s), ("/\n".into(), 0));
}

#[test]
fn stdout_and_stderr_interleave_on_one_pipe() {
    let (out, code) = run(sh("echo a; echo b >&2; echo c; echo d >&2; cat"));
    // cat reads stdin: /dev/null, so it ends at once.
    assert_eq!((out.as_str(), code), ("a\nb\nc\nd\n", 0));
}

#[test]
fn output_to_file_and_null() {
    let dir = TempDir::new("outfile");
    let path = dir.0.join("log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let mut s = sh("echo out; echo err >&2");
    s.output = Output::File(file);
    let child = spawn(&s).unwrap();
    assert!(child.output.is_none());
    assert_eq!(
        wait_child(child.pid, in_10s()).unwrap(),
        WaitOutcome::Exited(0)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "out\nerr\n");

    let child = spawn(&sh("echo discarded")).unwrap();
    assert_eq!(
        wait_child(child.pid, in_10s()).unwrap(),
        WaitOutcome::Exited(0)
    );
}

#[test]
fn environment_is_exactly_the_given_one() {
    // No PATH at all: "env" is found through the default /usr/bin:/bin.
    let mut s = spec(&["env"]);
    s.env = vec![
        ("FOO".into(), "bar baz".into()),
        ("EMPTY".into(), "".into()),
    ];
    assert_eq!(run(s), ("FOO=bar baz\nEMPTY=\n".into(), 0));
    let mut s = spec(&["env"]);
    s.env = vec![("BAD=NAME".into(), "x".into())];
    assert!(matches!(spawn(&s), Err(SpawnError::Invalid { .. })));
}

#[test]
fn new_session_leads_its_group() {
    let mut s = spec(&["sleep", "30"]);
    s.new_session = true;
    let child = spawn(&s).unwrap();
    // SAFETY: plain queries on our child's pid.
    let (pgid, sid) = unsafe { (libc::getpgid(child.pid), libc::getsid(child.pid)) };
    assert_eq!((pgid, sid), (child.pid, child.pid));
    assert!(group_alive(child.pid));
    assert_eq!(signal_group(child.pid, Signal::SIGKILL), Ok(true));
    assert_eq!(
        wait_child(child.pid, in_10s()).unwrap(),
        WaitOutcome::Signaled(libc::SIGKILL, false)
    );
    assert!(!group_alive(child.pid));
    assert_eq!(signal_group(child.pid, Signal::SIGTERM), Ok(false));

    // Without it the child stays in our group.
    let child = spawn(&spec(&["sleep", "0"])).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::getpgid(child.pid) }, unsafe {
        libc::getpgrp()
    });
    wait_child(child.pid, in_10s()).unwrap();
}

#[test]
fn limits_and_nice_are_applied() {
    let mut s = sh("ulimit -n; ulimit -t");
    s.limits.nofile = Some(64);
    s.limits.cpu_secs = Some(100);
    assert_eq!(run(s), ("64\n100\n".into(), 0));

    let mut s = spec(&["nice"]);
    s.nice = Some(7);
    assert_eq!(run(s), ("7\n".into(), 0));

    // Above fs.nr_open (Linux) / OPEN_MAX (macOS): refused even for root.
    let mut s = sh("true");
    s.limits.nofile = Some(1 << 40);
    let err = spawn(&s).unwrap_err();
    assert!(
        matches!(&err, SpawnError::Setup { reason } if reason.contains("RLIMIT_NOFILE")),
        "{err}"
    );
}

#[test]
fn signal_state_is_reset_in_the_child() {
    // Rust ignores SIGPIPE; also block SIGUSR1 in this thread. The child
    // must see neither.
    // SAFETY: sigset manipulation on local data; the mask is this thread's.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    if cfg!(target_os = "linux") {
        let (out, _) = run(spec(&["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]));
        let mask = |name: &str| {
            let line = out.lines().find(|l| l.starts_with(name)).expect(name);
            u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
        };
        assert_eq!(mask("SigBlk:"), 0, "{out}");
        // Signals 32 and 33 are glibc's own (thread cancellation, setxid):
        // its sigaction refuses to touch them, so they keep whatever state
        // the test binary inherited (cargo's posix_spawn leaves them
        // ignored). Every other signal must be at its default.
        let glibc_reserved = (1u64 << 31) | (1u64 << 32);
        assert_eq!(mask("SigIgn:") & !glibc_reserved, 0, "{out}");
    }
    // Portable check: with SIGPIPE at its default, `yes` writing to a
    // pipe nobody reads dies of it (ignored, it would exit 1 on EPIPE).
    let mut s = spec(&["yes"]);
    s.output = Output::Pipe;
    let child = spawn(&s).unwrap();
    drop(child.output);
    assert_eq!(
        wait_child(child.pid, in_10s()).unwrap(),
        WaitOutcome::Signaled(libc::SIGPIPE, false)
    );
}

#[cfg(target_os = "linux")]
#[test]
fn only_stdio_is_inherited() {
    // An fd the parent opened without CLOEXEC (as a careless library might).
    // SAFETY: plain open/close of /dev/null.
    let leaked = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(leaked >= 0);
    let (out, code) = run(sh("ls /proc/$$/fd"));
    // SAFETY: we opened it above.
    unsafe { libc::close(leaked) };
    assert_eq!((out.as_str(), code), ("0\n1\n2\n", 0));
}

#[test]
fn terminate_group_kills_grandchild_ignoring_term() {
    let mut s = sh(r#"trap "" TERM; sleep 1000 & echo $!; wait"#);
    s.new_session = true;
    s.output = Output::Pipe;
    let child = spawn(&s).unwrap();
    let mut pipe = child.output.unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while pipe.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let grandchild: i32 = String::from_utf8(line).unwrap().trim().parse().unwrap();
    let gstart = process_start(grandchild).unwrap();
    assert!(is_same_process(grandchild, gstart));

    let opts = Terminate {
        grace: Duration::from_millis(200),
        ..Terminate::default()
    };
    let started = Instant::now();
    let t = terminate_group(child.pid, Some((child.pid, child.start)), &opts).unwrap();
    assert!(t.killed && t.gone && !t.stale, "{t:?}");
    assert_eq!(
        t.leader_status,
        Some(WaitOutcome::Signaled(libc::SIGKILL, false))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!is_same_process(grandchild, gstart));
    // Not group_alive(): unless we are a subreaper the dead grandchild is
    // re-parented to init, which in some containers never reaps it.
    assert!(!group_has_live_members(child.pid));
    // The pipe reaches EOF: no member is left holding it.
    let mut rest = Vec::new();
    pipe.read_to_end(&mut rest).unwrap();

    // A group that obeys SIGTERM needs no SIGKILL.
    let mut s = spec(&["sleep", "1000"]);
    s.new_session = true;
    let child = spawn(&s).unwrap();
    let t = terminate_group(child.pid, Some((child.pid, child.start)), &opts).unwrap();
    assert!(!t.killed && t.gone, "{t:?}");
    assert_eq!(
        t.leader_status,
        Some(WaitOutcome::Signaled(libc::SIGTERM, false))
    );
}

#[test]
fn terminate_group_refuses_a_recycled_leader() {
    let mut s = spec(&["sleep", "1000"]);
    s.new_session = true;
    let child = spawn(&s).unwrap();
    let fake = ProcStart(child.start.0 + 12345);
    if child.start.is_known() {
        let t = terminate_group(child.pid, Some((child.pid, fake)), &Terminate::default()).unwrap();
        assert!(t.stale && !t.killed, "{t:?}");
        assert!(group_alive(child.pid));
    }
    let t = terminate_group(child.pid, None, &Terminate::default()).unwrap();
    assert!(t.gone);
}

#[test]
fn capture_50_mb_keeps_head_and_tail() {
    let s = sh("echo START; head -c 50000000 /dev/zero; echo END");
    let mut s2 = s;
    s2.output = Output::Pipe;
    let child = spawn(&s2).unwrap();
    let pipe = child.output.unwrap();
    let cap = 64 * 1024;
    let mut buf = CapBuffer::new(cap);
    let status = read_with_deadline(&pipe, &mut buf, in_10s()).unwrap();
    assert_eq!(status, ReadStatus::Eof);
    assert!(buf.held() <= cap);
    let c = buf.finish();
    let total = 50_000_000 + "START\n".len() as u64 + "END\n".len() as u64;
    assert_eq!(c.total, total);
    assert_eq!(c.dropped, total - cap as u64);
    assert!(c.bytes.starts_with(b"START\n\0\0"));
    assert!(c.bytes.ends_with(b"\0\0END\n"));
    let marker = format!("\n[kit: {} bytes dropped]\n", c.dropped);
    assert_eq!(c.bytes.len(), cap + marker.len());
    assert_eq!(&c.bytes[cap / 2..cap / 2 + marker.len()], marker.as_bytes());
    assert_eq!(
        wait_child(child.pid, in_10s()).unwrap(),
        WaitOutcome::Exited(0)
    );
}

#[test]
fn read_with_deadline_times_out_on_a_silent_child() {
    let mut s = sh("echo early; exec sleep 1000");
    s.output = Output::Pipe;
    s.new_session = true;
    let child = spawn(&s).unwrap();
    let pipe = child.output.unwrap();
    let mut buf = CapBuffer::new(1024);
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_millis(150);
    let status = read_with_deadline(&pipe, &mut buf, Some(deadline)).unwrap();
    assert_eq!(status, ReadStatus::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(started.elapsed() < Duration::from_secs(3));
    terminate_group(
        child.pid,
        Some((child.pid, child.start)),
        &Terminate::default(),
    )
    .unwrap();
    assert_eq!(
        read_with_deadline(&pipe, &mut buf, in_10s()).unwrap(),
        ReadStatus::Eof
    );
    assert_eq!(buf.finish().bytes, b"early\n");
}

#[test]
fn wait_child_deadline_and_polling_fallback() {
    let child = spawn(&spec(&["sleep", "1000"])).unwrap();
    let started = Instant::now();
    let outcome = wait_child(child.pid, Some(Instant::now() + Duration::from_millis(100))).unwrap();
    assert_eq!(outcome, WaitOutcome::TimedOut);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(3));
    let outcome =
        wait::wait_polling(child.pid, Instant::now() + Duration::from_millis(30)).unwrap();
    assert_eq!(outcome, WaitOutcome::TimedOut);
    // SAFETY: our child.
    unsafe { libc::kill(child.pid, libc::SIGKILL) };
    let outcome = wait::wait_polling(child.pid, Instant::now() + Duration::from_secs(10)).unwrap();
    assert_eq!(outcome, WaitOutcome::Signaled(libc::SIGKILL, false));
    // Reaped: a second wait is an error, not a hang.
    assert_eq!(wait_child(child.pid, in_10s()), Err(Errno::ECHILD));
}

#[test]
fn is_same_process_after_exit() {
    let child = spawn(&sh("exit 0")).unwrap();
    let start = child.start;
    if cfg!(any(target_os = "linux", target_os = "macos")) {
        assert!(start.is_known());
    }
    assert!(!is_same_process(
        child.pid,
        ProcStart(start.0.wrapping_add(1))
    ));
    // Exited but unreaped: a zombie is not "the same live process".
    if cfg!(target_os = "linux") {
        assert!(until_zombie(child.pid, start));
        assert_eq!(process_start(child.pid), Some(start));
    }
    wait_child(child.pid, in_10s()).unwrap();
    assert!(!is_same_process(child.pid, start));
}

#[cfg(target_os = "linux")]
#[test]
fn die_with_parent_follows_the_spawning_thread() {
    if linux_mechanism_replaced() {
        return;
    }
    let (pid, start) = std::thread::spawn(|| {
        let mut s = spec(&["sleep", "1000"]);
        s.die_with_parent = true;
        let child = spawn(&s).unwrap();
        (child.pid, child.start)
    })
    .join()
    .unwrap();
    // The spawning thread has exited: the kernel delivers SIGKILL.
    assert_eq!(
        wait_child(pid, in_10s()).unwrap(),
        WaitOutcome::Signaled(libc::SIGKILL, false)
    );
    assert!(!is_same_process(pid, start));
}

#[test]
fn spawn_is_fast() {
    let n = 50;
    let mut spent = Duration::ZERO;
    for _ in 0..n {
        let started = Instant::now();
        let child = spawn(&spec(&["true"])).unwrap();
        spent += started.elapsed();
        wait_child(child.pid, in_10s()).unwrap();
    }
    let mean = spent / n;
    eprintln!("spawn mean: {mean:?}");
    // The budget is 2 ms; allow for a loaded CI machine.
    assert!(mean < Duration::from_millis(20), "spawn mean {mean:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn unreaped_zombies_do_not_count_as_a_live_group() {
    if linux_mechanism_replaced() {
        return;
    }
    // A group whose only member has exited but is not reaped: killpg still
    // finds it, the zombie-aware check does not.
    let mut s = sh("exit 0");
    s.new_session = true;
    let child = spawn(&s).unwrap();
    assert!(until_zombie(child.pid, child.start));
    assert!(group_alive(child.pid));
    assert!(!group_has_live_members(child.pid));
    let opts = Terminate {
        reap: false,
        ..Terminate::default()
    };
    let started = Instant::now();
    let t = terminate_group(child.pid, Some((child.pid, child.start)), &opts).unwrap();
    assert!(t.gone && !t.killed && t.leader_status.is_none(), "{t:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        wait_child(child.pid, in_10s()).unwrap(),
        WaitOutcome::Exited(0)
    );

    let mut s = spec(&["sleep", "1000"]);
    s.new_session = true;
    let child = spawn(&s).unwrap();
    assert!(group_has_live_members(child.pid));
    signal_group(child.pid, Signal::SIGKILL).unwrap();
    wait_child(child.pid, in_10s()).unwrap();
    assert!(!group_has_live_members(child.pid));
}

#[cfg(target_os = "linux")]
fn ppid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[cfg(target_os = "linux")]
#[test]
fn subreaper_adopts_and_terminate_group_reaps_orphans() {
    if linux_mechanism_replaced() {
        return;
    }
    // Process-wide, so switched off again at the end: other tests in this
    // binary should not inherit orphans for longer than needed.
    assert_eq!(set_child_subreaper(), Ok(true));
    let mut s = sh("sleep 1000 & echo $!");
    s.new_session = true;
    s.output = Output::Pipe;
    let child = spawn(&s).unwrap();
    let mut out = CapBuffer::new(1024);
    // sh exits at once, but the orphan keeps the pipe open: no EOF.
    let _ = read_with_deadline(
        child.output.as_ref().unwrap(),
        &mut out,
        Some(Instant::now() + Duration::from_millis(300)),
    );
    let text = String::from_utf8(out.finish().bytes).unwrap();
    let orphan: i32 = text.trim().parse().unwrap();
    assert_eq!(
        wait_child(child.pid, in_10s()).unwrap(),
        WaitOutcome::Exited(0)
    );
    assert_eq!(ppid_of(orphan), Some(std::process::id() as i32));

    let t = terminate_group(child.pid, None, &Terminate::default()).unwrap();
    assert!(t.gone && !t.killed, "{t:?}");
    // Reaped by terminate_group (waitpid(-pgid)), not just a zombie.
    assert_eq!(process_start(orphan), None);
    // SAFETY: plain prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 0 as libc::c_ulong, 0, 0, 0) };
}

#[test]
fn spawn_recorded_runs_nothing_until_the_hook_has_returned() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let s = sh(&format!("echo x > '{}'", marker.display()));
    let mut seen = None;
    let child = spawn_recorded(&s, &mut |pid, start| {
        // The child exists and is set up, yet held before exec: however long
        // the caller takes to record it, the command has not run.
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !marker.exists(),
            "the command ran before its pid was recorded"
        );
        seen = Some((pid, start));
        Ok(Vec::new())
    })
    .unwrap();
    assert_eq!(seen, Some((child.pid, child.start)));
    assert_eq!(
        wait_child(child.pid, in_10s()).unwrap(),
        WaitOutcome::Exited(0)
    );
    assert!(marker.exists());
    // Exec failures are still reported synchronously.
    let err =
        spawn_recorded(&spec(&["no-such-program-kit"]), &mut |_, _| Ok(Vec::new())).unwrap_err();
    assert_eq!(err.exit_code(), 127);
}

#[test]
fn spawn_recorded_hands_the_hooks_variables_to_the_child() {
    let mut s = sh("echo \"$ROW=$TRIGGER=$KEPT\"");
    s.env.push(("KEPT".into(), "from-spec".into()));
    let (out, code) = run_recorded(s, |pid| {
        Ok(vec![
            ("ROW".into(), pid.to_string().into()),
            ("TRIGGER".into(), "manual".into()),
            ("KEPT".into(), "from-hook".into()),
        ])
    });
    assert_eq!(code, 0);
    let (pid, line) = out.split_once('\n').unwrap();
    assert_eq!(line, format!("{pid}=manual=from-spec\n"));
}

#[test]
fn spawn_recorded_runs_nothing_when_the_hook_fails() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let s = sh(&format!("echo x > '{}'", marker.display()));
    let mut child_pid = 0;
    let err = spawn_recorded(&s, &mut |pid, _| {
        child_pid = pid;
        Err("the database is locked".into())
    })
    .unwrap_err();
    assert!(matches!(err, SpawnError::NotRecorded { .. }), "{err:?}");
    assert_eq!(err.to_string(), "not started: the database is locked");
    assert_eq!(err.exit_code(), 125);
    assert!(!marker.exists());
    // Reaped, not left a zombie.
    assert_eq!(process_start(child_pid), None);
}

#[test]
fn spawn_recorded_refuses_variables_that_cannot_be_passed() {
    let too_many = |_| {
        Ok((0..9)
            .map(|i| (format!("V{i}").into(), "x".into()))
            .collect())
    };
    let bad_name = |_| Ok(vec![("A=B".into(), "x".into())]);
    for hook in [
        &too_many as &dyn Fn(i32) -> Result<GateEnv, String>,
        &bad_name,
    ] {
        let err = spawn_recorded(&sh("exit 0"), &mut |pid, _| hook(pid)).unwrap_err();
        assert!(matches!(err, SpawnError::NotRecorded { .. }), "{err:?}");
    }
}

/// Runs `s` through spawn_recorded, printing the child's pid first.
fn run_recorded(mut s: SpawnSpec, hook: impl Fn(i32) -> Result<GateEnv, String>) -> (String, i32) {
    s.output = Output::Pipe;
    let mut pid_seen = 0;
    let child = spawn_recorded(&s, &mut |pid, _| {
        pid_seen = pid;
        hook(pid)
    })
    .unwrap();
    let out = read_capped(child.output.expect("pipe"), 1 << 20).unwrap();
    let code = exit_status_code(wait_child(child.pid, in_10s()).unwrap());
    let out = String::from_utf8_lossy(&out.bytes);
    (format!("{pid_seen}\n{out}"), code)
}

/// Under `KIT_PLATFORM=portable` the Linux-only mechanism a test pins
/// (PDEATHSIG, the subreaper, the /proc group scan) is deliberately not in
/// use; the test runs in the native pass of scripts/test.
#[cfg(target_os = "linux")]
fn linux_mechanism_replaced() -> bool {
    let forced = crate::platform::portable_forced();
    if forced {
        eprintln!("not run: KIT_PLATFORM=portable replaces the Linux mechanism this test pins");
    }
    forced
}
