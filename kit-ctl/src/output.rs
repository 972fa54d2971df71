//! Human output helpers: aligned tables, colour only on a terminal (and
//! never with NO_COLOR).

use std::io::IsTerminal;

pub fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Colours a status word the way people expect: green ok, red failures,
/// yellow for things that did not run.
pub fn status(s: &str) -> String {
    if !color_enabled() {
        return s.to_string();
    }
    let code = match s {
        "success" | "running" | "up" | "ok" => "32",
        "failed" | "timeout" | "killed" | "lost" | "error" | "down" | "stale" => "31",
        "missed" | "skipped" | "queued" | "quarantined" | "backoff" | "disabled" => "33",
        _ => return s.to_string(),
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

/// Prints rows as left-aligned columns separated by two spaces. Widths are
/// computed on the plain text so colour codes do not break alignment.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header.len();
    let visible = |s: &str| strip_ansi(s).chars().count();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(visible(c));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(widths[i] - visible(c) + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// "1,365": thousands separators for counts people read.
pub fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A stored UTC instant shown in `zone` for people: "2025-03-30 03:47 CEST"
/// (seconds only when they are not zero). Unparseable text is shown as is.
pub fn local_time(stored: &str, zone: chrono_tz::Tz) -> String {
    match kit_db::clock::parse_stored(stored) {
        Some(t) => local(t, zone),
        None => stored.to_string(),
    }
}

/// `text` with each stored instant in it (a reason's "from
/// 2025-06-01T01:10:00.000Z to …") shown in `zone`.
pub fn localize_instants(text: &str, zone: chrono_tz::Tz) -> String {
    text.split(' ')
        .map(|w| match kit_db::clock::parse_stored(w) {
            Some(t) => local(t, zone),
            None => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn local(t: kit_db::clock::Instant, zone: chrono_tz::Tz) -> String {
    use chrono::Timelike;
    let l = t.with_timezone(&zone);
    if l.second() == 0 {
        l.format("%Y-%m-%d %H:%M %Z").to_string()
    } else {
        l.format("%Y-%m-%d %H:%M:%S %Z").to_string()
    }
}

/// "3m ago" / "in 2h5m" relative to `now`.
pub fn relative(t: kit_db::clock::Instant, now: kit_db::clock::Instant) -> String {
    let d = now - t;
    if d < chrono::Duration::zero() {
        kit_db::clock::human_age(d)
    } else {
        format!("{} ago", kit_db::clock::human_age(d))
    }
}

/// A run's duration for people: "850ms", "12.3s", "4m05s", "1h02m".
pub fn duration_ms(ms: i64) -> String {
    match ms {
        i64::MIN..=999 => format!("{}ms", ms.max(0)),
        1000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// `s` in the given ANSI colour code when colour is on.
pub fn color(code: &str, s: &str) -> String {
    if color_enabled() {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}
