//! NAT traversal through the daemon's real sockets: two daemons in a private network
//! namespace whose loopback source-NATs the initiator's address, so both detect the NAT
//! (RFC 7296 2.23) and move to port 4500, where every IKE message travels behind the non-ESP
//! marker (RFC 3948 2.2) and the NATed side sends NAT-keepalives (RFC 3948 2.3).
//!
//! Needs root, `unshare`, `nsenter` and `nft` (with NAT support); without them the test says
//! so and returns.

mod support {
    pub mod daemon;
}

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::daemon::*;

/// The initiator's own address, and what the NAT turns it into.
const INITIATOR: &str = "127.0.0.11";
const RESPONDER: &str = "127.0.0.12";
const NATED: &str = "127.0.0.13";

/// A network namespace kept alive by a child process, with loopback up and the NAT rule.
struct Namespace {
    holder: Child,
}

impl Namespace {
    fn create(dir: &Path) -> Result<Namespace, String> {
        let ready = dir.join("netns-ready");
        let script = format!(
            "ip link set lo up && \
             nft add table ip nat && \
             nft add chain ip nat post '{{ type nat hook postrouting priority 100; }}' && \
             nft add rule ip nat post ip saddr {INITIATOR} snat to {NATED} && \
             touch {} && exec sleep 600",
            ready.display()
        );
        let mut holder = Command::new("unshare")
            .args(["--net", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("unshare: {e}"))?;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if ready.exists() {
                return Ok(Namespace { holder });
            }
            if let Ok(Some(status)) = holder.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = holder.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!("namespace set-up failed ({status}): {stderr}"));
            }
            if std::time::Instant::now() > deadline {
                let _ = holder.kill();
                return Err("namespace set-up did not finish within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn enter_prefix(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.holder.id())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn configs() -> (String, String) {
    let key = "test-only-key-nat-7c1e";
    let initiator = format!(
        r#"
[gateway]
name = "behind-nat"
local_addresses = ["{INITIATOR}"]
local_subnets = ["10.11.0.0/16"]

[[peer]]
name = "hub"
address = "{RESPONDER}"

[[connection]]
name = "tunnel"
peer = "hub"
psk = "{key}"
remote_subnets = ["10.12.0.0/16"]
start_action = "initiate"
"#
    );
    // The responder cannot know the NATed address in advance: any address, matched by the
    // identity (the initiator's own address, as it sends it).
    let responder = format!(
        r#"
[gateway]
name = "hub"
local_addresses = ["{RESPONDER}"]
local_subnets = ["10.12.0.0/16"]

[[peer]]
name = "site"
address = "any"
identity = "{INITIATOR}"

[[connection]]
name = "tunnel"
peer = "site"
psk = "{key}"
remote_subnets = ["10.11.0.0/16"]
start_action = "listen"
"#
    );
    (initiator, responder)
}

#[test]
fn behind_nat_both_sides_move_to_4500_and_keep_the_mapping_alive() {
    if skip_unless_root("behind_nat_both_sides_move_to_4500_and_keep_the_mapping_alive") {
        return;
    }
    for tool in ["unshare", "nsenter", "nft"] {
        if Command::new(tool).arg("--version").output().is_err() {
            println!("SKIPPED behind_nat...: {tool} is not installed");
            return;
        }
    }
    let dir = TempDir::new("nat");
    let namespace = match Namespace::create(&dir.0) {
        Ok(ns) => ns,
        Err(e) => {
            println!("SKIPPED behind_nat...: {e}");
            return;
        }
    };
    let net = namespace.enter_prefix();
    let prefix = ["nsenter", net.as_str(), "--"];
    let (initiator_config, responder_config) = configs();
    let responder = Daemon::start_in(&prefix, &dir.0, "responder", &responder_config, &[]);
    wait_for(Duration::from_secs(20), "the responder to listen", || {
        responder.status()
    });
    let initiator = Daemon::start_in(&prefix, &dir.0, "initiator", &initiator_config, &[]);
    let (si, sr) = wait_both(
        &initiator,
        &responder,
        "established",
        Duration::from_secs(20),
    );

    let (ii, ir) = (
        &connection(&si)["ike_sas"][0],
        &connection(&sr)["ike_sas"][0],
    );
    // The initiator knows it is behind a NAT; the responder knows the peer is.
    assert_eq!(
        ii["nat"],
        serde_json::json!({"local_behind": true, "remote_behind": false}),
        "{ii}"
    );
    assert_eq!(
        ir["nat"],
        serde_json::json!({"local_behind": false, "remote_behind": true}),
        "{ir}"
    );
    // Both moved to 4500 (IKE_AUTH already went there, behind the marker).
    assert_eq!(ii["local"], format!("{INITIATOR}:4500"));
    assert_eq!(ii["remote"], format!("{RESPONDER}:4500"));
    assert_eq!(ir["local"], format!("{RESPONDER}:4500"));
    // The responder sees the translated address and port.
    let peer = connection(&sr)["peer_address"].as_str().unwrap_or("");
    assert!(peer.starts_with(&format!("{NATED}:")), "{peer}");
    assert_eq!(ii["spi_i"], ir["spi_i"]);
    assert_eq!(ii["children"][0]["spi_in"], ir["children"][0]["spi_out"]);
    for status in [&si, &sr] {
        let counters = &status["daemon"]["counters"];
        assert_eq!(counters["dropped_bad_marker"], 0, "{counters}");
        assert_eq!(counters["dropped_malformed"], 0, "{counters}");
    }

    // RFC 3948 2.3: the NATed side sends a keepalive every 20 s.
    wait_for(
        Duration::from_secs(30),
        "a NAT-keepalive to be sent",
        || {
            let status = initiator.status()?;
            let sent = status["daemon"]["counters"]["keepalives_sent"].as_u64()?;
            (sent >= 1).then_some(())
        },
    );
    let responder_status: Value = responder.status().expect("status");
    assert_eq!(
        responder_status["daemon"]["counters"]["keepalives_sent"], 0,
        "the side not behind a NAT sends none"
    );

    // The SA still works on 4500: a delete from the responder reaches the initiator.
    let out = responder.cli(&["down", "tunnel"]);
    assert!(out.status.success());
    wait_both(&initiator, &responder, "down", Duration::from_secs(20));
    drop(namespace);
}
