//! A peer given by a DNS name, through the system's resolver: the initiating daemon runs in a
//! private mount namespace whose /etc/hosts is a file of this test (bind-mounted over it;
//! glibc reads /etc/hosts again on each look-up), so the host's own file is never touched.
//! The name first points to office A; once the tunnel is up, it is moved to office B and A
//! is killed: the initiator finds A dead (short DPD), resolves the name again and comes up
//! with B.
//!
//! Needs root, `unshare` and `nsenter`; without them the test says so and returns.

mod support {
    pub mod daemon;
}

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::daemon::*;

const SITE: &str = "127.0.0.21";
const OFFICE_A: &str = "127.0.0.22";
const OFFICE_B: &str = "127.0.0.23";
const NAME: &str = "office.test";
const KEY: &str = "test-only-key-dns-5d2e";

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
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if ready.exists() {
                return Ok(Namespace { holder });
            }
            if let Ok(Some(status)) = holder.try_wait() {
                return Err(format!("namespace set-up failed ({status})"));
            }
            if Instant::now() > deadline {
                let _ = holder.kill();
                return Err("namespace set-up did not finish within 10 s".into());
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    fn net(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.holder.id())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn site_config() -> String {
    format!(
        r#"
[gateway]
name = "site"
local_addresses = ["{SITE}"]
local_subnets = ["10.21.0.0/16"]

[[peer]]
name = "office"
address = "{NAME}"

[[connection]]
name = "tunnel"
peer = "office"
psk = "{KEY}"
remote_subnets = ["10.22.0.0/16"]
start_action = "initiate"
dpd_interval = "1s"
dpd_timeout = "2s"
"#
    )
}

/// An office gateway at `address`; both offices authenticate as the name.
fn office_config(address: &str) -> String {
    format!(
        r#"
[gateway]
name = "office"
local_addresses = ["{address}"]
local_subnets = ["10.22.0.0/16"]

[[peer]]
name = "site"
address = "{SITE}"

[[connection]]
name = "tunnel"
peer = "site"
psk = "{KEY}"
remote_subnets = ["10.21.0.0/16"]
local_identity = "{NAME}"
start_action = "listen"
"#
    )
}

/// Write the private hosts file in place: the bind mount holds its inode, so it must not be
/// replaced by another file.
fn point_name_to(hosts: &Path, address: &str) {
    std::fs::write(hosts, format!("127.0.0.1 localhost\n{address} {NAME}\n")).expect("hosts");
}

/// The connection's status once it is established with `peer` (address and port).
fn established_with(daemon: &Daemon, peer: &str) -> Option<Value> {
    let status = daemon.status()?;
    let conn = connection(&status).clone();
    (conn["state"] == "established" && conn["peer_address"] == peer).then_some(conn)
}

/// The namespace, or why the test cannot run here.
fn set_up(test: &str, dir: &Path) -> Option<Namespace> {
    if skip_unless_root(test) {
        return None;
    }
    for tool in ["unshare", "nsenter"] {
        if Command::new(tool).arg("--version").output().is_err() {
            println!("SKIPPED {test}: {tool} is not installed");
            return None;
        }
    }
    // The private file is bind-mounted over the system's: it must exist to be covered.
    if !Path::new("/etc/hosts").is_file() {
        println!("SKIPPED {test}: there is no /etc/hosts to cover");
        return None;
    }
    match Namespace::create(dir) {
        Ok(ns) => Some(ns),
        Err(e) => {
            println!("SKIPPED {test}: {e}");
            None
        }
    }
}

/// The prefix that starts a daemon in the namespace with `hosts` as its /etc/hosts (a mount
/// private to the daemon's own mount namespace, gone with it).
fn with_private_hosts(net: &str, hosts: &Path) -> Vec<String> {
    let bind_hosts = format!("mount --bind {} /etc/hosts && exec \"$@\"", hosts.display());
    [
        "nsenter",
        net,
        "--",
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        bind_hosts.as_str(),
        "sh",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_peer_by_name_is_resolved_again_when_found_dead_and_followed_to_its_new_address() {
    let test = "a_peer_by_name_is_resolved_again_when_found_dead_and_followed_to_its_new_address";
    let dir = TempDir::new("peer-name");
    let Some(namespace) = set_up(test, &dir.0) else {
        return;
    };
    let hosts = dir.0.join("hosts");
    point_name_to(&hosts, OFFICE_A);
    let net = namespace.net();
    let in_namespace = ["nsenter", net.as_str(), "--"];
    let private = with_private_hosts(&net, &hosts);
    let with_private_hosts: Vec<&str> = private.iter().map(String::as_str).collect();

    let mut office_a = Daemon::start_in(
        &in_namespace,
        &dir.0,
        "office-a",
        &office_config(OFFICE_A),
        &[],
    );
    let office_b = Daemon::start_in(
        &in_namespace,
        &dir.0,
        "office-b",
        &office_config(OFFICE_B),
        &[],
    );
    for office in [&office_a, &office_b] {
        wait_for(Duration::from_secs(20), "an office to listen", || {
            office.status()
        });
    }
    let site = Daemon::start_in(&with_private_hosts, &dir.0, "site", &site_config(), &[]);

    let first = wait_for(ESTABLISH_DEADLINE, "the tunnel to office A", || {
        established_with(&site, &format!("{OFFICE_A}:500"))
    });
    assert_eq!(first["remote_name"], NAME, "{first}");
    assert!(
        site.log_text().contains(&format!(
            "tunnel: peer address {NAME} resolved to {OFFICE_A}"
        )),
        "{}",
        site.log_text()
    );
    let text = site.cli(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("peer {NAME} ({OFFICE_A}:500)")),
        "{text}"
    );

    // The office moves: the name points to B, and A is gone without a word.
    point_name_to(&hosts, OFFICE_B);
    office_a.child.kill().expect("kill office A");
    let _ = office_a.child.wait();

    let moved = wait_for(Duration::from_secs(30), "the tunnel to office B", || {
        established_with(&site, &format!("{OFFICE_B}:500"))
    });
    assert_eq!(moved["remote_name"], NAME, "{moved}");
    let log = site.log_text();
    assert!(log.contains("the peer stopped answering"), "{log}");
    assert!(
        log.contains(&format!(
            "tunnel: peer address {NAME} resolved to {OFFICE_B}"
        )),
        "{log}"
    );
    wait_for(
        Duration::from_secs(10),
        "office B to see the tunnel",
        || (state_of(&office_b)? == "established").then_some(()),
    );
    // The host's own /etc/hosts never learned the name.
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    assert!(!host_hosts.contains(NAME), "{host_hosts}");
    drop(namespace);
}

#[test]
fn a_name_that_does_not_resolve_is_the_connections_last_error_and_is_tried_again() {
    let test = "a_name_that_does_not_resolve_is_the_connections_last_error_and_is_tried_again";
    let dir = TempDir::new("peer-name-missing");
    let Some(namespace) = set_up(test, &dir.0) else {
        return;
    };
    // The hosts file does not know the name, and the namespace reaches no DNS server.
    let hosts = dir.0.join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").expect("hosts");
    let net = namespace.net();
    let private = with_private_hosts(&net, &hosts);
    let prefix: Vec<&str> = private.iter().map(String::as_str).collect();
    let site = Daemon::start_in(&prefix, &dir.0, "site", &site_config(), &[]);

    let conn = wait_for(Duration::from_secs(20), "the failure in status", || {
        let status = site.status()?;
        let conn = connection(&status).clone();
        conn["last_error"].as_str().is_some().then_some(conn)
    });
    let error = conn["last_error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with(&format!("cannot resolve peer address {NAME}: ")),
        "{conn}"
    );
    assert_eq!(conn["last_error_by"], Value::Null, "{conn}");
    assert_eq!(conn["peer_address"], Value::Null, "{conn}");
    assert_eq!(conn["remote_name"], NAME, "{conn}");
    assert_eq!(conn["state"], "down", "{conn}");
    let text = site.cli(&["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("peer {NAME} (not resolved yet)")),
        "{text}"
    );
    // Logged at warn, then tried again with the restart backoff (1 s, then 2 s).
    wait_for(
        Duration::from_secs(20),
        "a second failed resolution",
        || {
            let log = site.log_text();
            (log.matches(&format!("tunnel: cannot resolve peer address {NAME}"))
                .count()
                >= 2)
                .then_some(())
        },
    );
    let log = site.log_text();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("initiating again in"), "{log}");
    // `up` resolves first, and its client learns the failure (exit status 3).
    let out = site.cli(&["up", "tunnel", "--timeout", "20"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stdout.starts_with(&format!("tunnel: resolving {NAME}, then initiating")),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "tunnel: failed: cannot resolve peer address {NAME}: "
        )),
        "{stderr}"
    );
    drop(namespace);
}
