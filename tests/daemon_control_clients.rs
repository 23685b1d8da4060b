//! The control socket under a crowd: thousands of clients that connect and say nothing, and
//! clients that ask for a large status and never read it. The daemon's memory stays bounded,
//! a new client still gets its status, the log gets a few lines, and the counters say what
//! was done; with its file descriptors exhausted, the daemon neither spins nor floods the log.

mod support {
    pub mod daemon;
}

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::Value;
use support::daemon::{skip_unless_root, wait_for, Daemon, TempDir};

/// Connections in the configuration: enough that one status answer is far bigger than a
/// socket's send buffer, so that a client that does not read holds the daemon's memory.
/// How long an answer may take before the daemon counts as not answering: generous, since a
/// busy machine (a test run beside a VM) slows the crowd of clients down, and how fast the
/// answer comes is a benchmark's question, not this test's.
const ANSWER_DEADLINE: Duration = Duration::from_secs(90);

const CONNECTIONS: usize = 4000;
const IDLE_CLIENTS: usize = 2000;
const UNREAD_CLIENTS: usize = 200;
/// The crowd may add at most this to the daemon's peak resident memory: the 32 MiB budget of
/// status answers held for clients, and room for one snapshot being built. Without bounds,
/// 200 unread status answers of this configuration alone take over 150 MiB.
const CROWD_RSS_BOUND_KIB: u64 = 48 << 10;

/// Each test's daemon binds its own loopback address: the tests run at once.
fn many_connections_config(local: &str, connections: usize) -> String {
    let mut text = format!(
        "[gateway]\nname = \"gw-crowd\"\nlocal_addresses = [\"{local}\"]\nlocal_subnets = [\"172.16.0.0/16\"]\n",
    );
    for i in 0..connections {
        let (hi, lo) = (i / 250, i % 250 + 1);
        text.push_str(&format!(
            r#"
[[peer]]
name = "office-{i}"
address = "127.1.{hi}.{lo}"

[[connection]]
name = "office-{i}"
peer = "office-{i}"
psk = "test-only-key-f3a9c1d2e5b7"
remote_subnets = ["10.{hi}.{lo}.0/24"]
start_action = "listen"
"#
        ));
    }
    text
}

/// Let this process hold the clients it opens.
fn raise_open_files(needed: u64) -> bool {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return false;
    };
    if soft >= needed {
        return true;
    }
    hard >= needed && setrlimit(Resource::RLIMIT_NOFILE, needed, hard).is_ok()
}

fn peak_rss_kib(daemon: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.child.id()))
        .expect("the daemon's /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmHWM in /proc status")
}

fn counter(status: &Value, name: &str) -> u64 {
    status["daemon"]["counters"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("counter {name} in status: {status}"))
}

fn log_lines_with(daemon: &Daemon, text: &str) -> usize {
    daemon
        .log_text()
        .lines()
        .filter(|line| line.contains(text))
        .count()
}

fn connect(daemon: &Daemon) -> Option<UnixStream> {
    UnixStream::connect(&daemon.socket).ok()
}

#[test]
fn idle_and_unread_clients_leave_memory_bounded_and_status_answering() {
    if skip_unless_root("idle_and_unread_clients_leave_memory_bounded_and_status_answering") {
        return;
    }
    let needed = (IDLE_CLIENTS + UNREAD_CLIENTS + 256) as u64;
    if !raise_open_files(needed) {
        println!("SKIPPED: this process may not open {needed} files (RLIMIT_NOFILE)");
        return;
    }
    let dir = TempDir::new("control-crowd");
    let daemon = Daemon::start(
        &dir.0,
        "crowd",
        &many_connections_config("127.0.0.31", CONNECTIONS),
    );
    let first = wait_for(ANSWER_DEADLINE, "the daemon answers", || daemon.status());
    let answer_bytes = serde_json::to_vec(&first).expect("json").len();
    let before = peak_rss_kib(&daemon);
    assert!(
        answer_bytes > 800 << 10,
        "a status answer of {answer_bytes} bytes does not test unread answers"
    );

    let mut unread = Vec::with_capacity(UNREAD_CLIENTS);
    for _ in 0..UNREAD_CLIENTS {
        let mut client = connect(&daemon).expect("connect an unread client");
        client
            .write_all(b"{\"cmd\":\"status\"}\n")
            .expect("send the request");
        unread.push(client);
    }
    let mut idle = Vec::with_capacity(IDLE_CLIENTS);
    for _ in 0..IDLE_CLIENTS {
        // A refused connection (the listen backlog full for a moment) is no failure here:
        // the point is that the daemon stays usable whatever the crowd.
        if let Some(client) = connect(&daemon) {
            idle.push(client);
        }
    }

    // A new client, with all of them still connected, gets its status.
    let status = wait_for(ANSWER_DEADLINE, "a new client's status answer", || {
        daemon.status()
    });
    assert!(
        counter(&status, "control_clients_dropped") > 0,
        "silent clients were not closed to make room: {}",
        status["daemon"]["counters"]
    );
    let peak = peak_rss_kib(&daemon);
    assert!(
        peak.saturating_sub(before) < CROWD_RSS_BOUND_KIB,
        "the daemon's peak RSS went from {before} to {peak} KiB (bound: {CROWD_RSS_BOUND_KIB} KiB more)"
    );
    let crowd_lines = log_lines_with(&daemon, "control socket:");
    assert!(
        crowd_lines <= 3,
        "{crowd_lines} control socket lines in the log:\n{}",
        daemon.log_text()
    );
    drop(idle);
    drop(unread);
    println!(
        "status of {answer_bytes} bytes; {IDLE_CLIENTS} idle and {UNREAD_CLIENTS} unread clients; peak RSS {before} KiB before, {peak} KiB after; counters {}",
        status["daemon"]["counters"]
    );
}

#[test]
fn out_of_file_descriptors_the_daemon_backs_off_and_still_answers() {
    if skip_unless_root("out_of_file_descriptors_the_daemon_backs_off_and_still_answers") {
        return;
    }
    let dir = TempDir::new("control-emfile");
    let config = many_connections_config("127.0.0.32", 1);
    // Fewer descriptors than the daemon's client limit: accept fails with EMFILE.
    let daemon = Daemon::start_in(
        &["prlimit", "--nofile=96:96", "--"],
        &dir.0,
        "emfile",
        &config,
        &[],
    );
    wait_for(ANSWER_DEADLINE, "the daemon answers", || daemon.status());
    let idle: Vec<UnixStream> = (0..300).filter_map(|_| connect(&daemon)).collect();
    assert!(idle.len() >= 100, "only {} clients connected", idle.len());

    let status = wait_for(
        ANSWER_DEADLINE,
        "a status answer while the descriptors are exhausted",
        || daemon.status(),
    );
    assert!(
        counter(&status, "control_accept_errors") > 0,
        "accept never failed: {}",
        status["daemon"]["counters"]
    );
    let accept_lines = log_lines_with(&daemon, "cannot accept");
    assert!(
        (1..=2).contains(&accept_lines),
        "{accept_lines} accept failure lines in the log:\n{}",
        daemon.log_text()
    );
    drop(idle);
}
