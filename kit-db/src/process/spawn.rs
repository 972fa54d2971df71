//! Spawning a command (clone or fork, then exec), reporting exec failures
//! synchronously.
//!
//! Why not `std::process::Command`: kit needs setsid, rlimits, nice and
//! PR_SET_PDEATHSIG applied in the child, a signal state reset that also
//! undoes *ignored* signals, stdout and stderr on one pipe, and exec errors
//! told apart (127 vs 126 vs a bad cwd) rather than folded into io::Error.
//!
//! The technique: everything the child needs (CStrings, the argv/envp
//! pointer arrays, every PATH candidate, the stdio fds) is prepared before
//! the child starts (`clone.rs`: in the parent's memory on Linux), so the
//! child only makes async-signal-safe system calls and never allocates
//! (another thread may hold the allocator lock).
//! A close-on-exec "report" pipe tells the parent the outcome: EOF means exec
//! succeeded; otherwise the child wrote a stage tag and errno before
//! `_exit(127)`.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use super::identity::{process_start, ProcStart};
use crate::platform::{self, start_child, LimitResource};

/// Resource limits applied (soft and hard) in the child before exec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// RLIMIT_NOFILE: open file descriptors.
    pub nofile: Option<u64>,
    /// RLIMIT_CPU: CPU seconds (SIGXCPU, then SIGKILL, when exceeded).
    pub cpu_secs: Option<u64>,
    /// RLIMIT_AS: address space in bytes. Ignored on macOS, whose kernel
    /// does not enforce it (see [`Limits::ignored_here`]).
    pub as_bytes: Option<u64>,
    /// RLIMIT_FSIZE: largest file the child may write (SIGXFSZ past it).
    pub fsize_bytes: Option<u64>,
}

impl Limits {
    /// The limits that are set but cannot be applied on this platform, so a
    /// tool can warn instead of silently pretending.
    pub fn ignored_here(&self) -> Vec<&'static str> {
        let mut ignored = Vec::new();
        if !platform::RLIMIT_AS_ENFORCED && self.as_bytes.is_some() {
            ignored.push("as_bytes (RLIMIT_AS is not enforced on macOS)");
        }
        ignored
    }
}

/// Where the child's stdout and stderr go: both to the same place, in write
/// order (like `2>&1`). Stdin is always /dev/null.
#[derive(Debug, Default)]
pub enum Output {
    /// A new pipe; its read end is returned in [`Child::output`].
    Pipe,
    /// An already open file (opened with O_APPEND to share it safely).
    File(File),
    /// /dev/null.
    #[default]
    Null,
}

/// Everything needed to start one command.
#[derive(Debug, Default)]
pub struct SpawnSpec {
    /// `argv[0]` is resolved through the PATH of `env` (like execvp; without
    /// a PATH there, `/usr/bin:/bin`) unless it contains a `/`.
    pub argv: Vec<OsString>,
    /// Directory to change to before exec; relative program paths and
    /// relative PATH entries are resolved from there, as with execvp.
    pub cwd: Option<PathBuf>,
    /// The complete environment of the child: nothing is inherited.
    pub env: Vec<(OsString, OsString)>,
    /// Absolute niceness (-20..=19) set with setpriority; lowering it below
    /// the parent's needs privileges and fails with [`SpawnError::Setup`].
    pub nice: Option<i32>,
    pub limits: Limits,
    pub output: Output,
    /// setsid() in the child: it leads a new session and process group
    /// (pgid == sid == pid), so the whole tree can be signalled as a group
    /// and is detached from the caller's terminal.
    pub new_session: bool,
    /// Linux: PR_SET_PDEATHSIG = SIGKILL. Note the kernel fires it when the
    /// *thread* that spawned the child exits, not only the process, so spawn
    /// such children from a long-lived thread. No-op on other platforms.
    pub die_with_parent: bool,
}

impl SpawnSpec {
    /// A spec with an empty environment, no cwd change, output to /dev/null.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        SpawnSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            ..SpawnSpec::default()
        }
    }
}

/// A started child. It is not reaped on drop: wait for it with
/// [`super::wait_child`] (or the caller's own SIGCHLD handling).
#[derive(Debug)]
pub struct Child {
    pub pid: i32,
    /// Start time read right after the child started, for later pid-reuse
    /// checks.
    pub start: ProcStart,
    /// The read end of the output pipe for [`Output::Pipe`] (close-on-exec).
    pub output: Option<File>,
}

/// Why a command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// exec found no such program (shell convention: exit 127).
    #[error("command not found: {program:?}")]
    NotFound { program: String },
    /// The program exists but cannot be executed (shell convention: 126).
    #[error("cannot execute {program:?}: {reason}")]
    NotExecutable { program: String, reason: String },
    /// chdir to the requested working directory failed.
    #[error("cannot change directory to {path:?}: {reason}")]
    Cwd { path: PathBuf, reason: String },
    /// Setting up the child (rlimits, nice, session, stdio) failed.
    #[error("cannot set up the child process: {reason}")]
    Setup { reason: String },
    /// The spec itself is unusable (empty argv, NUL bytes, bad env names).
    #[error("invalid command: {reason}")]
    Invalid { reason: String },
    /// The `before_exec` hook of [`spawn_recorded`] failed, so the command
    /// was not started.
    #[error("not started: {reason}")]
    NotRecorded { reason: String },
    /// A system call in the parent (pipe, clone, open) failed.
    #[error("{0} failed: {desc}", desc = .1.desc())]
    Os(&'static str, Errno),
}

impl SpawnError {
    /// The exit status a tool should report, following GNU env/timeout:
    /// 127 not found, 126 found but not executable, 125 for everything that
    /// failed before the command could be tried.
    pub fn exit_code(&self) -> i32 {
        match self {
            SpawnError::NotFound { .. } => 127,
            SpawnError::NotExecutable { .. } => 126,
            _ => 125,
        }
    }
}

/// What the child reports through the pipe before `_exit(127)`.
const STAGE_SETSID: u32 = 1;
const STAGE_PDEATHSIG: u32 = 2;
const STAGE_STDIO: u32 = 3;
const STAGE_CHDIR: u32 = 4;
const STAGE_NICE: u32 = 5;
const STAGE_RLIMIT: u32 = 10; // + index into LIMIT_NAMES
const STAGE_EXEC: u32 = 20;
const REPORT_LEN: usize = 12; // stage u32, errno i32, candidate index u32

const LIMIT_NAMES: [&str; 4] = ["RLIMIT_NOFILE", "RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE"];

/// execvp's default search path when the environment has no PATH.
const DEFAULT_PATH: &[u8] = b"/usr/bin:/bin";

/// Everything the child touches, built before it starts.
struct Prepared {
    /// Paths to try with execve, in PATH order.
    candidates: Vec<CString>,
    /// True when argv[0] had no slash and PATH was searched.
    searched: bool,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
    /// (resource, value, index into LIMIT_NAMES), already filtered.
    limits: Vec<(LimitResource, libc::rlim_t, u32)>,
}

/// Starts `spec` and returns once exec has succeeded or failed.
pub fn spawn(spec: &SpawnSpec) -> Result<Child, SpawnError> {
    start(spec, None)
}

/// Variables the `before_exec` hook of [`spawn_recorded`] hands the child
/// for its environment, e.g. the id of the row that records it, which only
/// exists once the pid is known.
pub type GateEnv = Vec<(OsString, OsString)>;

/// At most this many [`GateEnv`] variables, of at most this many bytes in
/// all: the message must fit one atomic pipe write (PIPE_BUF >= 512).
const GATE_ENV_VARS: usize = 8;
const GATE_ENV_BYTES: usize = 500;
/// The gate message: a go byte, a little-endian u16 length, then the
/// variables as NUL-terminated `K=V` strings.
const GATE_MSG_MAX: usize = 3 + GATE_ENV_BYTES;

/// Like [`spawn`], but the child, once set up, waits before exec until
/// `before_exec(pid, start)` has returned. A caller that records the pid
/// there (kit-run notes it on the execution's row) never has a command
/// running that it did not record: if the caller dies first, the child
/// exits without running anything (PDEATHSIG with `die_with_parent`, and
/// in any case EOF on the gate pipe). The variables the hook returns are
/// added to the child's environment (those `spec.env` sets keep its
/// value); if it fails, nothing runs and the error is
/// [`SpawnError::NotRecorded`].
pub fn spawn_recorded(
    spec: &SpawnSpec,
    before_exec: &mut dyn FnMut(i32, ProcStart) -> Result<GateEnv, String>,
) -> Result<Child, SpawnError> {
    start(spec, Some(before_exec))
}

fn start(
    spec: &SpawnSpec,
    before_exec: Option<&mut dyn FnMut(i32, ProcStart) -> Result<GateEnv, String>>,
) -> Result<Child, SpawnError> {
    let prep = prepare(spec)?;
    let argv_ptrs = null_terminated(&prep.argv);
    let mut envp_ptrs = null_terminated(&prep.envp);
    // Room for the gate's variables: null slots the child fills in, and the
    // buffer it reads them into (both allocated now: the child cannot).
    let mut gate_buf = Vec::new();
    if before_exec.is_some() {
        envp_ptrs.extend(std::iter::repeat_n(std::ptr::null(), GATE_ENV_VARS));
        gate_buf = vec![0u8; GATE_MSG_MAX];
    }

    // Every fd the child dup2()s from is >= 3, so the dup2 calls onto 0..=2
    // can never clobber one another even if the parent runs with stdio
    // closed.
    let devnull = open_devnull()?;
    let (out_read, out_write): (Option<OwnedFd>, Option<OwnedFd>) = match &spec.output {
        Output::Pipe => {
            let (r, w) = cloexec_pipe().map_err(|e| SpawnError::Os("pipe", e))?;
            (Some(r), Some(w))
        }
        Output::File(f) if f.as_raw_fd() < 3 => (
            None,
            Some(dup_high(f.as_raw_fd()).map_err(|e| SpawnError::Os("fcntl(F_DUPFD_CLOEXEC)", e))?),
        ),
        Output::File(_) | Output::Null => (None, None),
    };
    let out_fd: RawFd = match (&out_write, &spec.output) {
        (Some(w), _) => w.as_raw_fd(),
        (None, Output::File(f)) => f.as_raw_fd(),
        (None, _) => devnull.as_raw_fd(),
    };
    let (report_read, report_write) = cloexec_pipe().map_err(|e| SpawnError::Os("pipe", e))?;
    let gate = match before_exec {
        Some(_) => Some(cloexec_pipe().map_err(|e| SpawnError::Os("pipe", e))?),
        None => None,
    };

    let ctx = ChildCtx {
        prep: &prep,
        argv: &argv_ptrs,
        envp: envp_ptrs.as_mut_ptr(),
        stdin: devnull.as_raw_fd(),
        out: out_fd,
        report: report_write.as_raw_fd(),
        gate: gate.as_ref().map(|(r, w)| (r.as_raw_fd(), w.as_raw_fd())),
        gate_buf: gate_buf.as_mut_ptr(),
        envp_used: prep.envp.len(),
        new_session: spec.new_session,
        die_with_parent: spec.die_with_parent,
        portable: platform::portable_forced(),
        nice: spec.nice,
        // SAFETY: getpid has no preconditions.
        parent: unsafe { libc::getpid() },
    };

    // Block every signal across clone/fork: otherwise a signal arriving in the
    // child before its dispositions are reset would run the *parent's*
    // handler there (e.g. a signal-hook handler writing to the parent's
    // self-pipe, making the supervisor believe it was told to stop).
    let old_mask = block_all_signals();
    // SAFETY: child_entry only calls async-signal-safe functions on data
    // prepared above, which stays alive and unchanged until the report pipe
    // says the child exec'd or failed (`_stack` too), and ends in execve or
    // _exit.
    let started =
        unsafe { start_child(child_entry, (&ctx as *const ChildCtx<'_>).cast_mut().cast()) };
    restore_signals(&old_mask);
    let (pid, _stack) = started.map_err(|e| SpawnError::Os("clone", e))?;

    // Close the parent's copies of the child's ends: the report pipe must
    // reach EOF when the child execs, and the output pipe when it exits.
    drop(report_write);
    drop(out_write);
    drop(devnull);
    let mut start_time = None;
    if let (Some((gate_read, gate_write)), Some(hook)) = (gate, before_exec) {
        drop(gate_read);
        let started = process_start(pid).unwrap_or(ProcStart::UNKNOWN);
        start_time = Some(started);
        match hook(pid, started).and_then(|vars| gate_message(&spec.env, vars)) {
            // Nothing to do if the write fails: the child died early and
            // reports why through the report pipe as usual.
            Ok(msg) => {
                // SAFETY: writing from a local buffer to an fd we own.
                unsafe { libc::write(gate_write.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
            }
            Err(reason) => {
                // Closing the gate unopened makes the child exit (125)
                // without running anything.
                drop(gate_write);
                let _ = super::wait::waitpid_raw(pid, 0);
                return Err(SpawnError::NotRecorded { reason });
            }
        }
        drop(gate_write);
    }

    match read_report(&report_read) {
        Ok(None) => Ok(Child {
            pid,
            // exec keeps the start time: read it once.
            start: start_time
                .or_else(|| process_start(pid))
                .unwrap_or(ProcStart::UNKNOWN),
            output: out_read.map(File::from),
        }),
        Ok(Some((stage, errno, index))) => {
            // The child has _exit()ed or is about to: reap it so no zombie
            // is left behind for a caller that never learns its pid.
            let _ = super::wait::waitpid_raw(pid, 0);
            Err(describe_failure(spec, &prep, stage, errno, index))
        }
        Err(e) => {
            // Unknown state: make sure the child does not run unattended.
            // SAFETY: pid is our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = super::wait::waitpid_raw(pid, 0);
            Err(SpawnError::Os("reading the exec status", e))
        }
    }
}

fn prepare(spec: &SpawnSpec) -> Result<Prepared, SpawnError> {
    let invalid = |reason: String| SpawnError::Invalid { reason };
    let Some(program) = spec.argv.first() else {
        return Err(invalid("empty argument list".into()));
    };
    let prog = program.as_bytes();
    if prog.is_empty() {
        return Err(SpawnError::NotFound {
            program: String::new(),
        });
    }
    let argv = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid(format!("argument contains a NUL byte: {program:?}")))?;

    let mut envp = Vec::with_capacity(spec.env.len());
    for (k, v) in &spec.env {
        let (k, v) = (k.as_bytes(), v.as_bytes());
        if k.is_empty() || k.contains(&b'=') || k.contains(&0) || v.contains(&0) {
            return Err(invalid(format!(
                "bad environment variable {:?}",
                String::from_utf8_lossy(k)
            )));
        }
        let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
        kv.extend_from_slice(k);
        kv.push(b'=');
        kv.extend_from_slice(v);
        // Cannot fail: NUL bytes were rejected above.
        envp.push(CString::new(kv).map_err(|_| invalid("NUL in environment".into()))?);
    }

    let searched = !prog.contains(&b'/');
    let candidates = if searched {
        let path = spec
            .env
            .iter()
            .find(|(k, _)| k.as_bytes() == b"PATH")
            .map_or(DEFAULT_PATH, |(_, v)| v.as_bytes());
        path.split(|&b| b == b':')
            .filter_map(|dir| {
                // An empty PATH entry means the current directory.
                let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
                let mut full = Vec::with_capacity(dir.len() + prog.len() + 1);
                full.extend_from_slice(dir);
                full.push(b'/');
                full.extend_from_slice(prog);
                CString::new(full).ok()
            })
            .collect()
    } else {
        vec![argv[0].clone()]
    };

    let cwd = spec
        .cwd
        .as_ref()
        .map(|p| CString::new(p.as_os_str().as_bytes()))
        .transpose()
        .map_err(|_| {
            invalid(format!(
                "working directory contains a NUL byte: {:?}",
                spec.cwd
            ))
        })?;

    let l = &spec.limits;
    let wanted = [
        (libc::RLIMIT_NOFILE, l.nofile),
        (libc::RLIMIT_CPU, l.cpu_secs),
        (
            libc::RLIMIT_AS,
            if platform::RLIMIT_AS_ENFORCED {
                l.as_bytes
            } else {
                None
            },
        ),
        (libc::RLIMIT_FSIZE, l.fsize_bytes),
    ];
    let limits = wanted
        .iter()
        .zip(0u32..)
        .filter_map(|(&(res, value), i)| value.map(|v| (res, to_rlim(v), i)))
        .collect();

    Ok(Prepared {
        candidates,
        searched,
        argv,
        envp,
        cwd,
        limits,
    })
}

/// rlim_t is u64 on Linux and macOS; saturate elsewhere (infinity).
#[allow(clippy::unnecessary_fallible_conversions, clippy::useless_conversion)]
fn to_rlim(v: u64) -> libc::rlim_t {
    libc::rlim_t::try_from(v).unwrap_or(libc::RLIM_INFINITY)
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The data the child reads; plain references so nothing is moved or
/// dropped while the child may use it.
struct ChildCtx<'a> {
    prep: &'a Prepared,
    argv: &'a [*const libc::c_char],
    /// The envp array, with [`GATE_ENV_VARS`] null slots after the
    /// `envp_used` entries when gated.
    envp: *mut *const libc::c_char,
    envp_used: usize,
    stdin: RawFd,
    out: RawFd,
    report: RawFd,
    /// (read, write) ends of the start gate of [`spawn_recorded`].
    gate: Option<(RawFd, RawFd)>,
    /// [`GATE_MSG_MAX`] bytes the child reads the gate message into.
    gate_buf: *mut u8,
    new_session: bool,
    die_with_parent: bool,
    /// `platform::portable_forced()`, read by the parent: the child must
    /// not initialise anything in memory it may share with the parent.
    portable: bool,
    nice: Option<i32>,
    parent: libc::pid_t,
}

extern "C" fn child_entry(ctx: *mut libc::c_void) -> libc::c_int {
    // SAFETY: start_child passes the ChildCtx that `start` keeps alive.
    unsafe { child_main(&*(ctx.cast_const().cast::<ChildCtx<'_>>())) }
}

/// The child side: async-signal-safe calls only, no allocation, no panics.
/// Never returns. It shares the parent's memory (see `clone.rs`), so until
/// the gate opens, while the parent still works, it makes no call that can
/// fail and set errno; the setup steps that can fail come after the gate,
/// when the parent only waits for the report.
unsafe fn child_main(ctx: &ChildCtx<'_>) -> ! {
    // Signals were blocked by the parent around clone/fork. Reset dispositions
    // first (exec keeps SIG_IGN, e.g. the SIGPIPE that Rust programs
    // ignore), then unblock: pending signals are then delivered with their
    // default action, never a handler copied from the parent.
    for sig in 1..platform::SIGNAL_END {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP && !platform::reserved_by_libc(sig) {
            libc::signal(sig, libc::SIG_DFL);
        }
    }

    if let Some((gate_read, gate_write)) = ctx.gate {
        // Our copy of the write end would keep the pipe open if the parent
        // died; closed, a dead parent reads as EOF.
        libc::close(gate_write);
        if !read_gate(gate_read, ctx) {
            // The parent is gone, or did not record us: run nothing.
            libc::_exit(125);
        }
        libc::close(gate_read);
    }

    if ctx.new_session && libc::setsid() < 0 {
        fail(ctx.report, STAGE_SETSID, 0);
    }

    if ctx.die_with_parent && !platform::child_die_with_parent(ctx.parent, ctx.portable) {
        fail(ctx.report, STAGE_PDEATHSIG, 0);
    }

    if libc::dup2(ctx.stdin, 0) < 0 || libc::dup2(ctx.out, 1) < 0 || libc::dup2(ctx.out, 2) < 0 {
        fail(ctx.report, STAGE_STDIO, 0);
    }

    // Hand over only 0..=2: mark anything else the parent left inheritable
    // (a lock file, a socket from some library) close-on-exec. Best effort:
    // the library's own fds are CLOEXEC anyway.
    platform::child_cloexec_from_3(ctx.portable);

    if let Some(cwd) = &ctx.prep.cwd {
        if libc::chdir(cwd.as_ptr()) < 0 {
            fail(ctx.report, STAGE_CHDIR, 0);
        }
    }

    if let Some(nice) = ctx.nice {
        if libc::setpriority(libc::PRIO_PROCESS, 0, nice) < 0 {
            fail(ctx.report, STAGE_NICE, 0);
        }
    }

    for &(resource, value, index) in &ctx.prep.limits {
        let lim = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        if libc::setrlimit(resource, &lim) < 0 {
            fail(ctx.report, STAGE_RLIMIT + index, 0);
        }
    }

    let mut unblock: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut unblock);
    libc::sigprocmask(libc::SIG_SETMASK, &unblock, std::ptr::null_mut());

    // execvp's rules: keep searching past "not there" errors, remember that
    // some candidate was not executable, stop at any other error.
    let mut eacces: Option<u32> = None;
    for (candidate, index) in ctx.prep.candidates.iter().zip(0u32..) {
        libc::execve(candidate.as_ptr(), ctx.argv.as_ptr(), ctx.envp);
        let errno = errno();
        if !ctx.prep.searched {
            fail_with(ctx.report, STAGE_EXEC, errno, index);
        }
        match errno {
            libc::EACCES => {
                eacces.get_or_insert(index);
            }
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => fail_with(ctx.report, STAGE_EXEC, errno, index),
        }
    }
    match eacces {
        Some(index) => fail_with(ctx.report, STAGE_EXEC, libc::EACCES, index),
        None => fail_with(ctx.report, STAGE_EXEC, libc::ENOENT, 0),
    }
}

/// The child side of the gate: reads the go message and points the spare
/// envp slots at its variables. False if the parent closed the gate
/// without one (it died, or could not record the child).
unsafe fn read_gate(fd: RawFd, ctx: &ChildCtx<'_>) -> bool {
    let buf = ctx.gate_buf;
    let mut got = 0usize;
    loop {
        let n = libc::read(fd, buf.add(got).cast(), GATE_MSG_MAX - got);
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            return false;
        }
        got += n as usize;
        if got >= 3 {
            let len = u16::from_le_bytes([*buf.add(1), *buf.add(2)]) as usize;
            if *buf != 1 || 3 + len > GATE_MSG_MAX {
                return false;
            }
            if got >= 3 + len {
                break;
            }
        }
    }
    let len = u16::from_le_bytes([*buf.add(1), *buf.add(2)]) as usize;
    let mut slot = ctx.envp_used;
    let mut from = 3;
    for i in 3..3 + len {
        if *buf.add(i) == 0 && slot < ctx.envp_used + GATE_ENV_VARS {
            *ctx.envp.add(slot) = buf.add(from).cast();
            slot += 1;
            from = i + 1;
        }
    }
    true
}

/// The parent side: the go message carrying `vars` (those `env` already
/// sets are left out, so the spec's own values win).
fn gate_message(env: &[(OsString, OsString)], vars: GateEnv) -> Result<Vec<u8>, String> {
    let mut payload = Vec::new();
    let mut count = 0;
    for (k, v) in vars {
        if env.iter().any(|(e, _)| *e == k) {
            continue;
        }
        let (k, v) = (k.as_bytes(), v.as_bytes());
        if k.is_empty() || k.contains(&b'=') || k.contains(&0) || v.contains(&0) {
            return Err(format!(
                "bad environment variable {:?}",
                String::from_utf8_lossy(k)
            ));
        }
        payload.extend_from_slice(k);
        payload.push(b'=');
        payload.extend_from_slice(v);
        payload.push(0);
        count += 1;
    }
    if count > GATE_ENV_VARS || payload.len() > GATE_ENV_BYTES {
        return Err(format!(
            "too many variables for the child's environment ({count}, {} bytes)",
            payload.len()
        ));
    }
    let mut msg = Vec::with_capacity(3 + payload.len());
    msg.push(1);
    msg.extend_from_slice(&(payload.len() as u16).to_le_bytes());
    msg.extend_from_slice(&payload);
    Ok(msg)
}

unsafe fn fail(report: RawFd, stage: u32, index: u32) -> ! {
    fail_with(report, stage, errno(), index)
}

unsafe fn fail_with(report: RawFd, stage: u32, errno: i32, index: u32) -> ! {
    let mut buf = [0u8; REPORT_LEN];
    buf[0..4].copy_from_slice(&stage.to_ne_bytes());
    buf[4..8].copy_from_slice(&errno.to_ne_bytes());
    buf[8..12].copy_from_slice(&index.to_ne_bytes());
    // 12 bytes < PIPE_BUF: the write is atomic. Nothing to do if it fails.
    libc::write(report, buf.as_ptr().cast(), REPORT_LEN);
    libc::_exit(127)
}

fn errno() -> i32 {
    Errno::last_raw()
}

/// `Ok(None)`: EOF, exec succeeded. `Ok(Some(..))`: the child's report.
fn read_report(fd: &OwnedFd) -> Result<Option<(u32, i32, u32)>, Errno> {
    let mut buf = [0u8; REPORT_LEN];
    let mut filled = 0;
    while filled < REPORT_LEN {
        // SAFETY: the destination is the unfilled tail of buf.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[filled..].as_mut_ptr().cast(),
                REPORT_LEN - filled,
            )
        };
        match n {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Errno::last()),
            0 if filled == 0 => return Ok(None),
            0 => return Err(Errno::EIO),
            n => filled += n as usize,
        }
    }
    let word = |i: usize| [buf[i], buf[i + 1], buf[i + 2], buf[i + 3]];
    Ok(Some((
        u32::from_ne_bytes(word(0)),
        i32::from_ne_bytes(word(4)),
        u32::from_ne_bytes(word(8)),
    )))
}

fn describe_failure(
    spec: &SpawnSpec,
    prep: &Prepared,
    stage: u32,
    errno: i32,
    index: u32,
) -> SpawnError {
    let err = Errno::from_raw(errno);
    let reason = err.desc().to_string();
    let program = String::from_utf8_lossy(prep.argv[0].as_bytes()).into_owned();
    let setup = |what: String| SpawnError::Setup {
        reason: format!("{what}: {reason}"),
    };
    match stage {
        STAGE_EXEC => {
            let candidate = prep
                .candidates
                .get(index as usize)
                .map(|c| String::from_utf8_lossy(c.as_bytes()).into_owned())
                .unwrap_or_else(|| program.clone());
            if err == Errno::ENOENT {
                // execve also says ENOENT when the file exists but its #!
                // interpreter does not: that is "cannot execute", not
                // "not found" (bash: "bad interpreter").
                if let Some(found) = existing_candidate(spec, prep) {
                    return SpawnError::NotExecutable {
                        program: found,
                        reason: format!("bad interpreter: {reason}"),
                    };
                }
                return SpawnError::NotFound { program };
            }
            let reason = if err == Errno::ENOEXEC {
                format!("{reason} (not a binary, and no #! line)")
            } else {
                reason
            };
            SpawnError::NotExecutable {
                program: candidate,
                reason,
            }
        }
        STAGE_CHDIR => SpawnError::Cwd {
            path: spec.cwd.clone().unwrap_or_default(),
            reason,
        },
        STAGE_SETSID => setup("setsid".into()),
        STAGE_PDEATHSIG => setup("prctl(PR_SET_PDEATHSIG)".into()),
        STAGE_STDIO => setup("redirecting stdin/stdout/stderr".into()),
        STAGE_NICE => setup(format!("setpriority(nice {})", spec.nice.unwrap_or(0))),
        s if (STAGE_RLIMIT..STAGE_RLIMIT + LIMIT_NAMES.len() as u32).contains(&s) => {
            let i = (s - STAGE_RLIMIT) as usize;
            let value = prep
                .limits
                .iter()
                .find(|l| l.2 as usize == i)
                .map_or(0, |l| l.1);
            setup(format!("setrlimit({}, {value})", LIMIT_NAMES[i]))
        }
        _ => setup(format!("unknown stage {stage}")),
    }
}

/// The first exec candidate that exists as a regular file, as the child
/// would have seen it (relative paths are relative to the child's cwd).
fn existing_candidate(spec: &SpawnSpec, prep: &Prepared) -> Option<String> {
    prep.candidates.iter().find_map(|c| {
        let path = Path::new(std::ffi::OsStr::from_bytes(c.as_bytes()));
        let full = match &spec.cwd {
            Some(cwd) if path.is_relative() => cwd.join(path),
            _ => path.to_path_buf(),
        };
        full.metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|_| path.to_string_lossy().into_owned())
    })
}

fn open_devnull() -> Result<OwnedFd, SpawnError> {
    // SAFETY: the path is a valid C string.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(SpawnError::Os("open /dev/null", Errno::last()));
    }
    // SAFETY: fd is new and owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    if fd.as_raw_fd() < 3 {
        return dup_high(fd.as_raw_fd()).map_err(|e| SpawnError::Os("fcntl(F_DUPFD_CLOEXEC)", e));
    }
    Ok(fd)
}

/// A close-on-exec duplicate of `fd` numbered 3 or above.
fn dup_high(fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC only reads fd.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(Errno::last());
    }
    // SAFETY: new is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// A pipe with both ends close-on-exec and numbered 3 or above.
pub(crate) fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (r, w) = platform::pipe_cloexec()?;
    let high = |fd: OwnedFd| -> Result<OwnedFd, Errno> {
        if fd.as_raw_fd() < 3 {
            return dup_high(fd.as_raw_fd());
        }
        Ok(fd)
    };
    Ok((high(r)?, high(w)?))
}

fn block_all_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigfillset/sigprocmask.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    }
}

fn restore_signals(old: &libc::sigset_t) {
    // SAFETY: old came from pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
}
