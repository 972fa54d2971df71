//! Finding the next firing instant, with cronie's daylight-saving rules.
//!
//! # The model (cronie's `cron.c` main loop)
//!
//! cronie wakes up every minute and compares the local wall-clock minute `L` with its "virtual
//! time" `V` (the last local minute it has handled). With `d = L - V`:
//!
//! - `d == 1` (normal): run every job matching `L`.
//! - `2 <= d <= 5` (woke up late): run every job matching any minute of `V+1 ..= L`.
//! - `6 <= d <= 180` (clock jumped forward, e.g. DST starts): run wildcard jobs matching `L`,
//!   and fixed-time jobs matching any minute of `V+1 ..= L`.
//! - `-180 <= d <= 0` (clock went back, e.g. DST ends): run only wildcard jobs matching `L`;
//!   `V` stays put until the clock catches up.
//! - `|d| > 180` (a big jump): run every job matching `L` and reset `V = L`.
//!
//! A job is *wildcard* when its minute or hour field begins with `*`, otherwise *fixed-time*.
//! A job queued several times in one wake-up runs once. So, for the usual one-hour DST change:
//! wildcard jobs fire at every UTC minute whose local time matches (both passes of a repeated
//! hour, nothing for the skipped hour), fixed-time jobs fire once per matching wall time (first
//! pass only) and a skipped matching time fires at the first minute after the jump.
//!
//! # The algorithm
//!
//! Instead of simulating minute by minute, we enumerate matching *local* minutes in increasing
//! order (skipping non-matching months, days and hours quickly) and map each one to the UTC
//! instants at which it makes the job fire, asking chrono-tz whether that local time is
//! unique, repeated (fold) or skipped (gap). Transitions are assumed to be isolated (at most one
//! within a few hours), which holds for every real zone; the brute-force test in
//! `tests_reference.rs` checks this against a literal simulation of the loop above.

use chrono::{
    DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike,
    Utc,
};
use chrono_tz::{GapInfo, Tz};

use super::CronExpr;

/// How far ahead to look. Longer than the brief's "~30 years" on purpose: February 29 on a
/// given weekday (e.g. `0 0 29 2 */7`) can be 40 years apart across the non-leap year 2100.
const HORIZON_DAYS: u64 = 50 * 366;

/// cronie's thresholds (in minutes of clock jump), see the module docs.
const SMALL_JUMP: i64 = 5;
const MAX_JUMP: i64 = 180;

impl CronExpr {
    /// The first firing instant strictly after `after`, evaluated in `tz` with cronie's DST
    /// rules; always on a whole minute. `None` when nothing fires within 50 years.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // UTC minutes since the epoch; the first candidate is the next whole minute.
        let u0 = after.timestamp().div_euclid(60).checked_add(1)?;
        let l0 = local_minute(tz, u0)?;
        let mut from = l0.min(local_minute(tz, u0 - 1)? + 1);
        // If u0 is in the first pass of a repeated hour, local times below l0 will recur.
        if let LocalResult::Ambiguous(a, b) = tz.offset_from_local_datetime(&to_naive(l0)?) {
            let (ka, kb) = (offset_minutes(&a), offset_minutes(&b));
            if l0 - ka.max(kb) == u0 {
                from = from.min(l0 - (ka - kb).abs());
            }
        }
        let limit = to_naive(from)?
            .date()
            .checked_add_days(Days::new(HORIZON_DAYS))?;

        let mut best: Option<i64> = None;
        // Once we have a candidate instant, local minutes above `stop` can only fire later.
        let mut stop = i64::MAX;
        while let Some(local) = self.next_local_match(from, limit) {
            if local > stop {
                break;
            }
            for (instant, fold) in self.firings(tz, local).into_iter().flatten() {
                if instant >= u0 && best.is_none_or(|b| instant < b) {
                    best = Some(instant);
                    // The latest local minute seen up to `instant`.
                    stop = local_minute(tz, instant)?.saturating_add(fold);
                }
            }
            from = local.checked_add(1)?;
        }
        DateTime::from_timestamp(best?.checked_mul(60)?, 0)
    }

    /// Month and cronie's day rule.
    fn day_matches(&self, date: NaiveDate) -> bool {
        if !bit(self.months, date.month()) {
            return false;
        }
        let dom = bit(self.doms, date.day());
        let dow = bit(self.dows, date.weekday().num_days_from_sunday());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first matching local minute at or after `from` (local minutes since 1970-01-01
    /// 00:00 wall time), on or before `limit`.
    fn next_local_match(&self, from: i64, limit: NaiveDate) -> Option<i64> {
        let start = to_naive(from)?;
        let mut date = start.date();
        let (mut hour, mut minute) = (start.hour(), start.minute());
        while date <= limit {
            if self.day_matches(date) {
                if let Some((h, m)) = self.next_time_of_day(hour, minute) {
                    return Some(from_naive(date.and_hms_opt(h, m, 0)?));
                }
            }
            date = self.next_candidate_day(date)?;
            (hour, minute) = (0, 0);
        }
        None
    }

    /// A day after `date` with no matching day skipped (not necessarily matching itself).
    fn next_candidate_day(&self, date: NaiveDate) -> Option<NaiveDate> {
        if !bit(self.months, date.month()) {
            return self.first_day_of_next_month(date);
        }
        if (self.dom_star || self.dow_star) && !bit(self.doms, date.day()) {
            // The AND rule needs a matching day of the month: jump to the next one.
            return match next_bit(self.doms, date.day() + 1) {
                Some(day) => date
                    .with_day(day)
                    .or_else(|| self.first_day_of_next_month(date)),
                None => self.first_day_of_next_month(date),
            };
        }
        date.succ_opt()
    }

    /// The 1st of the next allowed month after `date`'s month.
    fn first_day_of_next_month(&self, date: NaiveDate) -> Option<NaiveDate> {
        match next_bit(self.months, date.month() + 1).filter(|m| *m <= 12) {
            Some(month) => NaiveDate::from_ymd_opt(date.year(), month, 1),
            None => {
                let month = next_bit(self.months, 1)?;
                NaiveDate::from_ymd_opt(date.year().checked_add(1)?, month, 1)
            }
        }
    }

    /// The first matching (hour, minute) at or after `hour:minute` on a matching day.
    fn next_time_of_day(&self, hour: u32, minute: u32) -> Option<(u32, u32)> {
        let h = next_bit(self.hours, hour)?;
        if h == hour {
            if let Some(m) = next_bit(self.minutes, minute) {
                return Some((h, m));
            }
            let h = next_bit(self.hours, hour + 1)?;
            return Some((h, next_bit(self.minutes, 0)?));
        }
        Some((h, next_bit(self.minutes, 0)?))
    }

    /// The UTC minutes at which the matching local minute `local` makes the job fire, each with
    /// the size of the fold it is the second pass of (0 otherwise).
    fn firings(&self, tz: Tz, local: i64) -> [Option<(i64, i64)>; 2] {
        let Some(naive) = to_naive(local) else {
            return [None, None];
        };
        match tz.offset_from_local_datetime(&naive) {
            LocalResult::Single(offset) => [Some((local - offset_minutes(&offset), 0)), None],
            LocalResult::Ambiguous(a, b) => {
                let (ua, ub) = (local - offset_minutes(&a), local - offset_minutes(&b));
                let (first, second) = (ua.min(ub), ua.max(ub));
                let fold = second - first;
                // The second pass is cronie's "negative" case (wildcard jobs only), unless the
                // clock went back so far that cronie resets its virtual time.
                let again = self.wildcard || 1 - fold < -MAX_JUMP;
                [Some((first, 0)), again.then_some((second, fold))]
            }
            LocalResult::None => [self.gap_firing(tz, &naive), None],
        }
    }

    /// A matching local time inside a gap: fires at the first minute after the jump if cronie
    /// catches up on it (fixed-time jobs for an ordinary jump, any job after a tiny one).
    fn gap_firing(&self, tz: Tz, naive: &NaiveDateTime) -> Option<(i64, i64)> {
        let end = GapInfo::new(naive, &tz)?.end?.timestamp();
        let jump_at = end.div_euclid(60) + i64::from(end.rem_euclid(60) != 0);
        let d = local_minute(tz, jump_at)? - local_minute(tz, jump_at - 1)?;
        let fires = match d {
            2..=SMALL_JUMP => true,
            _ if d > SMALL_JUMP && d <= MAX_JUMP => !self.wildcard,
            _ => false,
        };
        fires.then_some((jump_at, 0))
    }
}

fn bit(bits: u64, value: u32) -> bool {
    value < 64 && bits & (1u64 << value) != 0
}

/// The smallest set bit at or above `from`.
fn next_bit(bits: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = bits & (u64::MAX << from);
    (rest != 0).then(|| rest.trailing_zeros())
}

/// Offset in whole minutes (rounded down, as cronie's minute clock does).
fn offset_minutes<O: Offset>(offset: &O) -> i64 {
    i64::from(offset.fix().local_minus_utc()).div_euclid(60)
}

/// The local wall-clock minute (minutes since 1970-01-01 00:00 local) at UTC minute `utc`.
pub(super) fn local_minute(tz: Tz, utc: i64) -> Option<i64> {
    let instant = DateTime::from_timestamp(utc.checked_mul(60)?, 0)?;
    let offset = tz.offset_from_utc_datetime(&instant.naive_utc());
    utc.checked_add(offset_minutes(&offset))
}

/// Local minutes since the epoch to a naive wall-clock time.
pub(super) fn to_naive(minutes: i64) -> Option<NaiveDateTime> {
    Some(DateTime::from_timestamp(minutes.checked_mul(60)?, 0)?.naive_utc())
}

fn from_naive(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp().div_euclid(60)
}
