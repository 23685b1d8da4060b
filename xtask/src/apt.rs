//! Host packages and kernel packages through apt (Debian 12 hosts).
use crate::process::{capture, describe, failure, output};
use std::path::Path;
use std::process::Command;

/// Talks to apt; refreshes the package lists at most once per run.
#[derive(Default)]
pub struct Apt {
    lists_updated: bool,
}

fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// Whether dpkg reports the package as installed.
pub fn installed(package: &str) -> bool {
    let mut cmd = Command::new("dpkg-query");
    cmd.args(["-W", "-f", "${db:Status-Status}", package]);
    matches!(capture(&mut cmd), Ok(out) if out.status.success() && out.stdout == b"installed")
}

impl Apt {
    /// `apt-get update`, once.
    pub fn update(&mut self) -> Result<(), String> {
        if self.lists_updated {
            return Ok(());
        }
        println!("xtask: apt-get update");
        output(apt_get().args(["update", "-qq"]))?;
        self.lists_updated = true;
        Ok(())
    }

    /// Installs whichever of `packages` is missing (without recommends).
    pub fn ensure_installed(&mut self, packages: &[&str]) -> Result<(), String> {
        let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        self.update()?;
        println!("xtask: installing host packages: {}", missing.join(" "));
        output(
            apt_get()
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing),
        )?;
        Ok(())
    }

    /// Makes sure apt knows `package`, refreshing the lists on a fresh machine.
    fn known(&mut self, package: &str) -> Result<(), String> {
        let mut show = Command::new("apt-cache");
        show.args(["show", package]);
        if capture(&mut show).is_ok_and(|out| out.status.success()) {
            return Ok(());
        }
        self.update()?;
        let out = capture(&mut show)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "apt does not know the package `{package}`: {}",
                failure(&show, &out)
            ))
        }
    }

    /// The versioned (ABI) kernel image package behind a metapackage such as
    /// linux-image-amd64; a package that is already versioned maps to itself.
    pub fn kernel_abi_package(&mut self, package: &str) -> Result<String, String> {
        self.known(package)?;
        let depends = output(Command::new("apt-cache").args(["depends", package]))?;
        Ok(abi_dependency(&depends).unwrap_or_else(|| package.to_string()))
    }

    /// The version apt would install.
    pub fn candidate_version(&mut self, package: &str) -> Result<String, String> {
        self.known(package)?;
        let mut cmd = Command::new("apt-cache");
        cmd.args(["policy", package]);
        let policy = output(&mut cmd)?;
        candidate(&policy).ok_or_else(|| {
            format!(
                "no installable version of `{package}` in `{}`",
                describe(&cmd)
            )
        })
    }

    /// Downloads `package=version` into `dir` (never installs it).
    pub fn download(&mut self, package: &str, version: &str, dir: &Path) -> Result<(), String> {
        println!("xtask: apt-get download {package}={version}");
        output(
            apt_get()
                .current_dir(dir)
                .args(["download", &format!("{package}={version}")]),
        )?;
        Ok(())
    }
}

/// The `Depends: linux-image-<digit>...` line of `apt-cache depends` output.
fn abi_dependency(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let name = line.trim().strip_prefix("Depends: ")?;
        let version_part = name.strip_prefix("linux-image-")?;
        version_part
            .starts_with(|c: char| c.is_ascii_digit())
            .then(|| name.to_string())
    })
}

/// The `Candidate:` of `apt-cache policy` output, if installable.
fn candidate(policy: &str) -> Option<String> {
    policy.lines().find_map(|line| {
        let version = line.trim().strip_prefix("Candidate: ")?;
        version
            .starts_with(|c: char| c.is_ascii_digit())
            .then(|| version.to_string())
    })
}

/// The file name `apt-get download` gives a package (epoch colon escaped).
pub fn deb_file_name(package: &str, version: &str, arch: &str) -> String {
    format!("{package}_{}_{arch}.deb", version.replace(':', "%3a"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_dependency_of_the_metapackage() {
        let depends = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n  Recommends: x\n";
        assert_eq!(
            abi_dependency(depends).as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        assert_eq!(abi_dependency("foo\n  Depends: kmod\n"), None);
    }

    #[test]
    fn candidate_version_parsed_or_absent() {
        let policy = "linux-image-6.1.0-56-amd64:\n  Installed: (none)\n  Candidate: 6.1.158-1\n";
        assert_eq!(candidate(policy).as_deref(), Some("6.1.158-1"));
        assert_eq!(candidate("x:\n  Candidate: (none)\n"), None);
    }

    #[test]
    fn deb_file_names_escape_the_epoch() {
        assert_eq!(
            deb_file_name("a", "1:2.0-1", "amd64"),
            "a_1%3a2.0-1_amd64.deb"
        );
    }
}
