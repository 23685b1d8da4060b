//! Rust test binaries for guest tests. A script in tests/vm asks for integration tests of the
//! workspace (tests/NAME.rs) with a header line among its first lines:
//!
//! ```text
//! # rust-tests: kernel_xfrm
//! ```
//!
//! They are built in release mode (`cargo test --release --no-run`), staged under their plain
//! names, and installed next to ikehub: `/usr/local/bin/NAME` in the VM, first in `PATH` on a
//! host run. The script runs them and reports their results as checks.
use crate::process::describe;
use crate::workspace::Workspace;
use std::path::{Path, PathBuf};
use std::process::Stdio;

const HEADER: &str = "# rust-tests:";
/// The header must appear within this many lines of the script's start.
const HEADER_LINES: usize = 20;

/// Names listed on `# rust-tests:` lines near the top of a script.
pub fn header_names(script: &str) -> Vec<String> {
    script
        .lines()
        .take(HEADER_LINES)
        .filter_map(|line| line.trim().strip_prefix(HEADER))
        .flat_map(|names| names.split_whitespace().map(str::to_string))
        .collect()
}

/// The test binaries the chosen scripts ask for, each once, in order of appearance.
pub fn requested(tests_dir: &Path, tests: &[String]) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    for test in tests {
        let script = tests_dir.join(format!("{test}.sh"));
        let text = std::fs::read_to_string(&script)
            .map_err(|e| format!("cannot read {}: {e}", script.display()))?;
        for name in header_names(&text) {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid {
                return Err(format!(
                    "{}: bad rust-tests name `{name}`",
                    script.display()
                ));
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    Ok(names)
}

/// Reads one JSON string value starting right after its opening quote.
fn json_string(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'u' => return None, // not expected in paths or target names
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// The value of the first `"key":"..."` after `from` in a JSON line.
fn field_after(line: &str, from: usize, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\":\"");
    let rest = line.get(from..)?;
    let start = rest.find(&pattern)? + pattern.len();
    json_string(rest.get(start..)?)
}

/// The executable of integration test `name` from one line of
/// `cargo test --no-run --message-format=json` output, if that line announces it.
pub fn executable_from_message(line: &str, name: &str) -> Option<PathBuf> {
    if !line.contains("\"reason\":\"compiler-artifact\"") {
        return None;
    }
    let target = line.find("\"target\":{")?;
    if !line.get(target..)?.contains("\"kind\":[\"test\"]") {
        return None;
    }
    if field_after(line, target, "name")? != name {
        return None;
    }
    field_after(line, 0, "executable").map(PathBuf::from)
}

/// Builds the requested integration tests in release mode and copies each to
/// `target/kernel-lab/rust-tests/NAME`. Returns the staged binaries.
pub fn prepare(ws: &Workspace, names: &[String]) -> Result<Vec<PathBuf>, String> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    println!("xtask: building Rust test binaries: {}", names.join(", "));
    let mut cmd = ws.cargo();
    cmd.args(["test", "--release", "--no-run", "--message-format=json"]);
    for name in names {
        cmd.args(["--test", name]);
    }
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(&cmd)))?;
    if !out.status.success() {
        return Err(format!("`{}` failed ({})", describe(&cmd), out.status));
    }
    let messages = String::from_utf8_lossy(&out.stdout);
    let stage = ws.kernel_lab().join("rust-tests");
    if stage.exists() {
        std::fs::remove_dir_all(&stage)
            .map_err(|e| format!("cannot clear {}: {e}", stage.display()))?;
    }
    std::fs::create_dir_all(&stage)
        .map_err(|e| format!("cannot create {}: {e}", stage.display()))?;
    let mut staged = Vec::new();
    for name in names {
        let built = messages
            .lines()
            .find_map(|line| executable_from_message(line, name))
            .ok_or_else(|| format!("`{}` reported no test binary `{name}`", describe(&cmd)))?;
        let dest = stage.join(name);
        std::fs::copy(&built, &dest)
            .map_err(|e| format!("cannot copy {} to {}: {e}", built.display(), dest.display()))?;
        staged.push(dest);
    }
    Ok(staged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        let script = "#!/bin/bash\n# rust-tests: kernel_xfrm other\n# rust-tests: third\necho\n";
        assert_eq!(header_names(script), ["kernel_xfrm", "other", "third"]);
        assert!(header_names("#!/bin/bash\necho # rust-tests: no\n").is_empty());
        let late = format!("{}# rust-tests: late\n", "\n".repeat(HEADER_LINES));
        assert!(header_names(&late).is_empty());
    }

    #[test]
    fn executable_of_the_named_test() {
        let line = r#"{"reason":"compiler-artifact","package_id":"path+file:///w#ikehub@0.1.0","manifest_path":"/w/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"kernel_xfrm","src_path":"/w/tests/kernel_xfrm.rs","edition":"2021","doc":false,"doctest":false,"test":true},"profile":{"opt_level":"3","test":true},"features":[],"filenames":["/t/release/deps/kernel_xfrm-0123"],"executable":"/t/release/deps/kernel_xfrm-0123","fresh":true}"#;
        assert_eq!(
            executable_from_message(line, "kernel_xfrm"),
            Some(PathBuf::from("/t/release/deps/kernel_xfrm-0123"))
        );
        assert_eq!(executable_from_message(line, "other"), None);
        let library = line.replace(r#""kind":["test"]"#, r#""kind":["lib"]"#);
        assert_eq!(executable_from_message(&library, "kernel_xfrm"), None);
        let no_exe = line.replace(
            r#""executable":"/t/release/deps/kernel_xfrm-0123""#,
            r#""executable":null"#,
        );
        assert_eq!(executable_from_message(&no_exe, "kernel_xfrm"), None);
        assert_eq!(
            executable_from_message(r#"{"reason":"build-finished","success":true}"#, "x"),
            None
        );
    }

    #[test]
    fn requested_names_are_unique_and_checked() {
        let dir = std::env::temp_dir().join(format!("xtask-rust-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.sh"), "#!/bin/bash\n# rust-tests: one two\n").unwrap();
        std::fs::write(dir.join("b.sh"), "#!/bin/bash\n# rust-tests: two\n").unwrap();
        std::fs::write(dir.join("c.sh"), "#!/bin/bash\n").unwrap();
        std::fs::write(dir.join("bad.sh"), "# rust-tests: ../x\n").unwrap();
        let tests: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(requested(&dir, &tests).unwrap(), ["one", "two"]);
        assert!(requested(&dir, &["bad".to_string()]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
