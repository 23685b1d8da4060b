//! The guest kernel: Debian's stock image package, downloaded (never installed)
//! and unpacked into the cache, with its modules indexed and its vmlinux
//! decompressed so qemu can boot it through the PVH entry point.
use crate::apt::{deb_file_name, Apt};
use crate::process::{describe, output};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Kernel {
    /// The ABI package, e.g. linux-image-6.1.0-56-amd64.
    pub package: String,
    pub package_version: String,
    /// The module directory name, e.g. 6.1.0-56-amd64.
    pub release: String,
    /// The unpacked package (boot/, lib/modules/).
    pub root: PathBuf,
    /// The uncompressed ELF image.
    pub vmlinux: PathBuf,
}

/// Resolves, downloads and unpacks `requested` (a metapackage or an ABI package).
pub fn prepare(apt: &mut Apt, lab: &Path, requested: &str) -> Result<Kernel, String> {
    let (package, package_version) = apt.kernel_package(requested)?;
    let release = package
        .strip_prefix("linux-image-")
        .map(|r| r.strip_suffix("-unsigned").unwrap_or(r).to_string())
        .ok_or_else(|| format!("`{package}` is not a linux-image package"))?;
    println!("xtask: kernel {package} {package_version} (from {requested})");

    let debs = lab.join("debs");
    mkdir(&debs)?;
    let deb = debs.join(deb_file_name(&package, &package_version, "amd64"));
    if !deb.is_file() {
        apt.download(&package, &package_version, &debs)?;
        if !deb.is_file() {
            return Err(format!(
                "apt-get download did not produce {}",
                deb.display()
            ));
        }
    }

    let dir = lab
        .join("kernels")
        .join(format!("{package}_{package_version}"));
    let kernel = Kernel {
        root: dir.join("root"),
        vmlinux: dir.join("vmlinux"),
        package,
        package_version,
        release,
    };
    let complete = dir.join("complete");
    if !complete.is_file() {
        println!("xtask: unpacking {}", deb.display());
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
        }
        mkdir(&dir)?;
        output(Command::new("dpkg").arg("-x").arg(&deb).arg(&kernel.root))?;
        output(
            Command::new("depmod")
                .arg("-b")
                .arg(&kernel.root)
                .arg(&kernel.release),
        )?;
        extract_vmlinux(
            &kernel
                .root
                .join("boot")
                .join(format!("vmlinuz-{}", kernel.release)),
            &kernel.vmlinux,
        )?;
        std::fs::write(&complete, b"")
            .map_err(|e| format!("cannot write {}: {e}", complete.display()))?;
    }
    Ok(kernel)
}

fn mkdir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Compressed payload formats of a bzImage, by magic: Debian's 6.1 uses xz,
/// 6.12 zstd. (busybox xzcat lacks the BCJ filter; use the real tools.)
const PAYLOADS: [(&[u8], &str); 2] = [(b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd")];

/// Decompresses the kernel payload of a bzImage into an ELF vmlinux, as the
/// kernel's scripts/extract-vmlinux does: booting the ELF (PVH) skips the slow
/// in-guest decompression under TCG.
fn extract_vmlinux(vmlinuz: &Path, vmlinux: &Path) -> Result<(), String> {
    let image =
        std::fs::read(vmlinuz).map_err(|e| format!("cannot read {}: {e}", vmlinuz.display()))?;
    for (magic, tool) in PAYLOADS {
        let Some(offset) = find(&image, magic) else {
            continue;
        };
        let payload = image.get(offset..).unwrap_or_default();
        let elf = decompress(tool, payload)?;
        if elf.starts_with(b"\x7fELF") {
            return std::fs::write(vmlinux, elf)
                .map_err(|e| format!("cannot write {}: {e}", vmlinux.display()));
        }
    }
    Err(format!(
        "no xz or zstd payload holding an ELF kernel in {}",
        vmlinuz.display()
    ))
}

/// Decompresses with `tool -dc`. The payload is followed by other data, which the
/// tool complains about after it has written everything: judge by the output.
fn decompress(tool: &str, payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new(tool);
    cmd.args(["-dc", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(&cmd)))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| format!("no stdin for `{}`", describe(&cmd)))?;
    let payload = payload.to_vec();
    let writer = std::thread::spawn(move || {
        // a write error only means the tool stopped reading (trailing data)
        let _ = stdin.write_all(&payload);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{}` failed: {e}", describe(&cmd)))?;
    let _ = writer.join();
    Ok(out.stdout)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_locates_the_first_magic() {
        assert_eq!(
            find(b"..\xfd7zXZ\x00..\xfd7zXZ\x00", PAYLOADS[0].0),
            Some(2)
        );
        assert_eq!(find(b"no magic", PAYLOADS[1].0), None);
    }

    #[test]
    fn decompress_ignores_trailing_data() {
        if Command::new("xz").arg("--version").output().is_err() {
            return; // xz-utils is installed by the harness before it is needed
        }
        let raw = Command::new("sh")
            .args(["-c", "printf '\\177ELF-kernel' | xz -c; printf 'trailer'"])
            .output()
            .expect("sh runs");
        let elf = decompress("xz", &raw.stdout).expect("xz runs");
        assert_eq!(elf, b"\x7fELF-kernel");
    }
}
