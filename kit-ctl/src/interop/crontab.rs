//! `import crontab`: a crontab (crontab(5), cronie's reading of it) to tasks.
//!
//! What cronie does with each line, and what kit makes of it:
//! - `NAME = VALUE` sets the environment of the entries *below* it (each
//!   entry gets a copy of the environment at its line). Quotes around the
//!   value are removed. `CRON_TZ` becomes the task's `timezone`; `SHELL`
//!   other than /bin/sh runs the command as `[SHELL, "-c", CMD]` (what cronie
//!   execs); `HOME` is also the directory cronie runs jobs in, so it becomes
//!   `cwd`; `MAILTO`/`MAILFROM` have no equivalent (kit records the output
//!   and notifies failures instead): lossy; `RANDOM_DELAY` (cronie, minutes)
//!   becomes `jitter`, which differs in when the delay is drawn: lossy.
//! - `%` ends the command; the rest is the command's standard input, each
//!   further `%` a newline, `\%` a literal `%`, and a final newline added
//!   when missing (cronie's do_command.c). kit runs commands with stdin
//!   from /dev/null, so the same bytes are piped in: `printf '%s' TEXT | (CMD)`.
//! - Comment lines directly above an entry become its description.
//! - cron never catches up a missed slot and starts a new run even if the
//!   last one is still going: imported tasks say `catch_up = "none"` and
//!   `overlap = "allow"` unless `--kit-defaults` asks for kit's own.

use super::names::{self, Names};
use super::{check, Entry, Imported, Origin};
use kit_db::task::file::FileError;
use kit_db::task::model::shell_quote;
use kit_db::task::{CatchUp, Command, Overlap, Task};
use kit_db::units::Dur;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// How to read the file.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// /etc/crontab and /etc/cron.d style: a user field after the schedule.
    pub system: bool,
    /// Leave `catch_up` and `overlap` to kit's defaults instead of cron's.
    pub kit_defaults: bool,
    /// The directory cron would run jobs in when the crontab sets no HOME.
    pub home: Option<String>,
    /// The importing user, to tell whether a system crontab's user differs.
    pub user: Option<String>,
}

/// The state cronie carries from line to line.
#[derive(Default)]
struct Env {
    vars: BTreeMap<String, String>,
    tz: Option<String>,
    shell: Option<String>,
    jitter: Option<Dur>,
}

pub fn import(text: &str, path: &Path, opts: &Options) -> Result<Imported, FileError> {
    let mut out = Imported::default();
    let mut names = Names::default();
    let mut env = Env::default();
    let mut comments: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let at = Origin::new(path, Some(i + 1));
        let line = raw.trim_start();
        if line.is_empty() {
            comments.clear();
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            comments.push(c.trim().to_string());
            continue;
        }
        if let Some((name, value)) = env_line(line) {
            set_env(&mut env, &mut out, &at, name, value)?;
            comments.clear();
            continue;
        }
        let entry = entry(line, &at, &env, opts, &mut names, &comments)?;
        comments.clear();
        out.entries.push(entry);
    }
    Ok(out)
}

/// `NAME=VALUE` (spaces allowed around `=`, optional quotes), or None when
/// the line is an entry. Like cronie: the name runs to `=` or a blank; a
/// line is an assignment when the next thing after the name is `=`.
fn env_line(line: &str) -> Option<(String, String)> {
    let (name, rest) = match line.chars().next()? {
        q @ ('"' | '\'') => {
            let end = line[1..].find(q)? + 1;
            (&line[1..end], &line[end + 1..])
        }
        _ => {
            let end = line.find(|c: char| c == '=' || c.is_whitespace())?;
            (&line[..end], &line[end..])
        }
    };
    let value = rest.trim_start().strip_prefix('=')?.trim();
    if name.is_empty() {
        return None;
    }
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| {
            value
                .strip_prefix(*q)
                .and_then(|v| v.strip_suffix(*q))
                .filter(|_| value.len() >= 2)
        })
        .unwrap_or(value);
    Some((name.to_string(), unquoted.to_string()))
}

fn set_env(
    env: &mut Env,
    out: &mut Imported,
    at: &Origin,
    name: String,
    value: String,
) -> Result<(), FileError> {
    match name.as_str() {
        "CRON_TZ" => {
            kit_db::task::validate::validate_timezone(&value).map_err(|m| at.error(m))?;
            env.tz = (!value.is_empty()).then_some(value);
            return Ok(());
        }
        // kit's base environment already says SHELL=/bin/sh.
        "SHELL" if value == "/bin/sh" => {
            env.shell = None;
            env.vars.remove("SHELL");
            return Ok(());
        }
        "SHELL" => env.shell = Some(value.clone()),
        "MAILTO" | "MAILFROM" if !value.is_empty() => out.skipped.push(at.lossy(format!(
            "{name}={value}: kit sends no mail; it records each run's output \
             (kit-ctl output ID) and reports failures through settings.notify"
        ))),
        "MAILTO" | "MAILFROM" => return Ok(()),
        "RANDOM_DELAY" => {
            let minutes: u64 = value.parse().map_err(|_| {
                at.error(format!(
                    "RANDOM_DELAY={value}: expected a number of minutes"
                ))
            })?;
            env.jitter = (minutes > 0).then_some(Dur(Duration::from_secs(minutes * 60)));
            out.skipped.push(at.lossy(format!(
                "RANDOM_DELAY={value} became jitter = \"{minutes}m\" on the tasks below: \
                 cronie draws one delay when it loads the crontab, kit a stable one per task"
            )));
            return Ok(());
        }
        _ => {}
    }
    env.vars.insert(name, value);
    Ok(())
}

/// cronie's reading of the command field (do_command.c, child_process):
/// up to the first unescaped `%` is the command, `\%` in it made `%`; the
/// rest is standard input, written as cronie writes it: `%` → newline,
/// `\%` → `%`, any other `\x` kept, and a final newline added when the
/// last character written is not one. No text after the `%` is no input.
fn split_percent(cmd: &str) -> (String, Option<String>) {
    let mut command = String::new();
    let mut escaped = false;
    for (i, c) in cmd.char_indices() {
        if escaped {
            if c == '%' {
                command.pop();
            }
            command.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                command.push(c);
                escaped = true;
            }
            '%' => {
                let rest = &cmd[i + 1..];
                return (command, (!rest.is_empty()).then(|| stdin_text(rest)));
            }
            c => command.push(c),
        }
    }
    (command, None)
}

fn stdin_text(data: &str) -> String {
    let mut out = String::new();
    let (mut escaped, mut need_newline) = (false, false);
    for c in data.chars() {
        let mut c = c;
        if escaped {
            if c != '%' {
                out.push('\\');
            }
        } else if c == '%' {
            c = '\n';
        }
        escaped = c == '\\';
        if !escaped {
            out.push(c);
            need_newline = c != '\n';
        }
    }
    if escaped {
        out.push('\\');
    }
    if need_newline {
        out.push('\n');
    }
    out
}

/// The comment lines directly above an entry, from the last empty `#`
/// line on: a note about the entry. A longer block (more than three lines)
/// is a file header or a field diagram, not a description.
fn description(comments: &[String]) -> Option<String> {
    let start = comments
        .iter()
        .rposition(|c| c.is_empty())
        .map_or(0, |i| i + 1);
    let para = &comments[start..];
    (!para.is_empty() && para.len() <= 3).then(|| para.join(" "))
}

/// Splits off the first whitespace-separated word.
fn word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

fn entry(
    line: &str,
    at: &Origin,
    env: &Env,
    opts: &Options,
    names: &mut Names,
    comments: &[String],
) -> Result<Entry, FileError> {
    // cronie: a leading '-' only turns off syslog logging of the job.
    let line = line.strip_prefix('-').unwrap_or(line);
    let missing = |what: &str| {
        at.error(format!(
            "not a crontab entry: expected {what} (\"MIN HOUR DOM MON DOW{} COMMAND\", \
             \"@daily{} COMMAND\" or NAME=VALUE)",
            if opts.system { " USER" } else { "" },
            if opts.system { " USER" } else { "" },
        ))
    };
    let mut rest = line;
    let schedule = if line.starts_with('@') {
        let (m, r) = word(rest).ok_or_else(|| missing("a macro"))?;
        if m == "@every" || m == "@daemon" {
            return Err(at.error(format!("{m} is kit's, not cron's")));
        }
        rest = r;
        m.to_string()
    } else {
        let mut fields = Vec::new();
        for _ in 0..5 {
            let (f, r) = word(rest).ok_or_else(|| missing("five time fields"))?;
            fields.push(f);
            rest = r;
        }
        fields.join(" ")
    };
    let parsed = kit_db::schedule::Schedule::parse(&schedule)
        .map_err(|e| at.error(format!("schedule {schedule:?}: {e}")))?;
    let mut lossy = Vec::new();
    if opts.system {
        let (user, r) = word(rest).ok_or_else(|| missing("a user"))?;
        rest = r;
        if opts.user.as_deref() != Some(user) {
            lossy.push(at.lossy(format!(
                "runs as user {user} in cron; kit runs every task as the user running kit"
            )));
        }
    }
    let cmd = rest.trim_start();
    if cmd.is_empty() {
        return Err(missing("a command"));
    }
    let (cmd, stdin) = split_percent(cmd);
    if cmd.trim().is_empty() {
        return Err(missing("a command before the %"));
    }
    let script = match &stdin {
        Some(input) => format!("printf '%s' {} | ({cmd}\n)", shell_quote(input)),
        None => cmd.clone(),
    };
    let command = match env.shell.as_deref() {
        None | Some("") => Command::Shell(script),
        Some(shell) => Command::Argv(vec![shell.into(), "-c".into(), script]),
    };
    let name = names.unique(&names::from_command(&cmd));
    let mut task = Task::new(&name, &schedule, command);
    task.timezone = env.tz.clone();
    task.env = env.vars.clone();
    task.jitter = env.jitter;
    task.cwd = env.vars.get("HOME").cloned().or_else(|| opts.home.clone());
    task.description = description(comments);
    // @reboot has no slots to catch up or overlap.
    if !opts.kit_defaults && parsed.is_cron() {
        task.catch_up = Some(CatchUp::None);
        task.overlap = Some(Overlap::Allow);
    }
    check(&task, at)?;
    Ok(Entry {
        task,
        from: at.clone(),
        lossy,
        info: stdin
            .map(|_| "crontab's % (standard input) became a printf pipe".to_string())
            .into_iter()
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_splits_command_and_stdin() {
        assert_eq!(split_percent("mail -s hi x"), ("mail -s hi x".into(), None));
        assert_eq!(
            split_percent(r"date +\%F%a%b\%c"),
            ("date +%F".into(), Some("a\nb%c\n".into()))
        );
        // cronie: a backslash escapes only the next character.
        assert_eq!(
            split_percent(r"echo \\%x\y"),
            (r"echo \\".into(), Some("x\\y\n".into()))
        );
        assert_eq!(split_percent("cat%a%"), ("cat".into(), Some("a\n".into())));
        assert_eq!(split_percent("cat%"), ("cat".into(), None));
    }

    #[test]
    fn env_lines_are_told_from_entries() {
        assert_eq!(env_line("A=b"), Some(("A".into(), "b".into())));
        assert_eq!(env_line("A = 'b c' "), Some(("A".into(), "b c".into())));
        assert_eq!(env_line("\"A B\"=x"), Some(("A B".into(), "x".into())));
        assert_eq!(env_line("0 * * * * FOO=bar cmd"), None);
        assert_eq!(env_line("@daily X=1 cmd"), None);
    }
}
