//! The importers never panic, whatever they are given: any text as a
//! crontab or a unit file, any calendar expression, any bytes as a plist.
//! Bad input is an error (exit 2), never a crash.

use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// Text made mostly of what these formats are made of, so the parsers get
/// past their first check more often than with uniform noise.
fn texty() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("* ".to_string()),
            Just("%".to_string()),
            Just("\\".to_string()),
            Just("\n".to_string()),
            Just("=".to_string()),
            Just("\"".to_string()),
            Just("@daily ".to_string()),
            Just("[Timer]\n".to_string()),
            Just("[Service]\n".to_string()),
            Just("OnCalendar=".to_string()),
            Just("ExecStart=".to_string()),
            Just("Mon..Fri ".to_string()),
            Just("*-*-1/2 ".to_string()),
            Just("0/15:".to_string()),
            "[ -~]{0,8}",
            "\\PC{0,3}",
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn crontab_import_never_panics(text in texty(), system in any::<bool>()) {
        let opts = super::crontab::Options { system, ..Default::default() };
        let _ = super::crontab::import(&text, Path::new("fuzz"), &opts);
    }

    #[test]
    fn systemd_units_and_calendars_never_panic(text in texty()) {
        let dir = tempfile::tempdir().unwrap();
        let timer = dir.path().join("f.timer");
        std::fs::write(&timer, &text).unwrap();
        std::fs::write(dir.path().join("f.service"), format!("[Service]\nExecStart={text}\n")).unwrap();
        let _ = super::systemd::import(&[timer]);
        for line in text.lines() {
            let _ = super::systemd::calendar_to_cron(line);
        }
    }

    #[test]
    fn plists_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), xml in texty()) {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.plist");
        std::fs::write(&a, &bytes).unwrap();
        let b: PathBuf = dir.path().join("b.plist");
        std::fs::write(&b, format!(
            "<?xml version=\"1.0\"?><plist><dict><key>Label</key><string>x</string>\
             <key>Program</key><string>/bin/true</string>{xml}</dict></plist>"
        )).unwrap();
        let _ = super::launchd::import(&[a]);
        let _ = super::launchd::import(&[b]);
    }
}
