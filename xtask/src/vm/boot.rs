//! Booting the VM: qemu under `timeout`, the guest console streamed to the
//! terminal and saved, the guest's result read through isa-debug-exit.
use crate::process::describe;
use crate::suite::{marker, Marker, Tally};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// How the console is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Every console line, as it comes (CI logs).
    Stream,
    /// Only the test output, markers turned into readable lines (the demo).
    Narrate,
    /// The terminal is the guest's console (`--shell`).
    Interactive,
}

/// How a run ended, from qemu's exit status.
#[derive(Debug, PartialEq, Eq)]
pub enum GuestExit {
    /// /init wrote this exit code to isa-debug-exit.
    Reported(i32),
    /// `timeout` killed qemu.
    TimedOut,
    /// qemu ended some other way (kernel panic, qemu error): its status.
    Unreported(Option<i32>),
}

/// Decodes qemu's exit status: isa-debug-exit makes qemu exit with
/// `(value << 1) | 1`; `timeout` exits 124 when it stopped qemu and 125-127
/// when it could not run it (guest values 62 and 63 are thus not usable);
/// anything even is not from the guest.
pub fn decode_exit(status: Option<i32>) -> GuestExit {
    match status {
        Some(124) => GuestExit::TimedOut,
        Some(code @ 125..=127) => GuestExit::Unreported(Some(code)),
        Some(code) if code & 1 == 1 => GuestExit::Reported(code >> 1),
        other => GuestExit::Unreported(other),
    }
}

/// Kernel arguments: serial console, no reboot on panic, and skipping work
/// that costs seconds under TCG (crypto self-tests, mitigations, KASLR, audit).
const KERNEL_ARGS: &str = "console=ttyS0 panic=-1 quiet loglevel=4 cryptomgr.notests \
                           mitigations=off nokaslr audit=0 apparmor=0";

const QEMU: &str = "/usr/bin/qemu-system-x86_64";
/// A minimal firmware that jumps straight to the PVH entry point.
const QBOOT: &str = "/usr/share/qemu/qboot.rom";

pub struct Boot<'a> {
    pub vmlinux: &'a Path,
    pub initrd: &'a Path,
    pub console_log: &'a Path,
    pub timeout_secs: u64,
    pub console: Console,
}

fn qemu_command(boot: &Boot) -> Command {
    let mut cmd = Command::new("timeout");
    if boot.console == Console::Interactive {
        // qemu must stay in the terminal's foreground process group to read it
        cmd.arg("--foreground");
    }
    cmd.arg(boot.timeout_secs.to_string());
    cmd.arg(QEMU);
    // /dev/kvm, where present here, cannot run a stock kernel: TCG, multi-threaded
    cmd.args([
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "1024",
    ]);
    // qboot + the uncompressed vmlinux through its PVH entry point boots in
    // ~1.6 s; SeaBIOS + bzImage took 4.5-9 s, and microvm hung
    cmd.args(["-machine", "pc", "-bios", QBOOT]);
    cmd.args(["-nodefaults", "-no-user-config", "-display", "none"]);
    cmd.args(["-serial", "stdio", "-no-reboot"]);
    cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
    cmd.arg("-kernel").arg(boot.vmlinux);
    cmd.arg("-initrd").arg(boot.initrd);
    cmd.args(["-append", KERNEL_ARGS]);
    cmd
}

/// Boots the VM and waits for it; test lines are counted into `tally`.
pub fn boot(boot: &Boot, tally: &mut Tally) -> Result<GuestExit, String> {
    for needed in [QEMU, QBOOT] {
        if !Path::new(needed).is_file() {
            return Err(format!("{needed} is missing (package qemu-system-x86)"));
        }
    }
    let mut cmd = qemu_command(boot);
    println!("xtask: booting: {}", describe(&cmd));
    if boot.console == Console::Interactive {
        let status = cmd
            .status()
            .map_err(|e| format!("cannot start `{}`: {e}", describe(&cmd)))?;
        return Ok(decode_exit(status.code()));
    }

    let mut log = std::fs::File::create(boot.console_log)
        .map_err(|e| format!("cannot create {}: {e}", boot.console_log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(&cmd)))?;
    let stderr = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });

    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| format!("no stdout from `{}`", describe(&cmd)))?;
    let mut narrator = Narrator::default();
    let mut reader = BufReader::new(stdout);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        let read = reader
            .read_until(b'\n', &mut raw)
            .map_err(|e| format!("reading the console: {e}"))?;
        if read == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&raw);
        let line = text.trim_end_matches(['\r', '\n']);
        let _ = writeln!(log, "{line}");
        tally.observe(line);
        match boot.console {
            Console::Stream => println!("{line}"),
            Console::Narrate => narrator.show(line),
            Console::Interactive => {}
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for `{}`: {e}", describe(&cmd)))?;
    let qemu_errors = stderr_reader.join().unwrap_or_default();
    if !qemu_errors.trim().is_empty() {
        let _ = writeln!(log, "qemu stderr:\n{qemu_errors}");
        eprintln!("qemu stderr:\n{}", qemu_errors.trim_end());
    }
    Ok(decode_exit(status.code()))
}

/// Turns the console into a readable story: the boot noise is hidden, each
/// test gets a heading, checks become `ok`/`FAIL` lines.
#[derive(Default)]
struct Narrator {
    started: bool,
}

impl Narrator {
    fn show(&mut self, line: &str) {
        match marker(line) {
            Marker::Other(tagged) if tagged.starts_with("INIT") => {
                self.started = true;
                println!("guest kernel up ({tagged})");
            }
            Marker::TestStart(name) => println!("\n### {name}"),
            Marker::Pass(what) => println!("  ok    {what}"),
            Marker::Fail(what) => println!("  FAIL  {what}"),
            Marker::TestEnd(_) | Marker::Other(_) => {}
            Marker::Text if self.started => println!("{line}"),
            Marker::Text => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_decoding() {
        assert_eq!(decode_exit(Some(1)), GuestExit::Reported(0));
        assert_eq!(decode_exit(Some(3)), GuestExit::Reported(1));
        assert_eq!(decode_exit(Some(124)), GuestExit::TimedOut);
        assert_eq!(decode_exit(Some(127)), GuestExit::Unreported(Some(127)));
        assert_eq!(decode_exit(Some(0)), GuestExit::Unreported(Some(0)));
        assert_eq!(decode_exit(None), GuestExit::Unreported(None));
    }

    #[test]
    fn qemu_runs_under_timeout_with_the_fast_flags() {
        let boot = Boot {
            vmlinux: Path::new("/k/vmlinux"),
            initrd: Path::new("/k/initrd"),
            console_log: Path::new("/k/log"),
            timeout_secs: 60,
            console: Console::Stream,
        };
        let line = describe(&qemu_command(&boot));
        assert!(
            line.starts_with("timeout 60 /usr/bin/qemu-system-x86_64 "),
            "{line}"
        );
        for flag in [
            "qboot.rom",
            "isa-debug-exit",
            "tcg,thread=multi",
            "-kernel /k/vmlinux",
        ] {
            assert!(line.contains(flag), "{flag} missing from {line}");
        }
    }
}
