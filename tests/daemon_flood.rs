//! A half-open flood against the daemon's real sockets, in a private network namespace: one
//! address that answers cookies sends IKE_SA_INIT requests of 8000 bytes as fast as it can
//! (`ikehub-loadgen --flood-seconds`) while 200 tunnels from another address come up
//! (`ikehub-loadgen --tunnels 200`). The daemon's peak RSS must stay under a bound, every
//! tunnel must come up, and the refused requests must be counted in `dropped_half_open`.
//! `cargo xtask bench --flood` runs the same for 30 s with the release binaries
//! (BENCHMARKS.md).
//!
//! Needs root and `unshare`/`nsenter`; without them the test says so and returns.

mod support {
    pub mod daemon;
}

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::daemon::*;

const LOADGEN: &str = env!("CARGO_BIN_EXE_ikehub-loadgen");
const RESPONDER: &str = "127.0.0.21";
const SITES: &str = "127.0.0.22";
const FLOODER: &str = "127.0.0.23";
const TUNNELS: u64 = 200;
const FLOOD_SECONDS: u64 = 6;
/// The bound on the daemon's peak RSS (VmHWM). At the defaults one address holds at most
/// 1000 half-open SAs of about 9 KB each (the request of 8000 bytes, our answer, the
/// answer again in the response cache): some 9 MB beside the 200 tunnels and the daemon's
/// own 14 MB (a debug build), 26 MB in all when measured. Without the limits the flood
/// leaves a half-open SA for every request the daemon reads: 44 MB after these 6 s.
const RSS_BOUND_KIB: u64 = 40 * 1024;
/// How long the daemon may take to work through what the flood left queued.
const SETTLE: Duration = Duration::from_secs(20);

/// A network namespace with loopback up, kept alive by a child process.
struct Namespace {
    holder: Child,
}

impl Namespace {
    fn create(dir: &Path) -> Result<Namespace, String> {
        let ready = dir.join("netns-ready");
        let script = format!(
            "ip link set lo up && touch {} && exec sleep 600",
            ready.display()
        );
        let mut holder = Command::new("unshare")
            .args(["--net", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            let exited = holder.try_wait().ok().flatten();
            if exited.is_some() || std::time::Instant::now() > deadline {
                let _ = holder.kill();
                let _ = holder.wait();
                return Err(format!("the namespace was not set up ({exited:?})"));
            }
            std::thread::sleep(POLL_EVERY);
        }
        Ok(Namespace { holder })
    }

    fn nsenter(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.holder.id())
    }

    /// A UDP counter of the namespace (`/proc/net/snmp`, seen through the holder).
    fn udp_counter(&self, name: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/net/snmp", self.holder.id()))
            .expect("read /proc/PID/net/snmp");
        let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
        let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
            panic!("no Udp lines in /proc/net/snmp:\n{text}");
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_else(|| panic!("no Udp counter {name} in /proc/net/snmp"))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// The responder: one connection for the sites' tunnels, one the flooding address matches
/// (its requests are answered, so each leaves a half-open SA). A cookie threshold of 100
/// makes the flooder return cookies long before its per-address limit (1000) is reached.
fn responder_config() -> String {
    let psk = "test-only-key-flood-41d7";
    format!(
        r#"
[gateway]
name = "flooded"
local_addresses = ["{RESPONDER}"]
local_subnets = ["172.16.0.0/16"]
cookie_threshold = 100

[[peer]]
name = "sites"
address = "{SITES}"

[[peer]]
name = "flooder"
address = "{FLOODER}"

[[connection]]
name = "sites"
peer = "sites"
psk = "{psk}"
remote_subnets = ["10.0.0.0/8"]
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
dpd_interval = "off"

[[connection]]
name = "flooder"
peer = "flooder"
psk = "{psk}"
remote_subnets = ["192.168.0.0/16"]
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
dpd_interval = "off"
"#
    )
}

fn loadgen(ns: &Namespace, local: &str, args: &[&str]) -> Child {
    Command::new("nsenter")
        .arg(ns.nsenter())
        .arg(LOADGEN)
        .args(["--local", local, "--remote", RESPONDER])
        .args(["--psk", "test-only-key-flood-41d7"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ikehub-loadgen")
}

/// The load generator's JSON report, or a failure with its stderr.
fn report(what: &str, out: Output) -> Value {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the load generator's report is JSON")
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn counter(status: &Value, name: &str) -> u64 {
    status["daemon"]["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {}", status["daemon"]))
}

fn established(status: &Value, connection: &str) -> usize {
    status["connections"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["name"] == connection))
        .and_then(|c| c["ike_sas"].as_array())
        .map_or(0, |sas| {
            sas.iter().filter(|sa| sa["state"] == "established").count()
        })
}

#[test]
fn a_half_open_flood_stays_within_its_memory_and_lets_tunnels_up() {
    if skip_unless_root("a_half_open_flood_stays_within_its_memory_and_lets_tunnels_up") {
        return;
    }
    let dir = TempDir::new("flood");
    let ns = match Namespace::create(&dir.0) {
        Ok(ns) => ns,
        Err(e) => {
            println!("SKIPPED a_half_open_flood_stays_within_its_memory_and_lets_tunnels_up: {e}");
            return;
        }
    };
    let nsenter = ns.nsenter();
    let daemon = Daemon::start_in(
        &["nsenter", &nsenter],
        &dir.0,
        "flooded",
        &responder_config(),
        &[],
    );
    wait_for(ESTABLISH_DEADLINE, "the daemon to listen", || {
        daemon.status()
    });
    let pid = daemon.child.id();
    let baseline_kib = vm_kib(pid, "VmRSS:");

    let flood_seconds = FLOOD_SECONDS.to_string();
    let flooder = loadgen(&ns, FLOODER, &["--flood-seconds", &flood_seconds]);
    // The tunnels come up under the flood: once the flooder holds half-open SAs.
    wait_for(
        Duration::from_secs(10),
        "the flood to fill half-open SAs",
        || {
            let status = daemon.status()?;
            (counter(&status, "half_open") >= 100).then_some(())
        },
    );
    let tunnels = TUNNELS.to_string();
    // The flood fills the daemon's socket queue, so some requests of the sites are lost
    // there and sent again: up to 8 times over 75 s.
    let sites = loadgen(
        &ns,
        SITES,
        &[
            "--tunnels",
            &tunnels,
            "--in-flight",
            "32",
            "--retransmit-tries",
            "8",
        ],
    );
    let sites = report(
        "the sites' tunnels",
        sites.wait_with_output().expect("wait"),
    );
    let flood = report("the flood", flooder.wait_with_output().expect("wait"));
    println!("sites: {sites}\nflood: {flood}");
    assert_eq!(sites["tunnels"], TUNNELS);

    // Every request the flood sent was answered, refused and counted, or lost in the
    // daemon's full socket queue (counted by the kernel). Queued ones may still be read.
    let sent = flood["sent"].as_u64().expect("sent");
    let answered = flood["answered"].as_u64().expect("answered");
    assert!(
        sent > 10 * 1000,
        "a flood sends more than the limits hold: {flood}"
    );
    let status = wait_for(SETTLE, "every flood request accounted for", || {
        let status = daemon.status()?;
        let lost = ns.udp_counter("RcvbufErrors");
        let counted = counter(&status, "dropped_half_open")
            + counter(&status, "cookies_sent")
            + answered
            + lost;
        (counted >= sent).then_some(status)
    });
    let dropped = counter(&status, "dropped_half_open");
    let peak = counter(&status, "half_open_peak");
    let hwm_kib = vm_kib(pid, "VmHWM:");
    println!(
        "daemon: RSS {baseline_kib} KiB before, peak {hwm_kib} KiB; half-open peak {peak}; \
         dropped_half_open {dropped}; lost in the socket queue {}; counters {}",
        ns.udp_counter("RcvbufErrors"),
        status["daemon"]["counters"]
    );
    let sites_up = established(&status, "sites");
    assert_eq!(
        sites_up, TUNNELS as usize,
        "IKE SAs of the sites: {}",
        status["connections"][0]["ike_sas"]
    );
    // The flooder's own limit (1000) held, with the sites' setups in progress beside it.
    assert!(answered <= 1000, "{flood}");
    assert!(peak <= 1000 + 32, "half-open peak {peak}");
    assert!(dropped > 0 && dropped <= sent, "{dropped} of {sent}");
    assert!(
        hwm_kib < RSS_BOUND_KIB,
        "the daemon's peak RSS {hwm_kib} KiB exceeds {RSS_BOUND_KIB} KiB"
    );
}
