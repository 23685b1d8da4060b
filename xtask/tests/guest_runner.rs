//! The guest test runner (tests/vm/lib/run-tests.sh) and helpers
//! (tests/vm/lib/common.sh), exercised on the host with scripts that need no
//! privileges: what it reports for passing, failing, crashing, silent and hung
//! tests, and the exit status the VM hands back.
use std::path::{Path, PathBuf};
use std::process::Command;

fn vm_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("vm")
}

/// A scratch test directory whose scripts use the real lib/.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str, scripts: &[(&str, &str)]) -> Scratch {
        let dir = std::env::temp_dir().join(format!("guest-runner-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        std::os::unix::fs::symlink(vm_tests_dir().join("lib"), dir.join("lib")).expect("lib link");
        for (name, body) in scripts {
            let text = format!(
                "#!/bin/bash\nsource \"$(dirname \"${{BASH_SOURCE[0]}}\")/lib/common.sh\"\n{body}\n"
            );
            std::fs::write(dir.join(format!("{name}.sh")), text).expect("script");
        }
        Scratch(dir)
    }

    /// Runs the runner on `names`; returns (exit code, output).
    fn run(&self, names: &[&str], timeout_secs: u32) -> (i32, String) {
        let out = Command::new("bash")
            .arg(vm_tests_dir().join("lib/run-tests.sh"))
            .arg(&self.0)
            .args(names)
            .env("IKEHUB_TEST_TIMEOUT", timeout_secs.to_string())
            .output()
            .expect("bash runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn passing_tests_exit_zero_and_report_each_check() {
    let scratch = Scratch::new(
        "pass",
        &[
            ("one", "ok first\ncheck \"true passes\" true\nfinish"),
            ("two", "ok second\nfinish"),
        ],
    );
    let (code, out) = scratch.run(&["one", "two"], 30);
    assert_eq!(code, 0, "{out}");
    for line in [
        "@@TEST one",
        "@@PASS first",
        "@@PASS true passes",
        "@@END one rc=0",
        "@@PASS second",
        "@@SUMMARY tests=2 failed_tests=0",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
    assert!(!out.contains("@@FAIL"), "{out}");
}

#[test]
fn a_failed_check_fails_the_test_and_shows_the_command_output() {
    let scratch = Scratch::new(
        "fail",
        &[(
            "bad",
            "check \"it fails\" sh -c 'echo why >&2; exit 4'\nok later\nfinish",
        )],
    );
    let (code, out) = scratch.run(&["bad"], 30);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("why"), "{out}");
    assert!(out.contains("@@FAIL it fails (exit 4: sh -c"), "{out}");
    assert!(out.contains("@@PASS later"), "{out}");
    assert!(out.contains("@@SUMMARY tests=1 failed_tests=1"), "{out}");
}

#[test]
fn crashes_silence_and_missing_scripts_are_failures() {
    let scratch = Scratch::new(
        "broken",
        &[("crash", "ok before\nexit 3"), ("silent", "finish")],
    );
    let (code, out) = scratch.run(&["crash", "silent", "absent"], 30);
    assert_eq!(code, 1, "{out}");
    for line in [
        "@@FAIL crash: exited with status 3 without reporting a failed check",
        "@@FAIL silent: ran no checks",
        "@@FAIL absent: no such test script",
        "@@SUMMARY tests=3 failed_tests=3",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
}

#[test]
fn a_hung_test_is_stopped_at_its_timeout() {
    let scratch = Scratch::new("hung", &[("hang", "ok started\nwait_for 60 false\nfinish")]);
    let (code, out) = scratch.run(&["hang"], 1);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("@@FAIL hang: timed out after 1s"), "{out}");
}

#[test]
fn wait_for_returns_on_the_condition_or_at_the_deadline() {
    let scratch = Scratch::new(
        "wait",
        &[(
            "wait",
            "flag=$(mktemp -u)\n\
             spawn toucher bash -c \"touch $flag\"\n\
             wait_for 10 test -e \"$flag\" && ok \"condition met\" || bad \"condition met\"\n\
             rm -f \"$flag\"\n\
             wait_for 0 false && bad \"deadline\" || ok \"deadline\"\n\
             finish",
        )],
    );
    let (code, out) = scratch.run(&["wait"], 30);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("@@PASS condition met"), "{out}");
    assert!(out.contains("@@PASS deadline"), "{out}");
}
