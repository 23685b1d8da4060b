//! `cargo xtask bench --flood`: a half-open flood against ikehub's responder (recording
//! dataplane) in the bench namespaces. One address of the initiator's namespace sends
//! IKE_SA_INIT requests of 8000 bytes as fast as it can for `flood_seconds`, answering every
//! cookie (`ikehub-loadgen --flood-seconds`), while 200 tunnels from the other address come
//! up. Per round: requests sent, how many the daemon read and dropped over the half-open
//! limits, the most half-open SAs at once, the daemon's RSS before and at its peak (VmHWM),
//! the tunnels up and the time they took. tests/daemon_flood.rs is the same, shorter, as a
//! test.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::lab::{
    FLOODER_ADDR, INITIATOR_ADDR, INITIATOR_NS, INITIATOR_SUPERNET, RESPONDER_ADDR,
    RESPONDER_SUBNET,
};
use super::responder::{Responder, PSK};
use super::stats::Summary;
use super::Case;
use super::{load_average, loadgen, procfs, Options, Paths};

/// Tunnels that come up during the flood, and how many at once.
pub const TUNNELS: u32 = 200;
const IN_FLIGHT: u32 = 32;
/// The flood's requests: just under the 8192 bytes over which the daemon drops them unread.
const REQUEST_BYTES: u32 = 8000;
/// Half-open SAs above which initiators must return a cookie: low, so that the flooder
/// returns cookies long before its per-address limit (1000, the default).
const COOKIE_THRESHOLD: u32 = 100;
const WAIT: Duration = Duration::from_secs(30);

fn config() -> String {
    format!(
        r#"[gateway]
name = "bench-flooded"
local_addresses = ["{RESPONDER_ADDR}"]
local_subnets = ["{RESPONDER_SUBNET}"]
cookie_threshold = {COOKIE_THRESHOLD}

[[peer]]
name = "sites"
address = "{INITIATOR_ADDR}"

[[peer]]
name = "flooder"
address = "{FLOODER_ADDR}"

[[connection]]
name = "sites"
peer = "sites"
psk = "{PSK}"
remote_subnets = ["{INITIATOR_SUPERNET}"]
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
dpd_interval = "off"

[[connection]]
name = "flooder"
peer = "flooder"
psk = "{PSK}"
remote_subnets = ["192.168.0.0/16"]
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes128gcm16"]
dpd_interval = "off"
"#
    )
}

/// One round's figures.
#[derive(Debug, Default)]
pub struct Round {
    pub sent: f64,
    pub per_s: f64,
    pub read: f64,
    pub dropped_half_open: f64,
    pub half_open_peak: f64,
    pub rss_before_kib: f64,
    pub rss_peak_kib: f64,
    pub tunnels_up: f64,
    pub tunnels_s: f64,
    pub retransmits: f64,
}

#[derive(Default)]
pub struct FloodResults {
    pub rounds: Vec<Round>,
    pub load_before: String,
    pub load_after: String,
}

fn counter(status: &Value, name: &str) -> Result<u64, String> {
    status["daemon"]["counters"][name]
        .as_u64()
        .ok_or_else(|| format!("ikehub status lacks the counter {name}"))
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

/// A UDP counter of the process's network namespace (`/proc/PID/net/snmp`).
fn udp_counter(pid: u32, name: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/net/snmp");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Err(format!("{path}: no Udp lines"));
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| format!("{path}: no Udp counter {name}"))
}

fn vm_hwm_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{path}: no VmHWM"))
}

/// Poll `check` every 50 ms until it gives a value or `WAIT` has passed.
fn wait_for<T>(
    what: &str,
    mut check: impl FnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {WAIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn run(paths: &Paths, options: &Options) -> Result<FloodResults, String> {
    let mut results = FloodResults {
        load_before: load_average(),
        ..FloodResults::default()
    };
    for round in 1..=options.runs {
        eprintln!(
            "xtask bench: flood round {round}/{}: {} s (load {})",
            options.runs,
            options.flood_seconds,
            load_average()
        );
        let dir = paths.scratch.join("ikehub-flood");
        let responder = Responder::start_ikehub(&dir, &paths.ikehub, &config())?;
        let measured = measure(&responder, &paths.loadgen, options);
        responder.stop();
        results.rounds.push(measured?);
    }
    results.load_after = load_average();
    Ok(results)
}

fn measure(responder: &Responder, loadgen: &Path, options: &Options) -> Result<Round, String> {
    let pid = responder.pid;
    let rss_before = procfs::rss(pid)?;
    let lost_before = udp_counter(pid, "RcvbufErrors")?;
    let flooder = Command::new("ip")
        .args(["netns", "exec", INITIATOR_NS])
        .arg(loadgen)
        .args(["--local", FLOODER_ADDR, "--remote", RESPONDER_ADDR])
        .args(["--psk", PSK, "--group", "ecp256"])
        .args(["--flood-seconds", &options.flood_seconds.to_string()])
        .args(["--flood-size", &REQUEST_BYTES.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the flood: {e}"))?;
    // The tunnels start once the flood holds half-open SAs.
    let filling = wait_for("the flood to fill half-open SAs", || {
        Ok(responder
            .status()
            .ok()
            .and_then(|s| counter(&s, "half_open").ok())
            .filter(|n| *n >= u64::from(COOKIE_THRESHOLD)))
    });
    let sites = filling.and_then(|_| {
        loadgen::run_with(
            loadgen,
            &Case::ikev2("ecp256"),
            TUNNELS,
            0,
            IN_FLIGHT,
            options.flood_seconds + 300,
            &["--retransmit-tries", "6"],
        )
    });
    let out = flooder
        .wait_with_output()
        .map_err(|e| format!("the flood: {e}"))?;
    let sites = sites?;
    if !out.status.success() {
        return Err(format!(
            "the flood failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let flood: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the flood's report is not JSON: {e}"))?;
    let number = |key: &str| {
        flood[key]
            .as_f64()
            .ok_or_else(|| format!("the flood's report lacks {key}"))
    };
    let (sent, per_s, answered) = (
        number("sent")?,
        number("requests_per_s")?,
        number("answered")?,
    );
    // What the daemon read is what it answered, refused and counted: wait for it to work
    // through the queue the flood left.
    let (status, lost) = wait_for("the daemon to read the flood's queue", || {
        let status = responder.status()?;
        let lost = udp_counter(pid, "RcvbufErrors")?.saturating_sub(lost_before);
        let counted = counter(&status, "dropped_half_open")?
            + counter(&status, "cookies_sent")?
            + answered as u64
            + lost;
        Ok((counted as f64 >= sent).then_some((status, lost)))
    })?;
    Ok(Round {
        sent,
        per_s,
        read: sent - lost as f64,
        dropped_half_open: counter(&status, "dropped_half_open")? as f64,
        half_open_peak: counter(&status, "half_open_peak")? as f64,
        rss_before_kib: rss_before as f64,
        rss_peak_kib: vm_hwm_kib(pid)? as f64,
        tunnels_up: established(&status, "sites") as f64,
        tunnels_s: sites.elapsed_s,
        retransmits: sites.retransmits as f64,
    })
}

/// A row of the table: its name, its figure in a round, decimals.
type Row = (&'static str, fn(&Round) -> f64, usize);

/// The Markdown table of the rounds.
pub fn report(options: &Options, r: &FloodResults) -> String {
    let mut out = format!(
        "### Half-open flood, host, ikehub (recording dataplane), {} round(s) of {} s\n\n\
         One address sends IKE_SA_INIT requests of {REQUEST_BYTES} bytes as fast as it can and \
         answers cookies (`cookie_threshold = {COOKIE_THRESHOLD}`, the other limits at their \
         defaults) while {TUNNELS} tunnels from another address come up, {IN_FLIGHT} at once. \
         load average (1/5/15 min) {} before, {} after\n\n| figure | median (min-max) |\n\
         | --- | --- |\n",
        r.rounds.len(),
        options.flood_seconds,
        r.load_before,
        r.load_after
    );
    let rows: [Row; 10] = [
        ("flood requests sent", |x| x.sent, 0),
        ("flood requests/s", |x| x.per_s, 0),
        (
            "of which the daemon read (the rest overflowed its socket queue)",
            |x| x.read,
            0,
        ),
        (
            "of which dropped over a half-open limit (`dropped_half_open`)",
            |x| x.dropped_half_open,
            0,
        ),
        (
            "half-open SAs at most (`half_open_peak`)",
            |x| x.half_open_peak,
            0,
        ),
        ("daemon RSS before the flood (KiB)", |x| x.rss_before_kib, 0),
        ("daemon peak RSS, VmHWM (KiB)", |x| x.rss_peak_kib, 0),
        ("tunnels up", |x| x.tunnels_up, 0),
        ("seconds until all were up", |x| x.tunnels_s, 2),
        ("their requests sent again", |x| x.retransmits, 0),
    ];
    for (name, figure, decimals) in rows {
        let samples: Vec<f64> = r.rounds.iter().map(figure).collect();
        let cell = Summary::of(&samples).map_or("-".into(), |s| s.cell(decimals));
        out.push_str(&format!("| {name} | {cell} |\n"));
    }
    out.push('\n');
    out
}
