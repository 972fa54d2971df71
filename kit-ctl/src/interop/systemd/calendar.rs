//! `OnCalendar=` (systemd.time(7), "Calendar Events") to a cron expression,
//! for the forms cron can say: the shorthands (`daily`, `weekly`...), and
//! `[WEEKDAYS] [*-MONTH-DAY] [HOUR:MINUTE[:00]] [ZONE]` where each part is
//! `*`, a number, a list (`,`), a range (`..`) or a repetition (`/`).
//!
//! What cron cannot say is an error the importer reports as lossy: a year,
//! seconds other than 0, the last day of a month (`~`), and weekdays
//! together with days of the month (systemd requires both; cron runs when
//! either matches).

/// A calendar event as cron: the expression and the zone it names, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Cron {
    pub expr: String,
    pub timezone: Option<String>,
}

fn shorthand(v: &str) -> Option<&'static str> {
    Some(match v.to_ascii_lowercase().as_str() {
        "minutely" => "*-*-* *:*:00",
        "hourly" => "*-*-* *:00:00",
        "daily" => "*-*-* 00:00:00",
        "monthly" => "*-*-01 00:00:00",
        "weekly" => "Mon *-*-* 00:00:00",
        "yearly" | "annually" => "*-01-01 00:00:00",
        "quarterly" => "*-01,04,07,10-01 00:00:00",
        "semiannually" => "*-01,07-01 00:00:00",
        _ => return None,
    })
}

const DAYS: [(&str, u32); 7] = [
    ("sun", 0),
    ("mon", 1),
    ("tue", 2),
    ("wed", 3),
    ("thu", 4),
    ("fri", 5),
    ("sat", 6),
];

fn weekday(w: &str) -> Result<u32, String> {
    let l = w.to_ascii_lowercase();
    DAYS.iter()
        .find(|(name, _)| l.starts_with(name))
        .map(|(_, n)| *n)
        .ok_or_else(|| format!("unknown weekday {w:?}"))
}

/// `Mon..Fri,Sun` → `1-5,0`.
fn weekdays(v: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for item in v.split(',') {
        match item.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (weekday(a)?, weekday(b)?);
                // Sun..Sat is 0-6; a range through Sunday (Fri..Mon) is two.
                if a <= b {
                    out.push(format!("{a}-{b}"));
                } else {
                    out.push(format!("{a}-6"));
                    out.push(format!("0-{b}"));
                }
            }
            None => out.push(weekday(item)?.to_string()),
        }
    }
    Ok(out.join(","))
}

fn number(v: &str, what: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .map_err(|_| format!("{what}: {v:?} is not a number cron can use"))
}

/// One numeric component (`*`, `5`, `1,15`, `1..5`, `0/15`, `*/2`) as a
/// cron field; `max` completes `N/STEP` (systemd's "from N on, every STEP").
fn component(v: &str, max: u32, what: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for item in v.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(number(s, what)?)),
            None => (item, None),
        };
        let range = match range.split_once("..") {
            _ if range == "*" => "*".to_string(),
            Some((a, b)) => format!("{}-{}", number(a, what)?, number(b, what)?),
            None if step.is_some() => format!("{}-{max}", number(range, what)?),
            None => number(range, what)?.to_string(),
        };
        out.push(match step {
            Some(s) => format!("{range}/{s}"),
            None => range,
        });
    }
    Ok(out.join(","))
}

/// Converts one `OnCalendar=` value.
pub fn to_cron(value: &str) -> Result<Cron, String> {
    let expanded = shorthand(value.trim()).unwrap_or(value.trim());
    let mut tokens: Vec<&str> = expanded.split_whitespace().collect();
    let mut timezone = None;
    if let Some(last) = tokens.last() {
        if last.contains('/') && !last.contains(':') || *last == "UTC" {
            kit_db::task::validate::validate_timezone(last)?;
            timezone = Some(last.to_string());
            tokens.pop();
        }
    }
    let mut dow = "*".to_string();
    let (mut month, mut day) = ("*".to_string(), "*".to_string());
    let (mut hour, mut minute) = ("0".to_string(), "0".to_string());
    for t in tokens {
        if t.contains(':') {
            let parts: Vec<&str> = t.split(':').collect();
            let (h, m, s) = match parts.as_slice() {
                [h, m] => (*h, *m, "0"),
                [h, m, s] => (*h, *m, *s),
                _ => return Err(format!("bad time {t:?}")),
            };
            if !matches!(s, "0" | "00") {
                return Err(format!("seconds {s:?}: kit schedules whole minutes"));
            }
            hour = component(h, 23, "hour")?;
            minute = component(m, 59, "minute")?;
        } else if t.contains('-') {
            if t.contains('~') {
                return Err("\"~\" (days from the end of the month) has no cron form".into());
            }
            let parts: Vec<&str> = t.split('-').collect();
            let (y, m, d) = match parts.as_slice() {
                [m, d] => ("*", *m, *d),
                [y, m, d] => (*y, *m, *d),
                _ => return Err(format!("bad date {t:?}")),
            };
            if y != "*" {
                return Err(format!("year {y:?}: cron has no year"));
            }
            month = component(m, 12, "month")?;
            day = component(d, 31, "day")?;
        } else if t.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
            dow = weekdays(t)?;
        } else {
            return Err(format!("cannot read {t:?}"));
        }
    }
    if dow != "*" && day != "*" {
        return Err(
            "weekdays together with days of the month: systemd needs both to match, \
             cron runs when either does"
                .into(),
        );
    }
    Ok(Cron {
        expr: format!("{minute} {hour} {day} {month} {dow}"),
        timezone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: &str) -> String {
        to_cron(v)
            .map(|c| c.expr)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn common_forms() {
        assert_eq!(c("daily"), "0 0 * * *");
        assert_eq!(c("weekly"), "0 0 * * 1");
        assert_eq!(c("hourly"), "0 * * * *");
        assert_eq!(c("quarterly"), "0 0 1 1,4,7,10 *");
        assert_eq!(c("*-*-* 04:15:00"), "15 4 * * *");
        assert_eq!(c("Mon..Fri 09:30"), "30 9 * * 1-5");
        assert_eq!(c("Sat,Sun 10:00"), "0 10 * * 6,0");
        assert_eq!(c("Fri..Mon 10:00"), "0 10 * * 5-6,0-1");
        assert_eq!(c("*:0/10"), "0-59/10 * * * *");
        assert_eq!(c("*:*/15"), "*/15 * * * *");
        assert_eq!(c("*-*-01 02:00"), "0 2 1 * *");
        assert_eq!(c("*-*-1..7 02:00"), "0 2 1-7 * *");
        assert_eq!(c("08,20:00"), "0 8,20 * * *");
        let z = to_cron("*-*-* 06:00 Europe/Warsaw").unwrap();
        assert_eq!(z.timezone.as_deref(), Some("Europe/Warsaw"));
    }

    #[test]
    fn what_cron_cannot_say_is_refused() {
        assert!(c("2026-*-* 00:00").contains("year"));
        assert!(c("*:*:30").contains("seconds"));
        assert!(c("*-*~01").contains('~'));
        assert!(c("Mon *-*-1..7 02:00").contains("either"));
        assert!(c("Someday 10:00").contains("weekday"));
    }
}
