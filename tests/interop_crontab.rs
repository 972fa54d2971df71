//! `kit-ctl import crontab`, end to end on crontabs in the styles of
//! Debian's and cronie's examples (tests/data/interop/): environment lines,
//! CRON_TZ, SHELL, MAILTO, `%` as standard input, @reboot, comments as
//! descriptions, derived names, lossy notes, --strict, --apply, bad input.

mod interop_util;
mod support;

use serde_json::Value;
use std::path::PathBuf;
use support::*;

fn sample(name: &str) -> PathBuf {
    interop_util::sample_in("", name)
}

/// The imported tasks, by name, from `import --json`.
fn imported(kit: &Kit, args: &[&str]) -> (Vec<Value>, Vec<String>) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    interop_util::import_json(kit, "crontab", &args)
}

fn task<'a>(tasks: &'a [Value], name: &str) -> &'a Value {
    tasks
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name} in {tasks:#?}"))
}

#[test]
fn debian_style_crontab_keeps_env_shell_timezone_and_comments() {
    let kit = Kit::new();
    let path = sample("debian.crontab");
    let (tasks, lossy) = imported(&kit, &[path.to_str().unwrap()]);
    let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "tar",
            "rotate-notes",
            "security-scan",
            "device-poll",
            "warm-cache",
            "security-scan-2"
        ]
    );
    let tar = task(&tasks, "tar");
    assert_eq!(tar["schedule"], "0 5 * * 1");
    // SHELL=/bin/bash: cron execs the shell with -c, and so does the task.
    assert_eq!(
        tar["command"],
        serde_json::json!(["/bin/bash", "-c", "tar -zcf /var/backups/home.tgz /home/"])
    );
    assert_eq!(tar["env"]["PATH"], "/usr/local/bin:/usr/bin:/bin");
    assert_eq!(
        tar["description"],
        "Back up the home directories every Monday at 5 a.m."
    );
    // cron runs jobs in HOME, never catches up, lets runs overlap.
    assert_eq!(tar["cwd"], kit.dir.path().to_str().unwrap());
    assert_eq!(tar["catch_up"], "none");
    assert_eq!(tar["overlap"], "allow");
    assert!(tar.get("timezone").is_none());
    // CRON_TZ applies to the entries below it.
    let scan = task(&tasks, "security-scan");
    assert_eq!(scan["schedule"], "15 4 * * *");
    assert_eq!(scan["timezone"], "Europe/Warsaw");
    assert_eq!(scan["description"], "Security scan at 4:15, Warsaw time");
    assert_eq!(task(&tasks, "device-poll")["schedule"], "*/10 * * * *");
    let reboot = task(&tasks, "warm-cache");
    assert_eq!(reboot["schedule"], "@reboot");
    assert!(reboot.get("catch_up").is_none());
    // MAILTO=ops@... is lossy (once, at its line); MAILTO="" is not.
    assert_eq!(lossy.len(), 1, "{lossy:?}");
    assert!(
        lossy[0].contains("debian.crontab:12: MAILTO=ops@example.com"),
        "{lossy:?}"
    );
}

#[test]
fn kit_defaults_leaves_catch_up_and_overlap_to_kit() {
    let kit = Kit::new();
    let path = sample("debian.crontab");
    let (tasks, _) = imported(&kit, &[path.to_str().unwrap(), "--kit-defaults"]);
    assert!(tasks
        .iter()
        .all(|t| t.get("catch_up").is_none() && t.get("overlap").is_none()));
}

#[test]
fn percent_sends_standard_input_like_cron() {
    let kit = Kit::new();
    let cron = kit.file(
        "crontab",
        "0 22 * * 1-5 cat; echo \"[50\\%]\"%Joe,%%Where are your kids?%\n",
    );
    let printed = kit.ctl().args(["import", "crontab"]).arg(&cron).ok();
    assert!(printed.stdout.contains("printf"), "{}", printed.stdout);
    kit.ctl()
        .args(["import", "crontab", "--apply"])
        .arg(&cron)
        .ok();
    let out = kit.ctl().args(["run", "cat"]).ok();
    assert_eq!(out.stdout, "Joe,\n\nWhere are your kids?\n[50%]\n");
}

#[test]
fn cronie_example_imports_and_applies_through_apply() {
    let kit = Kit::new();
    let path = sample("cronie.crontab");
    let printed = kit.ctl().args(["import", "crontab"]).arg(&path).ok().stdout;
    assert!(printed.starts_with("# kit task file (kit-ctl import crontab)"));
    assert!(printed.contains("# LOSSY "), "{printed}");
    // The printed file is one `apply` takes; --apply gives the same tasks.
    let file = kit.file("imported.toml", &printed);
    let other = Kit::new();
    other.ctl().arg("apply").arg(&file).ok();
    let out = kit
        .ctl()
        .args(["import", "crontab", "--apply"])
        .arg(&path)
        .ok();
    assert!(out.stdout.contains("created   mail"), "{}", out.stdout);
    assert!(out.stdout.contains("applied import crontab: 5 tasks"));
    let export = |k: &Kit| k.ctl().arg("export").ok().stdout;
    assert_eq!(export(&kit), export(&other));
    // Importing again changes nothing.
    let again = kit
        .ctl()
        .args(["import", "crontab", "--apply"])
        .arg(&path)
        .ok();
    assert!(
        again.stdout.contains("5 tasks, 0 changed, 5 unchanged"),
        "{}",
        again.stdout
    );
    let tasks = kit.ctl().args(["export", "--json"]).ok().json();
    let tasks = tasks["task"].as_array().unwrap();
    let names: Vec<&str> = tasks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["daily.job", "echo", "echo-2", "mail", "monthly"]);
    assert_eq!(task(tasks, "echo-2")["schedule"], "5 4 * * sun");
    assert_eq!(task(tasks, "monthly")["timezone"], "Japan");
    // SHELL=/bin/sh is kit's own shell: a plain string command.
    assert_eq!(task(tasks, "monthly")["command"], "$HOME/bin/monthly");
}

#[test]
fn system_crontab_user_field_is_lossy_and_strict_exits_1() {
    let kit = Kit::new();
    let path = sample("system.crontab");
    let out = kit
        .ctl()
        .args(["import", "crontab", "--system"])
        .arg(&path)
        .ok();
    // The field diagram above the first entry is no description.
    assert!(!out.stdout.contains("description"), "{}", out.stdout);
    assert_eq!(out.stderr.matches("runs as user root").count(), 4);
    assert!(out.stderr.contains("system.crontab:13:"), "{}", out.stderr);
    assert_eq!(out.stdout.matches("# LOSSY ").count(), 4);
    let strict = kit
        .ctl()
        .args(["import", "crontab", "--system", "--strict", "--apply"])
        .arg(&path)
        .run()
        .code(1);
    assert!(
        strict.stderr.contains("nothing applied"),
        "{}",
        strict.stderr
    );
    assert!(!kit.db.exists(), "nothing was applied");
    // Without --system the user name would be taken for the command.
    let (tasks, _) = imported(&kit, &["--system", path.to_str().unwrap()]);
    assert_eq!(task(&tasks, "run-parts")["schedule"], "17 * * * *");
}

#[test]
fn malformed_lines_name_file_and_line_exit_2_and_apply_nothing() {
    let kit = Kit::new();
    for (text, line, says) in [
        ("@daily ok\n0 5 * *\n", 2, "five time fields"),
        ("@daily ok\n\n61 * * * * x\n", 3, "61 is out of range"),
        ("CRON_TZ=Mars/Base\n@daily x\n", 1, "unknown time zone"),
        ("@fortnightly x\n", 1, "unknown macro"),
        ("@every 10m x\n", 1, "kit's, not cron's"),
        ("* * * * *   \n", 1, "a command"),
        (
            "@daily ok\n@hourly %only input\n",
            2,
            "a command before the %",
        ),
    ] {
        let f = kit.file("bad.crontab", text);
        let out = kit
            .ctl()
            .args(["import", "crontab", "--apply"])
            .arg(&f)
            .run()
            .fails()
            .code(2);
        let want = format!("{}:{line}:", f.display());
        assert!(out.stderr.contains(&want), "{text:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{text:?}: {}", out.stderr);
    }
    assert!(!kit.db.exists(), "nothing was applied");
    kit.ctl()
        .args(["import", "crontab", "/no/such/crontab"])
        .run()
        .code(2)
        .stderr_has("/no/such/crontab: cannot read");
}

#[test]
fn stdin_and_env_quoting_follow_cronie() {
    let kit = Kit::new();
    let out = kit
        .ctl()
        .args(["--json", "import", "crontab", "-"])
        .stdin("GREETING = \"hello world\"\n HOME='/srv/agent'\n-*/5 * * * * echo $GREETING\n")
        .ok()
        .json();
    let t = &out["tasks"][0];
    assert_eq!(t["env"]["GREETING"], "hello world");
    assert_eq!(t["cwd"], "/srv/agent");
    assert_eq!(t["schedule"], "*/5 * * * *");
    assert_eq!(t["name"], "echo");
}

#[test]
fn without_a_file_the_users_crontab_is_read_with_crontab_l() {
    let kit = Kit::new();
    let bin = kit.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("crontab");
    std::fs::write(
        &fake,
        "#!/bin/sh\n[ \"$1\" = -l ] || exit 9\n\
         [ -n \"$NO_CRONTAB\" ] && { echo 'no crontab for agent' >&2; exit 1; }\n\
         echo '*/5 * * * * /usr/local/bin/device-poll'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = kit
        .ctl()
        .env("PATH", &path)
        .args(["--json", "import", "crontab"])
        .ok()
        .json();
    assert_eq!(out["tasks"][0]["name"], "device-poll");
    kit.ctl()
        .env("PATH", &path)
        .env("NO_CRONTAB", "1")
        .args(["import", "crontab"])
        .run()
        .fails()
        .stderr_has("no crontab for agent");
}
