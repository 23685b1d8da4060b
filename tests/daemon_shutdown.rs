//! A daemon with many tunnels to one peer stops (SIGTERM): its deletes reach the peer, which
//! is left without an IKE SA, and the stopping daemon exits as soon as every delete is
//! answered, none left unanswered. Two daemons with the recording dataplane over loopback.

mod support {
    pub mod daemon;
}

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::daemon::{skip_unless_root, wait_for, Daemon, TempDir};

const TUNNELS: usize = 1000;
const SPOKES: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 71);
const HUB: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 72);

fn spoke_net(n: usize) -> String {
    format!("10.{}.{}.0/24", 100 + n / 256, n % 256)
}

fn hub_net(n: usize) -> String {
    format!("10.{}.{}.0/24", n / 256, n % 256)
}

fn hub_config() -> String {
    let mut text = format!(
        "[gateway]\nname = \"hub\"\nlocal_addresses = [\"{HUB}\"]\nlocal_subnets = [\"10.0.0.0/14\"]\n\
         [[peer]]\nname = \"spokes\"\naddress = \"{SPOKES}\"\n"
    );
    for n in 0..TUNNELS {
        text += &format!(
            "[[connection]]\nname = \"s{n}\"\npeer = \"spokes\"\npsk = \"test-only-key-8d2f61c0a4\"\n\
             remote_subnets = [\"{}\"]\n",
            spoke_net(n)
        );
    }
    text
}

fn spokes_config() -> String {
    let mut text = format!(
        "[gateway]\nname = \"spokes\"\nlocal_addresses = [\"{SPOKES}\"]\n\
         [[peer]]\nname = \"hub\"\naddress = \"{HUB}\"\n"
    );
    for n in 0..TUNNELS {
        text += &format!(
            "[[connection]]\nname = \"s{n}\"\npeer = \"hub\"\npsk = \"test-only-key-8d2f61c0a4\"\n\
             local_subnets = [\"{}\"]\nremote_subnets = [\"{}\"]\nstart_action = \"initiate\"\n",
            spoke_net(n),
            hub_net(n)
        );
    }
    text
}

/// Connections of a status document in `state`.
fn in_state(status: &Value, state: &str) -> usize {
    status["connections"]
        .as_array()
        .map_or(0, |c| c.iter().filter(|c| c["state"] == state).count())
}

#[test]
fn a_stopping_daemon_deletes_every_tunnel_with_its_peer() {
    if skip_unless_root("a_stopping_daemon_deletes_every_tunnel_with_its_peer") {
        return;
    }
    let dir = TempDir::new("shutdown");
    let hub = Daemon::start(&dir.0, "hub", &hub_config());
    wait_for(Duration::from_secs(20), "the hub to listen", || {
        hub.status()
    });
    let mut spokes = Daemon::start(&dir.0, "spokes", &spokes_config());
    wait_for(
        Duration::from_secs(60),
        &format!("{TUNNELS} tunnels established on the hub"),
        || {
            let status = hub.status()?;
            (in_state(&status, "established") == TUNNELS).then_some(())
        },
    );
    wait_for(Duration::from_secs(20), "the spokes to see them", || {
        let status = spokes.status()?;
        (in_state(&status, "established") == TUNNELS).then_some(())
    });

    let stopped = Instant::now();
    spokes.signal("TERM");
    let status = wait_for(Duration::from_secs(10), "the hub to hold no IKE SA", || {
        let status = hub.status()?;
        (in_state(&status, "down") == TUNNELS).then_some(status)
    });
    let counters = &status["daemon"]["counters"];
    assert_eq!(counters["dropped_by_kernel"], 0, "{counters}");
    assert_eq!(spokes.wait_exit(Duration::from_secs(10)), Some(0));
    let took = stopped.elapsed();
    let log = spokes.log_text();
    assert!(log.contains("every IKE SA is deleted"), "{log}");
    assert!(
        log.contains("0 IKE SA(s) left unanswered"),
        "deletes unanswered: {log}"
    );
    println!("{TUNNELS} tunnels deleted and the daemon gone {took:?} after SIGTERM");
}
