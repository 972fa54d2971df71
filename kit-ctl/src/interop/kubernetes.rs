//! `export --format kubernetes`: each scheduled task as a CronJob, each
//! daemon as a Deployment, for moving out to a cluster. The mapping is in
//! docs/interop.md; what Kubernetes does differently is said in comments in
//! the output, once in the header for everything and above each object for
//! what only that task declares.

use super::yaml;
use kit_db::task::{CatchUp, Command, Overlap, Task};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::fmt::Write;
use std::time::Duration;

pub struct Options {
    /// The container image that has the commands.
    pub image: String,
    pub namespace: Option<String>,
    /// `settings.timezone`, for tasks that do not name their own.
    pub timezone: Option<String>,
}

const HEADER: &str = "\
# Kubernetes objects from kit's tasks (kit-ctl export --format kubernetes).
# Each scheduled task is a CronJob, each daemon a Deployment. What Kubernetes
# does differently (docs/interop.md has the whole list):
# - Schedules: the expression is copied as is, but the CronJob controller
#   is not cronie. Across DST changes cronie runs a fixed-time job once;
#   the controller can run it twice when clocks go back
#   (https://github.com/kubernetes/kubernetes/issues/121594). It parses
#   schedules with robfig/cron, not cronie: a day field that is a stepped
#   star (`*/2`) may combine with the other day field differently.
# - A CronJob may create two Jobs for one time, or none; the Kubernetes
#   documentation asks for idempotent jobs
#   (https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#cron-job-limitations).
#   After more than 100 missed times it starts nothing until
#   startingDeadlineSeconds narrows the window.
# - No missed-slot or skipped-overlap records, no execution rows: Jobs,
#   Pods and Events are kept only as long as the cluster's history limits.
# - No recovery actions (restart:/run:/exec:), no escalation, no
#   notifications: use the cluster's alerting.
# - Retries back off 10s, 20s, 40s... up to 6m (kit: retry_delay, doubling).
# - Commands run in the image with its environment, not kit's clean base
#   environment (TZ is set to the task's zone, as kit-run does; KIT_TASK,
#   KIT_EXECUTION_ID and the other KIT_* variables are not); `cwd` must
#   exist in the image.
";

/// A DNS-label-safe object name (lowercase alphanumerics and '-').
fn object_name(name: &str, max: usize, taken: &mut HashSet<String>) -> String {
    let mut base = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && base.ends_with('-')) {
            base.push(c);
        }
    }
    let trim = |s: &str, n: usize| {
        s.chars()
            .take(n)
            .collect::<String>()
            .trim_matches('-')
            .to_string()
    };
    let base = trim(&base, max);
    let mut out = base.clone();
    let mut n = 2;
    while !taken.insert(out.clone()) {
        let suffix = format!("-{n}");
        out = format!("{}{suffix}", trim(&base, max - suffix.len()));
        n += 1;
    }
    out
}

/// Seconds, rounded up: Kubernetes counts whole seconds.
fn secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn expand_macro(s: &str) -> Option<&'static str> {
    Some(match s {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

/// `@every` as a cron expression, when the interval divides an hour or a
/// day evenly (the rhythm then restarts at each hour or day, as cron's does).
fn every_as_cron(d: Duration) -> Option<String> {
    let m = d.as_secs() / 60;
    if !d.as_secs().is_multiple_of(60) || m == 0 {
        return None;
    }
    match m {
        1 => Some("* * * * *".into()),
        m if m < 60 && 60 % m == 0 => Some(format!("*/{m} * * * *")),
        m if m % 60 == 0 && m / 60 < 24 && 24 % (m / 60) == 0 => {
            Some(format!("0 */{} * * *", m / 60))
        }
        1440 => Some("0 0 * * *".into()),
        _ => None,
    }
}

fn argv(c: &Command) -> Vec<String> {
    c.argv()
}

/// The container both kinds share: image, command, env, workingDir.
fn container(name: &str, t: &Task, o: &Options) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("name".into(), json!(name));
    c.insert("image".into(), json!(o.image));
    c.insert("command".into(), json!(argv(&t.command)));
    // kit-run sets TZ to the task's zone (the task's env may override it);
    // a container would otherwise get the image's zone, usually UTC.
    let mut env = t.env.clone();
    if let Some(tz) = t.timezone.as_ref().or(o.timezone.as_ref()) {
        env.entry("TZ".into()).or_insert_with(|| tz.clone());
    }
    if !env.is_empty() {
        let env: Vec<Value> = env
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        c.insert("env".into(), Value::Array(env));
    }
    if let Some(cwd) = &t.cwd {
        c.insert("workingDir".into(), json!(cwd));
    }
    c
}

fn metadata(name: &str, t: &Task, o: &Options) -> Value {
    let mut m = json!({
        "name": name,
        "labels": {"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "kit-ctl"},
        "annotations": {"kit/task": t.name},
    });
    if let Some(d) = &t.description {
        m["annotations"]["kit/description"] = json!(d);
    }
    if let Some(ns) = &o.namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// What only this task declares and Kubernetes cannot do.
fn notes(t: &Task) -> Vec<String> {
    let mut n = Vec::new();
    let mut say = |s: &str| n.push(s.to_string());
    if t.jitter.is_some() {
        say("jitter: no equivalent; runs start on time");
    }
    if t.nice.is_some() || t.limits.is_some() {
        say("nice/limits: no equivalent (use resources.requests/limits)");
    }
    if t.output_cap.is_some() {
        say("output_cap: the output is the pod's log");
    }
    if t.recovery.is_some() {
        say("recovery: no actions or escalation in Kubernetes");
    }
    if t.retry_delay.is_some() || t.retry_max_delay.is_some() {
        say("retry_delay/retry_max_delay: the Job controller's own backoff is used");
    }
    if t.is_daemon() {
        if t.crashloop.is_some() || t.quarantine.is_some() {
            say("crashloop/quarantine: Kubernetes' CrashLoopBackOff (10s doubling to 5m) instead");
        }
        if t.restart_delay.is_some() || t.restart_max_delay.is_some() || t.stable_after.is_some() {
            say("restart_delay/restart_max_delay/stable_after: CrashLoopBackOff instead");
        }
        if t.stop_signal.is_some() {
            say("stop_signal: the container gets the image's STOPSIGNAL (usually TERM)");
        }
        if t.log_max_size.is_some() || t.log_files.is_some() {
            say("log_max_size/log_files: the kubelet rotates container logs");
        }
        if t.health.is_some() {
            say("health: the probe runs inside the container (kit runs it beside the daemon)");
        }
    }
    n
}

fn cronjob(name: &str, schedule: &str, t: &Task, o: &Options, out: &mut Vec<String>) -> Value {
    let mut pod = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": secs(t.kill_grace()),
        "containers": [Value::Object(container("task", t, o))],
    });
    // On the pod, not the Job: kit's timeout is per attempt, and a Job's
    // deadline would cover all its retries together.
    if let Some(d) = t.timeout() {
        pod["activeDeadlineSeconds"] = json!(secs(d).max(1));
    }
    let mut spec = json!({
        "schedule": schedule,
        "concurrencyPolicy": match t.overlap() {
            Overlap::Skip => "Forbid",
            Overlap::Allow => "Allow",
            Overlap::Replace => "Replace",
        },
        "suspend": !t.enabled,
        "jobTemplate": {"spec": {
            "backoffLimit": t.retries(),
            "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}, "spec": pod},
        }},
    });
    match t.timezone.as_ref().or(o.timezone.as_ref()) {
        Some(tz) => spec["timeZone"] = json!(tz),
        None => {
            out.push("no timezone: the controller's zone is used (kit used the system zone)".into())
        }
    }
    match (t.catch_up(), t.catch_up_max_age) {
        (CatchUp::None, _) => {
            // The nearest to "run nothing late": a start more than a minute
            // late is skipped (the controller needs a window over 10s).
            spec["startingDeadlineSeconds"] = json!(60);
            out.push("catch_up = \"none\": startingDeadlineSeconds 60".into());
        }
        (CatchUp::Once, Some(age)) => spec["startingDeadlineSeconds"] = json!(secs(age.0)),
        (CatchUp::Once, None) => {}
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(name, t, o),
        "spec": spec,
    })
}

fn deployment(name: &str, t: &Task, o: &Options) -> Value {
    let mut c = container("daemon", t, o);
    if let Some(h) = &t.health {
        use kit_db::task::model::defaults as d;
        let mut probe = json!({
            "exec": {"command": argv(&h.command)},
            "periodSeconds": secs(h.every.map_or(d::HEALTH_EVERY, |x| x.0)).max(1),
            "timeoutSeconds": secs(h.timeout.map_or(d::HEALTH_TIMEOUT, |x| x.0)).max(1),
            "failureThreshold": h.failures.unwrap_or(d::HEALTH_FAILURES),
        });
        if let Some(p) = h.start_period {
            probe["initialDelaySeconds"] = json!(secs(p.0));
        }
        c.insert("livenessProbe".into(), probe);
    }
    let labels = json!({"app.kubernetes.io/name": name});
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, t, o),
        "spec": {
            "replicas": if t.enabled { 1 } else { 0 },
            "selector": {"matchLabels": labels},
            // kit runs one instance: no second pod during an update.
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": secs(t.stop_timeout()),
                    "containers": [Value::Object(c)],
                },
            },
        },
    })
}

/// One exported object and the differences only its task has.
pub struct Object {
    pub task: String,
    pub notes: Vec<String>,
    pub value: Value,
}

/// The objects for `tasks`, and the tasks that have no equivalent.
pub fn objects(tasks: &[Task], o: &Options) -> (Vec<Object>, Vec<String>) {
    let mut taken = HashSet::new();
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for t in tasks {
        let mut notes = notes(t);
        let value = match kit_db::schedule::Schedule::parse(&t.schedule) {
            Ok(kit_db::schedule::Schedule::Daemon) => {
                let name = object_name(&t.name, 63, &mut taken);
                deployment(&name, t, o)
            }
            Ok(kit_db::schedule::Schedule::Cron(_)) => {
                let expr = expand_macro(t.schedule.trim()).unwrap_or(t.schedule.trim());
                // CronJob names are at most 52 characters (Job names add 11).
                let name = object_name(&t.name, 52, &mut taken);
                cronjob(&name, expr, t, o, &mut notes)
            }
            Ok(kit_db::schedule::Schedule::Every(d)) => match every_as_cron(d) {
                Some(expr) => {
                    notes.push(format!(
                        "{}: as \"{expr}\", which restarts its rhythm each hour or day",
                        t.schedule
                    ));
                    let name = object_name(&t.name, 52, &mut taken);
                    cronjob(&name, &expr, t, o, &mut notes)
                }
                None => {
                    skipped.push(format!("{}: {} has no cron equivalent", t.name, t.schedule));
                    continue;
                }
            },
            _ => {
                skipped.push(format!(
                    "{}: {} (Kubernetes has no run-at-boot)",
                    t.name, t.schedule
                ));
                continue;
            }
        };
        objects.push(Object {
            task: t.name.clone(),
            notes,
            value,
        });
    }
    (objects, skipped)
}

/// The manifests as YAML documents separated by `---`, with comments.
pub fn render(objects: &[Object], skipped: &[String]) -> String {
    let mut out = String::from(HEADER);
    for s in skipped {
        let _ = writeln!(out, "# NOT EXPORTED {s}");
    }
    for obj in objects {
        out.push_str("---\n");
        let _ = writeln!(out, "# kit task {}", obj.task);
        for l in &obj.notes {
            let _ = writeln!(out, "# differs: {l}");
        }
        out.push_str(&yaml::document(&obj.value));
    }
    out
}

/// The same objects as one Kubernetes List (for `--json`).
pub fn list(objects: &[Object]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": objects.iter().map(|o| o.value.clone()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels_and_stay_unique() {
        let mut taken = HashSet::new();
        assert_eq!(object_name("a.b_c", 52, &mut taken), "a-b-c");
        assert_eq!(object_name("a-b-c", 52, &mut taken), "a-b-c-2");
        let long = "x".repeat(80);
        assert_eq!(object_name(&long, 52, &mut taken).len(), 52);
        assert_eq!(object_name(&long, 52, &mut taken).len(), 52);
    }

    #[test]
    fn intervals_that_divide_an_hour_or_a_day_become_cron() {
        let m = |n: u64| Duration::from_secs(n * 60);
        assert_eq!(every_as_cron(m(10)).as_deref(), Some("*/10 * * * *"));
        assert_eq!(every_as_cron(m(120)).as_deref(), Some("0 */2 * * *"));
        assert_eq!(every_as_cron(m(1440)).as_deref(), Some("0 0 * * *"));
        assert_eq!(every_as_cron(m(7)), None);
        assert_eq!(every_as_cron(m(90)), None);
    }
}
