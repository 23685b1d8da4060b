//! The VM's initramfs, in two uncompressed cpio archives that the kernel unpacks
//! one after the other:
//! - the base image (busybox, bash, iproute2, nft, kernel modules, /init),
//!   cached and rebuilt only when its inputs change;
//! - the run image (the ikehub binary under test, the test scripts, what to
//!   run), rebuilt on every run.
//!
//! Uncompressed because unpacking gzip under TCG costs more than reading 15 MB.
use super::kernel::Kernel;
use crate::fingerprint::Fingerprint;
use crate::process::{capture, describe, output};
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Bump when the layout of the base image changes in a way the inputs don't show.
const BASE_LAYOUT_VERSION: &str = "1";

/// Host programs copied into the guest with their shared libraries.
/// (path on the host, directory in the guest, required)
const GUEST_PROGRAMS: [(&str, &str, bool); 3] = [
    // busybox-static's ash runs its own `ip` applet even when iproute2's comes
    // first in PATH: the tests run under bash, with iproute2's ip
    ("/bin/bash", "/bin", true),
    ("/usr/sbin/ip", "/sbin", true),
    ("/usr/sbin/nft", "/usr/sbin", false),
];

/// Host files copied as they are (iproute2 resolves protocol names with them).
const GUEST_FILES: [&str; 2] = ["/etc/protocols", "/etc/services"];

const BUSYBOX: &str = "/bin/busybox";

/// A module the initramfs should hold; optional ones may be absent.
#[derive(Debug, PartialEq, Eq)]
pub struct ModuleWish {
    pub name: String,
    pub optional: bool,
}

/// Parses xtask/guest/modules: names, `#` comments, a trailing `?` for optional.
pub fn parse_module_list(text: &str) -> Vec<ModuleWish> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| match line.strip_suffix('?') {
            Some(name) => ModuleWish {
                name: name.trim().to_string(),
                optional: true,
            },
            None => ModuleWish {
                name: line.to_string(),
                optional: false,
            },
        })
        .collect()
}

/// The module wishes: the list file plus IKEHUB_VM_MODULES (space separated).
fn module_wishes(guest_dir: &Path) -> Result<(Vec<ModuleWish>, String), String> {
    let path = guest_dir.join("modules");
    let text = read_text(&path)?;
    let mut wishes = parse_module_list(&text);
    let extra = std::env::var("IKEHUB_VM_MODULES").unwrap_or_default();
    wishes.extend(parse_module_list(
        &extra.split_whitespace().collect::<Vec<_>>().join("\n"),
    ));
    Ok((wishes, format!("{text}\n{extra}")))
}

/// The base image for `kernel`, rebuilt only when its inputs changed.
pub fn base(lab: &Path, kernel: &Kernel, guest_dir: &Path) -> Result<PathBuf, String> {
    let dir = lab.join("initramfs").join(&kernel.release);
    let cpio = dir.join("base.cpio");
    let stamp_path = dir.join("base.stamp");
    let (wishes, wish_text) = module_wishes(guest_dir)?;
    let init = std::fs::read(guest_dir.join("init"))
        .map_err(|e| format!("cannot read {}: {e}", guest_dir.join("init").display()))?;

    let mut inputs = Fingerprint::default();
    inputs
        .add(BASE_LAYOUT_VERSION.as_bytes())
        .add(kernel.package.as_bytes())
        .add(kernel.package_version.as_bytes())
        .add(wish_text.as_bytes())
        .add(&init);
    for host_file in GUEST_PROGRAMS
        .iter()
        .map(|(path, _, _)| *path)
        .chain(GUEST_FILES)
        .chain([BUSYBOX])
    {
        inputs.add(file_identity(Path::new(host_file)).as_bytes());
    }
    let stamp = format!(
        "kernel {} {}\ninputs {}\n",
        kernel.package,
        kernel.package_version,
        inputs.hex()
    );
    if cpio.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        println!("xtask: base initramfs up to date ({})", cpio.display());
        return Ok(cpio);
    }

    println!("xtask: building base initramfs for {}", kernel.release);
    let root = dir.join("root");
    fresh_dir(&root)?;
    let _ = std::fs::remove_file(&stamp_path);
    for sub in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "usr/local/bin",
        "proc",
        "sys",
        "dev",
        "run",
        "tmp",
        "etc/ikehub-vm",
        "var",
        "root",
        "tests",
    ] {
        mkdir(&root.join(sub))?;
    }
    link("/run", &root.join("var/run"))?;

    install_busybox(&root)?;
    for (program, guest_dir, required) in GUEST_PROGRAMS {
        if Path::new(program).is_file() {
            copy_elf(Path::new(program), guest_dir, &root)?;
        } else if required {
            return Err(format!("{program} is missing on the host"));
        } else {
            println!("xtask: warning: {program} not found on the host; the guest has none");
        }
    }
    // glibc dlopens libgcc_s for pthread_cancel: ldd does not list it
    let libgcc = Path::new("/lib/x86_64-linux-gnu/libgcc_s.so.1");
    if libgcc.is_file() {
        copy_file(
            libgcc,
            &root.join("lib/x86_64-linux-gnu/libgcc_s.so.1"),
            0o644,
        )?;
    }
    for file in GUEST_FILES {
        let path = Path::new(file);
        if path.is_file() {
            copy_file(path, &root.join(file.trim_start_matches('/')), 0o644)?;
        }
    }
    let loaded = install_modules(kernel, &wishes, &root)?;
    write(
        &root.join("etc/ikehub-vm/modules"),
        &format!("{}\n", loaded.join("\n")),
    )?;
    copy_file(&guest_dir.join("init"), &root.join("init"), 0o755)?;

    write_cpio(&root, &cpio)?;
    write(&stamp_path, &stamp)?;
    let size = std::fs::metadata(&cpio).map(|m| m.len()).unwrap_or(0);
    println!(
        "xtask: base initramfs {} ({} MB, {} modules loaded at boot)",
        cpio.display(),
        size / 1_000_000,
        loaded.len()
    );
    Ok(cpio)
}

/// What the run image holds.
pub struct RunContent<'a> {
    /// (host binary, guest directory)
    pub binaries: &'a [(PathBuf, &'a str)],
    /// tests/vm, copied to /tests
    pub tests_dir: &'a Path,
    /// More directories: (host directory, guest directory)
    pub trees: &'a [(PathBuf, &'a str)],
    /// Test names for /init to run (ignored with `shell`).
    pub tests: &'a [String],
    pub shell: bool,
}

/// Builds the run image and returns base + run concatenated: the initrd to boot.
/// `layers` are the cached images (base first, then peers) to put before it.
pub fn with_run_image(
    lab: &Path,
    layers: &[PathBuf],
    content: &RunContent,
) -> Result<PathBuf, String> {
    let dir = lab.join("run");
    let root = dir.join("root");
    fresh_dir(&root)?;
    for (binary, guest_dir) in content.binaries {
        copy_elf(binary, guest_dir, &root)?;
    }
    copy_tree(content.tests_dir, &root.join("tests"))?;
    for (host, guest) in content.trees {
        copy_tree(host, &root.join(guest.trim_start_matches('/')))?;
    }
    // The shipped example configurations, so scenarios run them as users would.
    let examples = content
        .tests_dir
        .parent()
        .and_then(Path::parent)
        .map(|workspace| workspace.join("examples"));
    if let Some(examples) = examples.filter(|e| e.is_dir()) {
        copy_tree(&examples, &root.join("examples"))?;
    }
    mkdir(&root.join("etc/ikehub-vm"))?;
    write(
        &root.join("etc/ikehub-vm/tests"),
        &format!("{}\n", content.tests.join("\n")),
    )?;
    if content.shell {
        write(&root.join("etc/ikehub-vm/shell"), "")?;
    }
    write(&root.join("etc/ikehub-vm/env"), &guest_environment())?;
    let run_cpio = dir.join("run.cpio");
    write_cpio(&root, &run_cpio)?;

    let initrd = dir.join("initrd.cpio");
    let mut joined = Vec::new();
    for layer in layers {
        joined.extend(
            std::fs::read(layer).map_err(|e| format!("cannot read {}: {e}", layer.display()))?,
        );
    }
    joined.extend(
        std::fs::read(&run_cpio).map_err(|e| format!("cannot read {}: {e}", run_cpio.display()))?,
    );
    std::fs::write(&initrd, joined)
        .map_err(|e| format!("cannot write {}: {e}", initrd.display()))?;
    Ok(initrd)
}

/// Host settings that reach the guest: sourced by /init before the tests.
const GUEST_SETTINGS: [&str; 8] = [
    "IKEHUB_TEST_TIMEOUT",
    "IKEHUB_VERBOSE",
    // the rounds of tests/vm/hub-scale.sh (spokes per round, comma separated)
    "IKEHUB_SPOKES",
    // sizes and runs of tests/vm/bench/kernel-programming.sh
    "IKEHUB_BENCH_PAIRS",
    "IKEHUB_BENCH_RUNS",
    // sizes and groups of tests/vm/bench/handshakes.sh
    "IKEHUB_BENCH_TUNNELS",
    "IKEHUB_BENCH_IN_FLIGHT",
    "IKEHUB_BENCH_GROUPS",
];

/// `export NAME=VALUE` lines for the settings set on the host. Values are
/// limited to plain words so the file is safe to source.
fn guest_environment() -> String {
    GUEST_SETTINGS
        .iter()
        .filter_map(|name| {
            let value = std::env::var(name).ok()?;
            let plain = value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-,".contains(c));
            if plain {
                Some(format!("export {name}={value}\n"))
            } else {
                println!("xtask: warning: ignoring {name}={value:?} (plain words only)");
                None
            }
        })
        .collect()
}

/// busybox-static and its applets, except `ip` (iproute2's is needed for xfrm).
fn install_busybox(root: &Path) -> Result<(), String> {
    copy_file(Path::new(BUSYBOX), &root.join("bin/busybox"), 0o755)?;
    let applets = output(Command::new(BUSYBOX).arg("--list"))?;
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet == "ip" || applet.contains('/') {
            continue;
        }
        link("busybox", &root.join("bin").join(applet))?;
    }
    link("../bin/busybox", &root.join("sbin/modprobe"))
}

/// Copies the wanted modules and their dependencies (resolved with the host's
/// kmod against the guest kernel's tree), uncompressed, then runs depmod.
/// Returns the names /init should load.
fn install_modules(
    kernel: &Kernel,
    wishes: &[ModuleWish],
    root: &Path,
) -> Result<Vec<String>, String> {
    let modules_dir = format!("lib/modules/{}", kernel.release);
    let mut files = Vec::new();
    let mut loaded = Vec::new();
    for wish in wishes {
        let mut cmd = Command::new("modprobe");
        cmd.arg("-d")
            .arg(&kernel.root)
            .args(["-S", &kernel.release, "--show-depends", &wish.name]);
        let out = capture(&mut cmd)?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr);
            if !wish.optional {
                return Err(format!(
                    "required module {} (not marked optional with `?`) is not in {}: {}",
                    wish.name,
                    kernel.release,
                    why.trim()
                ));
            }
            println!(
                "xtask: warning: optional module {} is not in {}: {}",
                wish.name,
                kernel.release,
                why.trim()
            );
            continue;
        }
        let mut builtin = false;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("insmod"), Some(path)) => files.push(PathBuf::from(path)),
                (Some("builtin"), _) => builtin = true,
                _ => {}
            }
        }
        if !builtin {
            loaded.push(wish.name.clone());
        }
    }
    files.sort();
    files.dedup();
    for file in &files {
        let relative = file.strip_prefix(&kernel.root).map_err(|_| {
            format!(
                "modprobe resolved {} outside {}",
                file.display(),
                kernel.root.display()
            )
        })?;
        let name = relative.to_string_lossy();
        // stored uncompressed: busybox modprobe, and no in-guest decompression
        if let Some(plain) = name.strip_suffix(".xz") {
            decompress_to("xz", file, &root.join(plain))?;
        } else if let Some(plain) = name.strip_suffix(".zst") {
            decompress_to("zstd", file, &root.join(plain))?;
        } else {
            copy_file(file, &root.join(relative), 0o644)?;
        }
    }
    for index in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        let source = kernel.root.join(&modules_dir).join(index);
        if source.is_file() {
            copy_file(&source, &root.join(&modules_dir).join(index), 0o644)?;
        }
    }
    output(
        Command::new("depmod")
            .arg("-b")
            .arg(root)
            .arg(&kernel.release),
    )?;
    Ok(loaded)
}

fn decompress_to(tool: &str, source: &Path, dest: &Path) -> Result<(), String> {
    if let Some(parent) = dest.parent() {
        mkdir(parent)?;
    }
    let mut cmd = Command::new(tool);
    cmd.arg("-dc").arg(source);
    let out = capture(&mut cmd)?;
    if !out.status.success() {
        return Err(crate::process::failure(&cmd, &out));
    }
    std::fs::write(dest, out.stdout).map_err(|e| format!("cannot write {}: {e}", dest.display()))
}

/// Copies an ELF program into `guest_dir` and its shared libraries (as `ldd`
/// resolves them) into /lib/x86_64-linux-gnu, the loader into /lib64.
pub fn copy_elf(program: &Path, guest_dir: &str, root: &Path) -> Result<(), String> {
    let name = program
        .file_name()
        .ok_or_else(|| format!("{} has no file name", program.display()))?;
    let guest_dir = root.join(guest_dir.trim_start_matches('/'));
    copy_file(program, &guest_dir.join(name), 0o755)?;
    let mut ldd = Command::new("ldd");
    ldd.arg(program);
    let out = capture(&mut ldd)?;
    let listing = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if listing.contains("not a dynamic executable")
            || String::from_utf8_lossy(&out.stderr).contains("not a dynamic executable")
        {
            return Ok(()); // static: nothing more to copy
        }
        return Err(crate::process::failure(&ldd, &out));
    }
    for library in shared_libraries(&listing) {
        let file_name = library
            .file_name()
            .ok_or_else(|| format!("`{}` listed {}", describe(&ldd), library.display()))?;
        let dest = if file_name.to_string_lossy().starts_with("ld-linux") {
            root.join("lib64").join(file_name)
        } else {
            root.join("lib/x86_64-linux-gnu").join(file_name)
        };
        copy_file(&library, &dest, 0o755)?;
    }
    Ok(())
}

/// The library paths in `ldd` output: `name => /path (addr)` and the loader's
/// `/lib64/ld-linux-x86-64.so.2 (addr)`.
pub fn shared_libraries(ldd_output: &str) -> Vec<PathBuf> {
    ldd_output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, resolved)) => resolved.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Writes `root` as a newc cpio archive (busybox cpio), parents before children.
pub(super) fn write_cpio(root: &Path, archive: &Path) -> Result<(), String> {
    let mut entries = vec![".".to_string()];
    list_tree(root, Path::new("."), &mut entries)?;
    let file = std::fs::File::create(archive)
        .map_err(|e| format!("cannot create {}: {e}", archive.display()))?;
    let mut cmd = Command::new(BUSYBOX);
    cmd.args(["cpio", "-o", "-H", "newc"])
        .current_dir(root)
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
    let list = entries.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
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
            "could not feed the file list to `{}`",
            describe(&cmd)
        )),
    }
}

fn list_tree(dir: &Path, relative: &Path, entries: &mut Vec<String>) -> Result<(), String> {
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    children.sort_by_key(|entry| entry.file_name());
    for child in children {
        let path = relative.join(child.file_name());
        entries.push(path.to_string_lossy().into_owned());
        let kind = child
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", child.path().display()))?;
        if kind.is_dir() {
            list_tree(&child.path(), &path, entries)?;
        }
    }
    Ok(())
}

/// Copies a directory tree of regular files, keeping the executable bits.
fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    mkdir(to)?;
    for entry in
        std::fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))?
    {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", from.display()))?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            let mode = std::fs::metadata(&path)
                .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
                .permissions()
                .mode();
            copy_file(&path, &dest, mode & 0o777)?;
        }
    }
    Ok(())
}

/// A cheap identity of a host file (size and mtime) for the cache stamp.
pub(super) fn file_identity(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(meta) => {
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{} {} {modified}", path.display(), meta.len())
        }
        Err(_) => format!("{} absent", path.display()),
    }
}

pub(super) fn copy_file(from: &Path, to: &Path, mode: u32) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        mkdir(parent)?;
    }
    std::fs::copy(from, to)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot chmod {}: {e}", to.display()))
}

fn link(target: &str, at: &Path) -> Result<(), String> {
    symlink(target, at).map_err(|e| format!("cannot link {} -> {target}: {e}", at.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn mkdir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

pub(super) fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    mkdir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_list_syntax() {
        let wishes = parse_module_list("# comment\nveth\n\n nf_tables? # later\n");
        assert_eq!(
            wishes,
            vec![
                ModuleWish {
                    name: "veth".into(),
                    optional: false
                },
                ModuleWish {
                    name: "nf_tables".into(),
                    optional: true
                },
            ]
        );
    }

    #[test]
    fn the_shipped_module_list_has_the_esp_essentials() {
        let text = include_str!("../../guest/modules");
        let names: Vec<String> = parse_module_list(text)
            .into_iter()
            .map(|w| w.name)
            .collect();
        for needed in ["esp4", "xfrm_user", "veth", "dummy", "drbg", "sha3_generic"] {
            assert!(names.iter().any(|n| n == needed), "{needed} missing");
        }
    }

    #[test]
    fn ldd_output_parsing() {
        let listing = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                       \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                       \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            shared_libraries(listing),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }
}
