//! netdevsim in the guest: the kernel's simulated network device, which takes ESP
//! SAs in crypto offload (and counts the packets it "sends" with them), so the
//! offload tests run without offload hardware.
//!
//! Debian does not ship it (CONFIG_NETDEVSIM is off), so it is built out of tree
//! from the guest kernel's own source, headers and kbuild packages (downloaded,
//! never installed; same version as the kernel image), stripped, and cached per
//! kernel. A test asks for it with `# guest-payload: netdevsim`; it then gets a
//! cpio layer with the module, the modules it depends on, and
//! /etc/ikehub-vm/netdevsim.load (insmod lines in dependency order).
use super::initramfs::{copy_file, fresh_dir, write_cpio};
use super::kernel::Kernel;
use crate::apt::{deb_file_name, Apt};
use crate::process::{capture, describe, output};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The payload name on a test's `# guest-payload:` line.
pub const PAYLOAD: &str = "netdevsim";

/// Bump when the layer's layout changes in a way its inputs don't show.
const LAYOUT_VERSION: &str = "1";

/// Host tools the build needs (gcc must match the kernel's: Debian 12 builds with gcc-12).
const BUILD_PACKAGES: [&str; 3] = ["gcc", "make", "binutils"];

/// Whether any of `tests` asks for netdevsim.
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

/// The packages a module build for `kernel` needs: (package, architecture).
/// E.g. release 6.1.0-56-amd64 -> linux-source-6.1, linux-headers-6.1.0-56-amd64,
/// linux-headers-6.1.0-56-common, linux-kbuild-6.1.
fn build_packages(release: &str) -> Result<Vec<(String, &'static str)>, String> {
    let (abi, _flavour) = release
        .rsplit_once('-')
        .ok_or_else(|| format!("unexpected kernel release `{release}`"))?;
    let series = series(release)?;
    Ok(vec![
        (format!("linux-source-{series}"), "all"),
        (format!("linux-headers-{release}"), "amd64"),
        (format!("linux-headers-{abi}-common"), "all"),
        (format!("linux-kbuild-{series}"), "amd64"),
    ])
}

/// "6.1" from "6.1.0-56-amd64".
fn series(release: &str) -> Result<String, String> {
    let mut parts = release.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) if !major.is_empty() && !minor.is_empty() => {
            Ok(format!("{major}.{minor}"))
        }
        _ => Err(format!("unexpected kernel release `{release}`")),
    }
}

/// The cached layer for `kernel`, building the module first when needed.
pub fn layer(lab: &Path, apt: &mut Apt, kernel: &Kernel) -> Result<PathBuf, String> {
    let dir = lab
        .join("netdevsim")
        .join(format!("{}_{}", kernel.package, kernel.package_version));
    let cpio = dir.join(format!("netdevsim-{LAYOUT_VERSION}.cpio"));
    if cpio.is_file() {
        println!("xtask: netdevsim layer up to date ({})", cpio.display());
        return Ok(cpio);
    }
    let started = std::time::Instant::now();
    let module = build(apt, lab, kernel, &dir)?;
    let root = dir.join("root");
    fresh_dir(&root)?;
    let modules_dir = PathBuf::from(format!("lib/modules/{}", kernel.release));
    let mut load = Vec::new();
    for dependency in dependencies(&module)? {
        for file in resolve(kernel, &dependency)? {
            let relative = file.strip_prefix(&kernel.root).map_err(|_| {
                format!(
                    "modprobe resolved {} outside {}",
                    file.display(),
                    kernel.root.display()
                )
            })?;
            let name = relative.to_string_lossy().to_string();
            let plain = name
                .strip_suffix(".xz")
                .or_else(|| name.strip_suffix(".zst"))
                .unwrap_or(&name)
                .to_string();
            let target = root.join(&plain);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            if name.ends_with(".xz") {
                decompress("xz", &file, &target)?;
            } else if name.ends_with(".zst") {
                decompress("zstd", &file, &target)?;
            } else {
                copy_file(&file, &target, 0o644)?;
            }
            let line = format!("insmod /{plain}");
            if !load.contains(&line) {
                load.push(line);
            }
        }
    }
    let guest_module = modules_dir.join("extra/netdevsim.ko");
    copy_file(&module, &root.join(&guest_module), 0o644)?;
    load.push(format!("insmod /{}", guest_module.display()));
    let etc = root.join("etc/ikehub-vm");
    std::fs::create_dir_all(&etc).map_err(|e| format!("cannot create {}: {e}", etc.display()))?;
    std::fs::write(etc.join("netdevsim.load"), format!("{}\n", load.join("\n")))
        .map_err(|e| format!("cannot write netdevsim.load: {e}"))?;
    let partial = dir.join("layer.cpio.partial");
    write_cpio(&root, &partial)?;
    std::fs::rename(&partial, &cpio)
        .map_err(|e| format!("cannot move {} into place: {e}", partial.display()))?;
    println!(
        "xtask: netdevsim layer ready in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        cpio.display()
    );
    Ok(cpio)
}

/// Downloads the source, headers and kbuild packages, builds netdevsim.ko against
/// them and strips its debug info. Returns the module.
fn build(apt: &mut Apt, lab: &Path, kernel: &Kernel, dir: &Path) -> Result<PathBuf, String> {
    let module = dir.join("netdevsim.ko");
    if module.is_file() {
        return Ok(module);
    }
    apt.ensure_installed(&BUILD_PACKAGES)?;
    let debs = lab.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| format!("cannot create {}: {e}", debs.display()))?;
    let tree = dir.join("tree");
    fresh_dir(&tree)?;
    for (package, arch) in build_packages(&kernel.release)? {
        let deb = debs.join(deb_file_name(&package, &kernel.package_version, arch));
        if !deb.is_file() {
            apt.download(&package, &kernel.package_version, &debs)?;
        }
        if !deb.is_file() {
            return Err(format!(
                "apt-get download did not produce {}",
                deb.display()
            ));
        }
        output(Command::new("dpkg").arg("-x").arg(&deb).arg(&tree))?;
    }
    let series = series(&kernel.release)?;
    let abi = kernel
        .release
        .rsplit_once('-')
        .map(|(abi, _)| abi.to_string())
        .unwrap_or_default();
    let src = tree.join("usr/src");
    let tarball = src.join(format!("linux-source-{series}.tar.xz"));
    let member = format!("linux-source-{series}/drivers/net/netdevsim");
    output(
        Command::new("tar")
            .arg("-C")
            .arg(&src)
            .arg("-xJf")
            .arg(&tarball)
            .arg(&member),
    )?;
    // The flavour's Makefile includes the common headers by their installed path.
    let headers = src.join(format!("linux-headers-{}", kernel.release));
    let common = src.join(format!("linux-headers-{abi}-common"));
    let makefile = headers.join("Makefile");
    let text = std::fs::read_to_string(&makefile)
        .map_err(|e| format!("cannot read {}: {e}", makefile.display()))?;
    let installed = format!("/usr/src/linux-headers-{abi}-common");
    std::fs::write(
        &makefile,
        text.replace(&installed, &common.to_string_lossy()),
    )
    .map_err(|e| format!("cannot write {}: {e}", makefile.display()))?;
    // scripts/ and tools/ of the headers point at the kbuild package by absolute path.
    for link in ["scripts", "tools"] {
        let path = headers.join(link);
        if let Ok(target) = std::fs::read_link(&path) {
            if target.is_absolute() {
                let inside = tree.join(target.strip_prefix("/").unwrap_or(&target));
                std::fs::remove_file(&path)
                    .map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
                std::os::unix::fs::symlink(&inside, &path)
                    .map_err(|e| format!("cannot link {}: {e}", path.display()))?;
            }
        }
    }
    let source = src.join(&member);
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("xtask: building netdevsim for {}", kernel.release);
    output(
        Command::new("make")
            .arg("-C")
            .arg(&headers)
            .arg(format!("M={}", source.display()))
            .arg("CONFIG_NETDEVSIM=m")
            .arg(format!("-j{jobs}"))
            .arg("modules"),
    )?;
    let built = source.join("netdevsim.ko");
    output(Command::new("strip").arg("--strip-debug").arg(&built))?;
    let partial = dir.join("netdevsim.ko.partial");
    std::fs::copy(&built, &partial).map_err(|e| format!("cannot copy {}: {e}", built.display()))?;
    std::fs::rename(&partial, &module)
        .map_err(|e| format!("cannot move {} into place: {e}", partial.display()))?;
    // The unpacked packages are large and no longer needed.
    let _ = std::fs::remove_dir_all(&tree);
    Ok(module)
}

/// The modules netdevsim.ko needs loaded first (its `depends` field).
fn dependencies(module: &Path) -> Result<Vec<String>, String> {
    let mut cmd = Command::new("modinfo");
    cmd.args(["-F", "depends"]).arg(module);
    let out = capture(&mut cmd)?;
    if !out.status.success() {
        return Err(format!("`{}` failed", describe(&cmd)));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(',')
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect())
}

/// The module files (in load order) of `name` and what it needs, in the kernel's tree.
fn resolve(kernel: &Kernel, name: &str) -> Result<Vec<PathBuf>, String> {
    let mut cmd = Command::new("modprobe");
    cmd.arg("-d")
        .arg(&kernel.root)
        .args(["-S", &kernel.release, "--show-depends", name]);
    let out = capture(&mut cmd)?;
    if !out.status.success() {
        return Err(format!(
            "netdevsim needs module {name}, which {} lacks: {}",
            kernel.release,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("insmod"), Some(path)) => Some(PathBuf::from(path)),
                _ => None,
            }
        })
        .collect())
}

fn decompress(tool: &str, source: &Path, dest: &Path) -> Result<(), String> {
    let mut cmd = Command::new(tool);
    cmd.args(["-dc", "-q"]).arg(source);
    let out = capture(&mut cmd)?;
    if !out.status.success() {
        return Err(format!("`{}` failed", describe(&cmd)));
    }
    std::fs::write(dest, out.stdout).map_err(|e| format!("cannot write {}: {e}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packages_of_a_module_build_follow_the_release() {
        let packages = build_packages("6.1.0-56-amd64").expect("a release");
        assert_eq!(
            packages,
            vec![
                ("linux-source-6.1".to_string(), "all"),
                ("linux-headers-6.1.0-56-amd64".to_string(), "amd64"),
                ("linux-headers-6.1.0-56-common".to_string(), "all"),
                ("linux-kbuild-6.1".to_string(), "amd64"),
            ]
        );
        assert_eq!(series("6.12.117+deb12-amd64").as_deref(), Ok("6.12"));
        assert!(series("nonsense").is_err());
    }

    #[test]
    fn tests_ask_with_the_payload_marker() {
        assert!(asks_for_it(
            "#!/bin/bash\n# guest-payload: strongswan netdevsim\n"
        ));
        assert!(!asks_for_it("# guest-payload: strongswan\n# netdevsim\n"));
    }

    #[test]
    fn the_offload_test_asks_for_it() {
        let script = include_str!("../../../tests/vm/offload.sh");
        assert!(asks_for_it(script));
    }
}
