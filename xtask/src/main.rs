//! `cargo xtask`: the project's test harness.
//!
//! - `vm-test [--shell] [--vm|--host] [--kernel PKG] [NAME...]`: the guest tests of
//!   tests/vm, on the host when its kernel has ESP, otherwise in a VM.
//! - `test`: the full suite (fmt, clippy, unit tests, vm-test), used by CI.
//! - `demo [--kernel PKG] [NAME...]`: the demo scripts of tests/vm/demo in the VM.
//! - `bench [options]`: ikehub against strongSwan on this host; tables for BENCHMARKS.md.
//! - `fuzz [TARGET...] [--seconds N]`: libFuzzer on the targets of fuzz/ (nightly).
//! - `dist`: the files of an installation in target/dist (README.md, Install).
//! - `deb`: Debian packages of those files in target/debian (README.md, Install).
mod apt;
mod bench;
mod deb;
mod dist;
mod fingerprint;
mod fuzz;
mod host;
mod man_markdown;
mod process;
mod rust_tests;
mod suite;
mod test_suite;
mod vm;
mod vm_test;
mod workspace;

use std::process::ExitCode;

const USAGE_HEAD: &str = "\
usage: cargo xtask <command>

commands:
  test                          the full suite: fmt, clippy, cargo test (with every
                                fuzz target's corpus), vm-test
  vm-test [options] [NAME...]   run tests/vm/NAME.sh (default: all) on the host if
                                its kernel has ESP, otherwise in a qemu VM
      --vm                      always use the VM
      --host                    run on the host even if its kernel failed the ESP probe
      --shell                   boot the VM with a bash console instead of tests
      --kernel PKG              kernel package for the VM (default linux-image-amd64)
  demo [--kernel PKG] [NAME...] run tests/vm/demo/NAME.sh (default: all) in the VM,
                                narrated
  dist                          an installation's files in target/dist: the stripped
                                binary and its debug info, man pages, completions,
                                the systemd unit, an example configuration, LICENSE
  deb                           Debian packages in target/debian: ikehub (dist's files,
                                the configuration as a conffile) and ikehub-dbgsym
";

const USAGE_TAIL: &str = "\
environment:
  IKEHUB_VM_TIMEOUT=SECS        limit for one VM run (default 2400)
  IKEHUB_VM_MODULES=\"m1 m2?\"    more kernel modules for the guest (`?`: optional)
  IKEHUB_TEST_TIMEOUT=SECS      limit for one guest test (default 300)
  IKEHUB_VERBOSE=1              tests print the state they inspect (as the demo does)
";

fn usage() -> String {
    format!("{USAGE_HEAD}{}{}\n{USAGE_TAIL}", fuzz::USAGE, bench::USAGE)
}

/// Parsed command line.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Test,
    VmTest(vm_test::Options),
    Demo(vm_test::Options),
    Bench(bench::Options),
    Fuzz(fuzz::Options),
    Dist,
    Deb,
    Help,
}

fn parse(args: &[String]) -> Result<Command, String> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    match command.as_str() {
        "test" => match rest.first() {
            None => Ok(Command::Test),
            Some(extra) => Err(format!("`test` takes no arguments, got `{extra}`")),
        },
        "vm-test" => parse_options(rest, true).map(Command::VmTest),
        "demo" => parse_options(rest, false).map(Command::Demo),
        "bench" => bench::parse_options(rest).map(Command::Bench),
        "fuzz" => fuzz::parse_options(rest).map(Command::Fuzz),
        "dist" => match rest.first() {
            None => Ok(Command::Dist),
            Some(extra) => Err(format!("`dist` takes no arguments, got `{extra}`")),
        },
        "deb" => match rest.first() {
            None => Ok(Command::Deb),
            Some(extra) => Err(format!("`deb` takes no arguments, got `{extra}`")),
        },
        "help" | "-h" | "--help" => Ok(Command::Help),
        other => Err(format!("unknown command `{other}`")),
    }
}

fn parse_options(args: &[String], vm_test_flags: bool) -> Result<vm_test::Options, String> {
    let mut options = vm_test::Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--kernel" => {
                let package = args.next().ok_or("--kernel needs a package name")?;
                options.kernel_package = package.clone();
            }
            "--shell" if vm_test_flags => options.shell = true,
            "--vm" if vm_test_flags => options.force_vm = true,
            "--host" if vm_test_flags => options.force_host = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option `{flag}`")),
            name => options.names.push(name.to_string()),
        }
    }
    if options.force_vm && options.force_host {
        return Err("--vm and --host exclude each other".to_string());
    }
    if options.shell && options.force_host {
        return Err("--shell boots the VM; it does not go with --host".to_string());
    }
    if options.shell && !options.names.is_empty() {
        return Err("--shell boots a console; it takes no test names".to_string());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Not for users: the bench's scrape client, run in the responder's namespace.
    if let Some((first, rest)) = args.split_first() {
        if first == bench::SCRAPE_COMMAND {
            return ExitCode::from(u8::try_from(bench::scrape_child(rest)).unwrap_or(1));
        }
    }
    let command = match parse(&args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("xtask: {e}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let ws = match workspace::Workspace::locate() {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("xtask: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match command {
        Command::Help => {
            print!("{}", usage());
            0
        }
        Command::Test => test_suite::full_suite(&ws),
        Command::VmTest(options) => vm_test::main(&ws, &options, vm_test::Suite::Tests).0,
        Command::Demo(options) => vm_test::main(&ws, &options, vm_test::Suite::Demo).0,
        Command::Bench(options) => bench::main(&ws, &options),
        Command::Fuzz(options) => fuzz::main(&ws, &options),
        Command::Dist => dist::main(&ws),
        Command::Deb => deb::main(&ws),
    };
    ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn vm_test_options() {
        let Ok(Command::VmTest(options)) = parse(&args(&[
            "vm-test",
            "--kernel",
            "linux-image-6.12-amd64",
            "esp-smoke",
        ])) else {
            panic!("vm-test parses");
        };
        assert_eq!(options.kernel_package, "linux-image-6.12-amd64");
        assert_eq!(options.names, args(&["esp-smoke"]));
        assert!(!options.shell && !options.force_vm);
    }

    #[test]
    fn defaults_and_errors() {
        let Ok(Command::VmTest(options)) = parse(&args(&["vm-test"])) else {
            panic!("vm-test parses");
        };
        assert_eq!(options.kernel_package, vm::DEFAULT_KERNEL_PACKAGE);
        assert!(options.names.is_empty());
        assert!(parse(&args(&["vm-test", "--kernel"])).is_err());
        assert!(parse(&args(&["vm-test", "--shell", "esp-smoke"])).is_err());
        assert!(parse(&args(&["demo", "--shell"])).is_err());
        assert!(parse(&args(&["vm-test", "--vm", "--host"])).is_err());
        assert!(parse(&args(&["test", "extra"])).is_err());
        assert!(parse(&args(&["frobnicate"])).is_err());
        assert_eq!(parse(&[]), Ok(Command::Help));
        assert_eq!(parse(&args(&["test"])), Ok(Command::Test));
        assert_eq!(parse(&args(&["dist"])), Ok(Command::Dist));
        assert!(parse(&args(&["dist", "extra"])).is_err());
        assert_eq!(parse(&args(&["deb"])), Ok(Command::Deb));
        assert!(parse(&args(&["deb", "extra"])).is_err());
    }
}
