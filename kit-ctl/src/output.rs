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
        if i > 0 && (s.len() - i) % 3 == 0 {
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
