//! Two daemons on loopback (127.0.0.x), each with its own configuration and control socket,
//! using the recording dataplane: they negotiate over real UDP sockets; nothing reaches the
//! kernel's IPsec tables. Binding port 500 needs root: without it every test here says so and
//! returns.

mod support {
    pub mod daemon;
}

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::daemon::*;

#[test]
fn two_daemons_establish_go_down_reload_and_stop() {
    if skip_unless_root("two_daemons_establish_go_down_reload_and_stop") {
        return;
    }
    let dir = TempDir::new("pair");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 1),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 2),
        subnet: "10.2.0.0/16",
    };
    let (a_config, b_config) = pair_configs(&a_side, &b_side);
    // The responder listens before the initiator starts (its control socket opens after its
    // UDP sockets are bound), so the first IKE_SA_INIT is not lost to a closed port.
    let mut b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let started = Instant::now();
    let mut a = Daemon::start(&dir.0, "a", &a_config);

    let (sa, sb) = wait_both(&a, &b, "established", ESTABLISH_DEADLINE);
    println!(
        "both established {:?} after starting the initiator (process start and status polling included)",
        started.elapsed()
    );

    // Status fields, crosswise.
    let (ca, cb) = (connection(&sa), connection(&sb));
    assert_eq!(ca["name"], "tunnel");
    assert_eq!(ca["peer_address"], "127.0.0.2:500");
    assert_eq!(cb["peer_address"], "127.0.0.1:500");
    assert_eq!(ca["local_subnets"], serde_json::json!(["10.1.0.0/16"]));
    assert_eq!(ca["remote_subnets"], serde_json::json!(["10.2.0.0/16"]));
    assert_eq!(cb["local_subnets"], serde_json::json!(["10.2.0.0/16"]));
    assert_eq!(ca["last_error"], Value::Null);
    assert_eq!(ca["last_error_at"], Value::Null);
    assert_eq!(ca["last_error_s"], Value::Null);
    let (ia, ib) = (&ca["ike_sas"][0], &cb["ike_sas"][0]);
    assert_eq!(ca["ike_sas"].as_array().map(Vec::len), Some(1));
    assert_eq!(ia["initiator"], true);
    assert_eq!(ib["initiator"], false);
    let spi_i = hex_field(&ia["spi_i"], 16);
    let spi_r = hex_field(&ia["spi_r"], 16);
    assert_ne!(spi_r, "0000000000000000");
    assert_eq!(ib["spi_i"], spi_i.as_str());
    assert_eq!(ib["spi_r"], spi_r.as_str());
    assert_eq!(ia["algorithms"], "aes128gcm16-prfsha256-ecp256");
    assert_eq!(ib["algorithms"], "aes128gcm16-prfsha256-ecp256");
    assert_eq!(
        ia["nat"],
        serde_json::json!({"local_behind": false, "remote_behind": false})
    );
    // The default IKE lifetime is 4 h; the rekey comes up to 10% earlier (jitter).
    assert!(
        ia["rekey_in_s"]
            .as_u64()
            .is_some_and(|s| (12_900..=14_400).contains(&s)),
        "{ia}"
    );
    assert!(ia["established_s"].as_u64().is_some_and(|s| s < 30), "{ia}");
    // Each end's identity (its address, by default) and the pre-shared key.
    assert_eq!(sa["schema"], 1);
    assert_eq!(
        (&ia["local_id"], &ia["remote_id"], &ia["auth"]),
        (
            &Value::from("127.0.0.1"),
            &Value::from("127.0.0.2"),
            &Value::from("psk")
        )
    );
    assert_eq!(
        (&ib["local_id"], &ib["remote_id"], &ib["auth"]),
        (
            &Value::from("127.0.0.2"),
            &Value::from("127.0.0.1"),
            &Value::from("psk")
        )
    );
    let (child_a, child_b) = (&ia["children"][0], &ib["children"][0]);
    assert_eq!(child_a["mode"], "tunnel");
    assert_eq!(child_a["pfs_group"], Value::Null, "IKE_AUTH's CHILD_SA");
    // The default child lifetime is 1 h: rekeyed up to 10% earlier, gone at 110%.
    let expires = child_a["expires_in_s"].as_u64().unwrap_or_default();
    assert!((3_900..=3_960).contains(&expires), "{child_a}");
    assert!(
        child_a["rekey_in_s"].as_u64().is_some_and(|s| s < expires),
        "{child_a}"
    );
    assert!(child_a["reqid"].as_u64().is_some_and(|r| r >= 0x4000_0000));
    let a_in = hex_field(&child_a["spi_in"], 8);
    let a_out = hex_field(&child_a["spi_out"], 8);
    assert_eq!(child_b["spi_in"], a_out.as_str());
    assert_eq!(child_b["spi_out"], a_in.as_str());
    assert_eq!(child_a["algorithms"], "aes256-sha256");
    assert_eq!(child_a["local_ts"], serde_json::json!(["10.1.0.0/16"]));
    assert_eq!(child_a["remote_ts"], serde_json::json!(["10.2.0.0/16"]));
    assert_eq!(child_b["local_ts"], serde_json::json!(["10.2.0.0/16"]));
    // The recording dataplane has the SAs installed and counts nothing.
    for field in ["bytes_in", "packets_in", "bytes_out", "packets_out"] {
        assert_eq!(child_a[field], 0, "{field}");
    }
    assert_eq!(sa["daemon"]["dataplane"], "recording");
    assert_eq!(sa["daemon"]["counters"]["dropped_malformed"], 0);

    // Status latency, as a user sees it (process start included).
    let t = Instant::now();
    let human = a.cli(&["status"]);
    println!("`ikehub status` took {:?}", t.elapsed());
    assert!(human.status.success());
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains("tunnel: established, peer 127.0.0.2:500"),
        "{human}"
    );
    assert!(human.contains(&spi_i), "{human}");
    assert!(human.contains("rekey in 3h"), "{human}");
    for shown in [
        "\n  IKE SA established ",
        "\n    ids: 127.0.0.1 -> 127.0.0.2, auth psk\n",
        ", tunnel mode: spi in ",
        ", aes256-sha256, no PFS, established ",
        ", expires in 1h",
    ] {
        assert!(human.contains(shown), "{shown:?} in {human}");
    }

    // Unknown names are refused with the list of known ones.
    let out = a.cli(&["down", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown connection \"nope\"; known connections: tunnel"),
        "{stderr}"
    );
    let out = a.cli(&["status", "nope"]);
    assert_eq!(out.status.code(), Some(1));

    // `down` on the initiator waits until the peer has acknowledged the delete: on its
    // return the connection is down. Its close action (restart) does not bring it back: it
    // stays down until `up`.
    let out = a.cli(&["down", "tunnel"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("tunnel: deleting 1 IKE SA(s); kept down until `ikehub up tunnel`\n"),
        "{printed}"
    );
    assert!(
        printed.contains("tunnel: IKE SA down: deleted\n"),
        "{printed}"
    );
    assert!(printed.ends_with("tunnel: down\n"), "{printed}");
    assert_eq!(state_of(&a).as_deref(), Some("down"));
    let (sa, _) = wait_both(&a, &b, "down", ESTABLISH_DEADLINE);
    assert_eq!(connection(&sa)["ike_sas"], serde_json::json!([]));
    assert_eq!(connection(&sa)["peer_address"], "127.0.0.2");
    let out = a.cli(&["down", "tunnel"]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("tunnel: already down; kept down (no retry) until `ikehub up tunnel`"));
    assert!(
        !a.log_text().contains("initiating again"),
        "{}",
        a.log_text()
    );

    // `up` brings it back, and waits: on its return the tunnel is established.
    let out = a.cli(&["up", "tunnel"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.first(), Some(&"tunnel: initiating"), "{printed}");
    assert!(
        lines.contains(&"tunnel: IKE SA established with 127.0.0.2:500"),
        "{printed}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("tunnel: CHILD_SA installed (reqid ")),
        "{printed}"
    );
    assert_eq!(lines.last(), Some(&"tunnel: established"), "{printed}");
    assert_eq!(state_of(&a).as_deref(), Some("established"));
    let (sa, _) = wait_both(&a, &b, "established", ESTABLISH_DEADLINE);
    let spi_after_up = connection(&sa)["ike_sas"][0]["spi_i"].clone();
    assert_ne!(spi_after_up, spi_i.as_str(), "a new IKE SA");
    let out = a.cli(&["up", "tunnel"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("already established"));

    // SIGHUP with an invalid file keeps the running configuration.
    std::fs::write(&a.config, "[gateway]\nname = 1\n").expect("write");
    a.signal("HUP");
    wait_for(ESTABLISH_DEADLINE, "the reload error in the log", || {
        a.log_text()
            .contains("still running the previous configuration")
            .then_some(())
    });
    assert_eq!(state_of(&a).as_deref(), Some("established"));
    // `ikehub reload` with the same file: every error, exit 1, nothing applied.
    let out = a.cli(&["reload"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("a.toml:2:"),
        "the error with file:line: {stderr}"
    );
    assert!(
        stderr.contains("error(s); nothing was applied, the previous configuration runs on"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(state_of(&a).as_deref(), Some("established"));

    // SIGHUP with a changed connection: it is re-established with a new IKE SA.
    // Narrower selectors, which the peer accepts.
    let changed = config_text(&a_side, &b_side, true, "local_subnets = [\"10.1.0.0/17\"]");
    std::fs::write(&a.config, changed).expect("write");
    a.signal("HUP");
    wait_for(ESTABLISH_DEADLINE, "the reload report in the log", || {
        a.log_text()
            .contains("reloaded: added none; changed (re-established) tunnel; updated in place (SAs kept) none; removed none; unchanged (kept running) none")
            .then_some(())
    });
    let (sa, _) = wait_for(ESTABLISH_DEADLINE, "re-established after reload", || {
        let (sa, sb) = wait_both(&a, &b, "established", ESTABLISH_DEADLINE);
        let spi = connection(&sa)["ike_sas"][0]["spi_i"].clone();
        (spi != spi_after_up).then_some((sa, sb))
    });
    assert_eq!(connection(&sa)["ike_sas"].as_array().map(Vec::len), Some(1));

    // SIGHUP on the listening side with a changed connection: it deletes the IKE SA, and the
    // initiator's close action (restart) brings the tunnel back with the new settings.
    let spi_before = connection(&sa)["ike_sas"][0]["spi_i"].clone();
    // This time with `ikehub reload`, which answers with what changed.
    let changed = config_text(&b_side, &a_side, false, "local_subnets = [\"10.2.0.0/17\"]");
    std::fs::write(&b.config, changed).expect("write");
    let out = b.cli(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "reloaded\nadded: none\nremoved: none\nre-established (changed): tunnel\nupdated in place: none\nunchanged: none\n"
    );
    assert!(b.log_text().contains("changed (re-established) tunnel"));
    let (sa, sb) = wait_for(
        ESTABLISH_DEADLINE,
        "back after the listener's reload",
        || {
            let (sa, sb) = wait_both(&a, &b, "established", ESTABLISH_DEADLINE);
            let spi = connection(&sa)["ike_sas"][0]["spi_i"].clone();
            (spi != spi_before).then_some((sa, sb))
        },
    );
    assert_eq!(
        connection(&sa)["ike_sas"][0]["spi_i"],
        connection(&sb)["ike_sas"][0]["spi_i"]
    );
    assert!(
        a.log_text().contains("initiating again"),
        "{}",
        a.log_text()
    );

    // SIGTERM: the peer is told, the daemon exits 0 and removes its socket.
    a.signal("TERM");
    assert_eq!(
        a.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        a.log_text()
    );
    assert!(!a.socket.exists(), "control socket removed");
    assert!(
        a.log_text().contains("every IKE SA is deleted"),
        "{}",
        a.log_text()
    );
    wait_for(ESTABLISH_DEADLINE, "the peer to see the delete", || {
        (state_of(&b).as_deref() == Some("down")).then_some(())
    });
    b.signal("TERM");
    assert_eq!(
        b.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        b.log_text()
    );
    assert!(!b.socket.exists());
    let out = a.cli(&["status"]);
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("ikehub: the daemon is not running (no control socket at "));
}

/// The SPIs of the connection's IKE SAs and CHILD_SAs in a `status --json` document.
fn spis(status: &Value) -> Vec<String> {
    let mut spis = Vec::new();
    for sa in connection(status)["ike_sas"]
        .as_array()
        .into_iter()
        .flatten()
    {
        spis.push(format!("ike {} {}", sa["spi_i"], sa["spi_r"]));
        for child in sa["children"].as_array().into_iter().flatten() {
            spis.push(format!("child {} {}", child["spi_in"], child["spi_out"]));
        }
    }
    spis
}

#[test]
fn a_reload_that_changes_only_dpd_and_lifetimes_keeps_the_tunnel() {
    if skip_unless_root("a_reload_that_changes_only_dpd_and_lifetimes_keeps_the_tunnel") {
        return;
    }
    let dir = TempDir::new("in-place");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 81),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 82),
        subnet: "10.2.0.0/16",
    };
    let (a_config, b_config) = pair_configs(&a_side, &b_side);
    let b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let a = Daemon::start(&dir.0, "a", &a_config);
    let (sa, _) = wait_both(&a, &b, "established", ESTABLISH_DEADLINE);
    let before = spis(&sa);
    assert_eq!(before.len(), 2, "one IKE SA, one CHILD_SA: {sa}");

    // Only the DPD interval: updated in place, the same SAs.
    let changed = config_text(&a_side, &b_side, true, "dpd_interval = \"20s\"");
    std::fs::write(&a.config, changed).expect("write");
    let out = a.cli(&["reload"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "reloaded\nadded: none\nremoved: none\nre-established (changed): none\nupdated in place: tunnel\nunchanged: none\n"
    );
    assert!(a
        .log_text()
        .contains("changed (re-established) none; updated in place (SAs kept) tunnel;"));
    let after = a.status().expect("status");
    assert_eq!(connection(&after)["state"], "established");
    assert_eq!(spis(&after), before);

    // A shorter CHILD_SA lifetime too: the running CHILD_SA's rekey comes forward (from
    // within 54-60 minutes to within 9-10), still on the same SAs.
    let changed = config_text(
        &a_side,
        &b_side,
        true,
        "dpd_interval = \"20s\"\nchild_lifetime = \"10m\"",
    );
    std::fs::write(&a.config, changed).expect("write");
    let out = a.cli(&["reload"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated in place: tunnel\n"));
    let after = a.status().expect("status");
    assert_eq!(spis(&after), before);
    let rekey_in = connection(&after)["ike_sas"][0]["children"][0]["rekey_in_s"].as_u64();
    assert!(rekey_in.is_some_and(|s| s <= 600), "{after}");

    // The peer saw nothing: it holds the same SAs.
    let peer = b.status().expect("status");
    assert_eq!(connection(&peer)["state"], "established");
    assert_eq!(spis(&peer).len(), 2);
    assert_eq!(
        connection(&peer)["ike_sas"][0]["spi_i"],
        connection(&after)["ike_sas"][0]["spi_i"]
    );
}

/// The fields of an IKE header (RFC 7296 3.1).
struct Header {
    spi_i: u64,
    spi_r: u64,
    next: u8,
    exchange: u8,
    flags: u8,
    message_id: u32,
}

/// An IKE header followed by `body`; its length field is off by `length_delta`.
fn ike_message(h: Header, body: &[u8], length_delta: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(28 + body.len());
    m.extend_from_slice(&h.spi_i.to_be_bytes());
    m.extend_from_slice(&h.spi_r.to_be_bytes());
    m.extend_from_slice(&[h.next, 0x20, h.exchange, h.flags]);
    m.extend_from_slice(&h.message_id.to_be_bytes());
    let length = (28 + body.len()) as i64 + length_delta;
    m.extend_from_slice(&(length as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// The `i`-th malformed IKE message, cycling through kinds of damage.
fn malformed(i: u32, spi_i: u64, spi_r: u64) -> Vec<u8> {
    let noise: Vec<u8> = (0..40u32).map(|k| (k * 31 + i * 7) as u8).collect();
    // An SK payload header (next 0, length 36) with 32 octets of noise as IV, data and ICV.
    let mut sk = vec![0u8, 0, 0, 36];
    sk.extend_from_slice(&noise[..32]);
    // Requests as the original initiator would send them (I flag), INFORMATIONAL.
    let informational = |spi_i, spi_r, message_id| Header {
        spi_i,
        spi_r,
        next: 46,
        exchange: 37,
        flags: 0x08,
        message_id,
    };
    match i % 5 {
        // Truncated header.
        0 => noise[..(1 + i as usize % 27)].to_vec(),
        // Header length disagreeing with the datagram.
        1 => ike_message(informational(0x1111, 0x2222, 5), &noise[..8], 13),
        // Unknown exchange type, unknown SPIs.
        2 => ike_message(
            Header {
                spi_i: 0xdead_0000 + u64::from(i),
                spi_r: 0xbeef,
                next: 0,
                exchange: 99,
                flags: 0x08,
                message_id: 1,
            },
            &[],
            0,
        ),
        // Garbage SK payload on the live IKE SA, in the message-ID window.
        3 => ike_message(informational(spi_i, spi_r, 2), &sk, 0),
        // Garbage SK payload on the live IKE SA, far outside the window.
        _ => ike_message(informational(spi_i, spi_r, 0x7fff_0000 + i), &sk, 0),
    }
}

fn dropped_total(status: &Value) -> u64 {
    let c = &status["daemon"]["counters"];
    [
        "dropped_malformed",
        "dropped_undecryptable",
        "dropped_unknown_sa",
        "dropped_unexpected",
        "dropped_bad_marker",
    ]
    .iter()
    .map(|k| c[*k].as_u64().expect("counter"))
    .sum()
}

#[test]
fn malformed_datagrams_are_counted_and_the_sa_survives_and_the_socket_is_root_only() {
    if skip_unless_root("malformed_datagrams_are_counted_and_the_sa_survives") {
        return;
    }
    let dir = TempDir::new("malformed");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 3),
        subnet: "10.3.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 4),
        subnet: "10.4.0.0/16",
    };
    let (a_config, b_config) = pair_configs(&a_side, &b_side);
    let b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let a = Daemon::start(&dir.0, "a", &a_config);
    let (_, sb) = wait_both(&a, &b, "established", ESTABLISH_DEADLINE);
    let ike = &connection(&sb)["ike_sas"][0];
    let spi_i = u64::from_str_radix(ike["spi_i"].as_str().expect("spi"), 16).expect("hex");
    let spi_r = u64::from_str_radix(ike["spi_r"].as_str().expect("spi"), 16).expect("hex");

    // A non-root caller is told the socket is root-only.
    match ["setpriv", "su"]
        .iter()
        .find(|tool| Command::new(tool).arg("--help").output().is_ok())
    {
        None => println!("SKIPPED the non-root check: neither setpriv nor su exists"),
        Some(&tool) => {
            let socket = b.socket.to_str().expect("utf-8");
            // The build directory may not be reachable for an unprivileged user (e.g. under
            // /root): run a copy from the test's own world-readable directory.
            let client = dir.0.join("ikehub-client");
            std::fs::copy(BINARY, &client).expect("copy the binary");
            let client = client.to_str().expect("utf-8");
            for command in ["status", "routes --json"] {
                let out = if tool == "setpriv" {
                    Command::new("setpriv")
                        .args(["--reuid=65534", "--regid=65534", "--clear-groups", client])
                        .args(["--socket", socket])
                        .args(command.split(' '))
                        .output()
                } else {
                    Command::new("su")
                        .args(["nobody", "-s", "/bin/sh", "-c"])
                        .arg(format!("{client} --socket {socket} {command}"))
                        .output()
                }
                .expect("run as nobody");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(77), "{command}: {stderr}");
                assert!(
                    stderr.contains(&format!("ikehub: permission denied on {socket}: the control socket is root-only (members of [gateway] control_group may read); run as root (e.g. sudo ikehub status)")),
                    "{stderr}"
                );
                assert!(out.stdout.is_empty());
            }
        }
    }

    // 1000 malformed datagrams to B's ports 500 and 4500, in rounds of 100; each round is
    // waited for in the counters, so the count must come out exact.
    let sender = UdpSocket::bind("127.0.0.9:0").expect("bind sender");
    let before = dropped_total(&b.status().expect("status"));
    let mut sent = 0u64;
    for round in 0..10u32 {
        for k in 0..100u32 {
            let i = round * 100 + k;
            let message = malformed(i, spi_i, spi_r);
            if i % 2 == 0 {
                sender
                    .send_to(&message, (b_side.address, 500))
                    .expect("send");
            } else if i % 10 == 9 {
                // Short datagram without the non-ESP marker (the kernel passes <= 8 bytes
                // that are not ESP up to the socket).
                sender
                    .send_to(&[0x12, 0x34, (i % 256) as u8], (b_side.address, 4500))
                    .expect("send");
            } else {
                let mut framed = vec![0u8; 4];
                framed.extend_from_slice(&message);
                sender
                    .send_to(&framed, (b_side.address, 4500))
                    .expect("send");
            }
            sent += 1;
        }
        wait_for(Duration::from_secs(10), "the drops to be counted", || {
            let now = dropped_total(&b.status()?);
            (now >= before + sent).then_some(())
        });
    }
    let status = b.status().expect("status");
    println!(
        "counters after 1000 malformed datagrams: {}",
        status["daemon"]["counters"]
    );
    assert_eq!(
        dropped_total(&status) - before,
        1000,
        "{}",
        status["daemon"]
    );
    // Where each kind of damage is counted (see `malformed`): truncated headers and wrong
    // lengths fail to parse; unknown SPIs name no SA; garbage SK in the window fails its
    // integrity check, outside it is unexpected; 100 datagrams lacked the non-ESP marker.
    let counters = &status["daemon"]["counters"];
    let expected = serde_json::json!({
        "dropped_malformed": 400,
        "dropped_unknown_sa": 200,
        "dropped_undecryptable": 200,
        "dropped_unexpected": 100,
        "dropped_bad_marker": 100,
    });
    for (name, value) in expected.as_object().expect("object") {
        assert_eq!(&counters[name], value, "{name}: {counters}");
    }
    assert_eq!(counters["responses_resent"], 0, "{counters}");
    // The sockets' own drop counters are read and shown: none dropped, the buffers are large.
    assert_eq!(counters["dropped_by_kernel"], 0, "{counters}");

    // The IKE SA is untouched and still works: a delete protected by its keys takes both
    // sides down.
    let conn = connection(&status);
    assert_eq!(conn["state"], "established");
    assert_eq!(conn["ike_sas"][0]["spi_i"], ike["spi_i"]);
    assert_eq!(conn["ike_sas"].as_array().map(Vec::len), Some(1));
    let out = a.cli(&["down", "tunnel"]);
    assert!(out.status.success());
    wait_both(&a, &b, "down", ESTABLISH_DEADLINE);
}

#[test]
fn a_bad_configuration_stops_the_daemon_with_every_error() {
    let dir = TempDir::new("badconfig");
    let path = dir.0.join("bad.toml");
    write_with_mode(
        &path,
        0o644,
        "[gateway]\nname = \"gw\"\nlocal_addresses = [\"not-an-address\"]\n\n[[connection]]\nname = \"x\"\npeer = \"missing\"\npsk = \"k\"\n",
    );
    let out = Command::new(BINARY)
        .args(["--socket"])
        .arg(dir.0.join("s.sock"))
        .args(["daemon", "--dataplane", "recording", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not-an-address"), "{stderr}");
    assert!(stderr.contains("missing"), "{stderr}");
    // The file is readable by others (0644 here), so its inline key is refused too.
    assert!(
        stderr.contains(&format!(
            "group or others can access it; run chmod 600 {}",
            path.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("the daemon did not start"), "{stderr}");
    assert!(!dir.0.join("s.sock").exists());
}

/// A second connection, over IKEv1.
const LEGACY_CONNECTION: &str = r#"
[[connection]]
name = "legacy"
peer = "other"
version = "ikev1"
psk = "test-only-key-f3a9c1d2e5b7"
remote_subnets = ["10.7.0.0/16"]
"#;

#[test]
fn systemd_is_told_ready_watchdog_and_stopping() {
    if skip_unless_root("systemd_is_told_ready_watchdog_and_stopping") {
        return;
    }
    use std::os::unix::net::UnixDatagram;
    let dir = TempDir::new("notify");
    let notify_path = dir.0.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("bind notify socket");
    // Each receive waits at most this long: a deadline, not a delay.
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, 5),
        subnet: "10.5.0.0/16",
    };
    let peer = Side {
        address: Ipv4Addr::new(127, 0, 0, 6),
        subnet: "10.6.0.0/16",
    };
    // A socket file left by a daemon that did not exit cleanly is replaced.
    drop(std::os::unix::net::UnixListener::bind(dir.0.join("gw.sock")).expect("stale socket"));
    assert!(dir.0.join("gw.sock").exists());
    let watchdog_usec = PathBuf::from("200000");
    let mut daemon = Daemon::start_with_env(
        &dir.0,
        "gw",
        &config_text(&me, &peer, false, LEGACY_CONNECTION),
        &[
            ("NOTIFY_SOCKET", notify_path.as_path()),
            ("WATCHDOG_USEC", watchdog_usec.as_path()),
        ],
    );
    let mut buf = [0u8; 256];
    let mut next = || {
        let n = notify.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(next(), "READY=1");
    // Ready means the sockets are bound and the control socket answers.
    assert!(
        UdpSocket::bind((me.address, 500)).is_err(),
        "port 500 is taken"
    );
    assert!(
        UdpSocket::bind((me.address, 4500)).is_err(),
        "port 4500 is taken"
    );
    let status = daemon.status().expect("status right after READY=1");
    assert_eq!(connection(&status)["state"], "down");
    assert_eq!(next(), "STATUS=2 connection(s) configured");

    // The IKEv1 connection runs beside the IKEv2 one.
    let legacy = &status["connections"][1];
    assert_eq!(legacy["name"], "legacy");
    assert_eq!(legacy["peer_address"], "127.0.0.6");
    assert_eq!(legacy["remote_subnets"], serde_json::json!(["10.7.0.0/16"]));
    assert!(legacy["last_error"].is_null(), "{legacy}");
    let out = daemon.cli(&["status", "legacy", "--json"]);
    assert!(out.status.success());
    let only: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(only["connections"].as_array().map(Vec::len), Some(1));
    assert_eq!(only["connections"][0]["name"], "legacy");
    let out = daemon.cli(&["status", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("unknown connection \"nope\"; known connections: legacy, tunnel"));
    // WATCHDOG_USEC=200 ms: petted every 100 ms.
    let start = Instant::now();
    assert_eq!(next(), "WATCHDOG=1");
    assert_eq!(next(), "WATCHDOG=1");
    assert!(start.elapsed() < Duration::from_secs(2));
    daemon.signal("TERM");
    let stopping = wait_for(Duration::from_secs(10), "STOPPING=1", || {
        let message = next();
        (message != "WATCHDOG=1").then_some(message)
    });
    assert_eq!(stopping, "STOPPING=1");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!daemon.socket.exists());
}

/// A hub with `east` (active for its subnet, published) and a second connection whose subnet
/// route is a standby one (for the backup twin of east, the same subnet).
fn hub_config(hub: &Side, east: &Side, (second, second_side): (&str, &Side)) -> String {
    let connection = |name: &str, peer: &Side| {
        format!(
            r#"
[[peer]]
name = "{name}"
address = "{address}"

[[connection]]
name = "{name}"
peer = "{name}"
psk = "test-only-key-f3a9c1d2e5b7"
remote_subnets = ["{subnet}"]
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes256-sha256"]
"#,
            address = peer.address,
            subnet = peer.subnet,
        )
    };
    format!(
        r#"
[gateway]
name = "hub"
local_addresses = ["{address}"]
local_subnets = ["{subnet}"]
hub = true
{east}{second_connection}
[[route]]
destination = "{east_subnet}"
connection = "east"
weight = 100
publish = true

[[route]]
destination = "{second_subnet}"
connection = "{second}"
weight = 0
"#,
        address = hub.address,
        subnet = hub.subnet,
        east = connection("east", east),
        east_subnet = east.subnet,
        second_connection = connection(second, second_side),
        second_subnet = second_side.subnet,
    )
}

/// `ikehub routes --json`, parsed.
fn routes(daemon: &Daemon) -> Option<Value> {
    let out = daemon.cli(&["routes", "--json"]);
    if !out.status.success() {
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("routes --json is JSON"))
}

/// The state of each route entry, in configuration order.
fn route_states(daemon: &Daemon) -> Option<Vec<String>> {
    let routes = routes(daemon)?;
    routes["routes"].as_array().map(|list| {
        list.iter()
            .map(|r| r["state"].as_str().unwrap_or("").to_owned())
            .collect()
    })
}

fn wait_routes(daemon: &Daemon, expected: &[&str]) {
    let mut last = None;
    let found = wait_for_or_none(ESTABLISH_DEADLINE, || {
        let states = route_states(daemon);
        let matched = states
            .as_ref()
            .is_some_and(|s| s.iter().map(String::as_str).eq(expected.iter().copied()));
        last = states;
        matched.then_some(())
    });
    assert!(
        found.is_some(),
        "routes never became {expected:?}; last {last:?}; hub log:\n{}",
        daemon.log_text()
    );
}

/// Like `wait_for`, but `None` at the deadline so the caller can say what it saw.
fn wait_for_or_none<T>(deadline: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(POLL_EVERY);
    }
}

#[test]
fn hub_routes_follow_the_tunnels_between_active_and_standby() {
    if skip_unless_root("hub_routes_follow_the_tunnels_between_active_and_standby") {
        return;
    }
    let dir = TempDir::new("hub");
    let hub_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 11),
        subnet: "10.1.0.0/16",
    };
    // Two sites behind the same network: the active one and its standby twin.
    let east_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 12),
        subnet: "10.2.0.0/16",
    };
    let backup_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 13),
        subnet: "10.2.0.0/16",
    };
    let mut hub = Daemon::start(
        &dir.0,
        "hub",
        &hub_config(&hub_side, &east_side, ("backup", &backup_side)),
    );
    wait_for(ESTABLISH_DEADLINE, "the hub to listen", || hub.status());

    // Before any tunnel: both entries down, with the documented JSON shape.
    let before = routes(&hub).expect("routes");
    assert_eq!(
        before,
        serde_json::json!({"schema": 1, "routes": [
            {"destination": "10.2.0.0/16", "connection": "east", "interface": "ikh-east",
             "weight": 100, "state": "down", "published": true},
            {"destination": "10.2.0.0/16", "connection": "backup", "interface": "ikh-backup",
             "weight": 0, "state": "down", "published": false},
        ]})
    );
    // Both commands print their JSON alike: pretty-printed, their `schema` first.
    let raw_routes = String::from_utf8_lossy(&hub.cli(&["routes", "--json"]).stdout).into_owned();
    assert!(
        raw_routes
            .starts_with("{\n  \"schema\": 1,\n  \"routes\": [\n    {\n      \"destination\": "),
        "{raw_routes}"
    );
    let raw_status = String::from_utf8_lossy(&hub.cli(&["status", "--json"]).stdout).into_owned();
    assert!(
        raw_status.starts_with("{\n  \"schema\": 1,\n  \"daemon\": {\n    \"uptime_s\": "),
        "{raw_status}"
    );
    let status = hub.status().expect("status");
    let east_status = &status["connections"][0];
    assert_eq!(east_status["name"], "east");
    assert_eq!(east_status["interface"], "ikh-east");
    assert!(
        east_status["if_id"].as_u64().is_some_and(|id| id > 0),
        "{east_status}"
    );
    assert_ne!(east_status["if_id"], status["connections"][1]["if_id"]);
    let human = String::from_utf8_lossy(&hub.cli(&["status"]).stdout).into_owned();
    assert!(human.contains("interface: ikh-east (if_id "), "{human}");

    // Both sites connect: east carries, backup stands by.
    let east = Daemon::start(
        &dir.0,
        "east",
        &config_text(&east_side, &hub_side, true, ""),
    );
    let mut backup = Daemon::start(
        &dir.0,
        "backup",
        &config_text(&backup_side, &hub_side, true, ""),
    );
    wait_routes(&hub, &["active", "standby"]);
    let out = hub.cli(&["routes"]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for heading in [
        "DESTINATION",
        "CONNECTION",
        "INTERFACE",
        "WEIGHT",
        "STATE",
        "PUBLISHED",
    ] {
        assert!(lines[0].contains(heading), "{table}");
    }
    let columns =
        |line: &str| -> Vec<String> { line.split_whitespace().map(str::to_owned).collect() };
    assert_eq!(
        columns(lines[1]),
        ["10.2.0.0/16", "east", "ikh-east", "100", "active", "yes"]
    );
    assert_eq!(
        columns(lines[2]),
        ["10.2.0.0/16", "backup", "ikh-backup", "0", "standby", "no"]
    );
    // A gateway outside hub mode has no routes to show.
    assert_eq!(
        routes(&east).expect("routes"),
        serde_json::json!({"schema": 1, "routes": []})
    );

    // The hub takes east down: backup carries.
    let out = hub.cli(&["down", "east"]);
    assert!(out.status.success());
    wait_routes(&hub, &["down", "active"]);

    // The backup site stops (and deletes its SAs): nothing carries.
    backup.signal("TERM");
    assert_eq!(backup.wait_exit(Duration::from_secs(10)), Some(0));
    wait_routes(&hub, &["down", "down"]);

    // East comes back, from the hub's side: traffic returns to it.
    let out = hub.cli(&["up", "east"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_routes(&hub, &["active", "down"]);

    // SIGHUP: backup is removed (its interface deleted), west is added (and gets one).
    let west_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 14),
        subnet: "10.4.0.0/16",
    };
    let reloaded = hub_config(&hub_side, &east_side, ("west", &west_side));
    std::fs::write(&hub.config, &reloaded).expect("write config");
    hub.signal("HUP");
    let after = wait_for(ESTABLISH_DEADLINE, "the reloaded route table", || {
        let routes = routes(&hub)?;
        (routes["routes"][1]["connection"] == "west").then_some(routes)
    });
    assert_eq!(
        after,
        serde_json::json!({"schema": 1, "routes": [
            {"destination": "10.2.0.0/16", "connection": "east", "interface": "ikh-east",
             "weight": 100, "state": "active", "published": true},
            {"destination": "10.4.0.0/16", "connection": "west", "interface": "ikh-west",
             "weight": 0, "state": "down", "published": false},
        ]})
    );
    let status = hub.status().expect("status");
    let names: Vec<&str> = status["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter_map(|c| c["interface"].as_str())
        .collect();
    assert_eq!(names, ["ikh-east", "ikh-west"]);

    let log = hub.log_text();
    assert!(log.contains("east: interface ikh-east (if_id "), "{log}");
    assert!(log.contains("west: interface ikh-west (if_id "), "{log}");
    assert!(
        log.contains("backup: interface ikh-backup deleted"),
        "{log}"
    );
    assert!(
        log.contains("hub: 10.2.0.0/16 now through backup (ikh-backup)"),
        "{log}"
    );
    assert!(
        log.contains("hub: 10.2.0.0/16 unreachable: none of its connections is up"),
        "{log}"
    );
    assert!(!log.contains("kernel refused"), "{log}");
    hub.signal("TERM");
    assert_eq!(hub.wait_exit(Duration::from_secs(10)), Some(0));
    // East's routes were withdrawn with its deletes; the two interfaces, the two unreachable
    // routes and the rules are left to remove.
    let log = hub.log_text();
    assert!(
        log.contains("hub: removed 5 interface(s), route(s) and rule(s)"),
        "{log}"
    );
}

/// A negotiation refused for its proposals is visible on both ends: the responder's status
/// and log name NO_PROPOSAL_CHOSEN with both proposal lists, the initiator's say the peer
/// refused.
#[test]
fn mismatched_proposals_show_on_both_ends() {
    if skip_unless_root("mismatched_proposals_show_on_both_ends") {
        return;
    }
    let dir = TempDir::new("mismatch");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 21),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 22),
        subnet: "10.2.0.0/16",
    };
    let (a_config, b_config) = pair_configs(&a_side, &b_side);
    let b_config = b_config.replace(
        r#"ike_proposals = ["aes128gcm16-prfsha256-ecp256"]"#,
        r#"ike_proposals = ["aes256-sha256-modp2048"]"#,
    );
    let mut b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let mut a = Daemon::start(&dir.0, "a", &a_config);
    let last_error = |daemon: &Daemon| {
        daemon
            .status()
            .and_then(|s| connection(&s)["last_error"].as_str().map(str::to_owned))
    };
    let refused = wait_for(ESTABLISH_DEADLINE, "the responder's last_error", || {
        last_error(&b)
    });
    assert!(
        refused.contains(
            "IKE_SA_INIT (message ID 0, peer 127.0.0.21:500): refused with NO_PROPOSAL_CHOSEN"
        ),
        "{refused}"
    );
    assert!(
        refused.contains("ours aes256-sha256-prfsha256-modp2048")
            && refused.contains("offered aes128gcm16-prfsha256-ecp256"),
        "{refused}"
    );
    let told = wait_for(ESTABLISH_DEADLINE, "the initiator's last_error", || {
        last_error(&a)
    });
    assert!(
        told.contains(
            "IKE_SA_INIT (message ID 0, peer 127.0.0.22:500): the peer refused with NO_PROPOSAL_CHOSEN: we offered aes128gcm16-prfsha256-ecp256"
        ),
        "{told}"
    );
    // Each end logs what its status says, with the connection, and which end refused.
    for (side, daemon, prefix, text, by) in [
        ("responder", &b, "tunnel: ", &refused, "us"),
        ("initiator", &a, "tunnel: IKE SA down: ", &told, "peer"),
    ] {
        assert_logged_at_info_or_warn(daemon, prefix, text, side);
        let status = daemon.status().expect("status");
        assert_eq!(connection(&status)["last_error_by"], by, "{side}");
    }
    // `up` waits for the outcome: the refusal, by its RFC name, and exit status 3.
    let out = a.cli(&["down", "tunnel"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = a.cli(&["up", "tunnel", "--timeout", "20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("ikehub: tunnel: failed: ")
            && stderr.contains("IKE_SA_INIT (message ID 0, peer 127.0.0.22:500): the peer refused with NO_PROPOSAL_CHOSEN"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tunnel: initiating\n"));
    for daemon in [&mut a, &mut b] {
        daemon.signal("TERM");
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    }
}

/// A CHILD_SA refused in IKE_AUTH (disjoint selectors: TS_UNACCEPTABLE) leaves both ends'
/// IKE SA up without it: status says `no-child-sa`, never `established`, with the refusal and
/// its time, and `up` does not pretend the tunnel is there. Once the selectors match, both
/// ends are established, and the refusal stays visible, dated before the tunnel came up.
#[test]
fn a_refused_child_sa_is_not_reported_established() {
    if skip_unless_root("a_refused_child_sa_is_not_reported_established") {
        return;
    }
    let dir = TempDir::new("no-child");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 41),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 42),
        subnet: "10.2.0.0/16",
    };
    let (matching, b_config) = pair_configs(&a_side, &b_side);
    let disjoint = matching.replace(
        r#"remote_subnets = ["10.2.0.0/16"]"#,
        r#"remote_subnets = ["172.16.0.0/12"]"#,
    );
    assert_ne!(disjoint, matching);
    let mut b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let mut a = Daemon::start(&dir.0, "a", &disjoint);
    let (sa, sb) = wait_for(
        ESTABLISH_DEADLINE,
        "both sides no-child-sa with the refusal",
        || {
            let (sa, sb) = (a.status()?, b.status()?);
            let ready = [&sa, &sb].iter().all(|s| {
                connection(s)["state"] == "no-child-sa" && connection(s)["last_error"].is_string()
            });
            ready.then_some((sa, sb))
        },
    );
    for (side, status, refusal) in [
        (
            "initiator",
            &sa,
            "IKE_AUTH (message ID 1, peer 127.0.0.42:500): the peer refused with TS_UNACCEPTABLE: no CHILD_SA; we offered aes256-sha256, local 10.1.0.0/16, remote 172.16.0.0/12",
        ),
        (
            "responder",
            &sb,
            "IKE_AUTH (message ID 1, peer 127.0.0.41:500): refused with TS_UNACCEPTABLE: traffic selectors do not fit ours (local 10.2.0.0/16, remote 10.1.0.0/16): offered TSi 10.1.0.0/16, TSr 172.16.0.0/12",
        ),
    ] {
        let conn = connection(status);
        let error = conn["last_error"].as_str().unwrap_or_default();
        assert!(error.contains(refusal), "{side}: {error}");
        let by = if side == "initiator" { "peer" } else { "us" };
        assert_eq!(conn["last_error_by"], by, "{side}");
        let at = conn["last_error_at"].as_str().unwrap_or_default();
        assert!(is_rfc3339_utc(at), "{side}: {at:?}");
        assert!(
            conn["last_error_s"].as_u64().is_some_and(|s| s < 30),
            "{side}: {conn}"
        );
        assert_eq!(conn["ike_sas"][0]["state"], "no-child-sa", "{side}");
        assert_eq!(conn["ike_sas"][0]["children"], serde_json::json!([]));
        let daemon = if side == "initiator" { &a } else { &b };
        assert_logged_at_info_or_warn(daemon, "tunnel: CHILD_SA not established: ", error, side);
    }
    for (side, daemon) in [("initiator", &a), ("responder", &b)] {
        let out = daemon.cli(&["status"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("established"), "{side}: {text}");
        assert!(
            text.contains("tunnel: no-child-sa (IKE SA up, no traffic protected), peer "),
            "{side}: {text}"
        );
        assert!(text.contains("  last error (20"), "{side}: {text}");
        let json = String::from_utf8_lossy(&daemon.cli(&["status", "--json"]).stdout).into_owned();
        assert!(!json.contains("established\""), "{side}: {json}");
    }
    // `up` on the IKE SA without a CHILD_SA asks the peer for one (CREATE_CHILD_SA), which
    // it refuses again: exit status 3 with the refusal's RFC name.
    let out = a.cli(&["up", "tunnel", "--timeout", "20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("ikehub: tunnel: failed: ") && stderr.contains("TS_UNACCEPTABLE"),
        "{stderr}"
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed
            .starts_with("tunnel: the IKE SA is up without a CHILD_SA; asking the peer for one\n")
            && printed.contains("tunnel: CHILD_SA not established: "),
        "{printed}"
    );
    // From down, `up` sees the IKE SA come up and the CHILD_SA refused in IKE_AUTH.
    let out = a.cli(&["down", "tunnel"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = a.cli(&["up", "tunnel", "--timeout", "20"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "IKE_AUTH (message ID 1, peer 127.0.0.42:500): the peer refused with TS_UNACCEPTABLE"
        ),
        "{stderr}"
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("tunnel: IKE SA established with 127.0.0.42:500\n"),
        "{printed}"
    );
    // Without waiting, `up` answers at once.
    let out = a.cli(&["up", "tunnel", "--no-wait"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("tunnel: "));

    // Matching selectors: the changed connection is negotiated again, and both ends are
    // established with their CHILD_SA.
    std::fs::write(&a.config, &matching).expect("write config");
    a.signal("HUP");
    let (sa, sb) = wait_both(&a, &b, "established", ESTABLISH_DEADLINE);
    for status in [&sa, &sb] {
        let ike = &connection(status)["ike_sas"][0];
        assert_eq!(ike["state"], "established");
        hex_field(&ike["children"][0]["spi_in"], 8);
    }
    // The responder's connection was not changed: the success moved its refusal to
    // previous_error, with its time, older than its CHILD_SA; last_error is clear.
    let conn = connection(&sb);
    assert_eq!(conn["last_error"], Value::Null, "{conn}");
    assert_eq!(conn["last_error_at"], Value::Null, "{conn}");
    assert!(
        conn["previous_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused with TS_UNACCEPTABLE")),
        "{conn}"
    );
    assert_eq!(conn["previous_error_by"], "us", "{conn}");
    let at = conn["previous_error_at"].as_str().unwrap_or_default();
    assert!(is_rfc3339_utc(at), "{at:?}");
    let failed_s = conn["previous_error_s"]
        .as_u64()
        .expect("the failure's age");
    let child_s = conn["ike_sas"][0]["children"][0]["established_s"]
        .as_u64()
        .expect("the CHILD_SA's age");
    assert!(failed_s >= child_s, "{conn}");
    let human = String::from_utf8_lossy(&b.cli(&["status"]).stdout).into_owned();
    assert!(human.contains("  previous error (20"), "{human}");
    assert!(!human.contains("  last error"), "{human}");
    for daemon in [&mut a, &mut b] {
        daemon.signal("TERM");
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    }
}

/// `daemon`'s log has `text` (a status `last_error`) on an info or warn line of the
/// connection, after `prefix`.
fn assert_logged_at_info_or_warn(daemon: &Daemon, prefix: &str, text: &str, side: &str) {
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|line| line.contains(&format!("{prefix}{text}")));
    let Some(line) = line else {
        panic!("{side}: no log line with {prefix:?} and {text:?}:\n{log}");
    };
    assert!(
        line.contains(" INFO ") || line.contains(" WARN "),
        "{side}: {line}"
    );
}

/// "2026-12-07T11:50:02Z": RFC 3339, UTC, whole seconds.
fn is_rfc3339_utc(text: &str) -> bool {
    let digits = |range: std::ops::Range<usize>| {
        text.get(range)
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    };
    text.len() == 20
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && digits(11..13)
        && digits(14..16)
        && digits(17..19)
        && text.get(4..5) == Some("-")
        && text.get(7..8) == Some("-")
        && text.get(10..11) == Some("T")
        && text.get(13..14) == Some(":")
        && text.get(16..17) == Some(":")
        && text.ends_with('Z')
}

#[test]
fn a_trap_connection_shows_trapped_until_traffic_asks_for_it() {
    if skip_unless_root("a_trap_connection_shows_trapped_until_traffic_asks_for_it") {
        return;
    }
    let dir = TempDir::new("trap");
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, 1),
        subnet: "10.1.0.0/16",
    };
    let peer = Side {
        address: Ipv4Addr::new(127, 0, 0, 2),
        subnet: "10.2.0.0/16",
    };
    let config = config_text(&me, &peer, false, "")
        .replace("start_action = \"listen\"", "start_action = \"trap\"");
    let mut a = Daemon::start(&dir.0, "a", &config);
    // The recording dataplane takes the trap's policies and never reports traffic: the
    // connection waits, with no IKE SA.
    let status = wait_for(ESTABLISH_DEADLINE, "the trap", || {
        a.status().filter(|s| connection(s)["state"] == "trapped")
    });
    assert_eq!(connection(&status)["ike_sas"], serde_json::json!([]));
    let human = a.cli(&["status"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("tunnel: trapped"), "{human}");
    assert!(
        a.log_text().contains("trap policies installed"),
        "{}",
        a.log_text()
    );
    a.signal("TERM");
    assert_eq!(a.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn a_second_daemon_of_the_instance_gives_up_and_a_killed_one_leaves_no_lock() {
    if skip_unless_root("a_second_daemon_of_the_instance_gives_up_and_a_killed_one_leaves_no_lock")
    {
        return;
    }
    let dir = TempDir::new("instance");
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, 51),
        subnet: "10.51.0.0/16",
    };
    let other = Side {
        address: Ipv4Addr::new(127, 0, 0, 52),
        subnet: "10.52.0.0/16",
    };
    let mut first = Daemon::start(&dir.0, "a", &config_text(&me, &other, false, ""));
    wait_for(ESTABLISH_DEADLINE, "the first daemon to answer", || {
        first.status()
    });
    assert_eq!(
        std::fs::read_to_string(dir.0.join("a.lock")).expect("the lock file"),
        format!("{}\n", first.child.id())
    );

    // Same socket, another configuration (other addresses, so that nothing but the lock
    // stands in its way).
    let second_config = dir.0.join("second.toml");
    write_private(&second_config, &config_text(&other, &me, true, ""));
    let out = Command::new(BINARY)
        .arg("--socket")
        .arg(&first.socket)
        .args(["daemon", "--dataplane", "recording", "--config"])
        .arg(&second_config)
        .env("IKEHUB_LOG", "info")
        .output()
        .expect("run the second daemon");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another ikehub daemon (pid {}) runs for this instance: ",
            first.child.id()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("listening on"), "{stderr}");
    assert!(first.status().is_some(), "the first daemon still answers");

    // SIGKILL: the kernel drops the lock with the process, the next daemon starts.
    first.signal("KILL");
    assert!(first.wait_exit(ESTABLISH_DEADLINE).is_none(), "killed");
    let next = Daemon::start(&dir.0, "a", &config_text(&me, &other, false, ""));
    wait_for(ESTABLISH_DEADLINE, "the next daemon to answer", || {
        next.status()
    });
}

/// Both ends' failures of one negotiation, once each end's status has one: the status
/// `last_error` of the initiator (`a`) and of the responder (`b`).
fn wait_last_errors(a: &Daemon, b: &Daemon, containing: &str) -> (Value, Value) {
    wait_for(ESTABLISH_DEADLINE, "both ends' last_error", || {
        let (sa, sb) = (a.status()?, b.status()?);
        let has = |s: &Value| {
            connection(s)["last_error"]
                .as_str()
                .is_some_and(|e| e.contains(containing))
        };
        (has(&sa) && has(&sb)).then(|| (connection(&sa).clone(), connection(&sb).clone()))
    })
}

/// A wrong pre-shared key: the responder refuses IKE_AUTH with AUTHENTICATION_FAILED. Both
/// ends log it and show it in status, with the exchange, its message ID, the peer, the
/// identities, the method and which end refused; the key itself never shows.
#[test]
fn a_wrong_psk_shows_on_both_ends() {
    if skip_unless_root("a_wrong_psk_shows_on_both_ends") {
        return;
    }
    let dir = TempDir::new("wrong-psk");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 91),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 92),
        subnet: "10.2.0.0/16",
    };
    let (a_config, b_config) = pair_configs(&a_side, &b_side);
    let wrong_key = "wrong-key-0b7e4d21c9a8";
    let a_config = a_config.replace("test-only-key-f3a9c1d2e5b7", wrong_key);
    assert!(a_config.contains(wrong_key));
    let mut b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let mut a = Daemon::start(&dir.0, "a", &a_config);
    let (ca, cb) = wait_last_errors(&a, &b, "AUTHENTICATION_FAILED");

    let refused = cb["last_error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        refused,
        "authentication failed: IKE_AUTH (message ID 1, peer 127.0.0.91:500): refused with \
         AUTHENTICATION_FAILED: AUTH payload of 127.0.0.91 (psk) does not verify with the \
         pre-shared key of connection tunnel (we are 127.0.0.92, auth psk)"
    );
    assert_eq!(cb["last_error_by"], "us");
    let told = ca["last_error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        told,
        "authentication failed: IKE_AUTH (message ID 1, peer 127.0.0.92:500): the peer refused \
         with AUTHENTICATION_FAILED: we are 127.0.0.91 (auth psk), expecting 127.0.0.92; check \
         the pre-shared key and identities"
    );
    assert_eq!(ca["last_error_by"], "peer");
    for (side, conn) in [("initiator", &ca), ("responder", &cb)] {
        let at = conn["last_error_at"].as_str().unwrap_or_default();
        assert!(is_rfc3339_utc(at), "{side}: {at:?}");
        assert!(
            conn["last_error_s"].as_u64().is_some_and(|s| s < 30),
            "{side}: {conn}"
        );
    }
    for (side, daemon, text) in [("initiator", &a, &told), ("responder", &b, &refused)] {
        assert_logged_at_info_or_warn(daemon, "tunnel: IKE SA down: ", text, side);
        let log = daemon.log_text();
        for key in ["test-only-key-f3a9c1d2e5b7", wrong_key] {
            assert!(!log.contains(key), "{side} logged a key: {log}");
        }
    }
    for daemon in [&mut a, &mut b] {
        daemon.signal("TERM");
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    }
}

/// The initiator identifies as someone the responder has no connection for: the responder
/// refuses IKE_AUTH with AUTHENTICATION_FAILED, naming the identity it got and the one it
/// expects; the initiator names the identity it used.
#[test]
fn an_unknown_identity_shows_on_both_ends() {
    if skip_unless_root("an_unknown_identity_shows_on_both_ends") {
        return;
    }
    let dir = TempDir::new("unknown-id");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 93),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 94),
        subnet: "10.2.0.0/16",
    };
    let (a_config, b_config) = pair_configs(&a_side, &b_side);
    let a_config = format!("{a_config}local_identity = \"stranger.example\"\n");
    let b_config = b_config.replace(
        "address = \"127.0.0.93\"\n",
        "address = \"127.0.0.93\"\nidentity = \"branch.example\"\n",
    );
    assert!(b_config.contains("branch.example"));
    let mut b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let mut a = Daemon::start(&dir.0, "a", &a_config);
    let (ca, cb) = wait_last_errors(&a, &b, "AUTHENTICATION_FAILED");

    let refused = cb["last_error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        refused,
        "authentication failed: IKE_AUTH (message ID 1, peer 127.0.0.93:500): refused with \
         AUTHENTICATION_FAILED: no connection for identity stranger.example (psk) from \
         127.0.0.93:500; remote IDs configured for this address: tunnel: branch.example"
    );
    assert_eq!(cb["last_error_by"], "us");
    let told = ca["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(
        told.starts_with(
            "authentication failed: IKE_AUTH (message ID 1, peer 127.0.0.94:500): the peer \
             refused with AUTHENTICATION_FAILED: we are stranger.example (auth psk)"
        ),
        "{told}"
    );
    assert_eq!(ca["last_error_by"], "peer");
    for (side, daemon, text) in [("initiator", &a, &told), ("responder", &b, &refused)] {
        assert_logged_at_info_or_warn(daemon, "tunnel: IKE SA down: ", text, side);
    }
    for daemon in [&mut a, &mut b] {
        daemon.signal("TERM");
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    }
}

/// IKEv1: the responder refuses Main Mode with NO_PROPOSAL_CHOSEN. Both ends log it with the
/// connection's name and show it in status, with the exchange by RFC 2409's name, its
/// message ID, the peer, both ends' proposals and which end refused.
#[test]
fn ikev1_mismatched_proposals_show_on_both_ends() {
    if skip_unless_root("ikev1_mismatched_proposals_show_on_both_ends") {
        return;
    }
    let dir = TempDir::new("v1-mismatch");
    let a_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 93),
        subnet: "10.1.0.0/16",
    };
    let b_side = Side {
        address: Ipv4Addr::new(127, 0, 0, 94),
        subnet: "10.2.0.0/16",
    };
    let v1 = |text: String, proposal: &str| {
        text.replace(
            r#"ike_proposals = ["aes128gcm16-prfsha256-ecp256"]"#,
            &format!("version = \"ikev1\"\nike_proposals = [\"{proposal}\"]"),
        )
    };
    let a_config = v1(
        config_text(&a_side, &b_side, true, ""),
        "aes128-sha256-ecp256",
    );
    let b_config = v1(
        config_text(&b_side, &a_side, false, ""),
        "aes256-sha256-modp2048",
    );
    let mut b = Daemon::start(&dir.0, "b", &b_config);
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let mut a = Daemon::start(&dir.0, "a", &a_config);
    let (ca, cb) = wait_last_errors(&a, &b, "NO_PROPOSAL_CHOSEN");

    let refused = cb["last_error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        refused,
        "refused: Main Mode (message ID 0, peer 127.0.0.93:500): refused with \
         NO_PROPOSAL_CHOSEN: no IKE proposal matches: ours aes256-sha256-modp2048; offered \
         aes128-sha256-ecp256"
    );
    assert_eq!(cb["last_error_by"], "us");
    let told = ca["last_error"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        told,
        "negotiation failed: Main Mode (message ID 0, peer 127.0.0.94:500): the peer refused \
         with NO_PROPOSAL_CHOSEN: we offered aes128-sha256-ecp256"
    );
    assert_eq!(ca["last_error_by"], "peer");
    for (side, daemon, prefix, text) in [
        ("responder", &b, "tunnel: ", &refused),
        ("initiator", &a, "tunnel: IKE SA down: ", &told),
    ] {
        assert_logged_at_info_or_warn(daemon, prefix, text, side);
    }
    for daemon in [&mut a, &mut b] {
        daemon.signal("TERM");
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    }
}
