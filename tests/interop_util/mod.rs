//! Helpers shared by the importer tests: the samples under
//! tests/data/interop/, and `kit-ctl import --json` read back.

use crate::support::Kit;
use serde_json::Value;
use std::path::PathBuf;

/// A sample file: `dir` is "" for the crontabs, "launchd" or "systemd".
pub fn sample_in(dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/interop")
        .join(dir)
        .join(name)
}

/// `kit-ctl --json import KIND ARGS...`: the imported tasks and the lossy notes.
pub fn import_json(kit: &Kit, kind: &str, args: &[String]) -> (Vec<Value>, Vec<String>) {
    let j = kit
        .ctl()
        .args(["--json", "import", kind])
        .args(args)
        .ok()
        .json();
    let lossy = j["lossy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    (j["tasks"].as_array().unwrap().clone(), lossy)
}
