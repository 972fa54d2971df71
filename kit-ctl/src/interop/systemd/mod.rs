//! `import systemd`: `.timer` units with their `.service`, and `.service`
//! units on their own, to tasks.
//!
//! - A timer's service is its `Unit=`, else the service of the same name;
//!   it is looked for among the files given, then beside the timer.
//! - `OnCalendar=` → a cron expression (calendar.rs); several → one task
//!   each (lossy: separate overlap guards). `Persistent=true` → `catch_up =
//!   "once"`, otherwise `"none"` (systemd runs nothing missed by default).
//!   `OnUnitActiveSec=` → `@every`; `OnBootSec=` alone → `@reboot`;
//!   `RandomizedDelaySec=` → `jitter`.
//! - `ExecStart=` → an argv (systemd's quoting); several (oneshot) → one
//!   shell line joined with `&&`; `$VAR` → a shell line (sh expands it).
//! - A service without a timer: `Restart=always` (or any Restart= but no)
//!   → `@daemon`; enabled (`[Install]`) without Restart= → `@reboot`.
//! - Every other setting is named as lossy, except `[Install]` (enabling is
//!   what `kit-ctl apply` does) and `Description=`/`Documentation=`.

mod calendar;
mod exec;
mod unit;

/// For the never-panics property test.
#[cfg(test)]
pub(crate) use calendar::to_cron as calendar_to_cron;

use super::names::Names;
use super::{check, Entry, Imported, Lossy};
use exec::command;
use kit_db::task::file::FileError;
use kit_db::task::{CatchUp, Task};
use kit_db::units::Dur;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use unit::{boolean, expand, timespan, words, Setting, Unit};

pub fn import(paths: &[PathBuf]) -> Result<Imported, FileError> {
    let mut units = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|e| FileError {
            path: p.clone(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        units.push(Unit::parse(&text, p)?);
    }
    for u in &units {
        let ext = u.path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "timer" && ext != "service" {
            return Err(FileError {
                path: u.path.clone(),
                line: None,
                message: "not a .timer or .service unit".into(),
            });
        }
    }
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut out = Imported::default();
    let mut names = Names::default();
    let mut used: HashSet<PathBuf> = HashSet::new();
    for timer in units
        .iter()
        .filter(|u| u.path.extension().is_some_and(|e| e == "timer"))
    {
        let wanted = match timer.get("Timer", "Unit") {
            Some(s) => s.value.clone(),
            None => format!("{}.service", stem(&timer.path)),
        };
        let given = units
            .iter()
            .find(|u| file_name(&u.path).as_deref() == Some(wanted.as_str()));
        let service = match given {
            Some(s) => s.clone(),
            None => {
                let beside = timer.path.with_file_name(&wanted);
                let text = std::fs::read_to_string(&beside).map_err(|_| {
                    let at = match timer.get("Timer", "Unit") {
                        Some(s) => timer.at(s),
                        None => super::Origin::new(&timer.path, None),
                    };
                    at.error(format!(
                        "its service {wanted} is not among the files given nor beside the timer"
                    ))
                })?;
                Unit::parse(&text, &beside)?
            }
        };
        used.insert(service.path.clone());
        out.extend(timed(timer, &service, &mut names)?);
    }
    for service in units
        .iter()
        .filter(|u| u.path.extension().is_some_and(|e| e == "service") && !used.contains(&u.path))
    {
        out.extend(alone(service, &mut names)?);
    }
    Ok(out)
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn span(u: &Unit, s: &Setting) -> Result<Duration, FileError> {
    if s.value == "infinity" {
        return Ok(Duration::ZERO);
    }
    timespan(&s.value).ok_or_else(|| {
        u.at(s)
            .error(format!("{}={}: not a time span", s.key, s.value))
    })
}

/// Settings this importer reads, by section; the rest are named as lossy.
const READ: &[(&str, &str)] = &[
    ("Unit", "Description"),
    ("Unit", "Documentation"),
    ("Service", "Type"),
    ("Service", "ExecStart"),
    ("Service", "Environment"),
    ("Service", "WorkingDirectory"),
    ("Service", "Nice"),
    ("Service", "TimeoutStartSec"),
    ("Service", "RuntimeMaxSec"),
    ("Service", "TimeoutStopSec"),
    ("Service", "KillSignal"),
    ("Service", "Restart"),
    ("Service", "RestartSec"),
    ("Timer", "OnCalendar"),
    ("Timer", "OnUnitActiveSec"),
    ("Timer", "OnUnitInactiveSec"),
    ("Timer", "OnBootSec"),
    ("Timer", "OnStartupSec"),
    ("Timer", "Persistent"),
    ("Timer", "RandomizedDelaySec"),
    ("Timer", "FixedRandomDelay"),
    ("Timer", "Unit"),
];

fn unread(u: &Unit, lossy: &mut Vec<Lossy>) {
    for s in &u.settings {
        if s.section == "Install" || READ.contains(&(s.section.as_str(), s.key.as_str())) {
            continue;
        }
        let why = match s.key.as_str() {
            "User" | "Group" | "DynamicUser" => "kit runs every task as its own user",
            "EnvironmentFile" => "not read; copy its variables into env",
            "After" | "Wants" | "Requires" | "BindsTo" => "kit has no ordering between tasks",
            _ => "systemd-only, not carried over",
        };
        lossy.push(u.at(s).lossy(format!("{}={}: {why}", s.key, s.value)));
    }
}

/// The task a service describes, without its schedule.
fn service_task(u: &Unit, daemon: bool, lossy: &mut Vec<Lossy>) -> Result<Task, FileError> {
    let mut t = Task::new(
        "x",
        if daemon { "@daemon" } else { "@daily" },
        command(u, lossy)?,
    );
    t.description = u.get("Unit", "Description").map(|s| s.value.clone());
    for s in u.all("Service", "Environment") {
        let (value, unknown) = expand(&s.value);
        for spec in unknown {
            lossy.push(
                u.at(s)
                    .lossy(format!("Environment specifier {spec}: not expanded by kit")),
            );
        }
        for kv in words(&value).map_err(|e| u.at(s).error(format!("Environment: {e}")))? {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                u.at(s)
                    .error(format!("Environment: {kv:?} is not NAME=VALUE"))
            })?;
            t.env.insert(k.into(), v.into());
        }
    }
    if let Some(s) = u.get("Service", "WorkingDirectory") {
        let (dir, unknown) = expand(&s.value);
        let dir = dir.trim_start_matches('-');
        if let Some(spec) = unknown.first() {
            lossy.push(u.at(s).lossy(format!(
                "WorkingDirectory specifier {spec}: not expanded; kit-run's directory is used"
            )));
        } else if dir.starts_with('~') {
            lossy.push(
                u.at(s)
                    .lossy("WorkingDirectory=~: kit-run's directory is used"),
            );
        } else if !dir.starts_with('/') {
            return Err(u
                .at(s)
                .error(format!("WorkingDirectory {dir:?}: not an absolute path")));
        } else {
            t.cwd = Some(dir.to_string());
        }
    }
    if let Some(s) = u.get("Service", "Nice") {
        let n: i32 = s
            .value
            .parse()
            .map_err(|_| u.at(s).error("Nice: not a number"))?;
        t.nice = Some(n);
    }
    if daemon {
        if let Some(s) = u.get("Service", "TimeoutStopSec") {
            t.stop_timeout = Some(Dur(span(u, s)?)).filter(|d| !d.0.is_zero());
        }
        if let Some(s) = u.get("Service", "KillSignal") {
            t.stop_signal = Some(s.value.clone());
        }
        if let Some(s) = u.get("Service", "RestartSec") {
            t.restart_delay = Some(Dur(span(u, s)?));
            lossy.push(u.at(s).lossy(
                "RestartSec: systemd waits this long every time; kit doubles it after each quick crash",
            ));
        }
        if u.get("Service", "Type")
            .is_some_and(|s| s.value == "forking")
        {
            lossy.push(u.at(u.get("Service", "Type").unwrap()).lossy(
                "Type=forking: kit supervises the process it starts; run the daemon in the foreground",
            ));
        }
    } else {
        for key in ["RuntimeMaxSec", "TimeoutStartSec"] {
            if let Some(s) = u.get("Service", key) {
                let d = span(u, s)?;
                if !d.is_zero() {
                    t.timeout = Some(Dur(d));
                }
                break;
            }
        }
        if let Some(s) = u.get("Service", "TimeoutStopSec") {
            t.kill_grace = Some(Dur(span(u, s)?));
        }
    }
    unread(u, lossy);
    Ok(t)
}

fn timed(timer: &Unit, service: &Unit, names: &mut Names) -> Result<Imported, FileError> {
    let mut lossy = Vec::new();
    let mut schedules: Vec<(String, Option<String>)> = Vec::new();
    for s in timer.all("Timer", "OnCalendar") {
        match calendar::to_cron(&s.value) {
            Ok(c) => schedules.push((c.expr, c.timezone)),
            Err(e) => lossy.push(
                timer
                    .at(s)
                    .lossy(format!("OnCalendar={}: {e}; not carried over", s.value)),
            ),
        }
    }
    let calendar = !schedules.is_empty();
    if schedules.len() > 1 {
        lossy.push(timer.at(timer.all("Timer", "OnCalendar")[0]).lossy(format!(
            "{} OnCalendar= lines: one task each, with its own overlap guard",
            schedules.len()
        )));
    }
    let active = timer
        .get("Timer", "OnUnitActiveSec")
        .or_else(|| timer.get("Timer", "OnUnitInactiveSec"));
    let boot = timer
        .get("Timer", "OnBootSec")
        .or_else(|| timer.get("Timer", "OnStartupSec"));
    if !calendar {
        if let Some(s) = active {
            let d = span(timer, s)?;
            if d < Duration::from_secs(60) {
                lossy.push(timer.at(s).lossy(format!(
                    "{}={}: kit's shortest interval is 1 minute",
                    s.key, s.value
                )));
            }
            if s.key == "OnUnitInactiveSec" {
                lossy.push(timer.at(s).lossy(
                    "OnUnitInactiveSec counts from the end of the last run; @every from its start",
                ));
            }
            let secs = d.as_secs().max(60);
            schedules.push((format!("@every {}", Dur(Duration::from_secs(secs))), None));
            if let Some(b) = boot {
                lossy.push(timer.at(b).lossy(format!(
                    "{}={}: the first run after boot is not carried over",
                    b.key, b.value
                )));
            }
        } else if let Some(b) = boot {
            if !span(timer, b)?.is_zero() {
                lossy.push(timer.at(b).lossy(format!(
                    "{}={}: @reboot runs at boot, without the delay",
                    b.key, b.value
                )));
            }
            schedules.push(("@reboot".into(), None));
        }
    } else if let Some(s) = active.or(boot) {
        lossy.push(timer.at(s).lossy(format!(
            "{}={}: dropped, OnCalendar= is used",
            s.key, s.value
        )));
    }
    if schedules.is_empty() {
        let mut skipped = Imported::default();
        skipped
            .skipped
            .push(super::Origin::new(&timer.path, None).lossy(
            "not imported: no OnCalendar=, OnUnitActiveSec= or OnBootSec= that kit can carry over",
        ));
        skipped.skipped.extend(lossy);
        return Ok(skipped);
    }
    let mut base = service_task(service, false, &mut lossy)?;
    if calendar {
        let persistent = timer
            .get("Timer", "Persistent")
            .and_then(|s| boolean(&s.value))
            .unwrap_or(false);
        base.catch_up = Some(if persistent {
            CatchUp::Once
        } else {
            CatchUp::None
        });
    }
    if let Some(s) = timer.get("Timer", "RandomizedDelaySec") {
        base.jitter = Some(Dur(span(timer, s)?));
        let fixed = timer
            .get("Timer", "FixedRandomDelay")
            .and_then(|f| boolean(&f.value))
            .unwrap_or(false);
        if !fixed {
            lossy.push(timer.at(s).lossy(
                "RandomizedDelaySec: systemd draws a new delay each time; kit's jitter is stable per task",
            ));
        }
    }
    unread(timer, &mut lossy);
    let from = super::Origin::new(&timer.path, None);
    let stem = stem(&timer.path);
    let mut out = Imported::default();
    for (i, (schedule, tz)) in schedules.into_iter().enumerate() {
        let mut t = base.clone();
        t.name = names.unique(&stem);
        t.schedule = schedule;
        t.timezone = tz;
        check(&t, &from)?;
        out.entries.push(Entry {
            task: t,
            from: from.clone(),
            lossy: if i == 0 { lossy.clone() } else { Vec::new() },
            info: vec![format!("with {}", service.path.display())],
        });
    }
    Ok(out)
}

fn alone(u: &Unit, names: &mut Names) -> Result<Imported, FileError> {
    let mut lossy = Vec::new();
    let restart = u.get("Service", "Restart");
    let enabled = u.settings.iter().any(|s| s.section == "Install");
    let schedule = match restart.map(|s| s.value.as_str()) {
        Some("always") => "@daemon",
        Some(r) if r != "no" => {
            lossy.push(u.at(restart.unwrap()).lossy(format!(
                "Restart={r}: kit restarts a daemon whatever its exit"
            )));
            "@daemon"
        }
        _ if enabled => "@reboot",
        _ => {
            let mut skipped = Imported::default();
            skipped
                .skipped
                .push(super::Origin::new(&u.path, None).lossy(
                    "not imported: no timer, no Restart= and no [Install]: it only runs on demand",
                ));
            return Ok(skipped);
        }
    };
    let mut t = service_task(u, schedule == "@daemon", &mut lossy)?;
    t.name = names.unique(&stem(&u.path));
    t.schedule = schedule.into();
    let from = super::Origin::new(&u.path, None);
    check(&t, &from)?;
    let mut out = Imported::default();
    out.entries.push(Entry {
        task: t,
        from,
        lossy,
        info: Vec::new(),
    });
    Ok(out)
}
