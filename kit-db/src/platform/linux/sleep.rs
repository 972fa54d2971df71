//! Time slept since boot: `CLOCK_BOOTTIME − CLOCK_MONOTONIC`.

use std::time::Duration;

fn read(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only to the timespec it is given.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(ts.tv_sec).ok()?,
        u32::try_from(ts.tv_nsec).ok()?,
    ))
}

pub fn slept_since_boot() -> Option<Duration> {
    // Read the clock that stops in sleep first: the difference can then
    // only err upwards by the nanoseconds between the two calls.
    let awake = read(libc::CLOCK_MONOTONIC)?;
    let since_boot = read(libc::CLOCK_BOOTTIME)?;
    Some(since_boot.saturating_sub(awake))
}

pub fn since_boot() -> Option<Duration> {
    read(libc::CLOCK_BOOTTIME)
}
