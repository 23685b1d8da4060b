//! The shipped unit, systemd/ikehub.service, passes `systemd-analyze verify` and keeps its
//! `systemd-analyze security` exposure at 2.0 or lower. Skipped where systemd-analyze or the
//! system's units are missing.

mod support {
    pub mod daemon;
}

use std::path::Path;
use std::process::Command;

use support::daemon::{TempDir, BINARY};

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/ikehub.service");
const SYSTEM_UNITS: &str = "/lib/systemd/system";
/// `--threshold` counts tenths: 20 is an exposure of 2.0.
const MAX_EXPOSURE: &str = "20";

fn analyze_present() -> bool {
    let present = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !present {
        println!("SKIPPED: systemd-analyze is missing");
    }
    present
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_unit_verifies_cleanly() {
    if !analyze_present() || !Path::new(SYSTEM_UNITS).is_dir() {
        println!("SKIPPED: no systemd-analyze or no {SYSTEM_UNITS}");
        return;
    }
    // A root of its own: the unit's /usr/bin/ikehub (this build), the system's units it
    // refers to (sysinit.target...), and the unit in /etc/systemd/system.
    let root = TempDir::new("unit-root");
    let bin = root.0.join("usr/bin");
    let units = root.0.join("usr/lib/systemd");
    let local = root.0.join("etc/systemd/system");
    for dir in [&bin, &units, &local] {
        std::fs::create_dir_all(dir).expect("directory");
    }
    std::fs::copy(BINARY, bin.join("ikehub")).expect("copy the binary");
    std::fs::copy(UNIT, local.join("ikehub.service")).expect("copy the unit");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(SYSTEM_UNITS)
        .arg(&units)
        .status()
        .expect("cp");
    assert!(copied.success());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.0.display()))
        .arg("ikehub.service")
        .output()
        .expect("systemd-analyze verify");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "verify is silent on a clean unit");
}

#[test]
fn the_units_exposure_is_at_most_2_0() {
    if !analyze_present() {
        return;
    }
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(format!("--threshold={MAX_EXPOSURE}"))
        .arg(UNIT)
        .output()
        .expect("systemd-analyze security");
    let report = text(&out.stdout);
    let overall = report
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or("no overall line");
    assert!(
        out.status.success(),
        "{overall}\n{report}{}",
        text(&out.stderr)
    );
    println!("{overall}");
}
