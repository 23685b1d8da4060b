//! Checks of a built package, from the archive itself: ownership and modes, no load
//! generator, the conffile, both manual pages rendered by `man -l`, and the shipped
//! configuration accepted by the shipped binary.
use std::path::Path;
use std::process::Command;

use super::layout::{BINARY, CONFFILE};
use crate::process::{capture, describe, failure, output};

/// (path in the archive, `ls -l` mode it must have)
const MODES: [(&str, &str); 6] = [
    ("./usr/bin/ikehub", "-rwxr-xr-x"),
    ("./etc/ikehub/", "drwx------"),
    ("./etc/ikehub/ikehub.toml", "-rw-------"),
    ("./lib/systemd/system/ikehub.service", "-rw-r--r--"),
    ("./usr/share/man/man8/ikehub.8.gz", "-rw-r--r--"),
    ("./usr/share/man/man5/ikehub.toml.5.gz", "-rw-r--r--"),
];

const PAGES: [&str; 2] = [
    "usr/share/man/man8/ikehub.8.gz",
    "usr/share/man/man5/ikehub.toml.5.gz",
];

/// One entry of `dpkg-deb --contents`.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    mode: String,
    owner: String,
    path: String,
}

/// Everything must hold, or the package is not reported as built. `scratch` is a directory
/// to unpack into (replaced).
pub fn package(deb: &Path, scratch: &Path) -> Result<(), String> {
    let listing = output(Command::new("dpkg-deb").arg("--contents").arg(deb))?;
    let entries = parse_contents(&listing)?;
    check_entries(&entries).map_err(|e| format!("{}: {e}", deb.display()))?;

    let conffiles = output(
        Command::new("dpkg-deb")
            .arg("--info")
            .arg(deb)
            .arg("conffiles"),
    )?;
    if conffiles.trim() != format!("/{CONFFILE}") {
        return Err(format!(
            "{}: conffiles lists `{}`, not /{CONFFILE}",
            deb.display(),
            conffiles.trim()
        ));
    }
    let depends = output(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(deb)
            .arg("Depends"),
    )?;
    if !depends.contains("libc6") {
        return Err(format!(
            "{}: Depends `{}` lacks libc6",
            deb.display(),
            depends.trim()
        ));
    }

    if scratch.exists() {
        std::fs::remove_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    }
    output(
        Command::new("dpkg-deb")
            .arg("--extract")
            .arg(deb)
            .arg(scratch),
    )?;
    for page in PAGES {
        render(&scratch.join(page))?;
    }
    // The conffile as dpkg installs it (mode 600) must satisfy the binary it comes with.
    let mut check = Command::new(scratch.join(BINARY));
    check.arg("check-config").arg(scratch.join(CONFFILE));
    output(&mut check).map_err(|e| format!("the packaged configuration is refused: {e}"))?;
    std::fs::remove_dir_all(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    eprintln!(
        "xtask deb: {} checked: {} entries owned by root, no load generator, modes, \
         conffile, Depends: {}, both pages render with man -l, check-config accepts \
         the packaged configuration",
        deb.display(),
        entries.len(),
        depends.trim()
    );
    Ok(())
}

fn parse_contents(listing: &str) -> Result<Vec<Entry>, String> {
    listing
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [mode, owner, _size, _date, _time, path, ..] => Ok(Entry {
                    mode: mode.to_string(),
                    owner: owner.to_string(),
                    path: path.to_string(),
                }),
                _ => Err(format!("unexpected dpkg-deb --contents line `{line}`")),
            }
        })
        .collect()
}

fn check_entries(entries: &[Entry]) -> Result<(), String> {
    if let Some(entry) = entries.iter().find(|e| e.owner != "root/root") {
        return Err(format!("{} is owned by {}", entry.path, entry.owner));
    }
    // The load generator is a benchmark tool (the `loadgen` feature), never shipped.
    if let Some(entry) = entries.iter().find(|e| e.path.contains("loadgen")) {
        return Err(format!("{} is in the package", entry.path));
    }
    for (path, mode) in MODES {
        match entries.iter().find(|e| e.path == path) {
            None => return Err(format!("{path} is missing")),
            Some(entry) if entry.mode != mode => {
                return Err(format!("{path} has mode {}, not {mode}", entry.mode))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// `man -l PAGE` must format the page without complaint and show its NAME section.
fn render(page: &Path) -> Result<(), String> {
    let mut man = Command::new("man");
    // A locale every Debian system has (man warns about one that is not generated), and no
    // seccomp sandbox for man's helpers (it fails in some containers): only the page's own
    // problems reach stderr.
    man.arg("-l")
        .arg(page)
        .env("MANWIDTH", "80")
        .env("LC_ALL", "C.UTF-8")
        .env("MAN_DISABLE_SECCOMP", "1");
    let out = capture(&mut man)?;
    let text = String::from_utf8_lossy(&out.stdout);
    let complaints = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !complaints.trim().is_empty() || !text.contains("NAME") {
        return Err(format!(
            "`{}` does not render the page: {}",
            describe(&man),
            failure(&man, &out)
        ));
    }
    Ok(())
}

/// Debian's package checker, when the host has it: its findings are printed for whoever
/// builds, not fatal (some are choices: e.g. /etc/ikehub is 0700, see layout.rs).
pub fn lintian(debs: &[&Path]) {
    let mut lintian = Command::new("lintian");
    lintian.args(["--fail-on", "none"]).args(debs);
    match capture(&mut lintian) {
        Err(_) => eprintln!("xtask deb: lintian is not installed; the packages were not linted"),
        Ok(out) => {
            let findings = String::from_utf8_lossy(&out.stdout);
            let errors = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                eprintln!("xtask deb: lintian failed: {}", errors.trim());
            } else if findings.trim().is_empty() {
                eprintln!("xtask deb: lintian: no findings");
            } else {
                eprintln!("xtask deb: lintian:\n{}", findings.trim_end());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
drwxr-xr-x root/root         0 2026-12-07 21:00 ./
drwx------ root/root         0 2026-12-07 21:00 ./etc/ikehub/
-rw------- root/root      2417 2026-12-07 21:00 ./etc/ikehub/ikehub.toml
-rw-r--r-- root/root      1990 2026-12-07 21:00 ./lib/systemd/system/ikehub.service
-rwxr-xr-x root/root   5123456 2026-12-07 21:00 ./usr/bin/ikehub
-rw-r--r-- root/root      9000 2026-12-07 21:00 ./usr/share/man/man5/ikehub.toml.5.gz
-rw-r--r-- root/root      4000 2026-12-07 21:00 ./usr/share/man/man8/ikehub.8.gz
";

    #[test]
    fn a_good_listing_passes() {
        let entries = parse_contents(LISTING).expect("parses");
        assert_eq!(entries.len(), 7);
        assert_eq!(check_entries(&entries), Ok(()));
    }

    #[test]
    fn a_load_generator_a_wrong_mode_or_owner_fails() {
        let with_loadgen =
            format!("{LISTING}-rwxr-xr-x root/root 1 2026-12-07 21:00 ./usr/bin/ikehub-loadgen\n");
        let err =
            check_entries(&parse_contents(&with_loadgen).expect("parses")).expect_err("refused");
        assert!(err.contains("ikehub-loadgen"), "{err}");

        let readable = LISTING.replace("-rw------- root/root", "-rw-r--r-- root/root");
        let err = check_entries(&parse_contents(&readable).expect("parses")).expect_err("refused");
        assert!(err.contains("ikehub.toml has mode -rw-r--r--"), "{err}");

        let owned = LISTING.replace("-rwxr-xr-x root/root", "-rwxr-xr-x build/build");
        assert!(check_entries(&parse_contents(&owned).expect("parses")).is_err());

        let missing = LISTING.replace("./usr/bin/ikehub\n", "./usr/bin/other\n");
        assert!(check_entries(&parse_contents(&missing).expect("parses")).is_err());
    }
}
