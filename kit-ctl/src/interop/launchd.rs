//! `import launchd`: launchd.plist(5) jobs (XML or binary) to tasks.
//!
//! - `ProgramArguments` (or `Program`) is exec'd without a shell, so the
//!   command is an argv; `Program` with `ProgramArguments` names the file
//!   to run while `ProgramArguments[0]` is only argv[0], which kit cannot
//!   set apart: lossy when they differ.
//! - `StartCalendarInterval`: a missing key is a wildcard (launchd's rule,
//!   so `{Hour = 4}` runs every minute of 4 a.m.: carried over as is), and
//!   Day with Weekday means either, as in cron. An array of dicts becomes
//!   one cron expression when it is a cross product (`{H=8,M=0}`,
//!   `{H=12,M=0}` → `0 8,12 * * *`), else one task per dict (lossy: they
//!   no longer share one overlap guard).
//! - `StartInterval` → `@every`; `KeepAlive` → `@daemon`; `RunAtLoad`
//!   alone → `@reboot`. A job with none of these only runs on demand or on
//!   an event (`WatchPaths`...), which kit has no trigger for: not imported.
//! - Anything else the job says is named as lossy, key by key.

use super::names::{self, Names};
use super::{check, Entry, Imported, Lossy, Origin};
use kit_db::task::file::FileError;
use kit_db::task::{Command, Task};
use kit_db::units::Dur;
use plist::{Dictionary, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn import(paths: &[PathBuf]) -> Result<Imported, FileError> {
    let mut out = Imported::default();
    let mut names = Names::default();
    for p in paths {
        out.extend(job(p, &mut names)?);
    }
    Ok(out)
}

/// A plist being read: where its keys are, for messages.
struct Source<'a> {
    path: &'a Path,
    /// The XML text; None for a binary plist (which has no lines).
    text: Option<String>,
}

impl Source<'_> {
    /// The line of `<key>KEY</key>` (its first), for messages.
    fn at(&self, key: &str) -> Origin {
        let line = self.text.as_deref().and_then(|t| {
            let i = t.find(&format!("<key>{key}</key>"))?;
            Some(t[..i].matches('\n').count() + 1)
        });
        Origin::new(self.path, line)
    }
    fn whole(&self) -> Origin {
        Origin::new(self.path, None)
    }
}

fn parse(path: &Path) -> Result<(Source<'_>, Dictionary), FileError> {
    let bytes = std::fs::read(path).map_err(|e| FileError {
        path: path.to_path_buf(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    let binary = bytes.starts_with(b"bplist");
    let src = Source {
        path,
        text: (!binary).then(|| String::from_utf8_lossy(&bytes).into_owned()),
    };
    let value = Value::from_reader(std::io::Cursor::new(&bytes)).map_err(|e| {
        // plist's messages end "(offset N)": make that a line for XML.
        let msg = e.to_string();
        let (kind, offset) = match msg.rsplit_once(" (offset ") {
            Some((k, o)) => (k.to_string(), o.trim_end_matches(')').parse::<usize>().ok()),
            None => (msg.clone(), None),
        };
        let line = src.text.as_deref().zip(offset).map(|(t, o)| {
            let o = o.min(t.len());
            t.as_bytes()[..o].iter().filter(|b| **b == b'\n').count() + 1
        });
        let what = if binary { "binary" } else { "XML" };
        FileError {
            path: path.to_path_buf(),
            line,
            message: format!("not a valid {what} property list: {kind}"),
        }
    })?;
    match value {
        Value::Dictionary(d) => Ok((src, d)),
        _ => Err(src
            .whole()
            .error("not a launchd job: the top level is not a dictionary")),
    }
}

fn string(src: &Source, d: &Dictionary, key: &str) -> Result<Option<String>, FileError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(src.at(key).error(format!("{key}: expected a string"))),
    }
}

fn boolean(src: &Source, d: &Dictionary, key: &str) -> Result<Option<bool>, FileError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(_) => Err(src
            .at(key)
            .error(format!("{key}: expected <true/> or <false/>"))),
    }
}

fn integer(src: &Source, key: &str, v: &Value) -> Result<i64, FileError> {
    match v {
        Value::Integer(i) => i.as_signed(),
        _ => None,
    }
    .ok_or_else(|| src.at(key).error(format!("{key}: expected an integer")))
}

fn command(src: &Source, d: &Dictionary, lossy: &mut Vec<Lossy>) -> Result<Command, FileError> {
    let program = string(src, d, "Program")?;
    let args = match d.get("ProgramArguments") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| v.as_string().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| {
                    src.at("ProgramArguments")
                        .error("ProgramArguments: expected an array of strings")
                })?,
        ),
        Some(_) => {
            return Err(src
                .at("ProgramArguments")
                .error("ProgramArguments: expected an array of strings"))
        }
    };
    let argv = match (program, args) {
        (None, None) => {
            return Err(src
                .whole()
                .error("not a launchd job: neither Program nor ProgramArguments"))
        }
        (Some(p), None) => vec![p],
        (Some(p), Some(mut a)) => {
            if a.first().is_some_and(|a0| a0 != &p) {
                lossy.push(src.at("Program").lossy(format!(
                    "Program {p} runs with argv[0] {:?}; kit runs it with argv[0] = the program",
                    a[0]
                )));
            }
            if a.is_empty() {
                a.push(p);
            } else {
                a[0] = p;
            }
            a
        }
        (None, Some(a)) => a,
    };
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err(src
            .at("ProgramArguments")
            .error("ProgramArguments: empty, no program to run"));
    }
    Ok(Command::Argv(argv))
}

/// One calendar dict as cron fields (minute hour day month weekday), None
/// standing for a wildcard.
type Slot = [Option<i64>; 5];

const CAL_KEYS: [(&str, i64, i64); 5] = [
    ("Minute", 0, 59),
    ("Hour", 0, 23),
    ("Day", 1, 31),
    ("Month", 1, 12),
    ("Weekday", 0, 7),
];

fn slot(src: &Source, d: &Dictionary) -> Result<Slot, FileError> {
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
fn calendar(slots: &[Slot]) -> Vec<String> {
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

/// Keys this importer reads; everything else is named as lossy.
const HANDLED: [&str; 13] = [
    "Label",
    "Program",
    "ProgramArguments",
    "Disabled",
    "EnvironmentVariables",
    "WorkingDirectory",
    "StartCalendarInterval",
    "StartInterval",
    "KeepAlive",
    "RunAtLoad",
    "Nice",
    "StandardOutPath",
    "StandardErrorPath",
];

fn job(path: &Path, names: &mut Names) -> Result<Imported, FileError> {
    let (src, d) = parse(path)?;
    let mut lossy = Vec::new();
    let label = string(&src, &d, "Label")?
        .ok_or_else(|| src.whole().error("not a launchd job: no Label"))?;
    let command = command(&src, &d, &mut lossy)?;
    let mut slots = Vec::new();
    match d.get("StartCalendarInterval") {
        None => {}
        Some(Value::Dictionary(c)) => slots.push(slot(&src, c)?),
        Some(Value::Array(a)) => {
            for v in a {
                let c = v.as_dictionary().ok_or_else(|| {
                    src.at("StartCalendarInterval")
                        .error("StartCalendarInterval: expected a dict or an array of dicts")
                })?;
                slots.push(slot(&src, c)?);
            }
        }
        Some(_) => {
            return Err(src
                .at("StartCalendarInterval")
                .error("StartCalendarInterval: expected a dict or an array of dicts"))
        }
    }
    let interval = d
        .get("StartInterval")
        .map(|v| integer(&src, "StartInterval", v))
        .transpose()?;
    let keep_alive = match d.get("KeepAlive") {
        None => false,
        Some(Value::Boolean(b)) => *b,
        Some(Value::Dictionary(c)) => {
            for k in c.keys() {
                lossy.push(src.at("KeepAlive").lossy(format!(
                    "KeepAlive condition {k}: kit keeps a daemon running whatever its exit"
                )));
            }
            true
        }
        Some(_) => {
            return Err(src
                .at("KeepAlive")
                .error("KeepAlive: expected <true/>, <false/> or a dict"))
        }
    };
    let at_load = boolean(&src, &d, "RunAtLoad")?.unwrap_or(false);

    let mut schedules: Vec<String> = Vec::new();
    if keep_alive {
        schedules.push("@daemon".into());
        if !slots.is_empty() || interval.is_some() {
            lossy.push(
                src.at("KeepAlive").lossy(
                    "StartCalendarInterval/StartInterval: dropped, KeepAlive keeps it running",
                ),
            );
        }
    } else if !slots.is_empty() {
        schedules = calendar(&slots);
        if schedules.len() > 1 {
            lossy.push(src.at("StartCalendarInterval").lossy(format!(
                "these calendar entries are not one cron expression: {} tasks, each with \
                 its own overlap guard and history",
                schedules.len()
            )));
        }
        if interval.is_some() {
            lossy.push(
                src.at("StartInterval")
                    .lossy("StartInterval: dropped, StartCalendarInterval is used"),
            );
        }
    } else if let Some(secs) = interval {
        if secs < 60 {
            lossy.push(src.at("StartInterval").lossy(format!(
                "StartInterval {secs}: kit's shortest interval is 1 minute; runs every 1m"
            )));
        }
        let every = Dur(Duration::from_secs(secs.max(60) as u64));
        schedules.push(format!("@every {every}"));
    } else if at_load {
        schedules.push("@reboot".into());
    }
    if at_load
        && schedules
            .first()
            .is_some_and(|s| s != "@reboot" && s != "@daemon")
    {
        lossy.push(src.at("RunAtLoad").lossy(
            "RunAtLoad: the extra run when the job is loaded is not carried over \
             (kit catches up a missed slot instead)",
        ));
    }
    if schedules.is_empty() {
        let mut skipped = Imported::default();
        skipped.skipped.push(src.whole().lossy(format!(
            "{label}: not imported: without StartCalendarInterval, StartInterval, KeepAlive \
             or RunAtLoad launchd starts it only on demand or on an event \
             (WatchPaths, QueueDirectories, Sockets...), which kit has no trigger for"
        )));
        return Ok(skipped);
    }

    let mut base = Task::new("x", "@daily", command);
    base.enabled = !boolean(&src, &d, "Disabled")?.unwrap_or(false);
    if let Some(v) = d.get("EnvironmentVariables") {
        let env = v.as_dictionary().ok_or_else(|| {
            src.at("EnvironmentVariables")
                .error("EnvironmentVariables: expected a dict of strings")
        })?;
        for (k, v) in env {
            let v = v.as_string().ok_or_else(|| {
                src.at("EnvironmentVariables")
                    .error(format!("EnvironmentVariables: {k}: expected a string"))
            })?;
            base.env.insert(k.clone(), v.to_string());
        }
    }
    if let Some(cwd) = string(&src, &d, "WorkingDirectory")? {
        if !cwd.starts_with('/') {
            return Err(src
                .at("WorkingDirectory")
                .error(format!("WorkingDirectory {cwd:?}: not an absolute path")));
        }
        base.cwd = Some(cwd);
    }
    if let Some(n) = d.get("Nice") {
        base.nice = Some(integer(&src, "Nice", n)?.clamp(-20, 19) as i32);
    }
    for key in ["StandardOutPath", "StandardErrorPath"] {
        if let Some(p) = string(&src, &d, key)? {
            let kept = if keep_alive {
                "its log under $KIT_HOME/logs (kit-ctl logs NAME)"
            } else {
                "each run's record (kit-ctl output ID)"
            };
            lossy.push(
                src.at(key)
                    .lossy(format!("{key} {p}: output goes to {kept} instead")),
            );
        }
    }
    for key in d.keys() {
        let why = match key.as_str() {
            k if HANDLED.contains(&k) => continue,
            "WatchPaths" | "QueueDirectories" | "StartOnMount" => {
                "kit has no file or mount trigger; only the schedule is carried over"
            }
            "UserName" | "GroupName" | "InitGroups" => "kit runs every task as its own user",
            _ => "launchd-only, not carried over",
        };
        lossy.push(src.at(key).lossy(format!("{key}: {why}")));
    }
    base.description = Some(format!("launchd job {label}"));

    let stem = names::from_label(&label);
    let mut out = Imported::default();
    for (i, schedule) in schedules.into_iter().enumerate() {
        let mut task = base.clone();
        task.name = names.unique(&stem);
        task.schedule = schedule;
        let from = src.at("Label");
        check(&task, &from)?;
        out.entries.push(Entry {
            task,
            from,
            lossy: if i == 0 { lossy.clone() } else { Vec::new() },
            info: Vec::new(),
        });
    }
    Ok(out)
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
