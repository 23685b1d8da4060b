//! The packages' file trees: where each file of `cargo xtask dist` goes, with which mode,
//! and the DEBIAN/ directory dpkg-deb reads.
use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::control;
use crate::process::{describe, output};

/// The binary, relative to the package root.
pub const BINARY: &str = "usr/bin/ikehub";

/// The configuration, the package's one conffile: dpkg keeps the administrator's edits
/// across upgrades and removes it only on purge.
pub const CONFFILE: &str = "etc/ikehub/ikehub.toml";

/// The directory of the configuration and of the `psk_file`s beside it: 0700, as strongSwan's
/// /etc/swanctl/private, because only root (the daemon, `check-config`) reads what is in it,
/// and the names of key files say which peers exist.
const CONFIG_DIR: (&str, u32) = ("etc/ikehub", 0o700);

const DOC_DIR: &str = "usr/share/doc/ikehub";

/// A file of target/dist in the package: (name in dist, path in the package, mode, gzip it).
/// Manual pages are compressed (policy 12.1); the rest is as dist wrote it.
pub const FROM_DIST: [(&str, &str, u32, bool); 8] = [
    ("ikehub", BINARY, 0o755, false),
    // Debian 12's place for units that packages ship (debhelper's, too)
    (
        "ikehub.service",
        "lib/systemd/system/ikehub.service",
        0o644,
        false,
    ),
    ("ikehub.8", "usr/share/man/man8/ikehub.8.gz", 0o644, true),
    (
        "ikehub.toml.5",
        "usr/share/man/man5/ikehub.toml.5.gz",
        0o644,
        true,
    ),
    (
        "ikehub.bash",
        "usr/share/bash-completion/completions/ikehub",
        0o644,
        false,
    ),
    (
        "_ikehub",
        "usr/share/zsh/vendor-completions/_ikehub",
        0o644,
        false,
    ),
    (
        "ikehub.fish",
        "usr/share/fish/vendor_completions.d/ikehub.fish",
        0o644,
        false,
    ),
    // The site-to-site example (VPC side), whose key is inline: it must be readable by root
    // alone, or ikehub refuses it.
    ("ikehub.toml.example", CONFFILE, 0o600, false),
];

/// What the package's documentation says about its own build.
pub struct Provenance<'a> {
    pub version: &'a str,
    pub maintainer: &'a str,
    /// The changelog entry's date, RFC 5322.
    pub date: &'a str,
    /// The copyright years, e.g. `2025-2026`.
    pub years: &'a str,
}

/// Lays out the main package's files under `root` (a fresh directory).
pub fn stage_package(
    dist: &Path,
    source: &Path,
    root: &Path,
    provenance: &Provenance,
) -> Result<(), String> {
    fresh_dir(root)?;
    for (name, path, mode, compress) in FROM_DIST {
        let to = root.join(path);
        make_parents(root, &to)?;
        let from = dist.join(name);
        if compress {
            gzip(
                &std::fs::read(&from).map_err(|e| format!("{}: {e}", from.display()))?,
                &to,
            )?;
        } else {
            std::fs::copy(&from, &to)
                .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))?;
        }
        set_mode(&to, mode)?;
    }
    set_mode(&root.join(CONFIG_DIR.0), CONFIG_DIR.1)?;

    let doc = root.join(DOC_DIR);
    make_parents(root, &doc.join("copyright"))?;
    write_file(
        &doc.join("copyright"),
        control::copyright_file(provenance.years).as_bytes(),
    )?;
    let changelog = source.join("CHANGELOG.md");
    let upstream =
        std::fs::read(&changelog).map_err(|e| format!("{}: {e}", changelog.display()))?;
    gzip(&upstream, &doc.join("changelog.gz"))?;
    gzip(
        control::debian_changelog(provenance.version, provenance.maintainer, provenance.date)
            .as_bytes(),
        &doc.join("changelog.Debian.gz"),
    )?;
    for file in ["copyright", "changelog.gz", "changelog.Debian.gz"] {
        set_mode(&doc.join(file), 0o644)?;
    }
    let overrides = root.join("usr/share/lintian/overrides/ikehub");
    make_parents(root, &overrides)?;
    write_file(&overrides, control::LINTIAN_OVERRIDES.as_bytes())?;
    set_mode(&overrides, 0o644)
}

/// Lays out the debug package under `root`: dist's ikehub.debug at
/// /usr/lib/debug/.build-id/XX/YYYY.debug, where gdb, perf and debuginfod clients look for the
/// binary's build ID XXYYYY. Returns the build ID.
pub fn stage_debug_package(dist: &Path, root: &Path) -> Result<String, String> {
    fresh_dir(root)?;
    let build_id = build_id(&dist.join("ikehub"))?;
    let (head, tail) = build_id.split_at(2);
    let to = root.join(format!("usr/lib/debug/.build-id/{head}/{tail}.debug"));
    make_parents(root, &to)?;
    let from = dist.join("ikehub.debug");
    std::fs::copy(&from, &to)
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))?;
    set_mode(&to, 0o644)?;
    // Debian's dbgsym packages link their doc directory to the main package's.
    let doc = root.join("usr/share/doc");
    make_parents(root, &doc.join("x"))?;
    std::os::unix::fs::symlink(
        control::PACKAGE,
        doc.join(format!("{}-dbgsym", control::PACKAGE)),
    )
    .map_err(|e| format!("{}: {e}", doc.display()))?;
    Ok(build_id)
}

/// The GNU build ID note of an ELF file, in hex (`readelf -n`).
fn build_id(elf: &Path) -> Result<String, String> {
    let mut readelf = Command::new("readelf");
    readelf.arg("-n").arg(elf);
    let notes = output(&mut readelf)?;
    parse_build_id(&notes).ok_or_else(|| {
        format!(
            "{} has no build ID (`{}`); the linker adds one with --build-id",
            elf.display(),
            describe(&readelf)
        )
    })
}

fn parse_build_id(readelf_notes: &str) -> Option<String> {
    readelf_notes
        .lines()
        .find_map(|line| line.trim().strip_prefix("Build ID:"))
        .map(str::trim)
        .filter(|id| id.len() > 2 && id.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// DEBIAN/: control, md5sums of every file but the conffiles (as dh_md5sums writes it:
/// dpkg tracks conffiles by their own hashes) and, for the main package, conffiles and the
/// maintainer scripts.
pub fn write_debian_dir(root: &Path, control_text: &str, main: bool) -> Result<(), String> {
    let debian = root.join("DEBIAN");
    std::fs::create_dir_all(&debian).map_err(|e| format!("{}: {e}", debian.display()))?;
    set_mode(&debian, 0o755)?;
    let mut files = Vec::new();
    list_files(root, Path::new(""), &mut files)?;
    files.retain(|file| !file.starts_with("DEBIAN") && file != Path::new(CONFFILE));
    files.sort();
    let mut md5sums = String::new();
    if !files.is_empty() {
        let mut md5sum = Command::new("md5sum");
        md5sum.arg("--").args(&files).current_dir(root);
        md5sums = output(&mut md5sum)?;
    }
    let mut debian_files: Vec<(&str, String, u32)> = vec![
        ("control", control_text.to_string(), 0o644),
        ("md5sums", md5sums, 0o644),
    ];
    if main {
        debian_files.push(("conffiles", format!("/{CONFFILE}\n"), 0o644));
        debian_files.push(("postinst", control::POSTINST.to_string(), 0o755));
        debian_files.push(("postrm", control::POSTRM.to_string(), 0o755));
    }
    for (name, text, mode) in debian_files {
        let path = debian.join(name);
        write_file(&path, text.as_bytes())?;
        set_mode(&path, mode)?;
    }
    Ok(())
}

/// Installed-Size: the files' sizes in KiB, each rounded up, as dpkg-gencontrol counts them
/// (DEBIAN/ excluded).
pub fn installed_size_kib(root: &Path) -> Result<u64, String> {
    let mut files = Vec::new();
    list_files(root, Path::new(""), &mut files)?;
    let mut total = 0;
    for file in files.iter().filter(|file| !file.starts_with("DEBIAN")) {
        let path = root.join(file);
        let size = std::fs::symlink_metadata(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        total += size.div_ceil(1024);
    }
    Ok(total.max(1))
}

/// Regular files and symbolic links under `dir`, relative to the root.
fn list_files(dir: &Path, relative: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let base = if relative.as_os_str().is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(relative)
    };
    for entry in std::fs::read_dir(&base).map_err(|e| format!("{}: {e}", base.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", base.display()))?;
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        let path = relative.join(entry.file_name());
        if kind.is_dir() {
            list_files(dir, &path, files)?;
        } else if !kind.is_symlink() {
            files.push(path);
        }
    }
    Ok(())
}

/// `gzip -9n`: best compression, and no name or time stamp in the header, so that the same
/// input gives the same bytes (Debian's reproducible builds ask for that).
fn gzip(bytes: &[u8], to: &Path) -> Result<(), String> {
    use std::io::Write;
    let file = std::fs::File::create(to).map_err(|e| format!("{}: {e}", to.display()))?;
    let mut cmd = Command::new("gzip");
    cmd.args(["-9n", "-c"])
        .stdin(Stdio::piped())
        .stdout(file)
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(&cmd)))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| format!("no stdin for `{}`", describe(&cmd)))?;
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{}` failed: {e}", describe(&cmd)))?;
    let written = writer.join();
    if !out.status.success() {
        return Err(crate::process::failure(&cmd, &out));
    }
    match written {
        Ok(Ok(())) => Ok(()),
        _ => Err(format!(
            "could not feed `{}` for {}",
            describe(&cmd),
            to.display()
        )),
    }
}

/// Creates the directories between `root` and `path`'s parent, each 0755 (whatever the
/// umask), as a package's directories are.
fn make_parents(root: &Path, path: &Path) -> Result<(), String> {
    let parent = path
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", path.display()))?;
    let relative = parent
        .strip_prefix(root)
        .map_err(|_| format!("{} is outside {}", path.display(), root.display()))?;
    let mut dir = root.to_path_buf();
    for part in relative.components() {
        dir.push(part);
        if !dir.is_dir() {
            std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            set_mode(&dir, 0o755)?;
        }
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {mode:o} {}: {e}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    set_mode(dir, 0o755)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids_come_from_the_gnu_note() {
        let notes = "Displaying notes found in: .note.gnu.build-id\n  Owner  Data size \
                     Description\n  GNU  0x00000014 NT_GNU_BUILD_ID (unique build ID bitstring)\n    \
                     Build ID: 3f2a9c00d1e4b5a6978812345678901234567890\n";
        assert_eq!(
            parse_build_id(notes).as_deref(),
            Some("3f2a9c00d1e4b5a6978812345678901234567890")
        );
        assert_eq!(parse_build_id("no notes\n"), None);
    }

    #[test]
    fn the_package_holds_no_load_generator_and_private_configuration() {
        assert!(FROM_DIST
            .iter()
            .all(|(name, path, _, _)| !name.contains("loadgen") && !path.contains("loadgen")));
        let config = FROM_DIST.iter().find(|(_, path, _, _)| *path == CONFFILE);
        assert_eq!(config.map(|(_, _, mode, _)| *mode), Some(0o600));
        assert!(CONFFILE.starts_with(CONFIG_DIR.0));
    }
}
