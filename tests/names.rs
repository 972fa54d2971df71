//! Awkward text, end to end: outputs with invalid UTF-8, NULs and escape
//! codes come back byte for byte; commands, descriptions, env values and
//! working directories with quotes, newlines and shell metacharacters are
//! stored and shown as given; an argv command is never run by a shell.

mod support;

use serde_json::{json, Value};
use std::os::unix::ffi::OsStrExt;
use support::*;

/// Arguments a shell would act on, each of which must arrive verbatim.
const NASTY: &[&str] = &[
    "$(touch pwned-subst)",
    "`touch pwned-backtick`",
    "a; touch pwned-semicolon",
    "| touch pwned-pipe",
    "&& touch pwned-and",
    "> pwned-redirect",
    "$HOME ${PATH} $0 $$",
    "*",
    "it's \"quoted\" \\ back\\slash",
    "new\nline\r\n",
    "tab\there",
    "",
    " ",
    "-n",
    "--help",
    "zażółć 🦀 \u{202e}rtl",
];

fn pwned(kit: &Kit) -> Vec<String> {
    let mut found = Vec::new();
    for dir in [kit.dir.path().to_path_buf(), kit.path("work")] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd {
                let n = e.unwrap().file_name().to_string_lossy().into_owned();
                if n.starts_with("pwned") {
                    found.push(n);
                }
            }
        }
    }
    found
}

/// What `printf '[%s]\n' ARGS...` prints.
fn bracketed(args: &[&str]) -> Vec<u8> {
    args.iter()
        .flat_map(|a| format!("[{a}]\n").into_bytes())
        .collect()
}

/// `kit-ctl output ID`'s raw stdout.
fn output_bytes(kit: &Kit, id: i64) -> Vec<u8> {
    let out = kit
        .ctl()
        .args(["output", &id.to_string()])
        .inner
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn last_id(kit: &Kit, task: &str) -> i64 {
    kit.scalar(&format!(
        "SELECT max(id) FROM supervisor_executions WHERE task = '{task}'"
    ))
}

#[test]
fn output_with_invalid_utf8_nuls_and_escapes_comes_back_byte_for_byte() {
    let kit = Kit::new();
    // printf (coreutils, exec'd directly) turns these escapes into raw bytes.
    kit.ctl()
        .args(["add", "bytes", "-s", "@daily", "--", "printf"])
        .arg(r#"\xff\xfe|\x00|\x1b[31mred\x1b[0m|'s|"d"|\r\n|\x80\xc3\x28|end"#)
        .ok();
    kit.run().arg("bytes").ok();
    let want: &[u8] = b"\xff\xfe|\x00|\x1b[31mred\x1b[0m|'s|\"d\"|\r\n|\x80\xc3\x28|end";
    let id = last_id(&kit, "bytes");
    assert_eq!(output_bytes(&kit, id), want);
    let stored: Vec<u8> = kit.scalar(&format!(
        "SELECT output FROM supervisor_executions WHERE id = {id}"
    ));
    assert_eq!(stored, want, "the DB holds the bytes as a BLOB, unaltered");
    assert_eq!(
        kit.scalar::<i64>(&format!(
            "SELECT output_bytes FROM supervisor_executions WHERE id = {id}"
        )),
        want.len() as i64
    );
    // JSON can only carry text, so it says so and carries the exact bytes too.
    let j = kit
        .ctl()
        .args(["output", &id.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(j["utf8"], false);
    assert_eq!(j["output_base64"], base64(want));
    // A shell-string command producing the same kind of bytes (via printf's
    // octal escapes, which every sh has) is stored the same way.
    kit.ctl()
        .args([
            "add",
            "shbytes",
            "-s",
            "@daily",
            "--shell",
            "--",
            r"printf '\377\376\000x\n'",
        ])
        .ok();
    kit.run().arg("shbytes").ok();
    assert_eq!(
        output_bytes(&kit, last_id(&kit, "shbytes")),
        b"\xff\xfe\x00x\n"
    );
    // Ad-hoc runs too.
    kit.run()
        .args(["--name", "adhoc", "--", "printf", r"\xc0\xaf\n"])
        .ok();
    assert_eq!(output_bytes(&kit, last_id(&kit, "adhoc")), b"\xc0\xaf\n");
}

/// Standard base64, to compare with `output --json` without a dependency.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn an_argv_command_is_never_run_through_a_shell() {
    let kit = Kit::new();
    std::fs::create_dir_all(kit.path("work")).unwrap();
    let mut argv = vec!["printf", "[%s]\\n"];
    argv.extend_from_slice(NASTY);
    // Declared three ways: `add`, a TOML array, and an ad-hoc kit-run.
    kit.ctl()
        .args(["add", "via-add", "-s", "@daily", "--cwd"])
        .arg(kit.path("work"))
        .arg("--")
        .args(&argv)
        .ok();
    let toml_array: Vec<String> = argv.iter().map(|a| toml_string(a)).collect();
    kit.file(
        "t.toml",
        &format!(
            "[[task]]\nname = \"via-toml\"\nschedule = \"@daily\"\ncwd = \"work\"\ncommand = [{}]\n",
            toml_array.join(", ")
        ),
    );
    kit.ctl().arg("apply").arg(kit.path("t.toml")).ok();
    for task in ["via-add", "via-toml"] {
        kit.run().arg(task).ok();
        assert_eq!(
            output_bytes(&kit, last_id(&kit, task)),
            bracketed(NASTY),
            "{task}"
        );
        let shown = kit.ctl().args(["show", task, "--json"]).ok().json();
        assert_eq!(shown["task"]["command"], json!(argv), "{task}");
    }
    kit.run().args(["--name", "via-run", "--"]).args(&argv).ok();
    assert_eq!(
        output_bytes(&kit, last_id(&kit, "via-run")),
        bracketed(NASTY)
    );
    // `kit-ctl run` goes through kit-run as well.
    kit.ctl().args(["run", "via-add"]).ok();
    assert_eq!(
        pwned(&kit),
        Vec::<String>::new(),
        "a shell ran an argv command"
    );

    // The contrast: a string command IS a shell command.
    kit.ctl()
        .args(["add", "shelled", "-s", "@daily", "--shell", "--cwd"])
        .arg(kit.path("work"))
        .args(["--", "touch pwned-by-design"])
        .ok();
    kit.run().arg("shelled").ok();
    assert_eq!(pwned(&kit), ["pwned-by-design"]);
}

/// A TOML basic string for any text (escaping what TOML requires).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[test]
fn commands_descriptions_env_and_cwd_with_metacharacters_survive_every_view() {
    let kit = Kit::new();
    let cwd = kit.path("dir with 'quotes' \"and\" $(dollar) ;semi");
    std::fs::create_dir_all(&cwd).unwrap();
    let value = "$(touch pwned-env) 'single' \"double\" `tick`\nsecond line ;|&";
    let description = "Says \"hi\";\nthen 'bye' $(not run) — ünïcödé";
    let shell = r#"printf '%s|' "$V" 'it'\''s' "a  b"; printf '\n'; pwd"#;
    kit.ctl()
        .args([
            "add",
            "meta",
            "-s",
            "@daily",
            "--shell",
            "--description",
            description,
        ])
        .arg("--env")
        .arg(format!("V={value}"))
        .arg("--cwd")
        .arg(&cwd)
        .args(["--", shell])
        .ok();
    let check = |kit: &Kit, what: &str| {
        let e = kit.ctl().args(["export", "--json"]).ok().json();
        let t = &e["task"][0];
        assert_eq!(t["command"], shell, "{what}");
        assert_eq!(t["description"], description, "{what}");
        assert_eq!(t["env"]["V"], value, "{what}");
        assert_eq!(t["cwd"], cwd.display().to_string(), "{what}");
        let s = kit.ctl().args(["show", "meta", "--json"]).ok().json();
        assert_eq!(s["task"]["command"], shell, "{what}");
        let text = kit.ctl().args(["show", "meta"]).ok();
        assert!(
            text.stdout.contains(shell),
            "{what}: show prints the command as given:\n{}",
            text.stdout
        );
    };
    check(&kit, "after add");
    // Through the TOML export and back, into a fresh kit.
    let other = Kit::new();
    let f = other.file("exported.toml", &kit.ctl().arg("export").ok().stdout);
    other.ctl().arg("apply").arg(&f).ok();
    check(&other, "after export/apply");
    other.run().arg("meta").ok();
    let want = format!("{value}|it's|a  b|\n{}\n", cwd.display());
    assert_eq!(
        output_bytes(&other, last_id(&other, "meta")),
        want.as_bytes()
    );
    assert_eq!(pwned(&other), Vec::<String>::new());
}

#[test]
fn names_are_shown_faithfully_and_bad_ones_refused_whole() {
    let kit = Kit::new();
    let good = ["0day", "a.b_c-d", "x--..__", "9"];
    for n in good {
        kit.ctl()
            .args(["add", n, "-s", "@daily", "--", "true"])
            .ok();
        kit.run().arg(n).ok();
    }
    let listed: Vec<Value> = kit
        .ctl()
        .args(["list", "--json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone();
    let mut want: Vec<&str> = good.to_vec();
    want.sort();
    assert_eq!(
        listed
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        want
    );
    let history = kit.ctl().args(["history", "--json"]).ok().json();
    let mut seen: Vec<String> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["task"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    assert_eq!(seen, want);

    let before = kit.ctl().arg("export").ok().stdout;
    let bad = [
        "it's",
        "say \"hi\"",
        "two\nlines",
        "$(touch pwned)",
        "a;b",
        "a|b",
        "a b",
        "A",
        "ünï",
        "../up",
        "a/b",
        "-flag",
        ".hidden",
        "",
    ];
    for n in bad {
        let out = kit
            .ctl()
            .arg("add")
            .arg("-s")
            .arg("@daily")
            .arg(n)
            .args(["--", "true"])
            .run();
        if n.starts_with('-') && n.len() > 1 {
            // clap takes it for an option: still refused, still nothing stored.
            assert_ne!(out.code, 0, "{n:?}");
        } else {
            let out = out.code(2);
            let quoted = format!("{n:?}");
            assert!(
                out.stderr.contains(&quoted) || n.is_empty(),
                "{n:?}: the error shows the name as given:\n{}",
                out.stderr
            );
        }
        // The same names in a task file are refused with the line.
        let f = kit.file(
            "bad.toml",
            &format!(
                "[[task]]\nname = {}\nschedule = \"@daily\"\ncommand = \"true\"\n",
                toml_string(n)
            ),
        );
        kit.ctl()
            .arg("apply")
            .arg(&f)
            .run()
            .code(2)
            .stderr_has("bad.toml:2:");
        kit.run().args(["--name", n, "--", "true"]).run().fails();
    }
    assert_eq!(kit.ctl().arg("export").ok().stdout, before);
    assert_eq!(pwned(&kit), Vec::<String>::new());
}

#[test]
fn an_argument_that_is_not_utf8_is_refused_cleanly_not_mangled() {
    // Task definitions are UTF-8 (TOML, JSON, the API), so an argv byte
    // string that is not UTF-8 cannot be stored faithfully: it is refused
    // with a clear message rather than stored altered.
    let kit = Kit::new();
    kit.kdb().arg("init").ok();
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    let out = kit
        .ctl()
        .args(["add", "x", "-s", "@daily", "--", "printf"])
        .arg(bad)
        .run()
        .code(2);
    assert!(out.stderr.contains("UTF-8"), "{}", out.stderr);
    kit.run()
        .args(["--name", "x", "--", "printf"])
        .arg(bad)
        .run()
        .fails()
        .stderr_has("UTF-8");
    assert_eq!(
        kit.ctl()
            .arg("export")
            .ok()
            .stdout
            .matches("[[task]]")
            .count(),
        0
    );
    assert_eq!(kit.count("1=1"), 0);
}
