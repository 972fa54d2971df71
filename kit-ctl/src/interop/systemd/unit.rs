//! Reading a unit file (systemd.syntax(7)): `[Section]` headers, `Key=Value`
//! lines, `#` and `;` comments, a trailing backslash continuing a line. A
//! key may repeat (`OnCalendar=`, `Environment=`, `ExecStart=`); an empty
//! value clears what the key had so far, as systemd does for lists.

use super::super::Origin;
use kit_db::task::file::FileError;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Setting {
    pub section: String,
    pub key: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Unit {
    pub path: PathBuf,
    pub settings: Vec<Setting>,
}

impl Unit {
    pub fn parse(text: &str, path: &Path) -> Result<Unit, FileError> {
        let mut settings: Vec<Setting> = Vec::new();
        let mut section: Option<String> = None;
        let mut lines = text.lines().enumerate();
        while let Some((i, raw)) = lines.next() {
            let at = Origin::new(path, Some(i + 1));
            let mut line = raw.trim().to_string();
            while line.ends_with('\\') {
                line.pop();
                line.truncate(line.trim_end().len());
                match lines.next() {
                    Some((_, more)) => {
                        line.push(' ');
                        line.push_str(more.trim());
                    }
                    None => break,
                }
            }
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| at.error(format!("bad section header {line:?}")))?;
                section = Some(name.to_string());
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(at.error(format!("expected KEY=VALUE or [Section], found {line:?}")));
            };
            let Some(section) = section.clone() else {
                return Err(at.error("a setting before any [Section] header"));
            };
            let (key, value) = (key.trim().to_string(), value.trim().to_string());
            if value.is_empty() {
                settings.retain(|s| !(s.section == section && s.key == key));
                continue;
            }
            settings.push(Setting {
                section,
                key,
                value,
                line: i + 1,
            });
        }
        Ok(Unit {
            path: path.to_path_buf(),
            settings,
        })
    }

    /// Every value of `section.key`, in order.
    pub fn all(&self, section: &str, key: &str) -> Vec<&Setting> {
        self.settings
            .iter()
            .filter(|s| s.section == section && s.key == key)
            .collect()
    }

    /// The last value of `section.key` (later ones override).
    pub fn get(&self, section: &str, key: &str) -> Option<&Setting> {
        self.all(section, key).into_iter().last()
    }

    pub fn at(&self, s: &Setting) -> Origin {
        Origin::new(&self.path, Some(s.line))
    }
}

/// systemd's boolean words.
pub fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

/// A time span (systemd.time(7)): "5min", "1h 30min", "90" (seconds),
/// "2s 500ms". Whole seconds are enough for kit.
pub fn timespan(v: &str) -> Option<std::time::Duration> {
    let v = v.trim();
    if let Ok(n) = v.parse::<u64>() {
        return Some(std::time::Duration::from_secs(n));
    }
    let mut total = 0f64;
    let mut rest = v;
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = rest[num_end..].trim_start();
        let unit_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let secs = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "ms" | "msec" => 0.001,
            "us" | "usec" => 0.000001,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 604800.0,
            "M" | "month" | "months" => 2_629_800.0,
            "y" | "year" | "years" => 31_557_600.0,
            _ => return None,
        };
        total += n * secs;
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// Splits a command line or an `Environment=` value into words the way
/// systemd does: blanks separate, "..." and '...' quote, backslash escapes.
pub fn words(v: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                let e = chars.next().ok_or("a trailing backslash")?;
                cur.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("an unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Expands the specifiers (systemd.unit(5)) whose value kit knows the way
/// systemd would for the importing user's units: `%h` (home), `%u` (user
/// name), `%%`. Any other specifier is left as written and returned, so
/// that it can be named as lossy.
pub fn expand(v: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut unknown = Vec::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let known = |var: &str| std::env::var(var).ok().filter(|x| !x.is_empty());
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') if known("HOME").is_some() => {
                out.push_str(&known("HOME").unwrap_or_default())
            }
            Some('u') if known("USER").is_some() => {
                out.push_str(&known("USER").unwrap_or_default())
            }
            Some(x) => {
                out.push('%');
                out.push(x);
                unknown.push(format!("%{x}"));
            }
            None => {
                out.push('%');
                unknown.push("%".into());
            }
        }
    }
    (out, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_words() {
        assert_eq!(timespan("5min").unwrap().as_secs(), 300);
        assert_eq!(timespan("1h 30min").unwrap().as_secs(), 5400);
        assert_eq!(timespan("90").unwrap().as_secs(), 90);
        assert!(timespan("5 parsecs").is_none());
        assert_eq!(
            words(r#"/bin/echo "a b" 'c d' e\ f"#).unwrap(),
            ["/bin/echo", "a b", "c d", "e f"]
        );
        assert!(words("\"open").is_err());
    }

    #[test]
    fn specifiers_kit_knows_are_expanded() {
        let home = std::env::var("HOME").unwrap_or_default();
        let (v, unknown) = expand("%h/x 100%% %n %é");
        if home.is_empty() {
            assert!(unknown.contains(&"%h".to_string()));
        } else {
            assert!(v.starts_with(&format!("{home}/x 100% %n")), "{v}");
        }
        assert!(unknown.contains(&"%n".to_string()) && unknown.contains(&"%é".to_string()));
    }

    #[test]
    fn continuation_comments_and_resets() {
        let u = Unit::parse(
            "# c\n[Timer]\nOnCalendar=daily\n; c\nOnCalendar=\nOnCalendar=Mon \\\n 10:00\n",
            Path::new("t.timer"),
        )
        .unwrap();
        let v: Vec<&str> = u
            .all("Timer", "OnCalendar")
            .iter()
            .map(|s| s.value.as_str())
            .collect();
        assert_eq!(v, ["Mon 10:00"]);
        assert_eq!(u.get("Timer", "OnCalendar").unwrap().line, 6);
        assert!(Unit::parse("Key=1\n", Path::new("x")).is_err());
    }
}
