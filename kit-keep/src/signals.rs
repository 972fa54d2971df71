//! Signals wake the event loop through a self-pipe (signal-hook writes a
//! byte from the handler), so kit-keep sleeps in poll(2) and uses no CPU
//! until a child exits (SIGCHLD), it is told to stop (SIGTERM, SIGINT) or
//! to reload (SIGHUP), or a timer is due.

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

pub struct Signals {
    read: UnixStream,
    /// The last of SIGTERM/SIGINT received (0: none).
    stop: Arc<AtomicI32>,
    hup: Arc<AtomicBool>,
    /// A child exited since the last reap (waitpid(-1) costs time in
    /// proportion to the number of children, so it runs only then).
    chld: Arc<AtomicBool>,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let stop = Arc::new(AtomicI32::new(0));
        let hup = Arc::new(AtomicBool::new(false));
        // Flags first, then the wake-up: handlers run in registration order,
        // so by the time the loop reads the byte the flag is set.
        for sig in [SIGTERM, SIGINT] {
            let s = stop.clone();
            // SAFETY: the action only stores to an atomic (async-signal-safe).
            unsafe {
                signal_hook::low_level::register(sig, move || s.store(sig, Ordering::SeqCst))?;
            }
        }
        signal_hook::flag::register(SIGHUP, hup.clone())?;
        let chld = Arc::new(AtomicBool::new(true));
        signal_hook::flag::register(SIGCHLD, chld.clone())?;
        for sig in [SIGCHLD, SIGTERM, SIGINT, SIGHUP] {
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
        }
        Ok(Signals {
            read,
            stop,
            hup,
            chld,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Empties the pipe (the flags carry the meaning).
    pub fn drain(&self) {
        let mut buf = [0u8; 256];
        while let Ok(n) = (&self.read).read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// The stop signal received since the last call, if any.
    pub fn take_stop(&self) -> Option<i32> {
        match self.stop.swap(0, Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    pub fn take_chld(&self) -> bool {
        self.chld.swap(false, Ordering::SeqCst)
    }

    pub fn take_hup(&self) -> bool {
        self.hup.swap(false, Ordering::SeqCst)
    }
}
