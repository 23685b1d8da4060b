//! `cargo xtask test`: the full suite, stage by stage, stopping at the first failure.
use crate::process::{capture, describe};
use crate::suite::Tally;
use crate::vm_test::{self, Options, Suite};
use crate::workspace::Workspace;
use std::time::Instant;

/// Runs fmt, clippy, the unit tests and the VM tests; returns the exit code.
pub fn full_suite(ws: &Workspace) -> i32 {
    let started = Instant::now();
    if let Err(e) = ensure_components(ws) {
        println!("xtask: {e}");
        return stage_failed("toolchain");
    }
    let stages: [(&str, &[&str]); 3] = [
        ("format", &["fmt", "--all", "--", "--check"]),
        (
            "clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("unit tests", &["test", "--workspace"]),
    ];
    let mut timings = Vec::new();
    for (index, (name, args)) in stages.iter().enumerate() {
        let mut cmd = ws.cargo();
        cmd.args(*args);
        let shown = format!("cargo {}", args.join(" "));
        println!("\n==> [{}/4] {name}: {shown}", index + 1);
        let stage_started = Instant::now();
        let status = match cmd.status() {
            Ok(status) => status,
            Err(e) => {
                eprintln!(
                    "xtask: stage `{name}` could not start `{}`: {e}",
                    describe(&cmd)
                );
                return 1;
            }
        };
        timings.push((*name, stage_started.elapsed().as_secs_f64()));
        if !status.success() {
            println!("\nxtask: stage `{name}` failed ({status}): `{shown}`; later stages not run");
            return stage_failed(name);
        }
    }

    println!("\n==> [4/4] vm tests: cargo xtask vm-test");
    let stage_started = Instant::now();
    let (code, summary_line) = vm_test::main(ws, &Options::default(), Suite::Tests);
    timings.push(("vm tests", stage_started.elapsed().as_secs_f64()));
    let summary: Vec<String> = timings
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.0}s"))
        .collect();
    if code == 0 {
        println!(
            "xtask: all stages passed in {:.0}s ({})",
            started.elapsed().as_secs_f64(),
            summary.join(", ")
        );
    } else {
        println!(
            "xtask: stage `vm tests` failed (exit {code}) after {:.0}s ({})",
            started.elapsed().as_secs_f64(),
            summary.join(", ")
        );
    }
    // the line CI reads comes last
    println!("{summary_line}");
    code
}

/// Ends the suite at a failed stage before the VM tests: the summary line CI
/// reads still comes last, counting the stage as one failed check.
fn stage_failed(name: &str) -> i32 {
    let mut tally = Tally::default();
    tally.harness_failure(format!("stage `{name}` failed; the VM tests did not run"));
    tally.print_report();
    1
}

/// rustfmt and clippy, added through rustup when the toolchain lacks them.
fn ensure_components(ws: &Workspace) -> Result<(), String> {
    for (subcommand, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        let mut probe = ws.cargo();
        probe.args([subcommand, "--version"]);
        if capture(&mut probe).is_ok_and(|out| out.status.success()) {
            continue;
        }
        println!("xtask: adding the {component} component");
        crate::process::run(std::process::Command::new("rustup").args([
            "component",
            "add",
            component,
        ]))
        .map_err(|e| format!("cargo {subcommand} is unavailable and {e}"))?;
    }
    Ok(())
}
