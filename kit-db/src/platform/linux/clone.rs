//! Creating the child in the parent's memory (clone with CLONE_VM, as
//! posix_spawn does).
//!
//! Why: fork copies the page tables and makes every page copy-on-write.
//! kit-run then writes the execution's row while the child waits at the
//! gate, and each page SQLite writes meanwhile was copied first (about 60
//! page faults on every run). With CLONE_VM nothing is copied.
//!
//! Unlike posix_spawn (CLONE_VM|CLONE_VFORK), the parent runs on while the
//! child waits at the gate, so the two share memory at the same time. The
//! child therefore runs on a stack of its own and writes only what was set
//! aside for it (the gate buffer and the spare envp slots); until the gate
//! opens it makes no call that can fail, since errno lives in the thread
//! storage it shares with the parent (see `child_main` in process/spawn.rs).

use nix::errno::Errno;
use std::os::raw::{c_int, c_void};

/// The child's stack: mapped on demand (only touched pages cost anything),
/// with a guard page below it. It must outlive the child's use of it: until
/// the child has exec'd or exited. Null for a forked child (nothing to free).
pub struct ChildStack {
    base: *mut c_void,
}

const STACK_BYTES: usize = 256 << 10;
const GUARD_BYTES: usize = 4096;

impl ChildStack {
    /// No stack of its own: the child was forked.
    pub fn none() -> ChildStack {
        ChildStack {
            base: std::ptr::null_mut(),
        }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        if self.base.is_null() {
            return;
        }
        // SAFETY: base/len are the mapping made in `start_child`, which no
        // one uses any more.
        unsafe {
            libc::munmap(self.base, STACK_BYTES + GUARD_BYTES);
        }
    }
}

/// Starts `entry(arg)` as a child process (SIGCHLD on exit, like fork).
///
/// # Safety
/// As `platform::start_child`.
pub unsafe fn start_child(
    entry: extern "C" fn(*mut c_void) -> c_int,
    arg: *mut c_void,
) -> Result<(libc::pid_t, ChildStack), Errno> {
    let len = STACK_BYTES + GUARD_BYTES;
    let base = libc::mmap(
        std::ptr::null_mut(),
        len,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
        -1,
        0,
    );
    if base == libc::MAP_FAILED {
        return Err(Errno::last());
    }
    let stack = ChildStack { base };
    if libc::mprotect(base, GUARD_BYTES, libc::PROT_NONE) < 0 {
        return Err(Errno::last());
    }
    // The stack grows down from the top of the mapping.
    let top = base.cast::<u8>().add(len).cast::<c_void>();
    let pid = libc::clone(entry, top, libc::CLONE_VM | libc::SIGCHLD, arg);
    if pid < 0 {
        return Err(Errno::last());
    }
    Ok((pid, stack))
}
