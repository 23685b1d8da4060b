//! The Debian package in a test, installed with dpkg as an administrator would
//! (tests/vm/deb-install.sh).
//!
//! A test asks with `# guest-payload: deb`. The xtask then builds the package
//! (`cargo xtask deb`'s main package, checked the same way) and puts in one directory
//! `ikehub.deb` and `status`: the host's dpkg records of the packages it depends on (libc6,
//! libgcc-s1), whose libraries the guest has, copied from the host, so that dpkg checks the
//! package's Depends against what is really there. The test installs into a scratch root
//! with that database. On a host run the directory is named by IKEHUB_DEB_DIR and the host's
//! dpkg installs; in the VM it is /debs, and dpkg comes along: its programs, GNU tar
//! (dpkg-deb runs `tar` with options busybox's lacks) and ldconfig (dpkg refuses to run
//! without it in PATH), all first in PATH.
use crate::apt::Apt;
use crate::process::output;
use crate::workspace::Workspace;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The payload name on a test's `# guest-payload:` line.
pub const PAYLOAD: &str = "deb";

/// Where the package and its dependencies' records are in the guest.
pub const GUEST_DIR: &str = "/debs";

/// What dpkg needs in the guest, copied with their libraries to /usr/local/bin.
pub const GUEST_PROGRAMS: [&str; 6] = [
    "/usr/bin/dpkg",
    "/usr/bin/dpkg-deb",
    "/usr/bin/dpkg-query",
    "/usr/bin/dpkg-split",
    "/bin/tar",
    "/sbin/ldconfig",
];

/// Whether any of `tests` asks for the package.
pub fn wanted(tests_dir: &Path, tests: &[String]) -> bool {
    tests.iter().any(|test| {
        std::fs::read_to_string(tests_dir.join(format!("{test}.sh")))
            .is_ok_and(|text| asks_for_it(&text))
    })
}

fn asks_for_it(script: &str) -> bool {
    script
        .lines()
        .filter_map(|line| line.trim().strip_prefix("# guest-payload:"))
        .any(|names| names.split_whitespace().any(|name| name == PAYLOAD))
}

/// Builds the package and returns the directory holding `ikehub.deb` and `status`.
pub fn prepare(ws: &Workspace, apt: &mut Apt) -> Result<PathBuf, String> {
    let started = std::time::Instant::now();
    println!("xtask: building the Debian package (cargo xtask deb)");
    let built = crate::deb::build(ws, apt, crate::deb::Scope::MainOnly)?;
    let dir = built
        .package
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", built.package.display()))?
        .join("payload");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let deb = dir.join("ikehub.deb");
    std::fs::copy(&built.package, &deb)
        .map_err(|e| format!("copy {} to {}: {e}", built.package.display(), deb.display()))?;

    let depends = output(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(&deb)
            .arg("Depends"),
    )?;
    let packages = dependency_names(&depends);
    let records = output(Command::new("dpkg-query").arg("--status").args(&packages))?;
    let status = dir.join("status");
    std::fs::write(&status, records).map_err(|e| format!("{}: {e}", status.display()))?;
    println!(
        "xtask: {} ready in {:.1}s (dependencies recorded: {})",
        built.package.display(),
        started.elapsed().as_secs_f64(),
        packages.join(" ")
    );
    Ok(dir)
}

/// The package names in a Depends value, every alternative included:
/// `libc6 (>= 2.34), a | b` -> libc6, a, b.
fn dependency_names(depends: &str) -> Vec<String> {
    let mut names: Vec<String> = depends
        .split([',', '|'])
        .filter_map(|dependency| dependency.split_whitespace().next())
        .map(|name| name.split(':').next().unwrap_or(name).to_string())
        .filter(|name| !name.is_empty())
        .collect();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_asks_for_the_package() {
        assert!(asks_for_it("#!/bin/bash\n# guest-payload: deb\n"));
        assert!(asks_for_it("# guest-payload: strongswan deb\n"));
        assert!(!asks_for_it("# guest-payload: debian\n"));
    }

    #[test]
    fn dependency_names_drop_versions_and_keep_alternatives() {
        assert_eq!(
            dependency_names("libc6 (>= 2.34), libgcc-s1 (>= 4.2)\n"),
            vec!["libc6", "libgcc-s1"]
        );
        assert_eq!(dependency_names("a | b:any (>= 1)"), vec!["a", "b"]);
    }
}
