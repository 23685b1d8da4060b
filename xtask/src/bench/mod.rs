//! `cargo xtask bench`: ikehub against Debian's strongSwan on this machine, in one run, with
//! the same load generator and the same proposal. Prints Markdown tables for BENCHMARKS.md
//! and writes them to `<target>/bench/results.md`. Needs root (network namespaces).
//!
//! Per case (IKEv2 with each of `groups`, then IKEv1 Main Mode + Quick Mode with each of
//! `ikev1_groups`), each of `runs` rounds starts a fresh ikehub responder and then a fresh
//! charon, and for each: sets up `tunnels` tunnels with `in_flight` at once (setups/s,
//! latency p50/p99, responder CPU from /proc/PID/stat), then 50 more one at a time (the
//! latency of a single setup on an idle responder). Then memory: a fresh responder of each
//! kind, VmRSS at 0, 1000 and `memory_tunnels` tunnels, the wall time of listing every SA
//! at that size (`ikehub status --json`, `swanctl --list-sas --raw`) and, for ikehub, of a
//! whole scrape of its metrics endpoint (`GET /metrics`).
mod flood;
mod lab;
mod loadgen;
mod procfs;
mod report;
mod responder;
mod scrape;
mod stats;

pub use scrape::{child_main as scrape_child, COMMAND as SCRAPE_COMMAND};

use std::path::PathBuf;

use crate::apt::Apt;
use crate::process::run;
use crate::workspace::Workspace;
use responder::{Kind, Responder};

/// Parsed `cargo xtask bench` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub runs: usize,
    pub tunnels: u32,
    pub in_flight: u32,
    pub groups: Vec<String>,
    /// IKEv1 cases (Main Mode + Quick Mode), after the IKEv2 ones; empty with `--no-ikev1`.
    pub ikev1_groups: Vec<String>,
    pub memory_tunnels: u32,
    /// Rounds of the memory runs (a fresh daemon of each kind brought to memory_tunnels).
    pub memory_runs: usize,
    pub handshakes: bool,
    pub memory: bool,
    /// Run ikehub's rounds only (`--ikehub-only`): no strongSwan column.
    pub ikehub_only: bool,
    /// Build ikehub and ikehub-loadgen first (`--no-build`: reuse the last run's copies).
    pub build: bool,
    /// Run the benchmarks of tests/vm/bench in the VM instead.
    pub vm: bool,
    /// With `vm`: the scripts to run (file stems under tests/vm/bench; empty: all of them).
    pub vm_scripts: Vec<String>,
    /// Run the half-open flood instead (`--flood`), each round this long.
    pub flood: bool,
    pub flood_seconds: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            runs: 5,
            tunnels: 2000,
            in_flight: 32,
            groups: ["ecp256", "curve25519", "modp2048"]
                .map(String::from)
                .to_vec(),
            ikev1_groups: ["ecp256", "modp2048"].map(String::from).to_vec(),
            memory_tunnels: 10_000,
            memory_runs: 5,
            handshakes: true,
            memory: true,
            ikehub_only: false,
            build: true,
            vm: false,
            vm_scripts: Vec::new(),
            flood: false,
            flood_seconds: 30,
        }
    }
}

pub const USAGE: &str = "\
  bench [options]               ikehub against Debian's strongSwan on this host (root):
                                handshakes, memory, status latency; Markdown tables
      --runs N                  rounds per figure (default 5, at least 5 for the record)
      --tunnels N               tunnels per handshake run (default 2000)
      --in-flight N             setups in progress at once (default 32)
      --groups G,G              IKEv2 cases: ecp256,curve25519,modp2048 (default all
                                three)
      --ikev1-groups G,G        IKEv1 Main Mode + Quick Mode cases, run after the IKEv2
                                ones: ecp256,curve25519,modp2048 (default ecp256,modp2048)
      --no-ikev1                skip the IKEv1 cases
      --memory-tunnels N        largest memory checkpoint (default 10000)
      --memory-runs N           rounds of the memory runs (default 5; charon needs
                                minutes per round to reach 10000 tunnels here)
      --no-handshakes           skip the handshake runs
      --no-memory               skip the memory and status runs
      --ikehub-only             run only ikehub's rounds (no strongSwan figures or
                                ratios): a quick look, not a comparison for the record
      --no-build                reuse the binaries the last bench run built
      --flood                   instead: a half-open flood against ikehub alone (one
                                address sends IKE_SA_INITs of 8000 bytes as fast as it
                                can, answering cookies, while 200 tunnels come up);
                                --runs rounds, peak RSS, tunnels up, drops
      --flood-seconds N         length of each flood round (default 30)
      --vm [NAME...]            instead: the benchmarks of tests/vm/bench in the VM (all,
                                or the scripts named by file stem); IKEHUB_BENCH_RUNS=5 rounds,
                                IKEHUB_TEST_TIMEOUT=SECS each script's limit in the guest
                                (default 300), IKEHUB_VM_TIMEOUT=SECS the whole VM's:
                                kernel-programming  ikehub's batched netlink against
                                                    ip -batch (IKEHUB_BENCH_PAIRS=1000,10000)
                                handshakes          tunnel setups against ikehub and charon
                                                    (kernel-netlink) installing real kernel
                                                    SAs (IKEHUB_BENCH_TUNNELS=500,
                                                    IKEHUB_BENCH_IN_FLIGHT=16; ~4 min,
                                                    needs IKEHUB_TEST_TIMEOUT=1200)
";

fn number<T: std::str::FromStr>(flag: &str, value: Option<&String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not a valid number"))
}

fn groups(flag: &str, value: Option<&String>) -> Result<Vec<String>, String> {
    let list = value.ok_or_else(|| format!("{flag} needs a list"))?;
    let groups: Vec<String> = list.split(',').map(String::from).collect();
    if let Some(bad) = groups
        .iter()
        .find(|g| !["ecp256", "curve25519", "modp2048"].contains(&g.as_str()))
    {
        return Err(format!("unknown group `{bad}`"));
    }
    Ok(groups)
}

/// One handshake measurement: an IKE version and a key exchange group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// 2: IKE_SA_INIT + IKE_AUTH; 1: Main Mode + Quick Mode.
    pub version: u8,
    pub group: String,
}

impl Case {
    pub fn ikev2(group: &str) -> Case {
        Case {
            version: 2,
            group: group.to_string(),
        }
    }

    pub fn ikev1(group: &str) -> Case {
        Case {
            version: 1,
            group: group.to_string(),
        }
    }

    /// `ikev2-ecp256`: for directories and progress lines.
    pub fn label(&self) -> String {
        format!("ikev{}-{}", self.version, self.group)
    }
}

impl Options {
    /// The handshake cases in the order they run: IKEv2, then IKEv1.
    pub fn cases(&self) -> Vec<Case> {
        let v2 = self.groups.iter().map(|g| Case::ikev2(g));
        v2.chain(self.ikev1_groups.iter().map(|g| Case::ikev1(g)))
            .collect()
    }
}

pub fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut no_ikev1 = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => options.runs = number(arg, args.next())?,
            "--tunnels" => options.tunnels = number(arg, args.next())?,
            "--in-flight" => options.in_flight = number(arg, args.next())?,
            "--memory-tunnels" => options.memory_tunnels = number(arg, args.next())?,
            "--memory-runs" => options.memory_runs = number(arg, args.next())?,
            "--groups" => options.groups = groups(arg, args.next())?,
            "--ikev1-groups" => options.ikev1_groups = groups(arg, args.next())?,
            "--no-ikev1" => no_ikev1 = true,
            "--no-handshakes" => options.handshakes = false,
            "--no-memory" => options.memory = false,
            "--ikehub-only" => options.ikehub_only = true,
            "--vm" => options.vm = true,
            "--no-build" => options.build = false,
            "--flood" => options.flood = true,
            "--flood-seconds" => options.flood_seconds = number(arg, args.next())?,
            name if !name.starts_with('-') => options.vm_scripts.push(name.to_string()),
            other => return Err(format!("unknown bench option `{other}`")),
        }
    }
    if no_ikev1 {
        options.ikev1_groups.clear();
    }
    if !options.vm && !options.vm_scripts.is_empty() {
        return Err(format!(
            "`{}`: benchmark scripts are named only after --vm",
            options.vm_scripts.join(" ")
        ));
    }
    if options.runs == 0
        || options.tunnels == 0
        || options.in_flight == 0
        || options.memory_runs == 0
    {
        return Err("--runs, --memory-runs, --tunnels and --in-flight must be at least 1".into());
    }
    if options.flood_seconds == 0 {
        return Err("--flood-seconds must be at least 1".into());
    }
    if options.memory_tunnels < 1000 {
        return Err("--memory-tunnels must be at least 1000 (the first checkpoint)".into());
    }
    Ok(options)
}

/// Tunnels set up one at a time after each throughput run.
const SINGLE_SETUPS: u32 = 50;
/// Limit of one handshake run, and of one step of a memory run, in seconds.
const HANDSHAKE_TIMEOUT_S: u64 = 300;
const MEMORY_STEP_TIMEOUT_S: u64 = 3600;
/// Listings of every SA (`status --json`, `swanctl --list-sas`) per memory round.
const LISTING_CALLS: usize = 3;
/// Scrapes of ikehub's metrics endpoint per memory round.
const SCRAPE_CALLS: usize = 15;
const KINDS: [Kind; 2] = [Kind::Ikehub, Kind::Strongswan];

impl Options {
    /// The responders of each round, in [`KINDS`] order, with their slot.
    fn kinds(&self) -> impl Iterator<Item = (usize, Kind)> {
        let ikehub_only = self.ikehub_only;
        KINDS
            .into_iter()
            .enumerate()
            .filter(move |(_, kind)| !ikehub_only || *kind == Kind::Ikehub)
    }
}

pub(crate) struct Paths {
    pub(crate) ikehub: PathBuf,
    pub(crate) loadgen: PathBuf,
    pub(crate) scratch: PathBuf,
}

pub fn main(ws: &Workspace, options: &Options) -> i32 {
    if options.vm {
        let vm_options = crate::vm_test::Options {
            names: options.vm_scripts.clone(),
            ..crate::vm_test::Options::default()
        };
        return crate::vm_test::main(ws, &vm_options, crate::vm_test::Suite::Bench).0;
    }
    match bench(ws, options) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("xtask bench: {e}");
            1
        }
    }
}

fn bench(ws: &Workspace, options: &Options) -> Result<(), String> {
    let packages: &[&str] = if options.flood {
        &["iproute2"]
    } else {
        &[
            "strongswan-charon",
            "strongswan-swanctl",
            "libcharon-extra-plugins",
            "libstrongswan-extra-plugins",
            "iproute2",
        ]
    };
    Apt::default().ensure_installed(packages)?;
    let scratch = ws.cargo_target_dir().join("bench");
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    if options.build {
        eprintln!("xtask bench: building ikehub and ikehub-loadgen (release)");
        // The load generator is behind a feature so that `cargo install` leaves it out.
        run(ws.cargo().args([
            "build",
            "--release",
            "--features",
            "loadgen",
            "--bin",
            "ikehub",
            "--bin",
            "ikehub-loadgen",
        ]))?;
        // Private copies: the target directory may be shared with other checkouts, whose
        // builds must not swap the binaries in the middle of a run.
        let release = ws.cargo_target_dir().join("release");
        for name in ["ikehub", "ikehub-loadgen"] {
            std::fs::copy(release.join(name), bin.join(name))
                .map_err(|e| format!("copy {name} to {}: {e}", bin.display()))?;
        }
    }
    let paths = Paths {
        ikehub: bin.join("ikehub"),
        loadgen: bin.join("ikehub-loadgen"),
        scratch,
    };
    for program in [&paths.ikehub, &paths.loadgen] {
        if !program.is_file() {
            return Err(format!(
                "{} is missing: run without --no-build",
                program.display()
            ));
        }
    }
    let ticks = procfs::ticks_per_second()?;
    let _lab = lab::Lab::create()?;
    let mut out = report::machine(ws)?;
    if options.flood {
        let results = flood::run(&paths, options)?;
        let table = flood::report(options, &results);
        println!("{table}");
        out.push_str(&table);
        let file = paths.scratch.join("flood.md");
        std::fs::write(&file, &out).map_err(|e| format!("{}: {e}", file.display()))?;
        eprintln!("xtask bench: table written to {}", file.display());
        return Ok(());
    }
    out.push_str(&report::method(options));
    if options.handshakes {
        for case in options.cases() {
            let results = handshakes(&paths, options, &case, ticks)?;
            let table = report::handshakes(&case, options, &results);
            println!("{table}");
            out.push_str(&table);
        }
    }
    if options.memory {
        let results = memory(&paths, options, ticks)?;
        let table = report::memory(options, &results);
        println!("{table}");
        out.push_str(&table);
    }
    let file = paths.scratch.join("results.md");
    std::fs::write(&file, &out).map_err(|e| format!("{}: {e}", file.display()))?;
    eprintln!("xtask bench: tables written to {}", file.display());
    Ok(())
}

/// One figure's samples per responder, in [`KINDS`] order.
pub type PerKind = [Vec<f64>; 2];

#[derive(Default)]
pub struct HandshakeResults {
    pub setups_per_s: PerKind,
    pub cpu_ms_per_setup: PerKind,
    pub p50_ms: PerKind,
    pub p99_ms: PerKind,
    pub single_p50_ms: PerKind,
    /// The load generator's own CPU per setup (as initiator), in each responder's runs.
    pub generator_cpu_ms: PerKind,
    pub load_before: String,
    pub load_after: String,
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}

fn handshakes(
    paths: &Paths,
    options: &Options,
    case: &Case,
    ticks: f64,
) -> Result<HandshakeResults, String> {
    let label = case.label();
    let mut results = HandshakeResults {
        load_before: load_average(),
        ..HandshakeResults::default()
    };
    for round in 1..=options.runs {
        for (slot, kind) in options.kinds() {
            eprintln!(
                "xtask bench: {label} round {round}/{}: {} (load {})",
                options.runs,
                kind.name(),
                load_average()
            );
            let dir = paths.scratch.join(format!("{}-{label}", kind.name()));
            let responder = Responder::start(kind, case, &dir, &paths.ikehub, None)?;
            let measured = measure_handshakes(&responder, paths, options, case, ticks);
            responder.stop();
            let (load, cpu_ms, single) = measured?;
            results.setups_per_s[slot].push(load.setups_per_s);
            results.cpu_ms_per_setup[slot].push(cpu_ms);
            results.p50_ms[slot].push(load.p50_ms);
            results.p99_ms[slot].push(load.p99_ms);
            results.single_p50_ms[slot].push(single.p50_ms);
            results.generator_cpu_ms[slot].push(load.initiator_cpu_ms);
        }
    }
    results.load_after = load_average();
    Ok(results)
}

/// The throughput run (with the responder's CPU per setup) and the single-setup run.
fn measure_handshakes(
    responder: &Responder,
    paths: &Paths,
    options: &Options,
    case: &Case,
    ticks: f64,
) -> Result<(loadgen::LoadReport, f64, loadgen::LoadReport), String> {
    // IKEv1 against charon: an identity per tunnel (charon's connection accepts any), as
    // distinct peers have. charon's Main Mode responder looks through every ISAKMP SA of the
    // same identities to adopt their IPsec SAs (its re-authentication): with one identity for
    // thousands of tunnels that search, not the setup, is what the run would measure.
    // ikehub's daemon takes one identity per peer and does no such search.
    let extra: &[&str] = if case.version == 1 && responder.kind == Kind::Strongswan {
        &["--id-per-tunnel"]
    } else {
        &[]
    };
    let before = procfs::cpu_seconds(responder.pid, ticks)?;
    let load = loadgen::run_with(
        &paths.loadgen,
        case,
        options.tunnels,
        0,
        options.in_flight,
        HANDSHAKE_TIMEOUT_S,
        extra,
    )?;
    let after = procfs::cpu_seconds(responder.pid, ticks)?;
    let cpu_ms = (after - before) * 1e3 / f64::from(options.tunnels);
    let single = loadgen::run_with(
        &paths.loadgen,
        case,
        SINGLE_SETUPS,
        options.tunnels,
        1,
        HANDSHAKE_TIMEOUT_S,
        extra,
    )?;
    let expected = (options.tunnels + SINGLE_SETUPS) as usize;
    let established = responder.established()?;
    if established != expected {
        return Err(format!(
            "{} holds {established} IKE SAs after {expected} setups",
            responder.kind.name()
        ));
    }
    Ok((load, cpu_ms, single))
}

pub struct MemoryResults {
    /// VmRSS in KiB per checkpoint (0, 1000, memory_tunnels), per responder.
    pub rss_kib: [PerKind; 3],
    /// Wall time of listing every SA (`ikehub status --json`, `swanctl --list-sas --raw`)
    /// at memory_tunnels, per responder, and the size of the last listing.
    pub listing_ms: PerKind,
    pub listing_bytes: [usize; 2],
    /// Wall time of whole scrapes of ikehub's `GET /metrics` at memory_tunnels, each from a
    /// fresh connection, and the size of the last body.
    pub scrape_ms: Vec<f64>,
    pub scrape_bytes: usize,
    /// The daemon's CPU (utime + stime) over a round's scrapes, divided by their number.
    pub scrape_cpu_ms: Vec<f64>,
    pub load_before: String,
    pub load_after: String,
}

pub fn checkpoints(options: &Options) -> [u32; 3] {
    [0, 1000, options.memory_tunnels]
}

fn memory(paths: &Paths, options: &Options, ticks: f64) -> Result<MemoryResults, String> {
    let mut results = MemoryResults {
        rss_kib: Default::default(),
        listing_ms: Default::default(),
        listing_bytes: [0; 2],
        scrape_ms: Vec::new(),
        scrape_bytes: 0,
        scrape_cpu_ms: Vec::new(),
        load_before: load_average(),
        load_after: String::new(),
    };
    let case = Case::ikev2("ecp256");
    for round in 1..=options.memory_runs {
        for (slot, kind) in options.kinds() {
            eprintln!(
                "xtask bench: memory round {round}/{}: {} (load {})",
                options.memory_runs,
                kind.name(),
                load_average()
            );
            let dir = paths.scratch.join(format!("{}-memory", kind.name()));
            let metrics = scrape::METRICS_LISTEN;
            let responder = Responder::start(kind, &case, &dir, &paths.ikehub, Some(metrics))?;
            let measured = measure_memory(&responder, paths, options, ticks, &mut results, slot);
            responder.stop();
            measured?;
        }
    }
    results.load_after = load_average();
    Ok(results)
}

fn measure_memory(
    responder: &Responder,
    paths: &Paths,
    options: &Options,
    ticks: f64,
    results: &mut MemoryResults,
    slot: usize,
) -> Result<(), String> {
    let mut up = 0;
    for (checkpoint, target) in checkpoints(options).into_iter().enumerate() {
        if target > up {
            loadgen::run(
                &paths.loadgen,
                &Case::ikev2("ecp256"),
                target - up,
                up,
                options.in_flight,
                MEMORY_STEP_TIMEOUT_S,
            )?;
            up = target;
        }
        let established = responder.established()?;
        if established != up as usize {
            return Err(format!(
                "{} holds {established} IKE SAs, expected {up}",
                responder.kind.name()
            ));
        }
        results.rss_kib[checkpoint][slot].push(procfs::rss(responder.pid)? as f64);
    }
    for _ in 0..LISTING_CALLS {
        let (elapsed, bytes) = responder.time_listing()?;
        results.listing_ms[slot].push(elapsed.as_secs_f64() * 1e3);
        results.listing_bytes[slot] = bytes;
    }
    if responder.kind == Kind::Ikehub {
        let before = procfs::cpu_seconds(responder.pid, ticks)?;
        let scrapes = scrape::scrapes(SCRAPE_CALLS)?;
        let after = procfs::cpu_seconds(responder.pid, ticks)?;
        results
            .scrape_cpu_ms
            .push((after - before) * 1e3 / SCRAPE_CALLS as f64);
        for s in scrapes {
            results.scrape_ms.push(s.elapsed.as_secs_f64() * 1e3);
            results.scrape_bytes = s.body_bytes;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_parse() {
        assert_eq!(parse_options(&[]), Ok(Options::default()));
        let o = parse_options(&args(&[
            "--runs",
            "7",
            "--tunnels",
            "500",
            "--groups",
            "modp2048",
            "--no-memory",
        ]))
        .expect("options");
        assert_eq!((o.runs, o.tunnels, o.memory_runs), (7, 500, 5));
        assert_eq!(o.groups, args(&["modp2048"]));
        assert_eq!(o.ikev1_groups, args(&["ecp256", "modp2048"]));
        assert_eq!(
            o.cases(),
            vec![
                Case::ikev2("modp2048"),
                Case::ikev1("ecp256"),
                Case::ikev1("modp2048")
            ]
        );
        let v1 = parse_options(&args(&["--ikev1-groups", "modp2048"])).expect("options");
        assert_eq!(v1.ikev1_groups, args(&["modp2048"]));
        assert_eq!(Case::ikev1("modp2048").label(), "ikev1-modp2048");
        let v2 =
            parse_options(&args(&["--no-ikev1", "--ikev1-groups", "ecp256"])).expect("options");
        assert!(v2.cases().iter().all(|c| c.version == 2));
        assert!(parse_options(&args(&["--ikev1-groups", "modp1024"])).is_err());
        assert!(o.handshakes && !o.memory && !o.ikehub_only);
        let o = parse_options(&args(&["--ikehub-only"])).expect("options");
        assert_eq!(o.kinds().collect::<Vec<_>>(), vec![(0, Kind::Ikehub)]);
        assert_eq!(Options::default().kinds().count(), 2);
        assert!(parse_options(&args(&["--groups", "modp1024"])).is_err());
        assert!(parse_options(&args(&["--runs", "0"])).is_err());
        assert!(parse_options(&args(&["--runs"])).is_err());
        assert!(parse_options(&args(&["--memory-tunnels", "10"])).is_err());
        assert!(parse_options(&args(&["--fast"])).is_err());
        assert!(parse_options(&args(&["--vm"])).expect("options").vm);
        let o = parse_options(&args(&["--vm", "handshakes"])).expect("options");
        assert!(o.vm);
        assert_eq!(o.vm_scripts, args(&["handshakes"]));
        assert!(parse_options(&args(&["handshakes"])).is_err());
        let o = parse_options(&args(&["--flood", "--flood-seconds", "5"])).expect("options");
        assert!(o.flood && o.flood_seconds == 5);
        assert!(parse_options(&args(&["--flood-seconds", "0"])).is_err());
        assert!(
            !parse_options(&args(&["--no-build"]))
                .expect("options")
                .build
        );
    }
}
