//! `vm-test` and `demo`: build ikehub, pick where to run, run, report.
use crate::apt::Apt;
use crate::process::run;
use crate::suite::{self, Tally, DEMO_DIR};
use crate::vm::{self, Console, VmRun};
use crate::workspace::Workspace;
use std::path::PathBuf;

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub names: Vec<String>,
    pub kernel_package: String,
    pub shell: bool,
    pub force_vm: bool,
    /// Run on the host even when the ESP probe says its kernel cannot.
    pub force_host: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            names: Vec::new(),
            kernel_package: vm::DEFAULT_KERNEL_PACKAGE.to_string(),
            shell: false,
            force_vm: false,
            force_host: false,
        }
    }
}

/// Which scripts: the test suite (tests/vm/*.sh), the demos (tests/vm/demo/*.sh) or the
/// benchmarks (tests/vm/bench/*.sh, run by `cargo xtask bench --vm`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    Tests,
    Demo,
    Bench,
}

/// Scripts under this subdirectory of tests/vm are benchmarks, not suite tests.
pub const BENCH_DIR: &str = "bench";

/// The IKEv2 load generator, put into the guest for benchmark runs only.
const LOADGEN: &str = "ikehub-loadgen";

/// Runs and reports; returns the process exit code and the summary line.
/// Unless in `--shell`, the last line printed is `N passed, N failed`.
pub fn main(ws: &Workspace, options: &Options, suite: Suite) -> (i32, String) {
    let mut tally = Tally::default();
    let code = match execute(ws, options, suite, &mut tally) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            let one_line: Vec<&str> = e.lines().map(str::trim).collect();
            tally.harness_failure(format!("harness: {}", one_line.join(" ")));
            1
        }
    };
    if options.shell {
        return (code, String::new());
    }
    if code != 0 && tally.failed() == 0 {
        tally.harness_failure(format!(
            "tests exited with status {code} without reporting a failed check"
        ));
    }
    tally.print_report();
    let code = match code {
        0 if tally.failed() > 0 => 1,
        code => code,
    };
    (code, tally.summary_line())
}

fn execute(
    ws: &Workspace,
    options: &Options,
    suite: Suite,
    tally: &mut Tally,
) -> Result<i32, String> {
    let tests = if options.shell {
        Vec::new()
    } else {
        choose_tests(ws, options, suite)?
    };
    // Benchmarks also drive the load generator in the guest; the suite never needs it.
    let programs: &[&str] = if suite == Suite::Bench {
        &["ikehub", LOADGEN]
    } else {
        &["ikehub"]
    };
    println!(
        "xtask: building the release binaries: {}",
        programs.join(", ")
    );
    let build_started = std::time::Instant::now();
    let mut build = ws.cargo();
    build.args(["build", "--release"]);
    if programs.contains(&LOADGEN) {
        // Behind a feature so that `cargo install` leaves it out.
        build.args(["--features", "loadgen"]);
    }
    for program in programs {
        build.args(["--bin", program]);
    }
    run(&mut build)?;
    println!(
        "xtask: built in {:.1}s",
        build_started.elapsed().as_secs_f64()
    );
    let ikehub = ws.ikehub_release_binary();
    let tools: Vec<PathBuf> = programs
        .iter()
        .filter(|program| **program != "ikehub")
        .map(|program| ikehub.with_file_name(program))
        .collect();
    for binary in std::iter::once(&ikehub).chain(&tools) {
        if !binary.is_file() {
            return Err(format!("the build left no binary at {}", binary.display()));
        }
    }

    let rust_tests = crate::rust_tests::requested(&ws.vm_tests(), &tests)
        .and_then(|names| crate::rust_tests::prepare(ws, &names))?;

    let mut apt = Apt::default();
    let deb_payload = if vm::deb_payload::wanted(&ws.vm_tests(), &tests) {
        Some(vm::deb_payload::prepare(ws, &mut apt)?)
    } else {
        None
    };
    let on_host = if options.shell {
        println!("xtask: mode: VM (--shell)");
        false
    } else if suite == Suite::Demo {
        println!("xtask: mode: VM (the demo shows Debian's stock kernel datapath)");
        false
    } else if suite == Suite::Bench {
        println!("xtask: mode: VM (benchmarks measure Debian's stock kernel)");
        false
    } else if options.force_vm {
        println!("xtask: mode: VM (--vm)");
        false
    } else if options.force_host {
        let (_, reason) = crate::host::esp_capable(&mut apt);
        println!("xtask: mode: host (--host; probe: {reason})");
        true
    } else {
        let (capable, reason) = crate::host::esp_capable(&mut apt);
        println!(
            "xtask: mode: {} ({reason})",
            if capable { "host" } else { "VM" }
        );
        capable
    };
    if on_host {
        let peers = vm::peers::wanted(&ws.vm_tests(), &tests)?;
        vm::peers::prepare_host(&mut apt, &ws.kernel_lab(), &peers)?;
        if let Some(dir) = &deb_payload {
            // read by tests/vm/deb-install.sh in the test processes
            std::env::set_var("IKEHUB_DEB_DIR", dir);
        }
        return crate::host::run(
            &mut apt,
            &ws.vm_tests(),
            &tests,
            &ikehub,
            &rust_tests,
            tally,
        );
    }
    let mut tools = tools;
    let mut trees = Vec::new();
    if let Some(dir) = deb_payload {
        tools.extend(vm::deb_payload::GUEST_PROGRAMS.iter().map(PathBuf::from));
        trees.push((dir, vm::deb_payload::GUEST_DIR));
    }
    let console = if options.shell {
        Console::Interactive
    } else if suite == Suite::Demo {
        Console::Narrate
    } else {
        Console::Stream
    };
    vm::run(
        ws,
        &mut apt,
        &VmRun {
            kernel_package: &options.kernel_package,
            tests: &tests,
            console,
            ikehub,
            rust_tests,
            tools,
            trees,
        },
        tally,
    )
}

/// Test names relative to tests/vm, as the guest runner takes them.
fn choose_tests(ws: &Workspace, options: &Options, suite: Suite) -> Result<Vec<String>, String> {
    match suite {
        Suite::Tests => suite::select(&suite::discover(&ws.vm_tests())?, &options.names),
        Suite::Demo | Suite::Bench => {
            let dir = if suite == Suite::Demo {
                DEMO_DIR
            } else {
                BENCH_DIR
            };
            let available = suite::discover(&ws.vm_tests().join(dir))?;
            let chosen = suite::select(&available, &options.names)?;
            Ok(chosen
                .into_iter()
                .map(|name| format!("{dir}/{name}"))
                .collect())
        }
    }
}
