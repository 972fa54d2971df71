//! Time slept since boot: `mach_continuous_time − mach_absolute_time`.

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
