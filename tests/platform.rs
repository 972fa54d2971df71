//! The platform switch reaches the real binaries: scripts/test runs the
//! reliability tests a second time with `KIT_PLATFORM=portable`, and this
//! test, run in both passes, proves each pass used the mechanisms it
//! claims (otherwise the portable pass could silently test Linux again).

mod keep_util;
mod support;

use keep_util::*;
use support::{wait_for, Kit};

#[test]
fn kit_keep_names_the_platform_mechanisms_it_uses() {
    let kit = Kit::new();
    kit.tasks(
        r#"
[[task]]
name = "phone"
schedule = "@daemon"
command = "exec sleep 1000"
"#,
    );
    let keep = start(&kit);
    wait_running(&kit, "phone");
    wait_for(LONG, "the ready line", || {
        keep.stderr().contains("platform mechanisms")
    });
    let portable = std::env::var_os("KIT_PLATFORM").is_some_and(|v| v == "portable");
    let expected = if portable {
        "platform mechanisms: portable, DB polled"
    } else if cfg!(target_os = "linux") {
        "platform mechanisms: linux, DB writes watched"
    } else {
        "platform mechanisms: macos, DB writes watched"
    };
    assert!(keep.stderr().contains(expected), "{}", keep.stderr());
}
