//! Time: the injectable clock (`--now` / `KIT_NOW`) and the one text format
//! every stored instant uses.
//!
//! Stored instants are UTC, fixed-width `YYYY-MM-DDTHH:MM:SS.mmmZ`: SQLite's
//! date functions understand it and, being fixed-width, text order equals time
//! order, so indexes on these columns serve range queries.

use crate::{Error, Result};
use chrono::{DateTime, SecondsFormat, TimeZone, Timelike, Utc};

pub type Instant = DateTime<Utc>;

const ACCEPTED: &str =
    "accepted forms: RFC 3339 such as 2025-03-30T02:30:00+02:00 or 2025-03-30T00:30:00Z, \
     a date and time in UTC such as \"2025-03-30 00:30\", or @UNIX_SECONDS";

/// Parses a user-supplied instant (`--now`, `--since`, `--from`).
pub fn parse_instant(text: &str) -> Result<Instant> {
    let t = text.trim();
    if let Some(secs) = t.strip_prefix('@') {
        if let Ok(n) = secs.parse::<i64>() {
            if let Some(dt) = Utc.timestamp_opt(n, 0).single() {
                return Ok(dt);
            }
        }
    } else if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    } else {
        for fmt in [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
                return Ok(naive.and_utc());
            }
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            if let Some(naive) = d.and_hms_opt(0, 0, 0) {
                return Ok(naive.and_utc());
            }
        }
    }
    Err(Error::invalid(format!("invalid time {text:?}: {ACCEPTED}")))
}

/// The current instant: `flag` (from `--now`) if given, else `$KIT_NOW`,
/// else the system clock.
pub fn now(flag: Option<&str>) -> Result<Instant> {
    if let Some(f) = flag {
        return parse_instant(f).map_err(|e| Error::invalid(format!("--now: {e}")));
    }
    match std::env::var("KIT_NOW") {
        Ok(v) if !v.trim().is_empty() => {
            parse_instant(&v).map_err(|e| Error::invalid(format!("KIT_NOW: {e}")))
        }
        _ => Ok(Utc::now()),
    }
}

/// True when the clock is injected (then tools must not mix in wall time).
pub fn is_injected(flag: Option<&str>) -> bool {
    flag.is_some() || std::env::var("KIT_NOW").is_ok_and(|v| !v.trim().is_empty())
}

/// Formats an instant the way the DB stores it.
pub fn fmt(t: Instant) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn fmt_opt(t: Option<Instant>) -> Option<String> {
    t.map(fmt)
}

/// Parses an instant read back from the DB (lenient: any RFC 3339).
pub fn parse_stored(text: &str) -> Option<Instant> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// The start of the minute containing `t`.
pub fn floor_minute(t: Instant) -> Instant {
    t.with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(t)
}

/// A compact human age: "4s", "3m", "2h5m", "3d".
pub fn human_age(d: chrono::Duration) -> String {
    let s = d.num_seconds();
    if s < 0 {
        return format!("in {}", human_age(-d));
    }
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => {
            let m = (s % 3600) / 60;
            if m == 0 {
                format!("{}h", s / 3600)
            } else {
                format!("{}h{}m", s / 3600, m)
            }
        }
        _ => format!("{}d", s / 86400),
    }
}
