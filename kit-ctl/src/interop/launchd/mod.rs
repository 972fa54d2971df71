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

mod calendar;
mod source;

use super::names::{self, Names};
use super::{check, Entry, Imported, Lossy};
use calendar::{calendar, slot};
use kit_db::task::file::FileError;
use kit_db::task::Task;
use kit_db::units::Dur;
use plist::{Dictionary, Value};
use source::{boolean, command, integer, parse, string, Source};
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

/// The schedules a job's keys describe (several when a calendar array is
/// not one cron expression), and whether it is kept alive.
fn schedules(
    src: &Source,
    d: &Dictionary,
    lossy: &mut Vec<Lossy>,
) -> Result<(Vec<String>, bool), FileError> {
    let mut slots = Vec::new();
    match d.get("StartCalendarInterval") {
        None => {}
        Some(Value::Dictionary(c)) => slots.push(slot(src, c)?),
        Some(Value::Array(a)) => {
            for v in a {
                let c = v.as_dictionary().ok_or_else(|| {
                    src.at("StartCalendarInterval")
                        .error("StartCalendarInterval: expected a dict or an array of dicts")
                })?;
                slots.push(slot(src, c)?);
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
        .map(|v| integer(src, "StartInterval", v))
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
    let at_load = boolean(src, d, "RunAtLoad")?.unwrap_or(false);

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
    Ok((schedules, keep_alive))
}

fn job(path: &Path, names: &mut Names) -> Result<Imported, FileError> {
    let (src, d) = parse(path)?;
    let mut lossy = Vec::new();
    let label = string(&src, &d, "Label")?
        .ok_or_else(|| src.whole().error("not a launchd job: no Label"))?;
    let command = command(&src, &d, &mut lossy)?;
    let (schedules, keep_alive) = schedules(&src, &d, &mut lossy)?;
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
