//! Moving in and out: importers that turn crontabs, launchd plists and
//! systemd timers into kit's task model, and the Kubernetes exporter.
//!
//! Importers build `kit_db::task::Task`s, check each with the one validator
//! (`kit_db::task::validate`) and print them with the task-file writer
//! `kit-ctl export` uses, so what `import` prints is exactly what `apply`
//! reads. Whatever a source says that kit cannot carry over is a [`Lossy`]
//! note, named by file and line, printed as a comment above its task and on
//! stderr; `--strict` turns any of them into exit 1.

pub mod crontab;
pub mod kubernetes;
pub mod launchd;
pub mod names;
#[cfg(test)]
mod props;
pub mod systemd;
pub mod yaml;

use kit_db::task::file::{self, FileError, TaskFile};
use kit_db::task::Task;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Where something came from: a file and, for text sources, a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub line: Option<usize>,
}

impl Origin {
    pub fn new(path: &Path, line: Option<usize>) -> Origin {
        Origin {
            path: path.to_path_buf(),
            line,
        }
    }

    /// A malformed-input error at this place (exit 2, like a bad task file).
    pub fn error(&self, message: impl Into<String>) -> FileError {
        FileError {
            path: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    pub fn lossy(&self, message: impl Into<String>) -> Lossy {
        Lossy {
            at: self.clone(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Something the source says that kit does not do, or does differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lossy {
    pub at: Origin,
    pub message: String,
}

impl std::fmt::Display for Lossy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// One imported task and what could not be carried over into it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub task: Task,
    pub from: Origin,
    pub lossy: Vec<Lossy>,
    /// How something was carried over, when it is not obvious (comments).
    pub info: Vec<String>,
}

/// What an importer found: tasks, plus notes about things it left out
/// entirely (a job with no schedule kit supports, a setting with no task).
#[derive(Debug, Default)]
pub struct Imported {
    pub entries: Vec<Entry>,
    pub skipped: Vec<Lossy>,
}

impl Imported {
    pub fn lossy(&self) -> impl Iterator<Item = &Lossy> {
        self.skipped
            .iter()
            .chain(self.entries.iter().flat_map(|e| e.lossy.iter()))
    }

    pub fn extend(&mut self, other: Imported) {
        self.entries.extend(other.entries);
        self.skipped.extend(other.skipped);
    }
}

/// Checks a built task with the validator `apply` uses; a failure is the
/// source's fault, so it names the source's file and line.
pub fn check(task: &Task, from: &Origin) -> Result<(), FileError> {
    kit_db::task::validate(task)
        .map(|_| ())
        .map_err(|e| from.error(format!("cannot import as task {:?}: {e}", task.name)))
}

/// Comment lines: every line of `text` prefixed with `# `.
fn comment(out: &mut String, text: &str) {
    for l in text.lines() {
        let _ = writeln!(out, "# {l}");
    }
}

/// The task file `import` prints: a header naming the sources, the notes
/// about what was left out, then each task with its own notes above it.
pub fn render(imp: &Imported, kind: &str, sources: &[PathBuf]) -> String {
    let mut out = String::new();
    let names: Vec<String> = sources.iter().map(|p| p.display().to_string()).collect();
    let _ = writeln!(
        out,
        "# kit task file (kit-ctl import {kind}) from {}",
        names.join(", ")
    );
    out.push_str("# Review it, then: kit-ctl apply FILE\n");
    let n = imp.lossy().count();
    if n > 0 {
        let _ = writeln!(
            out,
            "# {n} thing(s) could not be carried over exactly; each is named below as LOSSY."
        );
    }
    for s in &imp.skipped {
        out.push('\n');
        comment(&mut out, &format!("LOSSY {s}"));
    }
    for e in &imp.entries {
        out.push('\n');
        let _ = writeln!(out, "# from {}", e.from);
        for l in &e.lossy {
            comment(&mut out, &format!("LOSSY {l}"));
        }
        for i in &e.info {
            comment(&mut out, i);
        }
        out.push_str(&file::render_task(&e.task));
    }
    out
}

/// Parses the rendered text back with the loader `apply` uses, so a file
/// `import` prints is one `apply` accepts (an internal error otherwise).
pub fn reload(text: &str) -> anyhow::Result<TaskFile> {
    file::parse(text, Path::new("(import output)"), Path::new("/"))
        .map_err(|e| anyhow::anyhow!("internal error: the imported task file does not load: {e}"))
}
