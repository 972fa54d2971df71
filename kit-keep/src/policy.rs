//! The restart policy, as pure functions of a daemon's recent history (so it
//! is unit-tested without processes):
//!
//! - the first restart after a crash is immediate;
//! - each further consecutive crash waits `restart_delay`, doubling up to
//!   `restart_max_delay`, with ±10% jitter (so daemons that died together,
//!   e.g. when a shared dependency went away, do not restart in lockstep);
//! - the count resets once a process has stayed up `stable_after`;
//! - `crashloop.failures` unrequested exits within `crashloop.within` put
//!   the daemon in quarantine for `quarantine`, then one trial start: if the
//!   trial does not reach `stable_after` it goes straight back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long to wait before start number `fails + 1`, where `fails` counts
/// the consecutive unrequested exits (or failed starts) since the daemon
/// was last stable. `rand01` is a uniform sample in [0, 1).
pub fn restart_delay(fails: u32, base: Duration, max: Duration, rand01: f64) -> Duration {
    if fails <= 1 {
        return Duration::ZERO;
    }
    let exp = (fails - 2).min(40);
    let raw = base.saturating_mul(2u32.saturating_pow(exp)).min(max);
    let jitter = 0.9 + 0.2 * rand01.clamp(0.0, 1.0);
    raw.mul_f64(jitter).min(max)
}

/// Unrequested exits inside the crash-loop window.
#[derive(Debug, Clone, Default)]
pub struct CrashWindow {
    pub at: VecDeque<Instant>,
}

impl CrashWindow {
    /// Notes a failure at `now` and returns how many fall within `within`.
    pub fn push(&mut self, now: Instant, within: Duration) -> usize {
        self.at.push_back(now);
        self.prune(now, within);
        self.at.len()
    }

    pub fn prune(&mut self, now: Instant, within: Duration) {
        while self
            .at
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > within)
        {
            self.at.pop_front();
        }
        // Never keep more than a crash loop's worth plus a margin.
        while self.at.len() > 1000 {
            self.at.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.at.clear();
    }
}

/// A small PRNG for jitter (xorshift64*): no dependency, no syscalls.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Jitter {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Jitter((t ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    /// Uniform in [0, 1).
    pub fn sample(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn first_restart_is_immediate_then_doubles_to_the_cap() {
        let base = 100 * MS;
        let max = Duration::from_secs(1);
        let d: Vec<Duration> = (0..8).map(|f| restart_delay(f, base, max, 0.5)).collect();
        assert_eq!(d[0], Duration::ZERO);
        assert_eq!(d[1], Duration::ZERO);
        assert_eq!(d[2], 100 * MS);
        assert_eq!(d[3], 200 * MS);
        assert_eq!(d[4], 400 * MS);
        assert_eq!(d[5], 800 * MS);
        assert_eq!(d[6], max);
        assert_eq!(d[7], max);
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_never_passes_the_cap() {
        let base = 100 * MS;
        let max = Duration::from_secs(60);
        assert_eq!(restart_delay(2, base, max, 0.0), 90 * MS);
        let high = restart_delay(2, base, max, 0.999_999);
        assert!(high > 109 * MS && high <= 110 * MS, "{high:?}");
        assert!(restart_delay(40, base, max, 0.99) <= max);
        let mut j = Jitter::seeded();
        for _ in 0..1000 {
            let x = j.sample();
            assert!((0.0..1.0).contains(&x));
        }
    }

    #[test]
    fn crash_window_counts_by_time() {
        let t0 = Instant::now();
        let within = Duration::from_secs(120);
        let mut w = CrashWindow::default();
        // A daemon dying every 1.5 s is caught by a time window.
        for i in 0..5 {
            let n = w.push(t0 + Duration::from_millis(1500 * i), within);
            assert_eq!(n, i as usize + 1);
        }
        // Failures older than the window drop out.
        assert_eq!(w.push(t0 + Duration::from_secs(300), within), 1);
    }
}
