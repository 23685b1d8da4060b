//! Guest test scripts: which exist, which to run, and counting their results.
//!
//! Counting is per check: every `@@PASS what` / `@@FAIL what` line is one check.
//! The runner (tests/vm/lib/run-tests.sh) adds a `@@FAIL` of its own for a test
//! that crashes, times out or runs no check, and the xtask adds one for a harness
//! failure (build error, VM timeout), so a failing run never reads "0 failed".
use std::path::Path;

/// Scripts under this subdirectory of tests/vm are demos, not suite tests.
pub const DEMO_DIR: &str = "demo";

/// The test names (file stems) of the `*.sh` scripts directly in `dir`, sorted.
pub fn discover(dir: &Path) -> Result<Vec<String>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
            .path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "sh") {
            if let Some(stem) = path.file_stem() {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// The requested tests in the order given, or all available ones when none is
/// requested. A name that does not exist is an error that lists what does.
pub fn select(available: &[String], requested: &[String]) -> Result<Vec<String>, String> {
    if requested.is_empty() {
        if available.is_empty() {
            return Err("no test scripts found".to_string());
        }
        return Ok(available.to_vec());
    }
    let mut chosen = Vec::new();
    for name in requested {
        let name = name.strip_suffix(".sh").unwrap_or(name);
        if !available.iter().any(|a| a == name) {
            return Err(format!(
                "no test named `{name}`; available: {}",
                available.join(", ")
            ));
        }
        chosen.push(name.to_string());
    }
    Ok(chosen)
}

/// Pass/fail counts read from the test output.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failures: Vec<String>,
}

/// What one line of test output means.
#[derive(Debug, PartialEq, Eq)]
pub enum Marker<'a> {
    Pass(&'a str),
    Fail(&'a str),
    TestStart(&'a str),
    TestEnd(&'a str),
    /// Any other `@@` line (INIT, RESULT, SUMMARY, WARN).
    Other(&'a str),
    Text,
}

/// Classifies a console line. Markers are found anywhere in the line: the serial
/// console can glue a kernel message in front of a guest line.
pub fn marker(line: &str) -> Marker<'_> {
    let Some(at) = line.find("@@") else {
        return Marker::Text;
    };
    let tagged = &line[at + 2..];
    let (tag, rest) = tagged.split_once(' ').unwrap_or((tagged, ""));
    match tag {
        "PASS" => Marker::Pass(rest),
        "FAIL" => Marker::Fail(rest),
        "TEST" => Marker::TestStart(rest),
        "END" => Marker::TestEnd(rest),
        "INIT" | "RESULT" | "SUMMARY" | "WARN" => Marker::Other(tagged),
        _ => Marker::Text,
    }
}

impl Tally {
    pub fn observe(&mut self, line: &str) {
        match marker(line) {
            Marker::Pass(_) => self.passed += 1,
            Marker::Fail(what) => self.failures.push(what.to_string()),
            _ => {}
        }
    }

    /// Records a failure of the harness itself as a failed check.
    pub fn harness_failure(&mut self, what: impl Into<String>) {
        self.failures.push(what.into());
    }

    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// The line CI reads; printed last.
    pub fn summary_line(&self) -> String {
        format!("{} passed, {} failed", self.passed, self.failed())
    }

    /// Prints the failed checks (if any) and then the summary line.
    pub fn print_report(&self) {
        if !self.failures.is_empty() {
            println!("\nfailed checks:");
            for failure in &self.failures {
                println!("  - {failure}");
            }
        }
        println!("{}", self.summary_line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn select_all_when_none_requested() {
        let available = names(&["a", "b"]);
        assert_eq!(select(&available, &[]), Ok(names(&["a", "b"])));
    }

    #[test]
    fn select_keeps_request_order_and_accepts_file_names() {
        let available = names(&["a", "b"]);
        assert_eq!(
            select(&available, &names(&["b.sh", "a"])),
            Ok(names(&["b", "a"]))
        );
    }

    #[test]
    fn select_rejects_unknown_names_listing_the_known_ones() {
        let err = select(&names(&["esp-smoke"]), &names(&["nope"])).expect_err("unknown");
        assert!(err.contains("nope") && err.contains("esp-smoke"), "{err}");
    }

    #[test]
    fn select_without_scripts_is_an_error() {
        assert!(select(&[], &[]).is_err());
    }

    #[test]
    fn tally_counts_checks_and_ignores_other_lines() {
        let mut tally = Tally::default();
        for line in [
            "@@INIT uptime=0.9 kernel=6.1.0",
            "@@TEST esp-smoke",
            "@@PASS veth pair",
            "[    1.2] random kernel line",
            "@@PASS ping",
            "@@FAIL SA counters",
            "@@END esp-smoke rc=1",
            "@@SUMMARY tests=1 failed_tests=1",
        ] {
            tally.observe(line);
        }
        assert_eq!(tally.passed, 2);
        assert_eq!(tally.failures, names(&["SA counters"]));
        assert_eq!(tally.summary_line(), "2 passed, 1 failed");
    }

    #[test]
    fn markers_glued_behind_kernel_output_still_count() {
        assert_eq!(marker("[ 3.1] veth: x@@PASS ping"), Marker::Pass("ping"));
        assert_eq!(marker("no marker here"), Marker::Text);
        assert_eq!(marker("@@BOGUS x"), Marker::Text);
    }

    #[test]
    fn harness_failures_count_as_failed_checks() {
        let mut tally = Tally::default();
        tally.harness_failure("vm: timed out");
        assert_eq!(tally.summary_line(), "0 passed, 1 failed");
    }

    #[test]
    fn discover_lists_scripts_only() {
        let dir = std::env::temp_dir().join(format!("xtask-discover-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).expect("temp dir");
        for file in ["b.sh", "a.sh", "README.md", "lib/common.sh"] {
            std::fs::write(dir.join(file), "").expect("write");
        }
        let found = discover(&dir);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert_eq!(found, Ok(names(&["a", "b"])));
    }
}
