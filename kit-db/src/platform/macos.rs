//! macOS: libproc and sysctl for identity, kqueue for exits and DB writes,
//! fork for children. Everything else is the portable code.
//!
//! None of this has run on a Mac in kit's CI (there is none): it is
//! compiled and linted for aarch64- and x86_64-apple-darwin on every
//! change, and its logic (fork, no parent-death signal, no subreaper) runs
//! on Linux under `KIT_PLATFORM=portable`.

use super::portable;
use super::ProcInfo;
use nix::errno::Errno;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::raw::{c_int, c_void};

mod dbwatch;
mod sleep;

pub use dbwatch::DbWatch;
pub use portable::{
    child_cloexec_from_3, child_die_with_parent, lock_holders, pipe_cloexec, reserved_by_libc,
    start_child, ChildStack, LimitResource, SIGNAL_END,
};
pub use sleep::{since_boot, slept_since_boot};

/// RLIMIT_AS is RLIMIT_RSS on Darwin, and the kernel does not enforce it:
/// a task's `limits.as` is reported as ignored (`Limits::ignored_here`).
pub const RLIMIT_AS_ENFORCED: bool = false;

pub const NAME: &str = "macos";

/// launchd starts jobs with `/usr/bin:/bin:/usr/sbin:/sbin`; Homebrew lives
/// in /opt/homebrew on Apple Silicon and /usr/local on Intel, so a task
/// running `node` or `python3` would otherwise exit 127.
pub const DEFAULT_PATH: &str =
    "/opt/homebrew/bin:/opt/homebrew/sbin:/usr/local/bin:/usr/local/sbin:/usr/bin:/bin:/usr/sbin:/sbin";

/// XNU's killpg skips zombies and answers EPERM (POSIX path) when a group
/// has nothing else left, so EPERM may mean "only zombies".
pub const KILLPG_EPERM_FOR_ZOMBIES: bool = true;

/// On Darwin fsync() does not flush the drive's cache; F_FULLFSYNC at
/// checkpoints keeps the WAL's ordering promise across a power cut (Apple's
/// own SQLite does this). It costs only at checkpoints, which kit keeps rare.
pub const STORE_PRAGMAS: &str = "PRAGMA checkpoint_fullfsync = ON;";

/// `proc_pidinfo(PROC_PIDTBSDINFO)`; when the kernel refuses it (another
/// user's process: XNU applies a same-user check to it), `sysctl
/// KERN_PROC_PID`, which answers for every process as `ps` does. Both give
/// `p_start` in microseconds since the epoch, so values stay comparable.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    // A non-zero arg makes XNU search the zombies too (proc_info.c,
    // findzomb): an exited, unreaped child still has its start time.
    if let Some(info) = pidinfo::<libc::proc_bsdinfo>(pid, libc::PROC_PIDTBSDINFO, 1) {
        return Some(ProcInfo {
            start: micros(info.pbi_start_tvsec, info.pbi_start_tvusec),
            zombie: info.pbi_status == libc::SZOMB,
        });
    }
    kinfo_proc(pid).or_else(|| {
        portable::pid_exists(pid).then_some(ProcInfo {
            start: 0,
            zombie: false,
        })
    })
}

/// `proc_pidinfo(pid, flavor, arg)` into a `T`, if the kernel filled it.
/// `T` must be the plain-old-data struct of that flavor.
fn pidinfo<T>(pid: i32, flavor: c_int, arg: u64) -> Option<T> {
    // SAFETY: the proc_info structs are plain old data: all-zero is valid.
    let mut info: T = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<T>() as c_int;
    // SAFETY: the buffer is a T of the size passed.
    let n = unsafe { libc::proc_pidinfo(pid, flavor, arg, (&mut info as *mut T).cast(), size) };
    (n == size).then_some(info)
}

fn micros(sec: u64, usec: u64) -> u64 {
    sec.saturating_mul(1_000_000).saturating_add(usec)
}

/// `struct kinfo_proc`, which the libc crate does not declare: 648 bytes on
/// 64-bit Darwin. `kp_proc.p_un.__p_starttime` (a timeval: 8-byte seconds,
/// 4-byte microseconds) is at offset 0 and `kp_proc.p_stat` at 36.
const KINFO_PROC_SIZE: usize = 648;
const KINFO_STAT_OFFSET: usize = 36;

fn kinfo_proc(pid: i32) -> Option<ProcInfo> {
    let mut buf = [0u8; KINFO_PROC_SIZE];
    let len = sysctl(
        &mut [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid],
        &mut buf,
    )?;
    // No such process: success with nothing written.
    if len < KINFO_STAT_OFFSET + 1 {
        return None;
    }
    let sec = i64::from_ne_bytes(buf[0..8].try_into().ok()?);
    let usec = i32::from_ne_bytes(buf[8..12].try_into().ok()?);
    Some(ProcInfo {
        start: micros(sec.max(0) as u64, usec.max(0) as u64),
        zombie: u32::from(buf[KINFO_STAT_OFFSET]) == libc::SZOMB,
    })
}

/// `kern.bootsessionuuid`: made at boot, fixed until the next one. Not
/// `kern.boottime`, which XNU shifts whenever the clock is set and on wake,
/// so processes of one boot would disagree about it.
pub fn boot_id() -> Option<String> {
    let mut buf = [0u8; 64];
    let mut len = buf.len();
    let name = c"kern.bootsessionuuid";
    // SAFETY: valid C string, buffer of len bytes.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    let id = std::ffi::CStr::from_bytes_until_nul(&buf[..len.min(buf.len())]).ok()?;
    let id = id.to_str().ok()?.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// The group's members from `proc_listpgrppids`, each checked with
/// `PROC_PIDT_SHORTBSDINFO` (no same-user check; a zombie is not found or
/// reports SZOMB). Needed because XNU's killpg skips zombies and answers
/// EPERM for a group that has only zombies left.
pub fn group_has_live_member(pgid: i32) -> Option<bool> {
    let mut pids = vec![0 as c_int; 4096];
    let bytes = (pids.len() * std::mem::size_of::<c_int>()) as c_int;
    // SAFETY: the buffer holds `bytes` bytes.
    let n = unsafe { libc::proc_listpgrppids(pgid, pids.as_mut_ptr().cast(), bytes) };
    if n < 0 {
        return None;
    }
    let live = pids[..(n as usize).min(pids.len())].iter().any(|&pid| {
        pid > 0
            && pidinfo::<libc::proc_bsdshortinfo>(pid, libc::PROC_PIDT_SHORTBSDINFO, 0)
                .is_some_and(|info| info.pbsi_status != libc::SZOMB)
    });
    Some(live)
}

/// A kqueue with one `EVFILT_PROC`/`NOTE_EXIT` registration: it becomes
/// readable the moment `pid` exits, like a Linux pidfd, for any process we
/// may signal. Registering a pid that is already gone fails (ESRCH).
pub fn exit_watch(pid: i32) -> Option<OwnedFd> {
    // SAFETY: plain syscall.
    let kq = unsafe { libc::kqueue() };
    if kq < 0 {
        return None;
    }
    // SAFETY: a new fd owned by nobody else (kqueues are not inherited by
    // fork, and we set close-on-exec for exec).
    let fd = unsafe { OwnedFd::from_raw_fd(kq) };
    // SAFETY: valid fd.
    unsafe { libc::fcntl(kq, libc::F_SETFD, libc::FD_CLOEXEC) };
    let change = libc::kevent {
        ident: pid as libc::uintptr_t,
        filter: libc::EVFILT_PROC,
        flags: libc::EV_ADD,
        fflags: libc::NOTE_EXIT,
        data: 0,
        udata: std::ptr::null_mut(),
    };
    // SAFETY: one change, no event buffer.
    let rc = unsafe { libc::kevent(kq, &change, 1, std::ptr::null_mut(), 0, std::ptr::null()) };
    (rc == 0).then_some(fd)
}

/// No subreaper on macOS: orphans go to launchd, and kit stops them by
/// their process group instead.
pub fn set_child_subreaper() -> Result<bool, Errno> {
    Ok(false)
}

/// Every process's environment through `sysctl KERN_PROCARGS2` (answered
/// only for our own user's processes, which is all kit-keep starts).
pub fn process_environments() -> Vec<(i32, Vec<u8>)> {
    let mut pids = vec![0 as c_int; 8192];
    let bytes = (pids.len() * std::mem::size_of::<c_int>()) as c_int;
    // SAFETY: the buffer holds `bytes` bytes.
    let n = unsafe { libc::proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
    if n <= 0 {
        return Vec::new();
    }
    let max = argmax();
    pids[..(n as usize).min(pids.len())]
        .iter()
        .filter(|&&pid| pid > 0)
        .filter_map(|&pid| Some((pid, environment(pid, max)?)))
        .collect()
}

fn argmax() -> usize {
    let mut v = [0u8; std::mem::size_of::<c_int>()];
    match sysctl(&mut [libc::CTL_KERN, libc::KERN_ARGMAX], &mut v) {
        Some(n) if n == v.len() && c_int::from_ne_bytes(v) > 0 => c_int::from_ne_bytes(v) as usize,
        _ => 1 << 20,
    }
}

/// The arguments from KERN_PROCARGS2 (see [`parse_procargs2`]).
pub fn process_command(pid: i32) -> Option<String> {
    let b = procargs2(pid, argmax())?;
    let argc = i32::from_ne_bytes(b.get(0..4)?.try_into().ok()?).max(0) as usize;
    let args = args_start(&b)?;
    let words: Vec<String> = b[args..]
        .split(|&c| c == 0)
        .take(argc)
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    Some(words.join(" "))
}

fn environment(pid: i32, max: usize) -> Option<Vec<u8>> {
    parse_procargs2(&procargs2(pid, max)?)
}

fn procargs2(pid: i32, max: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; max];
    let len = sysctl(&mut [libc::CTL_KERN, libc::KERN_PROCARGS2, pid], &mut buf)?;
    buf.truncate(len);
    Some(buf)
}

/// `sysctl(mib)` into `buf`: the bytes written, or None on failure.
fn sysctl(mib: &mut [c_int], buf: &mut [u8]) -> Option<usize> {
    let mut len = buf.len();
    // SAFETY: mib and buf are valid for their lengths; len is buf's size.
    let rc = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            mib.len() as libc::c_uint,
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    (rc == 0).then_some(len.min(buf.len()))
}

/// Where the arguments start: after argc, the exec path and its padding.
fn args_start(b: &[u8]) -> Option<usize> {
    let rest = b.get(4..)?;
    let end = rest.iter().position(|&c| c == 0)?;
    let text = rest[end..].iter().position(|&c| c != 0)?;
    Some(4 + end + text)
}

/// KERN_PROCARGS2's layout: argc (int), the exec path, NUL padding, argc
/// argument strings, then the environment strings up to an empty one.
fn parse_procargs2(b: &[u8]) -> Option<Vec<u8>> {
    let argc = i32::from_ne_bytes(b.get(0..4)?.try_into().ok()?).max(0) as usize;
    let mut strings = b[args_start(b)?..].split(|&c| c == 0);
    for _ in 0..argc {
        strings.next()?;
    }
    let env: Vec<&[u8]> = strings.take_while(|s| !s.is_empty()).collect();
    Some(env.join(&0u8))
}

/// # Safety
/// `p` is a live block from this process's malloc.
pub unsafe fn malloc_block_size(p: *mut c_void) -> usize {
    libc::malloc_size(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procargs2_yields_the_environment() {
        let mut b = 2i32.to_ne_bytes().to_vec();
        b.extend_from_slice(b"/bin/sh\0\0\0\0sh\0-c\0KIT_TASK=x\0KIT_DB=/d\0\0junk");
        assert_eq!(parse_procargs2(&b).unwrap(), b"KIT_TASK=x\0KIT_DB=/d");
    }
}
