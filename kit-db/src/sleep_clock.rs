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
//! The OS readings live in `crate::platform` (`linux/sleep.rs`,
//! `macos/sleep.rs`); this file holds the injection and the API.
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
        _ => crate::platform::slept_since_boot(),
    }
}

/// Time since boot, sleep included (`CLOCK_BOOTTIME`,
/// `mach_continuous_time`): after a restart, how long the machine has been
/// up is this minus `slept_since_boot`. `KIT_UPTIME` (seconds) replaces it.
pub fn since_boot() -> Option<Duration> {
    match std::env::var("KIT_UPTIME") {
        Ok(v) if !v.trim().is_empty() => injected(&v),
        _ => crate::platform::since_boot(),
    }
}

fn injected(text: &str) -> Option<Duration> {
    text.trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
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
        let slept = crate::platform::slept_since_boot().unwrap();
        assert!(crate::platform::since_boot().unwrap() >= slept);
    }
}
