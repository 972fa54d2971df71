//! Parsing of the five time fields, following cronie's `entry.c` (`get_list`, `get_range`,
//! `get_number`) as closely as a string-based parser can, with friendlier errors.
//!
//! Grammar of one field: a comma-separated list of elements, each one of
//! `*`, `*/STEP`, `VALUE`, `VALUE-VALUE` or `VALUE-VALUE/STEP`. A value is a decimal number or,
//! in the month and day-of-week fields, a three-letter English name in any case.
//!
//! Decisions taken from cronie's source:
//! - `5/15` (a single value with a step) is REJECTED: cronie's range parser goes from "number"
//!   straight to "separator, `-` or `~`" and fails on `/` (Debian's patched Vixie cron and some
//!   libraries read it as `5-59/15`, cronie does not). The error says to write `5-59/15`.
//! - A step larger than the range is accepted (cronie only prints a warning), so `*/100` in the
//!   day-of-month field means just the 1st.
//! - In the day-of-week field a range ending in Sunday written as 0 (`5-0`, `fri-sun`) means
//!   `5-7`, as cronie does; every other range whose start is above its end is an error.
//! - cronie's random ranges (`~`) are not supported.

use super::ScheduleError;

/// Static description of one of the five fields.
#[derive(Debug, Clone, Copy)]
pub(super) struct FieldSpec {
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    /// Names for the values `min`, `min + 1`, ... (empty when the field takes no names).
    pub names: &'static [&'static str],
    /// What a valid value looks like, for error messages.
    pub expected: &'static str,
}

pub(super) const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    expected: "a number 0-59",
};
pub(super) const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    expected: "a number 0-23",
};
pub(super) const DOM: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    expected: "a number 1-31",
};
pub(super) const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    expected: "a number 1-12 or a name jan-dec",
};
pub(super) const DOW: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    expected: "a number 0-7 or a name sun-sat",
};

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Longest each month can be (February counted with its leap day).
const MONTH_MAX_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// Parses one field into a bit set (bit `v` set when value `v` is allowed).
pub(super) fn parse_field(spec: &FieldSpec, text: &str) -> Result<u64, ScheduleError> {
    let mut bits = 0u64;
    for element in text.split(',') {
        bits |= parse_element(spec, element).map_err(|detail| field_error(spec, text, &detail))?;
    }
    Ok(bits)
}

fn field_error(spec: &FieldSpec, text: &str, detail: &str) -> ScheduleError {
    ScheduleError {
        field: Some(spec.name),
        message: format!("{} field {:?}: {}", spec.name, text, detail),
    }
}

/// One list element; the error is the detail part of the message.
fn parse_element(spec: &FieldSpec, element: &str) -> Result<u64, String> {
    if element.is_empty() {
        return Err("empty list element (stray comma?)".to_string());
    }
    let (base, step_text) = match element.split_once('/') {
        Some((base, step)) => (base, Some(step)),
        None => (element, None),
    };
    let step = match step_text {
        Some(text) => parse_step(element, text)?,
        None => 1,
    };
    let (low, high) = if base == "*" {
        (spec.min, spec.max)
    } else if let Some((start, end)) = base.split_once('-') {
        let low = parse_value(spec, element, start)?;
        let mut high = parse_value(spec, element, end)?;
        if low > high {
            if spec.name == DOW.name && high == 0 {
                high = 7;
            } else {
                return Err(format!("range start {low} is greater than end {high}"));
            }
        }
        (low, high)
    } else {
        let value = parse_value(spec, element, base)?;
        if let Some(step) = step_text {
            return Err(format!(
                "{element:?}: a step (\"/{step}\") needs a range or \"*\" before it \
                 (cronie rejects this form; write \"{value}-{}/{step}\")",
                spec.max
            ));
        }
        (value, value)
    };
    let mut bits = 0u64;
    // `step_by` never overflows, whatever the step.
    for value in (low..=high).step_by(usize::try_from(step).unwrap_or(usize::MAX)) {
        bits |= 1u64 << value;
    }
    Ok(bits)
}

fn parse_step(element: &str, text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err(format!("{element:?}: missing step after \"/\""));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("step {text:?} in {element:?} is not a number"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err(format!("step 0 in {element:?}: step must be at least 1")),
        Ok(step) => Ok(step),
        Err(_) => Err(format!("step {text} in {element:?} is too large")),
    }
}

fn parse_value(spec: &FieldSpec, element: &str, text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err(format!(
            "{element:?}: missing value (expected {})",
            spec.expected
        ));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u32>() {
            Ok(v) if (spec.min..=spec.max).contains(&v) => Ok(v),
            Ok(v) => Err(format!("{v} is out of range {}-{}", spec.min, spec.max)),
            Err(_) => Err(format!("{text} is out of range {}-{}", spec.min, spec.max)),
        };
    }
    if text.bytes().all(|b| b.is_ascii_alphabetic()) {
        if let Some(index) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            if let Ok(offset) = u32::try_from(index) {
                return Ok(spec.min + offset);
            }
        }
    }
    Err(format!(
        "{text:?} is not a valid {} (expected {})",
        spec.name, spec.expected
    ))
}

/// Rejects day-of-month/month combinations that can never occur. Only the AND rule can be
/// impossible (with the OR rule every matching weekday fires), and under the AND rule a starred
/// day-of-month contains the 1st, so only "day-of-month restricted, day-of-week starred" is
/// checked. February 29 counts as possible.
pub(super) fn check_can_fire(
    text: &str,
    doms: u64,
    months: u64,
    dom_star: bool,
    dow_star: bool,
) -> Result<(), ScheduleError> {
    if dom_star || !dow_star {
        return Ok(());
    }
    let possible = (1..=12u32).any(|m| {
        months & (1u64 << m) != 0
            && (1..=MONTH_MAX_DAYS[(m - 1) as usize]).any(|d| doms & (1u64 << d) != 0)
    });
    if possible {
        return Ok(());
    }
    let months: Vec<String> = (1..=12u32)
        .filter(|m| months & (1u64 << m) != 0)
        .map(|m| MONTH_NAMES[(m - 1) as usize].to_string())
        .collect();
    let days: Vec<String> = (1..=31u32)
        .filter(|d| doms & (1u64 << d) != 0)
        .map(|d| d.to_string())
        .collect();
    let verb = if months.len() == 1 { "has" } else { "have" };
    Err(ScheduleError {
        field: Some(DOM.name),
        message: format!(
            "{text:?} can never fire: {} {verb} no day {}",
            join(&months, "and"),
            join(&days, "or")
        ),
    })
}

/// `a`, `a and b`, `a, b and c`.
fn join(items: &[String], word: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}
