//! `StartCalendarInterval` to cron: each dict is a slot (a missing key is a
//! wildcard, launchd's rule); a set of slots is one cron expression when it
//! is a cross product of per-field values, else one expression per slot.

use super::source::{integer, Source};
use kit_db::task::file::FileError;
use plist::Dictionary;
use std::collections::BTreeSet;

/// One calendar dict as cron fields (minute hour day month weekday), None
/// standing for a wildcard.
pub type Slot = [Option<i64>; 5];

const CAL_KEYS: [(&str, i64, i64); 5] = [
    ("Minute", 0, 59),
    ("Hour", 0, 23),
    ("Day", 1, 31),
    ("Month", 1, 12),
    ("Weekday", 0, 7),
];

pub fn slot(src: &Source, d: &Dictionary) -> Result<Slot, FileError> {
    let at = || src.at("StartCalendarInterval");
    for k in d.keys() {
        if !CAL_KEYS.iter().any(|(name, ..)| name == k) {
            return Err(at().error(format!(
                "StartCalendarInterval: unknown key {k:?} (Minute, Hour, Day, Weekday, Month)"
            )));
        }
    }
    let mut s: Slot = [None; 5];
    for (i, (key, lo, hi)) in CAL_KEYS.iter().enumerate() {
        if let Some(v) = d.get(key) {
            let n = integer(src, "StartCalendarInterval", v)?;
            if n < *lo || n > *hi {
                return Err(at().error(format!(
                    "StartCalendarInterval: {key} {n} is out of range {lo}-{hi}"
                )));
            }
            // Weekday 7 is Sunday, like 0.
            s[i] = Some(if i == 4 && n == 7 { 0 } else { n });
        }
    }
    Ok(s)
}

fn cron(fields: &[BTreeSet<i64>; 5], wild: &[bool; 5]) -> String {
    (0..5)
        .map(|i| {
            if wild[i] {
                "*".to_string()
            } else {
                let v: Vec<String> = fields[i].iter().map(|n| n.to_string()).collect();
                v.join(",")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The cron expressions for a set of calendar dicts: one when they form a
/// cross product of per-field values, else one per dict.
pub fn calendar(slots: &[Slot]) -> Vec<String> {
    let distinct: BTreeSet<Slot> = slots.iter().copied().collect();
    let wild: [bool; 5] = std::array::from_fn(|i| distinct.iter().all(|s| s[i].is_none()));
    let mixed = (0..5).any(|i| !wild[i] && distinct.iter().any(|s| s[i].is_none()));
    let fields: [BTreeSet<i64>; 5] =
        std::array::from_fn(|i| distinct.iter().filter_map(|s| s[i]).collect());
    let product: usize = (0..5)
        .filter(|i| !wild[*i])
        .map(|i| fields[i].len())
        .product();
    if !mixed && product == distinct.len() {
        return vec![cron(&fields, &wild)];
    }
    distinct
        .iter()
        .map(|s| {
            let f: [BTreeSet<i64>; 5] = std::array::from_fn(|i| s[i].into_iter().collect());
            let w: [bool; 5] = std::array::from_fn(|i| s[i].is_none());
            cron(&f, &w)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_arrays_merge_when_they_are_a_cross_product() {
        let s = |m, h| [Some(m), Some(h), None, None, None];
        assert_eq!(calendar(&[s(0, 8), s(0, 12)]), ["0 8,12 * * *"]);
        assert_eq!(
            calendar(&[s(0, 8), s(30, 8), s(0, 12), s(30, 12)]),
            ["0,30 8,12 * * *"]
        );
        assert_eq!(
            calendar(&[s(0, 8), s(30, 12)]),
            ["0 8 * * *", "30 12 * * *"]
        );
        assert_eq!(
            calendar(&[[None, Some(4), None, None, None]]),
            ["* 4 * * *"]
        );
    }
}
