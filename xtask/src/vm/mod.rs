//! Running guest tests in a qemu VM with Debian's stock kernel, which has the
//! ESP and xfrm-interface support a host kernel may lack.
mod boot;
pub mod deb_payload;
mod deps;
mod initramfs;
mod kernel;
mod netdevsim;
pub mod peers;

pub use boot::Console;

use crate::apt::Apt;
use crate::suite::Tally;
use crate::workspace::Workspace;
use boot::{Boot, GuestExit};
use initramfs::RunContent;
use std::path::PathBuf;

/// The kernel package booted unless `--kernel` says otherwise.
pub const DEFAULT_KERNEL_PACKAGE: &str = "linux-image-amd64";

pub struct VmRun<'a> {
    pub kernel_package: &'a str,
    /// Test names relative to tests/vm (e.g. `esp-smoke`, `demo/esp-smoke`).
    pub tests: &'a [String],
    pub console: Console,
    pub ikehub: PathBuf,
    /// Rust test binaries the tests asked for (`# rust-tests:`), installed next to ikehub.
    pub rust_tests: Vec<PathBuf>,
    /// Further programs for the scripts (the benchmarks' load generator), installed next to ikehub.
    pub tools: Vec<PathBuf>,
    /// Host directories copied into the guest as they are: (host, guest path).
    pub trees: Vec<(PathBuf, &'static str)>,
}

/// Prepares everything (cached), boots, and returns the guest's exit code.
/// Failures of the harness itself are recorded in `tally` as failed checks.
pub fn run(ws: &Workspace, apt: &mut Apt, run: &VmRun, tally: &mut Tally) -> Result<i32, String> {
    let started = std::time::Instant::now();
    deps::ensure(apt)?;
    let phase = std::time::Instant::now();
    let lab = ws.kernel_lab();
    let kernel = kernel::prepare(apt, &lab, run.kernel_package)?;
    println!(
        "xtask: kernel ready in {:.1}s",
        phase.elapsed().as_secs_f64()
    );
    let phase = std::time::Instant::now();
    let mut layers = vec![initramfs::base(&lab, &kernel, &ws.guest_dir())?];
    let wanted_peers = peers::wanted(&ws.vm_tests(), run.tests)?;
    if !wanted_peers.is_empty() {
        peers::ensure_host(apt, &wanted_peers)?;
        layers.push(peers::layer(&lab, apt, &wanted_peers)?);
    }
    if netdevsim::wanted(&ws.vm_tests(), run.tests) {
        layers.push(netdevsim::layer(&lab, apt, &kernel)?);
    }
    let binaries: Vec<(PathBuf, &str)> = std::iter::once(&run.ikehub)
        .chain(&run.rust_tests)
        .chain(&run.tools)
        .map(|binary| (binary.clone(), "/usr/local/bin"))
        .collect();
    let initrd = initramfs::with_run_image(
        &lab,
        &layers,
        &RunContent {
            binaries: &binaries,
            tests_dir: &ws.vm_tests(),
            trees: &run.trees,
            tests: run.tests,
            shell: run.console == Console::Interactive,
        },
    )?;
    println!(
        "xtask: initramfs ready in {:.1}s; VM ready after {:.1}s",
        phase.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    let console_log = lab.join("console.log");
    let timeout_secs = match run.console {
        Console::Interactive => 24 * 3600,
        _ => timeout_from_env()?,
    };
    let boot_started = std::time::Instant::now();
    let exit = boot::boot(
        &Boot {
            vmlinux: &kernel.vmlinux,
            initrd: &initrd,
            console_log: &console_log,
            timeout_secs,
            console: run.console,
        },
        tally,
    )?;
    let elapsed = boot_started.elapsed().as_secs_f64();
    if run.console == Console::Interactive {
        // a console session ends with poweroff (qemu exits 0) or with the
        // shell's status reported by /init
        return Ok(match exit {
            GuestExit::Reported(code) => code,
            GuestExit::TimedOut => 124,
            GuestExit::Unreported(status) => status.unwrap_or(1),
        });
    }
    println!(
        "xtask: VM ran {elapsed:.1}s; console saved to {}",
        console_log.display()
    );
    Ok(match exit {
        GuestExit::Reported(code) => code,
        GuestExit::TimedOut => {
            tally.harness_failure(format!("vm: timed out after {timeout_secs}s"));
            124
        }
        GuestExit::Unreported(status) => {
            let status = status.map_or("a signal".to_string(), |c| format!("status {c}"));
            tally.harness_failure(format!(
                "vm: qemu ended with {status} before the guest reported a result \
                 (kernel panic or qemu error: see the console above)"
            ));
            1
        }
    })
}

/// IKEHUB_VM_TIMEOUT: seconds for the whole VM run (default 2400: the whole suite takes about 10 minutes under TCG).
fn timeout_from_env() -> Result<u64, String> {
    match std::env::var("IKEHUB_VM_TIMEOUT") {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("IKEHUB_VM_TIMEOUT must be a number of seconds, not `{text}`")),
        Err(_) => Ok(2400),
    }
}
