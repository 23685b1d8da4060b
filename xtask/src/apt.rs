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
    // a fresh machine often runs its daily apt jobs at boot: wait for their lock
    cmd.args(["-o", "DPkg::Lock::Timeout=600"]);
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

    /// The versioned (ABI) kernel image package and version behind `package`:
    /// a metapackage such as linux-image-amd64 pins one
    /// (`Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)`); an ABI package
    /// stands for itself at its candidate version. One `apt-cache show` (apt is
    /// slow to start); the lists are refreshed first on a fresh machine.
    pub fn kernel_package(&mut self, package: &str) -> Result<(String, String), String> {
        let mut show = Command::new("apt-cache");
        show.args(["show", "--no-all-versions", package]);
        let mut out = capture(&mut show)?;
        if !out.status.success() {
            self.update()?;
            out = capture(&mut show)?;
        }
        if !out.status.success() {
            return Err(format!(
                "apt does not know the package `{package}`: {}",
                failure(&show, &out)
            ));
        }
        let record = String::from_utf8_lossy(&out.stdout);
        kernel_from_record(package, &record).ok_or_else(|| {
            format!(
                "`{package}` is neither a versioned linux-image package nor one that \
                 depends on one (`{}`)",
                describe(&show)
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

/// Whether a package name is a versioned kernel image (linux-image-<digit>...).
fn is_abi_image(name: &str) -> bool {
    name.strip_prefix("linux-image-")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// (ABI package, version) from an `apt-cache show` record of `package`.
fn kernel_from_record(package: &str, record: &str) -> Option<(String, String)> {
    let field = |name: &str| {
        record
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
    };
    let pinned = field("Depends:").and_then(|depends| {
        depends.split(',').find_map(|dependency| {
            let (name, constraint) = dependency.trim().split_once(' ')?;
            let version = constraint.trim().strip_prefix("(= ")?.strip_suffix(')')?;
            is_abi_image(name).then(|| (name.to_string(), version.trim().to_string()))
        })
    });
    pinned.or_else(|| {
        let version = field("Version:")?;
        is_abi_image(package).then(|| (package.to_string(), version.to_string()))
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
    fn a_metapackage_pins_its_abi_package() {
        let record = "Package: linux-image-amd64\nVersion: 6.1.192-2\n\
                      Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n";
        assert_eq!(
            kernel_from_record("linux-image-amd64", record),
            Some(("linux-image-6.1.0-56-amd64".into(), "6.1.192-2".into()))
        );
    }

    #[test]
    fn an_abi_package_stands_for_itself() {
        let record = "Package: linux-image-6.1.0-56-amd64\nVersion: 6.1.192-2\n\
                      Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | x\n";
        assert_eq!(
            kernel_from_record("linux-image-6.1.0-56-amd64", record),
            Some(("linux-image-6.1.0-56-amd64".into(), "6.1.192-2".into()))
        );
    }

    #[test]
    fn other_packages_are_not_kernels() {
        let record = "Package: kmod\nVersion: 30+20221128-1\nDepends: libc6 (>= 2.34)\n";
        assert_eq!(kernel_from_record("kmod", record), None);
    }

    #[test]
    fn deb_file_names_escape_the_epoch() {
        assert_eq!(
            deb_file_name("a", "1:2.0-1", "amd64"),
            "a_1%3a2.0-1_amd64.deb"
        );
    }
}
