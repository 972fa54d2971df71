//! How long the machine has slept since it booted, read from the OS with no
//! resident process: the difference between a clock that counts sleep and
//! one that does not. Each heartbeat records it (beside the boot id), so the
//! change between two beats of one boot is how much of the time between
//! them the machine spent asleep.
//!
//! - Linux: `CLOCK_BOOTTIME − CLOCK_MONOTONIC`.
//! - macOS: `mach_continuous_time − mach_absolute_time`, in nanoseconds
//!   through `mach_timebase_info`.
//! - Elsewhere: unknown (`None`), and gaps are explained without it.
//!
//! `KIT_SLEPT` (seconds, fractions allowed) replaces the OS reading, the way
//! `KIT_NOW` replaces the wall clock, so tests drive the real binaries
//! through a sleep; `KIT_SLEPT=unknown` makes the reading unavailable.
//! `KIT_UPTIME` does the same for `since_boot`.

use std::time::Duration;

/// Time slept since boot, or `None` where the OS does not say.
pub fn slept_since_boot() -> Option<Duration> {
    match std::env::var("KIT_SLEPT") {
        Ok(v) if !v.trim().is_empty() => injected(&v),
        _ => os::slept_since_boot(),
    }
}

/// Time since boot, sleep included (`CLOCK_BOOTTIME`,
/// `mach_continuous_time`): after a restart, how long the machine has been
/// up is this minus `slept_since_boot`. `KIT_UPTIME` (seconds) replaces it.
pub fn since_boot() -> Option<Duration> {
    match std::env::var("KIT_UPTIME") {
        Ok(v) if !v.trim().is_empty() => injected(&v),
        _ => os::since_boot(),
    }
}

fn injected(text: &str) -> Option<Duration> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

#[cfg(target_os = "linux")]
mod os {
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
}

#[cfg(target_os = "macos")]
mod os {
    use std::time::Duration;

    #[repr(C)]
    #[derive(Default)]
    struct Timebase {
        numer: u32,
        denom: u32,
    }

    // libSystem. The libc crate declares mach_absolute_time (deprecated in
    // favour of the mach2 crate) but not mach_continuous_time.
    extern "C" {
        fn mach_absolute_time() -> u64;
        fn mach_continuous_time() -> u64;
        fn mach_timebase_info(info: *mut Timebase) -> libc::c_int;
    }

    /// Mach ticks to a Duration.
    fn to_duration(ticks: u64) -> Option<Duration> {
        let mut tb = Timebase::default();
        // SAFETY: writes only the struct it is given.
        if unsafe { mach_timebase_info(&mut tb) } != 0 || tb.denom == 0 {
            return None;
        }
        let nanos = u128::from(ticks) * u128::from(tb.numer) / u128::from(tb.denom);
        Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
    }

    pub fn slept_since_boot() -> Option<Duration> {
        // SAFETY: no arguments, no state; mach_continuous_time exists since
        // macOS 10.12. The clock that stops in sleep is read first.
        let (awake, since_boot) = unsafe {
            let awake = mach_absolute_time();
            (awake, mach_continuous_time())
        };
        to_duration(since_boot.saturating_sub(awake))
    }

    pub fn since_boot() -> Option<Duration> {
        // SAFETY: as above.
        to_duration(unsafe { mach_continuous_time() })
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod os {
    pub fn slept_since_boot() -> Option<std::time::Duration> {
        None
    }

    pub fn since_boot() -> Option<std::time::Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_injected_value_is_seconds() {
        assert_eq!(injected("21120"), Some(Duration::from_secs(21120)));
        assert_eq!(injected(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(injected("unknown"), None);
        assert_eq!(injected("-3"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_reads_a_value() {
        let slept = os::slept_since_boot().unwrap();
        assert!(os::since_boot().unwrap() >= slept);
    }
}
