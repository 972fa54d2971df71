//! `ExecStart=` to a command: systemd's prefixes (`-@:+!`), its quoting,
//! several lines of a oneshot service, `$VARIABLES` and `%` specifiers.

use super::super::Lossy;
use super::unit::{expand, words, Unit};
use kit_db::task::file::FileError;
use kit_db::task::model::shell_quote;
use kit_db::task::Command;

/// The command: `ExecStart=` lines, systemd's prefixes and quoting.
pub fn command(u: &Unit, lossy: &mut Vec<Lossy>) -> Result<Command, FileError> {
    let lines = u.all("Service", "ExecStart");
    if lines.is_empty() {
        return Err(super::super::Origin::new(&u.path, None).error("no ExecStart= in [Service]"));
    }
    // (argv, the line as written, whether a failure is ignored)
    let mut parts: Vec<(Vec<String>, String, bool)> = Vec::new();
    let mut shell = false;
    for s in &lines {
        let at = u.at(s);
        let mut v = s.value.as_str();
        let mut ignore = false;
        while let Some(p) = v.chars().next().filter(|c| "@-:+!".contains(*c)) {
            match p {
                // Exact in a shell line: `CMD || :` succeeds as the unit would.
                '-' => ignore = true,
                ':' => {}
                '@' => lossy.push(at.lossy(
                    "ExecStart prefix '@': the second word is argv[0] in systemd; kit runs argv as given",
                )),
                _ => lossy.push(at.lossy(format!(
                    "ExecStart prefix {p:?}: runs with full privileges in systemd; kit runs as its own user"
                ))),
            }
            v = &v[1..];
        }
        let (v, unknown) = expand(v);
        for spec in unknown {
            lossy.push(at.lossy(format!("ExecStart specifier {spec}: not expanded by kit")));
        }
        let argv = words(&v).map_err(|e| at.error(format!("ExecStart: {e}")))?;
        if argv.is_empty() {
            return Err(at.error("ExecStart: empty command"));
        }
        if argv.iter().any(|a| a.contains('$')) {
            shell = true;
            lossy.push(at.lossy(
                "ExecStart uses $VARIABLES: run by /bin/sh, whose word splitting differs from systemd's",
            ));
        }
        parts.push((argv, v, ignore));
    }
    if parts.len() == 1 && !shell && !parts[0].2 {
        return Ok(Command::Argv(parts.remove(0).0));
    }
    // oneshot runs the lines in order and stops at the first failure.
    let n = parts.len();
    let line = parts
        .iter()
        .map(|(argv, raw, ignore)| {
            let text = if shell {
                raw.clone()
            } else {
                argv.iter()
                    .map(|a| shell_quote(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            match (ignore, n) {
                (false, _) => text,
                (true, 1) => format!("{text} || :"),
                (true, _) => format!("{{ {text} || :; }}"),
            }
        })
        .collect::<Vec<_>>()
        .join(" && ");
    Ok(Command::Shell(line))
}
