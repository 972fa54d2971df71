//! Task names for imported jobs: derived from what the source calls the job
//! (a launchd Label, a systemd unit) or from its command (cron has no
//! names), made valid for kit (`[a-z0-9][a-z0-9._-]*`), and de-duplicated
//! with `-2`, `-3`... in the order the jobs appear.

use std::collections::HashSet;

/// Hands out unique names.
#[derive(Debug, Default)]
pub struct Names {
    taken: HashSet<String>,
}

impl Names {
    /// `base` made valid, then suffixed until it is unused.
    pub fn unique(&mut self, base: &str) -> String {
        let base = sanitize(base);
        let mut name = base.clone();
        let mut n = 2;
        while self.taken.contains(&name) {
            let suffix = format!("-{n}");
            let keep = base.len().min(100 - suffix.len());
            name = format!("{}{suffix}", &base[..keep]);
            n += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}

/// Lowercase letters, digits, '.', '_' and '-'; anything else becomes '-',
/// runs of '-' collapse, and the result starts with a letter or digit.
pub fn sanitize(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) {
            c
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let out = out
        .trim_start_matches(['-', '.', '_'])
        .trim_end_matches('-');
    let mut out: String = out.chars().take(90).collect();
    if out.is_empty() {
        out = "task".into();
    }
    out
}

/// A name for a command line: the program's base name, skipping what only
/// sets the stage (`cd DIR &&`, `VAR=value`, `env`, `nice`, `sudo -u x`).
pub fn from_command(cmd: &str) -> String {
    let mut words = cmd
        .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|' || c == '(')
        .filter(|w| !w.is_empty())
        .peekable();
    while let Some(w) = words.next() {
        let w = w.trim_matches(['"', '\'']);
        let base = w.rsplit('/').next().unwrap_or(w);
        match base {
            "cd" | "-n" | "-u" => {
                words.next();
            }
            "env" | "nice" | "ionice" | "nohup" | "exec" | "sudo" | "time" | "test" | "[" => {}
            _ if w.contains('=') || w.starts_with('-') => {}
            _ if w.starts_with('$') && !w.contains('/') => {}
            _ => {
                let base = base
                    .strip_suffix(".sh")
                    .or_else(|| base.strip_suffix(".py"))
                    .unwrap_or(base);
                if !base.is_empty() {
                    return base.to_string();
                }
            }
        }
    }
    "task".into()
}

/// A name from a reverse-DNS label: its last part (`com.example.backup` →
/// `backup`, `homebrew.mxcl.postgresql@14` → `postgresql-14`), the whole
/// label when it has no dots.
pub fn from_label(label: &str) -> String {
    let parts: Vec<&str> = label.split('.').collect();
    let looks_dns = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if looks_dns {
        parts[parts.len() - 1].to_string()
    } else {
        label.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_and_unique() {
        let mut n = Names::default();
        assert_eq!(n.unique("backup"), "backup");
        assert_eq!(n.unique("Backup"), "backup-2");
        assert_eq!(n.unique("backup"), "backup-3");
        assert_eq!(n.unique("--Weird Name!"), "weird-name");
        assert_eq!(n.unique("///"), "task");
        let long = "a".repeat(200);
        let first = n.unique(&long);
        let second = n.unique(&long);
        assert!(second.len() <= 100 && second != first);
        kit_db::task::validate::validate_name(&second).unwrap();
    }

    #[test]
    fn command_names_skip_the_stage_setting() {
        assert_eq!(from_command("cd /srv && ./bin/backup.sh --all"), "backup");
        assert_eq!(from_command("LANG=C /usr/bin/env python3 x.py"), "python3");
        assert_eq!(
            from_command("test -x /usr/sbin/anacron || run-parts"),
            "anacron"
        );
        assert_eq!(from_command("$HOME/bin/daily.job > x"), "daily.job");
        assert_eq!(from_command(""), "task");
    }

    #[test]
    fn labels_lose_their_reverse_dns_prefix() {
        assert_eq!(from_label("com.example.security-scan"), "security-scan");
        assert_eq!(from_label("homebrew.mxcl.postgresql@14"), "postgresql@14");
        assert_eq!(from_label("backup"), "backup");
    }
}
