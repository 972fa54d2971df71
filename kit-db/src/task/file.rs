//! The TOML task file: `[settings]` plus `[[task]]` tables. Loading checks
//! everything before anything is applied, and every error names the file,
//! the line and the field. `export` writes a file that `apply` reproduces.

use super::model::Task;
use super::validate::{validate, validate_timezone};
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TaskFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    #[serde(default, rename = "task")]
    pub tasks: Vec<Task>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path.display(), l, self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for FileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    settings: Option<toml::Spanned<Settings>>,
    #[serde(default)]
    task: Vec<toml::Spanned<Task>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The key whose value is at `offset`: the last key before an `=` on the
/// same line (`timeout = "x"`, or `within` in `c = { f = 1, within = "x" }`),
/// else, for an error further into a value, the key the line starts with.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let (lhs, rest) = before.rsplit_once('=')?;
    let lhs = if rest.trim().is_empty() {
        lhs
    } else {
        before.split_once('=')?.0
    };
    if lhs.trim_start().starts_with('[') {
        return None;
    }
    let key = lhs
        .trim_end()
        .rsplit(|c: char| c == '{' || c == ',' || c.is_whitespace())
        .next()?
        .trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

/// Whether the trimmed line `t` assigns `key` (`key = ...` or `key.sub = ...`).
fn assigns(t: &str, key: &str) -> bool {
    t.strip_prefix(key)
        .map(str::trim_start)
        .is_some_and(|rest| rest.starts_with('=') || rest.starts_with('.'))
}

/// The line of `field` (e.g. `schedule`, `recovery.actions`) in the table
/// `[table]` / `[[table]]` whose header `span` covers, else the header's line.
/// toml's span of a table is only its header, so the table's extent is found
/// here: up to the next header that is not one of its own sub-tables.
fn field_line(text: &str, span: std::ops::Range<usize>, table: &str, field: &str) -> usize {
    let start = span.start.min(text.len());
    let mut parts = field.split('.');
    let key = parts.next().unwrap_or(field);
    let sub = parts.next();
    let header = |t: &str| t.starts_with('[');
    let own_sub = |t: &str| {
        let t = t.trim_start_matches('[').trim_start();
        t.strip_prefix(table).is_some_and(|r| r.starts_with('.'))
    };
    let is_key_header = |t: &str| {
        let t = t.trim_start_matches('[').trim_start();
        t.strip_prefix(table)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_prefix(key))
            .is_some_and(|r| r.trim_start().starts_with(']'))
    };
    let inline = !text[start..].trim_start().starts_with('[');
    let mut offset = start;
    let mut in_key_table = false;
    let mut key_header = None;
    for (i, l) in text[start..].split_inclusive('\n').enumerate() {
        let t = l.trim_start();
        if inline && offset >= span.end {
            break;
        }
        if i > 0 && header(t) {
            if !own_sub(t) {
                break;
            }
            if is_key_header(t) {
                if sub.is_none() {
                    return line_of(text, offset);
                }
                in_key_table = true;
                key_header = Some(line_of(text, offset));
            } else if in_key_table {
                in_key_table = false;
            }
        } else if in_key_table {
            if sub.is_some_and(|s| assigns(t, s)) {
                return line_of(text, offset);
            }
        } else if assigns(t, key) {
            return line_of(text, offset);
        }
        offset += l.len();
    }
    // The sub-table's header when the sub-key is not in it, else the table's.
    key_header.unwrap_or_else(|| line_of(text, start))
}

/// Reads and checks a task file. Relative `cwd` values are resolved against
/// the file's directory, so a file means the same wherever it is applied from.
pub fn load(path: &Path) -> Result<TaskFile, FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        path: path.to_path_buf(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    let base = path
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."));
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    parse(&text, path, &base)
}

/// Parses task-file text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path, base: &Path) -> Result<TaskFile, FileError> {
    let fail = |line: Option<usize>, message: String| FileError {
        path: path.to_path_buf(),
        line,
        message,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        let mut message = e.message().trim().to_string();
        if message == "duplicate key" {
            if let Some(key) = e.span().and_then(|s| text.get(s)) {
                message = format!("duplicate key `{}`", key.trim());
            }
        }
        if message.contains("untagged enum Command") {
            message = "expected a string (run by /bin/sh -c) or an array of strings (exec'd as is)"
                .into();
        }
        // toml's value errors ("invalid duration ...") do not say whose value
        // it was: name the key the value belongs to.
        match e.span().and_then(|s| key_before(text, s.start)) {
            Some(key) if !message.contains(&key) => fail(line, format!("{key}: {message}")),
            _ => fail(line, message),
        }
    })?;
    let settings = match raw.settings {
        Some(s) => {
            let span = s.span();
            let s = s.into_inner();
            if let Some(tz) = &s.timezone {
                validate_timezone(tz).map_err(|m| {
                    fail(
                        Some(field_line(text, span.clone(), "settings", "timezone")),
                        format!("settings: timezone: {m}"),
                    )
                })?;
            }
            if s.notify.as_deref().is_some_and(|n| n.trim().is_empty()) {
                return Err(fail(
                    Some(field_line(text, span, "settings", "notify")),
                    "settings: notify: empty command".into(),
                ));
            }
            Some(s)
        }
        None => None,
    };
    let mut tasks: Vec<Task> = Vec::with_capacity(raw.task.len());
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for spanned in raw.task {
        let span = spanned.span();
        let mut task = spanned.into_inner();
        if let Some(cwd) = &task.cwd {
            if !cwd.starts_with('/') {
                task.cwd = Some(base.join(cwd).display().to_string());
            }
        }
        if let Err(e) = validate(&task) {
            let line = field_line(text, span.clone(), "task", &e.field);
            return Err(fail(Some(line), format!("task {:?}: {e}", task.name)));
        }
        let line = field_line(text, span, "task", "name");
        if let Some(first) = seen.insert(task.name.clone(), line) {
            return Err(fail(
                Some(line),
                format!(
                    "task {:?}: name: duplicate task name (first declared at line {first})",
                    task.name
                ),
            ));
        }
        tasks.push(task);
    }
    Ok(TaskFile { settings, tasks })
}

/// Renders a task file that `load` + `apply` turn back into the same tasks.
pub fn export(file: &TaskFile) -> String {
    let mut out = String::from("# kit task file (kit-ctl export)\n");
    if let Some(s) = &file.settings {
        out.push('\n');
        out.push_str(&render_settings(s));
    }
    for t in &file.tasks {
        out.push('\n');
        out.push_str(&render_task(t));
    }
    out
}

/// One `[settings]` table as `export` writes it.
pub fn render_settings(s: &Settings) -> String {
    #[derive(Serialize)]
    struct Only<'a> {
        settings: &'a Settings,
    }
    toml::to_string(&Only { settings: s }).unwrap_or_default()
}

/// One `[[task]]` table as `export` writes it: writers that interleave
/// their own comments (`kit-ctl import`) build files from these.
pub fn render_task(t: &Task) -> String {
    #[derive(Serialize)]
    struct One<'a> {
        task: [&'a Task; 1],
    }
    toml::to_string(&One { task: [t] }).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<TaskFile, FileError> {
        parse(text, Path::new("t.toml"), Path::new("/base"))
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = p("[[task]]\nname = \"a\"\nschedule = \"61 * * * *\"\ncommand = \"true\"\n")
            .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("schedule"), "{e}");
        let e = p("[[task]]\nname = \"a\"\nschedule = \"@daily\"\ncommand = \"true\"\nbogus = 1\n")
            .unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        assert_eq!(e.line, Some(5), "{e}");
        let dup = "[[task]]\nname = \"a\"\nschedule = \"@daily\"\ncommand = \"true\"\n";
        let e = p(&format!("{dup}{dup}")).unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
    }

    #[test]
    fn errors_in_later_tables_and_sub_tables_name_their_own_line() {
        let good = "[[task]]\nname = \"a\"\nschedule = \"@daily\"\ncommand = \"true\"\n\n";
        let e = p(&format!(
            "{good}[[task]]\nname = \"b\"\ncommand = \"x\"\nschedule = \"61 * * * *\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(9), "{e}");
        let e = p(&format!(
            "{good}[[task]]\nname = \"b\"\nschedule = \"@daily\"\ncommand = \"x\"\n\
             [task.recovery]\nescalate = \"notify\"\nactions = [\"reboot:now\"]\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(12), "{e}");
        let e = p(&format!(
            "[settings]\nnotify = \"n\"\ntimezone = \"Mars/X\"\n\n{good}"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = p(&format!("{good}[settings]\n\ntimezone = \"Mars/X\"\n")).unwrap_err();
        assert_eq!(e.line, Some(8), "{e}");
        let e = p(&format!("{good}{good}")).unwrap_err();
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("line 2"), "{e}");
    }

    #[test]
    fn export_round_trips() {
        let text = r#"
[settings]
timezone = "Europe/Warsaw"
notify = "scripts/notify.sh"
[settings.recovery]
failure_threshold = 2

[[task]]
name = "scan"
schedule = "0 8,12 * * *"
command = "scan --quick"
timeout = "15m"
enabled = false
[task.recovery]
actions = ["restart:relay"]
escalate = "disable"

[[task]]
name = "bridge"
schedule = "@daemon"
command = ["node", "bridge.js", "it's \"quoted\""]
cwd = "rel/dir"
env = { LOG_LEVEL = "info" }
crashloop = { failures = 5, within = "2m" }
"#;
        let f = p(text).unwrap();
        assert_eq!(f.tasks[1].cwd.as_deref(), Some("/base/rel/dir"));
        let again = p(&export(&f)).unwrap();
        assert_eq!(f, again, "{}", export(&f));
    }
}
