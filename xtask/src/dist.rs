//! `cargo xtask dist`: everything an installation needs, in `target/dist/`: the release binary
//! stripped (its debug info split into `ikehub.debug`), the manual pages, the shell
//! completions, the systemd unit, an example configuration and the licence. README.md
//! (Install) says where each file goes.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::man_markdown::{self, Title};
use crate::process::{output, run};
use crate::workspace::Workspace;

/// Files copied from the source tree as they are: (source, name in target/dist).
const COPIED: &[(&str, &str)] = &[
    ("systemd/ikehub.service", "ikehub.service"),
    ("examples/site-to-site.toml", "ikehub.toml.example"),
    ("LICENSE", "LICENSE"),
];

pub fn main(ws: &Workspace) -> i32 {
    match build(ws) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("xtask dist: {e}");
            1
        }
    }
}

/// Writes the files and returns the directory holding them (target/dist).
pub fn build(ws: &Workspace) -> Result<PathBuf, String> {
    let dist = ws.cargo_target_dir().join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    }
    std::fs::create_dir_all(&dist).map_err(|e| format!("{}: {e}", dist.display()))?;

    eprintln!("xtask dist: building ikehub (release)");
    run(ws.cargo().args(["build", "--release", "--bin", "ikehub"]))?;
    split_debug_info(&ws.ikehub_release_binary(), &dist)?;

    let date = page_date(ws)?;
    // The page and completions come from the daemon's own clap grammar, through a program
    // that links the ikehub library (see xtask/Cargo.toml).
    eprintln!("xtask dist: generating ikehub.8 and the shell completions");
    run(ws
        .cargo()
        .args(["run", "--quiet", "--release", "--package", "xtask"])
        .args(["--features", "cli-docs", "--bin", "xtask-cli-docs", "--"])
        .arg(&dist)
        .arg(&date))?;

    let version = ikehub_package(ws)?.version;
    let reference = ws.root.join("docs").join("ikehub.toml.5.md");
    let markdown =
        std::fs::read_to_string(&reference).map_err(|e| format!("{}: {e}", reference.display()))?;
    let title = Title {
        name: "ikehub.toml",
        section: "5",
        date: &date,
        source: &format!("ikehub {version}"),
        manual: "File Formats",
    };
    let page = man_markdown::to_roff(&markdown, &title)
        .map_err(|e| format!("{}: {e}", reference.display()))?;
    write(&dist.join("ikehub.toml.5"), page.as_bytes())?;

    for (source, name) in COPIED {
        let from = ws.root.join(source);
        std::fs::copy(&from, dist.join(name))
            .map_err(|e| format!("copy {} to {}: {e}", from.display(), dist.display()))?;
    }

    check_pages(&dist)?;
    list(&dist)?;
    Ok(dist)
}

/// Copies the binary into `dist`, moves its debug info into `ikehub.debug` beside it and
/// links the two, so that a debugger given the stripped binary finds the info.
fn split_debug_info(binary: &Path, dist: &Path) -> Result<(), String> {
    let stripped = dist.join("ikehub");
    std::fs::copy(binary, &stripped)
        .map_err(|e| format!("copy {} to {}: {e}", binary.display(), dist.display()))?;
    let debug = dist.join("ikehub.debug");
    let tool = |name: &str| {
        let mut cmd = Command::new(name);
        cmd.current_dir(dist);
        cmd
    };
    run(tool("objcopy").args(["--only-keep-debug", "ikehub", "ikehub.debug"]))
        .map_err(|e| format!("{e} (objcopy and strip come with binutils)"))?;
    run(tool("strip").args(["--strip-all", "ikehub"]))?;
    run(tool("objcopy").args(["--add-gnu-debuglink=ikehub.debug", "ikehub"]))?;
    for path in [&stripped, &debug] {
        if !path.is_file() {
            return Err(format!("{} was not written", path.display()));
        }
    }
    Ok(())
}

/// The pages' date: the last commit's, so that the same sources give the same pages; today's
/// outside a git checkout.
pub fn page_date(ws: &Workspace) -> Result<String, String> {
    let committed = output(
        Command::new("git")
            .args(["log", "-1", "--format=%cs"])
            .current_dir(&ws.root),
    );
    let date = match committed {
        Ok(date) if !date.trim().is_empty() => date,
        _ => output(Command::new("date").args(["-u", "+%Y-%m-%d"]))?,
    };
    Ok(date.trim().to_string())
}

/// What `cargo metadata` says about the ikehub package.
pub struct PackageMetadata {
    pub version: String,
    /// `[package.metadata.deb] maintainer`, when Cargo.toml has one.
    pub deb_maintainer: Option<String>,
}

pub fn ikehub_package(ws: &Workspace) -> Result<PackageMetadata, String> {
    let text = output(
        ws.cargo()
            .args(["metadata", "--no-deps", "--format-version", "1"]),
    )?;
    let metadata: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("cargo metadata: {e}"))?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == "ikehub")
        .ok_or("cargo metadata names no ikehub package")?;
    let version = package["version"]
        .as_str()
        .ok_or("cargo metadata gives the ikehub package no version")?
        .to_string();
    let deb_maintainer = package["metadata"]["deb"]["maintainer"]
        .as_str()
        .map(str::to_string);
    Ok(PackageMetadata {
        version,
        deb_maintainer,
    })
}

/// Both pages must format without a warning, when groff is there to say so.
fn check_pages(dist: &Path) -> Result<(), String> {
    for page in ["ikehub.8", "ikehub.toml.5"] {
        let path = dist.join(page);
        let mut groff = Command::new("groff");
        groff.args(["-man", "-ww", "-z"]).arg(&path);
        let out = match crate::process::capture(&mut groff) {
            Ok(out) => out,
            Err(_) => {
                eprintln!("xtask dist: groff not found; {page} not checked");
                continue;
            }
        };
        let warnings = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !warnings.trim().is_empty() {
            return Err(format!("groff warns about {page}:\n{}", warnings.trim()));
        }
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// What was written, with sizes.
fn list(dist: &Path) -> Result<(), String> {
    let mut entries: Vec<(String, u64)> = Vec::new();
    let dir = std::fs::read_dir(dist).map_err(|e| format!("{}: {e}", dist.display()))?;
    for entry in dir {
        let entry = entry.map_err(|e| format!("{}: {e}", dist.display()))?;
        let size = entry
            .metadata()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?
            .len();
        entries.push((entry.file_name().to_string_lossy().into_owned(), size));
    }
    entries.sort();
    println!("{}:", dist.display());
    for (name, size) in entries {
        println!("  {name:<22} {size:>10} bytes");
    }
    println!("README.md (Install) says where each file goes.");
    Ok(())
}
