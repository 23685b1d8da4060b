//! `cargo xtask fuzz [TARGET...] [--seconds N]`: the targets of fuzz/ under libFuzzer
//! (cargo-fuzz), one after the other, then a table of each run's speed and coverage.
//!
//! libFuzzer needs a nightly toolchain (`-Zsanitizer`, coverage instrumentation); it and
//! cargo-fuzz are installed when missing, and the command fails and says so when they cannot
//! be. New inputs go to `target/fuzz/corpus/TARGET`, not to the checked-in seeds in
//! `fuzz/corpus/TARGET` (which libFuzzer reads too), so a long run never dirties the tree;
//! README.md says how a crash input becomes a regression file.
use crate::process::{capture, describe, run};
use crate::workspace::Workspace;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const USAGE: &str = "\
  fuzz [TARGET...] [--seconds N]
                                libFuzzer on each fuzz/fuzz_targets/TARGET (default:
                                all) for N seconds each (default 60); needs nightly
                                and cargo-fuzz, installed when missing
";

const DEFAULT_SECONDS: u64 = 60;

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub targets: Vec<String>,
    pub seconds: u64,
}

pub fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        targets: Vec::new(),
        seconds: DEFAULT_SECONDS,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a number")?;
                options.seconds = value
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--seconds: `{value}` is no positive number"))?;
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            name => options.targets.push(name.to_string()),
        }
    }
    Ok(options)
}

/// What libFuzzer reported about one run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub runs: Option<u64>,
    pub execs_per_sec: Option<u64>,
    /// Edges covered (`cov:`) and features (`ft:`) of the last status line.
    pub cov: Option<u64>,
    pub ft: Option<u64>,
    /// `corp: N/SIZE`: inputs in the corpus and their total size.
    pub corpus: Option<String>,
    /// The input that crashed it, as libFuzzer wrote it.
    pub crash: Option<String>,
}

impl Report {
    /// Takes what one line of libFuzzer's output tells.
    pub fn read_line(&mut self, line: &str) {
        if line.starts_with('#') {
            // `#4096 pulse  cov: 845 ft: 2661 corp: 63/9121b lim: 4096 exec/s: 1365 rss: 52Mb`
            let mut words = line.split_whitespace();
            while let Some(word) = words.next() {
                let value = words.clone().next();
                match word {
                    "cov:" => self.cov = value.and_then(|v| v.parse().ok()),
                    "ft:" => self.ft = value.and_then(|v| v.parse().ok()),
                    "corp:" => self.corpus = value.map(str::to_string),
                    "exec/s:" => self.execs_per_sec = value.and_then(|v| v.parse().ok()),
                    _ => {}
                }
            }
        } else if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            self.runs = n.trim().parse().ok();
        } else if let Some(n) = line.strip_prefix("stat::average_exec_per_sec:") {
            self.execs_per_sec = n.trim().parse().ok();
        } else if let Some(rest) = line.split("Test unit written to ").nth(1) {
            self.crash = Some(rest.trim().to_string());
        }
    }
}

/// Lines worth showing while it runs; the whole output goes to the log file.
fn shown(line: &str) -> bool {
    !line.starts_with('#') || ["INITED", "pulse", "DONE"].iter().any(|w| line.contains(w))
}

/// The targets in fuzz/fuzz_targets, sorted.
fn available(ws: &Workspace) -> Result<Vec<String>, String> {
    let dir = ws.root.join("fuzz").join("fuzz_targets");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            let rust = path.extension().is_some_and(|x| x == "rs");
            rust.then(|| path.file_stem()?.to_str().map(str::to_string))
                .flatten()
        })
        .collect();
    names.sort();
    Ok(names)
}

/// A command on the nightly toolchain, whatever toolchain runs xtask.
fn nightly(program: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", program]);
    // cargo xtask exports its own toolchain's cargo and rustc; they must not leak into nightly.
    for var in [
        "CARGO",
        "RUSTC",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn succeeds(cmd: &mut Command) -> bool {
    capture(cmd).is_ok_and(|out| out.status.success())
}

/// Nightly and cargo-fuzz, installed when missing.
fn ensure_tools(ws: &Workspace) -> Result<(), String> {
    if !succeeds(nightly("rustc").arg("--version")) {
        println!("xtask: installing the nightly toolchain for libFuzzer");
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))
        .map_err(|e| {
            format!("libFuzzer needs a nightly toolchain, and installing one failed: {e}")
        })?;
    }
    if !succeeds(nightly("cargo").args(["fuzz", "--version"])) {
        println!("xtask: installing cargo-fuzz");
        run(ws.cargo().args(["install", "cargo-fuzz", "--locked"]))
            .map_err(|e| format!("cargo-fuzz is missing, and installing it failed: {e}"))?;
    }
    Ok(())
}

/// One target for `seconds`; its output goes to `log`.
fn fuzz_target(ws: &Workspace, target: &str, seconds: u64, log: &Path) -> Result<Report, String> {
    let scratch = ws
        .cargo_target_dir()
        .join("fuzz")
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let seeds: PathBuf = ["fuzz", "corpus", target].iter().collect();
    let mut cmd = nightly("cargo");
    // No sanitizer: the crate forbids `unsafe`, and ring's C and assembly are not
    // instrumented anyway; debug assertions catch arithmetic overflow, as the tests do.
    cmd.args([
        "fuzz",
        "run",
        "--sanitizer",
        "none",
        "--debug-assertions",
        target,
    ])
    .arg(&scratch)
    .arg(&seeds)
    .args([
        "--".to_string(),
        format!("-max_total_time={seconds}"),
        "-print_final_stats=1".to_string(),
    ])
    .current_dir(&ws.root)
    .stdin(Stdio::null())
    .stderr(Stdio::piped());
    println!("\n==> {target}: {}", describe(&cmd));
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(&cmd)))?;
    let mut log_file =
        std::fs::File::create(log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let mut report = Report::default();
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // The log is a convenience: a full disk must not stop the run.
            let _ = writeln!(log_file, "{line}");
            if shown(&line) {
                println!("{line}");
            }
            report.read_line(&line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("`{}`: {e}", describe(&cmd)))?;
    // libFuzzer exits non-zero on a crash too; the report names the input.
    if status.success() || report.crash.is_some() {
        Ok(report)
    } else {
        Err(format!(
            "`{}` failed ({status}); see {}",
            describe(&cmd),
            log.display()
        ))
    }
}

fn number(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Runs the chosen targets; returns the exit code.
pub fn main(ws: &Workspace, options: &Options) -> i32 {
    let targets = match available(ws) {
        Ok(all) if options.targets.is_empty() => all,
        Ok(all) => match options.targets.iter().find(|t| !all.contains(t)) {
            Some(unknown) => {
                eprintln!(
                    "xtask: no fuzz target `{unknown}`; there are: {}",
                    all.join(", ")
                );
                return 2;
            }
            None => options.targets.clone(),
        },
        Err(e) => {
            eprintln!("xtask: {e}");
            return 1;
        }
    };
    if let Err(e) = ensure_tools(ws) {
        eprintln!("xtask: {e}\nxtask: nothing was fuzzed; the corpora still run on stable in `cargo test --test fuzz_corpus`");
        return 1;
    }
    let logs = ws.cargo_target_dir().join("fuzz");
    if let Err(e) = std::fs::create_dir_all(&logs) {
        eprintln!("xtask: cannot create {}: {e}", logs.display());
        return 1;
    }
    let mut rows = Vec::new();
    let mut failed = false;
    for target in &targets {
        let log = logs.join(format!("{target}.log"));
        let result = match fuzz_target(ws, target, options.seconds, &log) {
            Ok(report) => {
                let outcome = match &report.crash {
                    Some(input) => {
                        failed = true;
                        format!("CRASH {input}")
                    }
                    None => "ok".to_string(),
                };
                format!(
                    "{:>10} {:>8} {:>6} {:>7} {:>14}  {outcome}",
                    number(report.runs),
                    number(report.execs_per_sec),
                    number(report.cov),
                    number(report.ft),
                    report.corpus.as_deref().unwrap_or("-"),
                )
            }
            Err(e) => {
                failed = true;
                format!("error: {e}")
            }
        };
        rows.push(format!("{target:<18} {result}"));
    }
    println!(
        "\nxtask: fuzzed {} s per target (logs in {})",
        options.seconds,
        logs.display()
    );
    println!(
        "{:<18} {:>10} {:>8} {:>6} {:>7} {:>14}  result",
        "target", "runs", "exec/s", "cov", "ft", "corpus"
    );
    for row in rows {
        println!("{row}");
    }
    if failed {
        println!("xtask: a crash input becomes a regression test once copied into fuzz/corpus/TARGET/ (README.md, Fuzzing)");
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        assert_eq!(
            parse_options(&args(&["ikev2_engine", "--seconds", "600"])),
            Ok(Options {
                targets: args(&["ikev2_engine"]),
                seconds: 600
            })
        );
        assert_eq!(parse_options(&[]).map(|o| o.seconds), Ok(DEFAULT_SECONDS));
        assert!(parse_options(&args(&["--seconds"])).is_err());
        assert!(parse_options(&args(&["--seconds", "0"])).is_err());
        assert!(parse_options(&args(&["--jobs", "2"])).is_err());
    }

    #[test]
    fn reads_libfuzzer_output() {
        let mut report = Report::default();
        for line in [
            "#2\tINITED cov: 12 ft: 13 corp: 1/1b exec/s: 0 rss: 30Mb",
            "#524288\tpulse  cov: 845 ft: 2661 corp: 63/9121b lim: 4096 exec/s: 1365 rss: 52Mb",
            "#600123\tDONE   cov: 851 ft: 2700 corp: 64/9200b lim: 4096 exec/s: 1000 rss: 52Mb",
            "Done 600123 runs in 601 second(s)",
            "stat::number_of_executed_units: 600123",
            "stat::average_exec_per_sec:     998",
        ] {
            report.read_line(line);
        }
        assert_eq!(report.runs, Some(600_123));
        assert_eq!(report.execs_per_sec, Some(998));
        assert_eq!((report.cov, report.ft), (Some(851), Some(2700)));
        assert_eq!(report.corpus.as_deref(), Some("64/9200b"));
        assert_eq!(report.crash, None);
        report.read_line(
            "artifact_prefix='fuzz/artifacts/x/'; Test unit written to fuzz/artifacts/x/crash-ab12",
        );
        assert_eq!(report.crash.as_deref(), Some("fuzz/artifacts/x/crash-ab12"));
    }
}
