//! `cargo xtask deb`: Debian packages of ikehub, built from `cargo xtask dist`'s files with
//! dpkg's own tools (no debian/ directory, no debhelper): `ikehub_VERSION_ARCH.deb` and
//! `ikehub-dbgsym_VERSION_ARCH.deb` (the debug info, by build ID) in target/debian/, with
//! their staging trees.
//!
//! The package holds the stripped binary, the systemd unit, both manual pages, the shell
//! completions, the example configuration as the conffile /etc/ikehub/ikehub.toml, and
//! Debian's copyright and changelogs; never the benchmarks' load generator. `verify` checks
//! the result before it is reported as built.
mod control;
mod layout;
mod verify;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt::Apt;
use crate::process::{output, run};
use crate::workspace::Workspace;
use control::Control;

/// dpkg-shlibdeps (Depends), man-db (the pages are rendered before the package is reported
/// as built), binutils (dist's strip and objcopy; readelf for the build ID).
const HOST_PACKAGES: [&str; 3] = ["dpkg-dev", "man-db", "binutils"];

/// What a build makes besides the checked main package.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Also the -dbgsym package (compressing its 50 MB of debug info takes about half a
    /// minute) and lintian's findings: `cargo xtask deb`.
    Release,
    /// The main package alone, in target/debian-test (so that a test run leaves the
    /// packages of `cargo xtask deb` alone): what the VM test installs.
    MainOnly,
}

/// What a build wrote.
pub struct Built {
    pub package: PathBuf,
    pub dbgsym: Option<PathBuf>,
}

pub fn main(ws: &Workspace) -> i32 {
    match build(ws, &mut Apt::default(), Scope::Release) {
        Ok(built) => {
            for deb in std::iter::once(&built.package).chain(&built.dbgsym) {
                println!("{}", deb.display());
            }
            0
        }
        Err(e) => {
            eprintln!("xtask deb: {e}");
            1
        }
    }
}

/// Builds and checks the packages of `scope`.
pub fn build(ws: &Workspace, apt: &mut Apt, scope: Scope) -> Result<Built, String> {
    apt.ensure_installed(&HOST_PACKAGES)?;
    let dist = crate::dist::build(ws)?;
    let metadata = crate::dist::ikehub_package(ws)?;
    let version = control::debian_version(&metadata.version);
    let architecture = output(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_string();
    let maintainer = maintainer(metadata.deb_maintainer.as_deref());
    let epoch = source_date_epoch(ws)?;

    let out = ws.cargo_target_dir().join(match scope {
        Scope::Release => "debian",
        Scope::MainOnly => "debian-test",
    });
    fresh_dir(&out)?;

    let root = out.join(format!("{}_{version}_{architecture}", control::PACKAGE));
    eprintln!("xtask deb: staging {}", root.display());
    let provenance = layout::Provenance {
        version: &version,
        maintainer: &maintainer,
        date: &epoch.rfc5322,
        years: &copyright_years(ws, &epoch.rfc5322),
    };
    layout::stage_package(&dist, &ws.root, &root, &provenance)?;
    let depends = shared_library_depends(&out, &root.join(layout::BINARY))?;
    let fields = Control {
        version: &version,
        architecture: &architecture,
        maintainer: &maintainer,
        depends: &depends,
        installed_size_kib: layout::installed_size_kib(&root)?,
    };
    layout::write_debian_dir(&root, &control::control_file(&fields), true)?;
    let package = out.join(format!("{}_{version}_{architecture}.deb", control::PACKAGE));
    dpkg_deb_build(&root, &package, &epoch.seconds)?;

    verify::package(&package, &out.join("check"))?;
    if scope == Scope::MainOnly {
        return Ok(Built {
            package,
            dbgsym: None,
        });
    }

    let debug_root = out.join(format!(
        "{}-dbgsym_{version}_{architecture}",
        control::PACKAGE
    ));
    let build_id = layout::stage_debug_package(&dist, &debug_root)?;
    let debug_fields = Control {
        installed_size_kib: layout::installed_size_kib(&debug_root)?,
        depends: "",
        ..fields
    };
    layout::write_debian_dir(
        &debug_root,
        &control::dbgsym_control_file(&debug_fields, &build_id),
        false,
    )?;
    let dbgsym = out.join(format!(
        "{}-dbgsym_{version}_{architecture}.deb",
        control::PACKAGE
    ));
    dpkg_deb_build(&debug_root, &dbgsym, &epoch.seconds)?;
    verify::lintian(&[&package, &dbgsym]);
    Ok(Built {
        package,
        dbgsym: Some(dbgsym),
    })
}

/// DEBFULLNAME and DEBEMAIL, as Debian's tools take them, then Cargo.toml's
/// `[package.metadata.deb] maintainer`, then a placeholder that says none was given.
fn maintainer(from_cargo: Option<&str>) -> String {
    let name = std::env::var("DEBFULLNAME").unwrap_or_default();
    let email = std::env::var("DEBEMAIL").unwrap_or_default();
    if !name.trim().is_empty() && !email.trim().is_empty() {
        return format!("{} <{}>", name.trim(), email.trim());
    }
    from_cargo
        .unwrap_or(control::FALLBACK_MAINTAINER)
        .to_string()
}

/// The last commit's time, for the archive's timestamps (SOURCE_DATE_EPOCH, which dpkg-deb
/// honours) and the changelog entry: the same sources give the same package. Now, outside a
/// git checkout.
struct BuildTime {
    seconds: String,
    rfc5322: String,
}

fn source_date_epoch(ws: &Workspace) -> Result<BuildTime, String> {
    let seconds = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(set) if !set.trim().is_empty() => set.trim().to_string(),
        _ => {
            let committed = output(
                Command::new("git")
                    .args(["log", "-1", "--format=%ct"])
                    .current_dir(&ws.root),
            );
            match committed {
                Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
                _ => output(Command::new("date").arg("+%s"))?.trim().to_string(),
            }
        }
    };
    if seconds.is_empty() || !seconds.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "SOURCE_DATE_EPOCH `{seconds}` is not a number of seconds"
        ));
    }
    let rfc5322 = output(Command::new("date").args(["-u", "-R", "-d", &format!("@{seconds}")]))?
        .trim()
        .to_string();
    Ok(BuildTime { seconds, rfc5322 })
}

/// From the first commit's year to the build's (`2026`, `2025-2026`).
fn copyright_years(ws: &Workspace, build_date: &str) -> String {
    // RFC 5322: "Mon, 07 Dec 2026 21:00:00 +0000"
    let last = build_date
        .split_whitespace()
        .nth(3)
        .unwrap_or_default()
        .to_string();
    let first = output(
        Command::new("git")
            .args(["log", "--max-parents=0", "--format=%cs"])
            .current_dir(&ws.root),
    )
    .ok()
    .and_then(|dates| {
        dates
            .lines()
            .filter_map(|d| d.get(..4))
            .min()
            .map(str::to_string)
    });
    match first {
        Some(first) if !last.is_empty() && first < last => format!("{first}-{last}"),
        _ => last,
    }
}

/// The Depends line for `binary`'s shared libraries: dpkg-shlibdeps reads the symbol
/// versions the binary uses against the installed libraries' symbols files (e.g.
/// `libc6 (>= 2.34), libgcc-s1 (>= 4.2)`). It wants a debian/control to read, which this
/// build has no other use for: a minimal one in a scratch directory.
fn shared_library_depends(scratch: &Path, binary: &Path) -> Result<String, String> {
    let dir = scratch.join("shlibdeps");
    fresh_dir(&dir.join("debian"))?;
    write(
        &dir.join("debian/control"),
        &format!(
            "Source: {0}\n\nPackage: {0}\nArchitecture: any\n",
            control::PACKAGE
        ),
    )?;
    let mut shlibdeps = Command::new("dpkg-shlibdeps");
    shlibdeps
        .arg("-O")
        .arg(format!("-e{}", binary.display()))
        .current_dir(&dir);
    let text = output(&mut shlibdeps)?;
    let _ = std::fs::remove_dir_all(&dir);
    parse_shlibs_depends(&text).ok_or_else(|| {
        format!(
            "dpkg-shlibdeps printed no shlibs:Depends for {}:\n{text}",
            binary.display()
        )
    })
}

/// The value of `shlibs:Depends=...` in dpkg-shlibdeps' `-O` output.
fn parse_shlibs_depends(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("shlibs:Depends="))
        .map(str::trim)
        .filter(|depends| !depends.is_empty())
        .map(str::to_string)
}

/// `dpkg-deb --build`, every file owned by root (the staging tree is whoever built it).
fn dpkg_deb_build(root: &Path, deb: &Path, epoch: &str) -> Result<(), String> {
    let mut build = Command::new("dpkg-deb");
    build
        .args(["--root-owner-group", "--build"])
        .arg(root)
        .arg(deb)
        .env("SOURCE_DATE_EPOCH", epoch);
    run(&mut build)
}

fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shlibdeps_output_gives_the_depends_value() {
        let out = "shlibs:Depends=libc6 (>= 2.34), libgcc-s1 (>= 4.2)\n";
        assert_eq!(
            parse_shlibs_depends(out).as_deref(),
            Some("libc6 (>= 2.34), libgcc-s1 (>= 4.2)")
        );
        assert_eq!(parse_shlibs_depends("shlibs:Depends=\n"), None);
        assert_eq!(parse_shlibs_depends("misc:Depends=x\n"), None);
    }
}
