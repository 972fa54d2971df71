//! Reading a plist (XML or binary, with the `plist` crate) and the values
//! of a job's keys, with errors that name the file and, for XML, the line.

use super::super::{Lossy, Origin};
use kit_db::task::file::FileError;
use kit_db::task::Command;
use plist::{Dictionary, Value};
use std::path::Path;

/// A plist being read: where its keys are, for messages.
pub struct Source<'a> {
    path: &'a Path,
    /// The XML text; None for a binary plist (which has no lines).
    text: Option<String>,
}

impl Source<'_> {
    /// The line of `<key>KEY</key>` (its first), for messages.
    pub fn at(&self, key: &str) -> Origin {
        let line = self.text.as_deref().and_then(|t| {
            let i = t.find(&format!("<key>{key}</key>"))?;
            Some(t[..i].matches('\n').count() + 1)
        });
        Origin::new(self.path, line)
    }
    pub fn whole(&self) -> Origin {
        Origin::new(self.path, None)
    }
}

pub fn parse(path: &Path) -> Result<(Source<'_>, Dictionary), FileError> {
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

pub fn string(src: &Source, d: &Dictionary, key: &str) -> Result<Option<String>, FileError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(src.at(key).error(format!("{key}: expected a string"))),
    }
}

pub fn boolean(src: &Source, d: &Dictionary, key: &str) -> Result<Option<bool>, FileError> {
    match d.get(key) {
        None => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(_) => Err(src
            .at(key)
            .error(format!("{key}: expected <true/> or <false/>"))),
    }
}

pub fn integer(src: &Source, key: &str, v: &Value) -> Result<i64, FileError> {
    match v {
        Value::Integer(i) => i.as_signed(),
        _ => None,
    }
    .ok_or_else(|| src.at(key).error(format!("{key}: expected an integer")))
}

pub fn command(src: &Source, d: &Dictionary, lossy: &mut Vec<Lossy>) -> Result<Command, FileError> {
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
