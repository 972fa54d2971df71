//! kit-keep's two clocks. Decisions (backoff, crash-loop window, stop
//! deadlines, health intervals) use the monotonic clock, so a wall-clock
//! jump never fires or delays a restart. Stored instants come from the
//! wall clock, or from `--now`/`KIT_NOW` advanced by monotonic time, so a
//! test can run kit-keep "at" any moment and its rows, heartbeat and
//! quarantine deadlines follow from there.

use chrono::Utc;
use kit_db::clock::{self as kclock, Instant as Wall};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Clock {
    /// The injected start instant and the monotonic instant it was read at.
    base: Option<(Wall, Instant)>,
}

impl Clock {
    pub fn new(flag: Option<&str>) -> kit_db::Result<Clock> {
        let base = if kclock::is_injected(flag) {
            Some((kclock::now(flag)?, Instant::now()))
        } else {
            None
        };
        Ok(Clock { base })
    }

    /// The current instant as stored in the DB.
    pub fn now(&self) -> Wall {
        match self.base {
            Some((wall, mono)) => wall + chrono_dur(mono.elapsed()),
            None => Utc::now(),
        }
    }

    /// The stored instant of a past monotonic instant.
    pub fn wall_of(&self, t: Instant) -> Wall {
        self.now() - chrono_dur(Instant::now().saturating_duration_since(t))
    }

    /// The monotonic instant of a stored instant (clamped to now for the
    /// past more than a day ago is irrelevant to every decision here).
    pub fn mono_of(&self, t: Wall) -> Instant {
        let now = Instant::now();
        let delta = t - self.now();
        match delta.to_std() {
            Ok(ahead) => now + ahead,
            Err(_) => now
                .checked_sub((-delta).to_std().unwrap_or_default())
                .unwrap_or(now),
        }
    }

    /// `KIT_NOW` for the tools kit-keep starts, when the clock is injected.
    pub fn injected_now(&self) -> Option<String> {
        self.base.map(|_| kclock::fmt(self.now()))
    }
}

pub fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// A short human duration for messages: "0.3s", "12s", "4m10s".
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms < 60_000 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    kit_db::units::Dur(Duration::from_secs(d.as_secs())).to_string()
}
