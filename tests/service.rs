//! kit under launchd, checked on Linux: the property lists install.sh writes
//! for `--platform macos` (parsed with Python's plistlib and checked key by
//! key against launchd.plist(5)), the PATH the services get, the
//! `launchctl bootstrap`/`bootout` sequence (against a stand-in launchctl
//! that behaves like launchd's slow release of a booted-out label), and the
//! scripts a Mac user runs: shellcheck-clean and free of GNU-only flags.
//! What this cannot show is a real launchd loading them: see docs/operations.md.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// In CI (`CI` set, as `.ci/run` and every CI service do) a missing tool is
/// a failure; elsewhere the check is skipped with a note.
fn require(tool: &str, why: &str) -> bool {
    if have(tool) {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{tool} is not installed, and CI is set: {why} (scripts/install-test-deps.sh installs it)"
    );
    eprintln!("note: {tool} is not installed; {why} is not checked (scripts/install-test-deps.sh installs it)");
    false
}

fn me() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A script from scripts/ with a throwaway HOME (so ~/Library/LaunchAgents,
/// ~/.local and ~/.kit are all inside the test's directory), `extra_path`
/// first on PATH (the stand-in launchctl).
fn script(kit: &Kit, name: &str, extra_path: Option<&Path>) -> Command {
    let mut path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(p) = extra_path {
        let mut v = p.as_os_str().to_owned();
        v.push(":");
        v.push(&path);
        path = v;
    }
    let mut c = Command::new(repo().join("scripts").join(name));
    c.env_clear()
        .env("PATH", path)
        .env("HOME", kit.path("user-home"))
        .env("TZ", "UTC")
        .current_dir(kit.dir.path())
        .stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Out {
    let out = c.output().expect("run script");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `install.sh --platform macos MODE --service-dir DIR` into the test's
/// directory, with the binaries under test; `extra` are more options.
fn install_macos(kit: &Kit, mode: &str, extra: &[&str]) -> Out {
    let mut c = script(kit, "install.sh", None);
    c.args([mode, "--platform", "macos", "--prefix"])
        .arg(kit.path("prefix"))
        .arg("--service-dir")
        .arg(kit.path("services"))
        .arg("--home")
        .arg(&kit.home)
        .arg("--bin-dir")
        .arg(bin_dir())
        .args(extra);
    if mode == "--system" {
        c.args(["--run-as", &me()]);
    }
    run(c).ok()
}

/// A property list parsed by plistlib (a real parser: it rejects malformed
/// XML, a wrong value type, an unescaped `&`), as JSON.
fn parse_plist(path: &Path) -> serde_json::Value {
    let code = "import json, plistlib, sys\n\
                d = plistlib.load(open(sys.argv[1], 'rb'), fmt=plistlib.FMT_XML)\n\
                print(json.dumps(d))";
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is not a valid XML property list: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The keys of launchd.plist(5) that kit's plists may use: launchd ignores
/// an unknown (misspelt) key without a word, so the test does not.
const LAUNCHD_KEYS: &[&str] = &[
    "Label",
    "ProgramArguments",
    "EnvironmentVariables",
    "RunAtLoad",
    "KeepAlive",
    "StartCalendarInterval",
    "ThrottleInterval",
    "ExitTimeOut",
    "AbandonProcessGroup",
    "SoftResourceLimits",
    "StandardOutPath",
    "StandardErrorPath",
    "UserName",
];

fn assert_common(p: &serde_json::Value, name: &str, kit: &Kit, mode: &str) {
    let home = kit.home.display().to_string();
    let bin = kit.path("prefix").join("bin");
    let obj = p.as_object().unwrap();
    for k in obj.keys() {
        assert!(
            LAUNCHD_KEYS.contains(&k.as_str()),
            "{name}: unexpected key {k}"
        );
    }
    assert_eq!(p["Label"], format!("local.kit.{name}"));
    // The program is the installed binary, by absolute path.
    let prog = PathBuf::from(p["ProgramArguments"][0].as_str().unwrap());
    assert_eq!(prog, bin.join(name));
    assert!(prog.is_file(), "{} is installed", prog.display());
    // The environment: KIT_HOME and KIT_DB, and a PATH with Homebrew's
    // prefixes before the system's (launchd's own is /usr/bin:/bin:/usr/sbin:/sbin).
    let env = &p["EnvironmentVariables"];
    assert_eq!(env["KIT_HOME"], home);
    assert_eq!(env["KIT_DB"], format!("{home}/kit.db"));
    let path: Vec<&str> = env["PATH"].as_str().unwrap().split(':').collect();
    let at = |d: &str| {
        path.iter()
            .position(|x| *x == d)
            .unwrap_or_else(|| panic!("{name}: PATH {path:?} lacks {d}"))
    };
    assert_eq!(at(&bin.display().to_string()), 0, "kit's own tools first");
    assert!(
        at("/opt/homebrew/bin") < at("/usr/bin"),
        "Homebrew before the system"
    );
    at("/opt/homebrew/sbin");
    at("/usr/local/bin");
    at("/bin");
    at("/usr/sbin");
    at("/sbin");
    // launchd's soft limit of 256 open files is raised.
    let nofile = p["SoftResourceLimits"]["NumberOfFiles"].as_i64().unwrap();
    assert!((1024..=10240).contains(&nofile), "NumberOfFiles {nofile}");
    // Logs: in KIT_HOME/logs (created by install.sh), or nowhere.
    for key in ["StandardOutPath", "StandardErrorPath"] {
        let v = p[key]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no {key}"));
        assert!(
            v == "/dev/null" || v.starts_with(&format!("{home}/logs/")),
            "{name}: {key} is {v}"
        );
    }
    assert!(kit.home.join("logs").is_dir());
    assert_eq!(
        p["StandardErrorPath"],
        format!("{home}/logs/{name}.err.log"),
        "{name}'s errors are kept"
    );
    assert_eq!(p["AbandonProcessGroup"], true);
    assert_eq!(p["RunAtLoad"], true);
    if mode == "--system" {
        assert_eq!(p["UserName"], me(), "LaunchDaemons run as --run-as");
    } else {
        assert!(p["UserName"].is_null(), "LaunchAgents run as the user");
    }
}

#[test]
fn launchd_property_lists_parse_and_say_what_kit_needs() {
    if !require("python3", "parsing the plists with plistlib") {
        return;
    }
    for mode in ["--user", "--system"] {
        let kit = Kit::new();
        let out = install_macos(&kit, mode, &[]);
        out.stdout_has("not loaded");
        let dir = kit.path("services");
        let tick = parse_plist(&dir.join("local.kit.kit-tick.plist"));
        let keep = parse_plist(&dir.join("local.kit.kit-keep.plist"));
        assert_common(&tick, "kit-tick", &kit, mode);
        assert_common(&keep, "kit-keep", &kit, mode);

        // kit-tick: every minute at second 0, and once on wake for the
        // minutes slept through: an empty calendar interval (every field a
        // wildcard), never StartInterval (not minute-aligned; skipped in sleep).
        assert_eq!(
            tick["StartCalendarInterval"],
            serde_json::json!({}),
            "an empty dict, not an array or a dict with keys"
        );
        assert!(tick.get("StartInterval").is_none());
        assert_eq!(tick["ProgramArguments"][1], "--exec");
        assert_eq!(tick["ProgramArguments"].as_array().unwrap().len(), 2);
        assert!(tick.get("KeepAlive").is_none(), "kit-tick is a one-shot");

        // kit-keep: kept alive, with time to stop its daemons.
        assert_eq!(keep["KeepAlive"], true);
        assert_eq!(keep["ProgramArguments"].as_array().unwrap().len(), 1);
        assert!(keep["ExitTimeOut"].as_i64().unwrap() >= 30);
        assert!(keep.get("StartCalendarInterval").is_none());
    }
}

#[test]
fn the_services_path_can_be_changed_and_bad_paths_are_refused() {
    if !require("python3", "parsing the plists with plistlib") {
        return;
    }
    // --path wins; then KIT_SERVICE_PATH.
    let kit = Kit::new();
    let out = install_macos(&kit, "--user", &["--path", "/opt/tools/bin:/usr/bin:/bin"]);
    out.stdout_has("PATH=/opt/tools/bin:/usr/bin:/bin")
        .stdout_has("KIT_SERVICE_PATH");
    for f in ["local.kit.kit-tick.plist", "local.kit.kit-keep.plist"] {
        let p = parse_plist(&kit.path("services").join(f));
        assert_eq!(
            p["EnvironmentVariables"]["PATH"],
            "/opt/tools/bin:/usr/bin:/bin"
        );
    }

    let kit = Kit::new();
    let mut c = script(&kit, "install.sh", None);
    c.env("KIT_SERVICE_PATH", "/srv/a&b/bin:/usr/bin")
        .args(["--user", "--platform", "linux", "--prefix"])
        .arg(kit.path("prefix"))
        .arg("--service-dir")
        .arg(kit.path("services"))
        .arg("--home")
        .arg(&kit.home)
        .arg("--bin-dir")
        .arg(bin_dir());
    run(c).ok();
    // systemd gets the same PATH.
    for unit in ["kit-tick.service", "kit-keep.service"] {
        let text = std::fs::read_to_string(kit.path("services").join(unit)).unwrap();
        assert!(
            text.contains("\nEnvironment=\"PATH=/srv/a&b/bin:/usr/bin\"\n"),
            "{unit}:\n{text}"
        );
        assert!(text.contains(&format!(
            "\nEnvironment=\"KIT_DB={}/kit.db\"\n",
            kit.home.display()
        )));
    }

    // A relative or empty entry would resolve against launchd's cwd (/):
    // refused before anything is written.
    for bad in ["bin:/usr/bin", "/usr/bin::/bin", ""] {
        let kit = Kit::new();
        let mut c = script(&kit, "install.sh", None);
        c.args(["--user", "--platform", "macos", "--print", "--path", bad]);
        run(c).code(2).stderr_has("--path");
    }
}

#[test]
fn install_print_for_a_mac_says_what_a_mac_user_must_know() {
    let kit = Kit::new();
    let mut c = script(&kit, "install.sh", None);
    c.args(["--user", "--platform", "macos", "--print", "--home"])
        .arg(&kit.home)
        .arg("--prefix")
        .arg(kit.path("prefix"))
        .arg("--bin-dir")
        .arg(bin_dir());
    let out = run(c).ok();
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let out = out
        .stdout_has("<key>StartCalendarInterval</key>")
        .stdout_has(&format!("launchctl bootstrap gui/{}", uid.trim()))
        .stdout_has("logged in at the Mac's")
        .stdout_has("FileVault")
        .stdout_has("sudo scripts/install.sh --system")
        .stdout_has("pmset");
    assert!(!out.stdout.contains("launchctl load"), "{}", out.stdout);
    assert!(!kit.path("prefix").exists(), "--print wrote files");

    let mut c = script(&kit, "install.sh", None);
    // (No --home: the default, which --print only names.)
    c.args(["--system", "--platform", "macos", "--print", "--run-as"])
        .arg(me())
        .arg("--prefix")
        .arg(kit.path("prefix"))
        .arg("--bin-dir")
        .arg(bin_dir());
    let out = run(c).ok();
    let out = out
        .stdout_has("/Library/LaunchDaemons/local.kit.kit-keep.plist")
        .stdout_has("launchctl bootstrap system /Library/LaunchDaemons/local.kit.kit-tick.plist")
        .stdout_has("<key>UserName</key>")
        .stdout_has("<string>/usr/local/var/kit/logs/kit-keep.err.log</string>");
    assert!(
        !out.stdout.contains("logged in at the Mac's"),
        "no agent hint for --system"
    );
}

/// A stand-in for launchctl, with launchd's state in files under `dir`: a
/// booted-out label stays known for two more `print`s (launchd releases it
/// asynchronously, and kit-keep takes time to stop its daemons), and a
/// `bootstrap` before then fails with 5, as launchd's does. `fail-once`
/// makes the next bootstrap fail for no such reason. Every call is logged.
fn fake_launchctl(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let state = dir.join("launchd");
    std::fs::create_dir_all(&state).unwrap();
    let script = format!(
        r#"#!/bin/sh
d='{state}'
echo "$*" >>"$d/log"
case "$1" in
    print)
        l=${{2##*/}}
        case "$l" in
            local.*) ;;
            *) [ -e "$d/no-domain" ] && exit 113; exit 0 ;;
        esac
        [ -e "$d/$l.loaded" ] && exit 0
        if [ -e "$d/$l.releasing" ]; then
            n=$(cat "$d/$l.releasing")
            if [ "$n" -gt 0 ]; then echo $((n - 1)) >"$d/$l.releasing"; exit 0; fi
            rm -f "$d/$l.releasing"
        fi
        echo "Could not find service \"$l\"" >&2
        exit 113 ;;
    bootout)
        l=${{2##*/}}
        [ -e "$d/$l.loaded" ] || {{ echo "Boot-out failed: 3: No such process" >&2; exit 3; }}
        rm -f "$d/$l.loaded"
        echo 2 >"$d/$l.releasing"
        exit 0 ;;
    enable) exit 0 ;;
    bootstrap)
        l=$(basename "$3" .plist)
        [ -f "$3" ] || {{ echo "no such plist $3" >>"$d/log"; exit 2; }}
        if [ -e "$d/$l.loaded" ] || [ -e "$d/$l.releasing" ]; then
            echo "EARLY $l" >>"$d/log"
            echo "Bootstrap failed: 5: Input/output error" >&2
            exit 5
        fi
        if [ -e "$d/fail-once" ]; then
            rm -f "$d/fail-once"
            echo "Bootstrap failed: 5: Input/output error" >&2
            exit 5
        fi
        touch "$d/$l.loaded"
        exit 0 ;;
    *) echo "UNEXPECTED $*" >>"$d/log"; exit 64 ;;
esac
"#,
        state = state.display()
    );
    let f = bin.join("launchctl");
    std::fs::write(&f, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn launchctl_bootstrap_waits_for_a_booted_out_label_and_retries() {
    let kit = Kit::new();
    let fake = fake_launchctl(&kit.path("fake"));
    let state = kit.path("fake/launchd");
    let log = || std::fs::read_to_string(state.join("log")).unwrap_or_default();
    let uid = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout).unwrap();
    let domain = format!("gui/{}", uid.trim());
    let agents = kit.path("user-home/Library/LaunchAgents");
    let install = || {
        let mut c = script(&kit, "install.sh", Some(&fake));
        c.args(["--user", "--platform", "macos", "--prefix"])
            .arg(kit.path("prefix"))
            .arg("--home")
            .arg(&kit.home)
            .arg("--bin-dir")
            .arg(bin_dir());
        run(c)
    };
    let loaded = |l: &str| state.join(format!("{l}.loaded")).exists();

    // First install: both jobs bootstrapped into the user's GUI domain.
    let out = install().ok();
    let first = log();
    for l in ["local.kit.kit-keep", "local.kit.kit-tick"] {
        assert!(loaded(l), "{l} loaded\n{first}");
        assert!(first.contains(&format!(
            "bootstrap {domain} {}/{l}.plist",
            agents.display()
        )));
    }
    assert!(out.stdout.contains("logged in at the Mac's"));

    // A reinstall boots the loaded jobs out, waits until launchd has let
    // go of each label, and only then bootstraps it; a bootstrap that still
    // fails is retried.
    std::fs::write(state.join("fail-once"), "").unwrap();
    let out = install();
    let all = log();
    assert_eq!(out.code, 0, "{}\n{}\n{all}", out.stdout, out.stderr);
    assert!(out.stdout.contains("trying again"), "{}", out.stdout);
    assert!(
        !all.contains("EARLY"),
        "bootstrap before the label was released:\n{all}"
    );
    let again = &all[first.len()..];
    for l in ["local.kit.kit-keep", "local.kit.kit-tick"] {
        assert!(loaded(l), "{l} loaded again\n{all}");
        let out_at = again
            .find(&format!("bootout {domain}/{l}"))
            .expect("booted out");
        let in_at = again.rfind(&format!("bootstrap {domain} ")).unwrap();
        assert!(out_at < in_at, "{again}");
    }

    // uninstall boots both out and waits for them to be gone.
    let mut c = script(&kit, "uninstall.sh", Some(&fake));
    c.args(["--user", "--platform", "macos", "--prefix"])
        .arg(kit.path("prefix"));
    run(c).ok();
    for l in ["local.kit.kit-keep", "local.kit.kit-tick"] {
        assert!(!loaded(l), "{l} still loaded");
        assert!(
            !state.join(format!("{l}.releasing")).exists(),
            "not waited for"
        );
        assert!(!agents.join(format!("{l}.plist")).exists());
    }
    let all = log();
    assert!(!all.contains("UNEXPECTED"), "{all}");
    for old in ["load ", "unload "] {
        assert!(
            !all.lines().any(|l| l.starts_with(old)),
            "the deprecated launchctl {old}was used:\n{all}"
        );
    }
}

#[test]
fn without_a_console_session_install_says_so_and_fails() {
    let kit = Kit::new();
    let fake = fake_launchctl(&kit.path("fake"));
    std::fs::write(kit.path("fake/launchd/no-domain"), "").unwrap();
    let mut c = script(&kit, "install.sh", Some(&fake));
    c.args(["--user", "--platform", "macos", "--prefix"])
        .arg(kit.path("prefix"))
        .arg("--home")
        .arg(&kit.home)
        .arg("--bin-dir")
        .arg(bin_dir());
    run(c)
        .code(1)
        .stderr_has("not logged in at the console")
        .stderr_has("were not loaded");
    // Installed all the same, with a manifest uninstall.sh can use.
    assert!(kit.path("prefix/share/kit/install-manifest").is_file());
    assert!(kit.path("prefix/bin/kit-tick").is_file());
}

/// The shell scripts in scripts/ (by their #! line), the sourced
/// scripts/service/common.sh and .ci/run.
fn shell_scripts() -> Vec<PathBuf> {
    let mut out = vec![
        repo().join("scripts/service/common.sh"),
        repo().join(".ci/run"),
    ];
    for e in std::fs::read_dir(repo().join("scripts")).unwrap().flatten() {
        let p = e.path();
        if !p.is_file() {
            continue;
        }
        let first = std::fs::read_to_string(&p)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string))
            .unwrap_or_default();
        if first.starts_with("#!") && (first.ends_with("sh") || first.ends_with("bash")) {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn the_scripts_are_shellcheck_clean() {
    let scripts = shell_scripts();
    for must in [
        "install.sh",
        "uninstall.sh",
        "quickstart",
        "build-release",
        "common.sh",
    ] {
        assert!(
            scripts.iter().any(|p| p.file_name().unwrap() == must),
            "{must} is checked"
        );
    }
    if !require("shellcheck", "linting the scripts") {
        return;
    }
    // From the repo root, following sourced files (-x) relative to each
    // script (SCRIPTDIR) or to the root; every severity, style included.
    let out = Command::new("shellcheck")
        .args(["-x", "-P", "SCRIPTDIR", "--severity=style"])
        .args(&scripts)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// macOS's sed, stat, date, readlink, mktemp and xargs are BSD's: these
/// GNU-only spellings fail there (or, like `sed -i` without a suffix, do
/// something else). Checked in what a Mac user runs, comments aside.
#[test]
fn what_a_mac_user_runs_uses_no_gnu_only_flags() {
    let gnu_only = [
        "sed -i",
        "sed -r",
        "readlink -f",
        "readlink -e",
        "readlink -m",
        "stat -c",
        "stat --",
        "date -d",
        "date --",
        "mktemp --",
        "xargs -r",
        "grep -P",
        "ps -e",
        "timeout ",
        "realpath ",
        "\\+",
        "mapfile",
        "readarray",
        "declare -A",
        ",,}",
        "^^}",
    ];
    let files = [
        "scripts/install.sh",
        "scripts/uninstall.sh",
        "scripts/service/common.sh",
        "scripts/quickstart",
        "scripts/build-release",
    ];
    for f in files {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with('#') {
                continue;
            }
            let code = code.split(" # ").next().unwrap();
            for g in gnu_only {
                assert!(
                    !code.contains(g),
                    "{f}:{}: `{g}` is GNU-only: {line}",
                    n + 1
                );
            }
        }
    }
    // The README's pipelines run on a Mac too (tests/readme.rs runs them).
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        !readme.contains("xargs -r"),
        "README: BSD's xargs may lack -r"
    );
}
