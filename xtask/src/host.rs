//! Running the guest tests directly on the host, when its kernel has ESP.
use crate::apt::Apt;
use crate::process::{capture, describe, failure};
use crate::suite::Tally;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the host run needs: ip, ping, modprobe, nft.
const HOST_PACKAGES: [&str; 4] = ["iproute2", "iputils-ping", "kmod", "nftables"];

/// Whether the host kernel can run the tests, and why (or why not): it can when
/// it installs an ESP state with AES-GCM, tried in a scratch namespace.
pub fn esp_capable(apt: &mut Apt) -> (bool, String) {
    if let Err(e) = apt.ensure_installed(&["iproute2"]) {
        return (
            false,
            format!("cannot install iproute2 to probe the kernel: {e}"),
        );
    }
    let namespace = format!("ikehub-probe-{}", std::process::id());
    let mut add = Command::new("ip");
    add.args(["netns", "add", &namespace]);
    match capture(&mut add) {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return (
                false,
                format!(
                    "cannot create a namespace to probe: {}",
                    failure(&add, &out)
                ),
            )
        }
        Err(e) => return (false, e),
    }
    let mut state = Command::new("ip");
    state.args(["-n", &namespace, "xfrm", "state", "add"]);
    state.args([
        "src",
        "192.0.2.1",
        "dst",
        "192.0.2.2",
        "proto",
        "esp",
        "spi",
        "0x100",
    ]);
    state.args(["mode", "tunnel", "aead", "rfc4106(gcm(aes))"]);
    state.args(["0x0102030405060708090a0b0c0d0e0f1011121314", "128"]);
    let verdict = match capture(&mut state) {
        Ok(out) if out.status.success() => (
            true,
            "the host kernel installs ESP states (AES-GCM): running on the host".to_string(),
        ),
        Ok(out) => (
            false,
            format!(
                "the host kernel cannot install an ESP state ({}): booting a VM",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ),
        Err(e) => (false, format!("{e}: booting a VM")),
    };
    let mut delete = Command::new("ip");
    delete.args(["netns", "del", &namespace]);
    if let Ok(out) = capture(&mut delete) {
        if !out.status.success() {
            eprintln!("xtask: warning: {}", failure(&delete, &out));
        }
    }
    verdict
}

/// Runs the tests with the same runner the VM uses; ikehub and the Rust test binaries come
/// first in PATH.
pub fn run(
    apt: &mut Apt,
    tests_dir: &Path,
    tests: &[String],
    ikehub: &Path,
    rust_tests: &[PathBuf],
    tally: &mut Tally,
) -> Result<i32, String> {
    apt.ensure_installed(&HOST_PACKAGES)?;
    let bin_dir = ikehub
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", ikehub.display()))?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin_dir.to_path_buf()];
    dirs.extend(
        rust_tests
            .iter()
            .filter_map(|t| t.parent())
            .map(Path::to_path_buf),
    );
    dirs.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs).map_err(|e| format!("cannot build PATH: {e}"))?;

    let mut cmd = Command::new("bash");
    // In the VM the shipped examples are at /examples; here they are in the workspace.
    if let Some(examples) = tests_dir
        .parent()
        .and_then(Path::parent)
        .map(|w| w.join("examples"))
    {
        cmd.env("IKEHUB_EXAMPLES", examples);
    }
    cmd.arg(tests_dir.join("lib/run-tests.sh"))
        .arg(tests_dir)
        .args(tests)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(&cmd)))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| format!("no stdout from `{}`", describe(&cmd)))?;
    let mut reader = BufReader::new(stdout);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let read = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| format!("reading test output: {e}"))?;
        if read == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&raw);
        let line = text.trim_end_matches('\n');
        tally.observe(line);
        println!("{line}");
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{}`: {e}", describe(&cmd)))?;
    Ok(status.code().unwrap_or(1))
}
