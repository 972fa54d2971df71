//! The binary answers --version and generates its man page and completions
//! from its clap definition. (Having an integration test here also makes
//! `cargo test --workspace` build this binary for the end-to-end tests in
//! the workspace's tests/ directory.)

use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_kit-tick");

#[test]
fn version_man_page_and_completions_come_from_one_definition() {
    let out = Command::new(EXE).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kit-tick "));
    let man = Command::new(EXE)
        .args(["--generate", "man"])
        .output()
        .unwrap();
    assert!(man.status.success());
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH kit-tick"));
    let bash = Command::new(EXE)
        .args(["--generate", "complete-bash"])
        .output()
        .unwrap();
    assert!(bash.status.success());
    assert!(String::from_utf8_lossy(&bash.stdout).contains("kit-tick"));
}
