//! `kit-ctl export --format kubernetes`: every task field that Kubernetes
//! has maps onto the CronJob or Deployment (checked field by field through
//! `--json`, which prints the same objects as a List), what has no
//! equivalent is named, and the YAML validates with kubernetes-validate
//! (PyPI, through scripts/kubernetes-validate.sh; SKIPPED when it cannot be
//! installed here).

mod support;

use serde_json::{json, Value};
use std::path::PathBuf;
use support::*;

const TASKS: &str = r#"
[settings]
timezone = "Europe/Warsaw"

[[task]]
name = "security-scan"
schedule = "15 4 * * *"
command = "scan --quick"
description = "nightly scan"
timeout = "15m"
kill_grace = "30s"
retries = 2
overlap = "replace"
catch_up_max_age = "2h"
timezone = "America/New_York"
cwd = "/srv/scan"
env = { SCAN_PROFILE = "nightly", A = "1" }
enabled = false

[[task]]
name = "device_poll.v2"
schedule = "@every 10m"
command = ["poll", "--all"]
catch_up = "none"

[[task]]
name = "report"
schedule = "@weekly"
command = "report"
overlap = "allow"
jitter = "5m"

[[task]]
name = "relay"
schedule = "@daemon"
command = ["node", "relay.js"]
stop_timeout = "20s"
health = { command = "curl -fsS localhost:8080/health", every = "15s", timeout = "3s", failures = 4, start_period = "1m" }

[[task]]
name = "odd"
schedule = "@every 7m"
command = "true"

[[task]]
name = "warm"
schedule = "@reboot"
command = "true"
"#;

fn exported(kit: &Kit) -> (Vec<Value>, String) {
    let out = kit
        .ctl()
        .args([
            "--json",
            "export",
            "--format",
            "kubernetes",
            "--image",
            "ghcr.io/example/agent:1",
        ])
        .ok();
    let list = out.json();
    assert_eq!(list["kind"], "List");
    (list["items"].as_array().unwrap().clone(), out.stderr)
}

fn by_task<'a>(items: &'a [Value], task: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["metadata"]["annotations"]["kit/task"] == task)
        .unwrap_or_else(|| panic!("no object for {task}"))
}

#[test]
fn a_scheduled_task_maps_every_field_onto_its_cronjob() {
    let kit = Kit::new();
    kit.tasks(TASKS);
    let (items, _) = exported(&kit);
    let scan = by_task(&items, "security-scan");
    assert_eq!(scan["kind"], "CronJob");
    assert_eq!(scan["apiVersion"], "batch/v1");
    assert_eq!(scan["metadata"]["name"], "security-scan");
    assert_eq!(
        scan["metadata"]["annotations"]["kit/description"],
        "nightly scan"
    );
    let spec = &scan["spec"];
    assert_eq!(spec["schedule"], "15 4 * * *");
    assert_eq!(spec["timeZone"], "America/New_York");
    assert_eq!(spec["concurrencyPolicy"], "Replace");
    assert_eq!(spec["startingDeadlineSeconds"], 7200);
    assert_eq!(spec["suspend"], true);
    let job = &spec["jobTemplate"]["spec"];
    assert_eq!(job["backoffLimit"], 2);
    let pod = &job["template"]["spec"];
    assert_eq!(pod["activeDeadlineSeconds"], 900);
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["restartPolicy"], "Never");
    let c = &pod["containers"][0];
    assert_eq!(c["image"], "ghcr.io/example/agent:1");
    assert_eq!(c["command"], json!(["/bin/sh", "-c", "scan --quick"]));
    assert_eq!(c["workingDir"], "/srv/scan");
    assert_eq!(
        c["env"],
        json!([
            {"name": "A", "value": "1"},
            {"name": "SCAN_PROFILE", "value": "nightly"},
            // kit-run's TZ: the task's zone.
            {"name": "TZ", "value": "America/New_York"},
        ])
    );
}

#[test]
fn defaults_intervals_macros_and_names_translate() {
    let kit = Kit::new();
    kit.tasks(TASKS);
    let (items, stderr) = exported(&kit);
    let poll = by_task(&items, "device_poll.v2");
    // Object names are DNS labels; the kit name stays in an annotation.
    assert_eq!(poll["metadata"]["name"], "device-poll-v2");
    assert_eq!(poll["spec"]["schedule"], "*/10 * * * *");
    assert_eq!(poll["spec"]["startingDeadlineSeconds"], 60);
    assert_eq!(poll["spec"]["concurrencyPolicy"], "Forbid");
    assert_eq!(poll["spec"]["suspend"], false);
    // settings.timezone is the default zone.
    assert_eq!(poll["spec"]["timeZone"], "Europe/Warsaw");
    assert_eq!(poll["spec"]["jobTemplate"]["spec"]["backoffLimit"], 0);
    assert!(poll["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        .get("activeDeadlineSeconds")
        .is_none());
    let report = by_task(&items, "report");
    assert_eq!(report["spec"]["schedule"], "0 0 * * 0");
    assert_eq!(report["spec"]["concurrencyPolicy"], "Allow");
    assert!(report["spec"].get("startingDeadlineSeconds").is_none());
    // @every 7m and @reboot have no equivalent: named, not exported.
    assert_eq!(items.len(), 4);
    assert!(
        stderr.contains("odd: @every 7m has no cron equivalent"),
        "{stderr}"
    );
    assert!(stderr.contains("warm: @reboot"), "{stderr}");
}

#[test]
fn a_daemon_becomes_a_deployment_with_a_liveness_probe() {
    let kit = Kit::new();
    kit.tasks(TASKS);
    let (items, _) = exported(&kit);
    let relay = by_task(&items, "relay");
    assert_eq!(relay["kind"], "Deployment");
    assert_eq!(relay["apiVersion"], "apps/v1");
    let spec = &relay["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["strategy"]["type"], "Recreate");
    assert_eq!(
        spec["selector"]["matchLabels"],
        spec["template"]["metadata"]["labels"]
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 20);
    let c = &pod["containers"][0];
    assert_eq!(c["command"], json!(["node", "relay.js"]));
    assert_eq!(c["env"], json!([{"name": "TZ", "value": "Europe/Warsaw"}]));
    assert_eq!(
        c["livenessProbe"],
        json!({
            "exec": {"command": ["/bin/sh", "-c", "curl -fsS localhost:8080/health"]},
            "periodSeconds": 15,
            "timeoutSeconds": 3,
            "failureThreshold": 4,
            "initialDelaySeconds": 60,
        })
    );
}

#[test]
fn the_yaml_names_what_differs_and_image_is_required() {
    let kit = Kit::new();
    kit.tasks(TASKS);
    let yaml = kit
        .ctl()
        .args([
            "export",
            "--format",
            "kubernetes",
            "--image",
            "agent:1",
            "--namespace",
            "kit",
        ])
        .ok()
        .stdout;
    assert!(
        yaml.contains("kubernetes/kubernetes/issues/121594"),
        "{yaml}"
    );
    assert!(yaml.contains("# NOT EXPORTED warm: @reboot"), "{yaml}");
    assert!(yaml.contains("# differs: jitter: no equivalent"), "{yaml}");
    assert!(yaml.contains("  namespace: \"kit\"\n"), "{yaml}");
    assert_eq!(yaml.matches("\n---\n").count(), 4);
    kit.ctl()
        .args(["export", "--format", "kubernetes"])
        .run()
        .code(2)
        .stderr_has("--image");
}

#[test]
fn the_manifests_validate_with_kubernetes_validate() {
    let kit = Kit::new();
    kit.tasks(TASKS);
    let assistant = Kit::new();
    assistant.tasks(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/assistant.toml"
        ))
        .unwrap(),
    );
    let mut files = Vec::new();
    for (k, name) in [(&kit, "tasks.yaml"), (&assistant, "assistant.yaml")] {
        let yaml = k
            .ctl()
            .args([
                "export",
                "--format",
                "kubernetes",
                "--image",
                "ghcr.io/example/agent:1",
            ])
            .ok()
            .stdout;
        files.push(kit.file(name, &yaml));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/kubernetes-validate.sh");
    let out = std::process::Command::new("sh")
        .arg(script)
        .args(&files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => {
            assert!(
                text.contains("passed for resource cronjob/security-scan"),
                "{text}"
            );
            assert!(
                text.contains("passed for resource deployment/relay"),
                "{text}"
            );
            assert!(!text.contains("ERROR"), "{text}");
        }
        // In CI the validator must run: the issue's "the output validates".
        Some(77) if std::env::var_os("CI").is_some() => {
            panic!(
                "CI: kubernetes-validate could not be installed: {}",
                text.trim()
            )
        }
        Some(77) => eprintln!("SKIPPED kubernetes-validate: {}", text.trim()),
        _ => panic!("the Kubernetes manifests do not validate:\n{text}"),
    }
}
