//! `ikehub log` on a running daemon: one connection's lines go to debug and back while the
//! other's stay at the global level, and no SA is touched. Two daemons on loopback with the
//! recording dataplane, each with two connections (one per address pair); the initiator's
//! 1 s DPD interval keeps both connections exchanging messages. Binding port 500 needs root: without it the
//! test says so and returns.

mod support {
    pub mod daemon;
}

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use support::daemon::*;

const A1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 81);
const A2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 82);
const B1: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 83);
const B2: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 84);

/// A gateway with connections `one` (from `mine.0` to `theirs.0`) and `two` (from `mine.1`
/// to `theirs.1`). The initiator checks liveness every second; the responder only answers
/// (its interval is longer than the test), so every check is the initiator's own.
fn config(
    name: &str,
    mine: (Ipv4Addr, Ipv4Addr),
    theirs: (Ipv4Addr, Ipv4Addr),
    initiate: bool,
) -> String {
    let (start, dpd) = if initiate {
        ("initiate", "1s")
    } else {
        ("listen", "1h")
    };
    let connection = |conn: &str, local: Ipv4Addr, peer: &str, remote: Ipv4Addr| {
        format!(
            r#"
[[connection]]
name = "{conn}"
peer = "{peer}"
psk = "test-only-key-log-7c2e91"
local_address = "{local}"
local_identity = "{local}"
local_subnets = ["10.{l}.0.0/16"]
remote_subnets = ["10.{r}.0.0/16"]
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes256-sha256"]
start_action = "{start}"
dpd_interval = "{dpd}"
"#,
            l = local.octets()[3],
            r = remote.octets()[3],
        )
    };
    format!(
        r#"
[gateway]
name = "{name}"
local_addresses = ["{m1}", "{m2}"]

[[peer]]
name = "first"
address = "{t1}"

[[peer]]
name = "second"
address = "{t2}"
{one}{two}"#,
        m1 = mine.0,
        m2 = mine.1,
        t1 = theirs.0,
        t2 = theirs.1,
        one = connection("one", mine.0, "first", theirs.0),
        two = connection("two", mine.1, "second", theirs.1),
    )
}

/// Each connection's IKE SAs, as `(name, [spi_i:spi_r, ...])`, once both are established.
fn established_spis(daemon: &Daemon) -> Option<Vec<(String, Vec<String>)>> {
    let status = daemon.status()?;
    let connections = status["connections"].as_array()?;
    let mut spis = Vec::new();
    for connection in connections {
        if connection["state"] != "established" {
            return None;
        }
        let sas = connection["ike_sas"].as_array()?;
        let pairs = sas
            .iter()
            .map(|sa| {
                format!(
                    "{}:{}",
                    sa["spi_i"].as_str().unwrap_or(""),
                    sa["spi_r"].as_str().unwrap_or("")
                )
            })
            .collect();
        spis.push((connection["name"].as_str()?.to_owned(), pairs));
    }
    (spis.len() == 2).then_some(spis)
}

/// Lines of the log written after `offset` bytes.
fn log_since(daemon: &Daemon, offset: usize) -> String {
    daemon
        .log_text()
        .get(offset..)
        .unwrap_or_default()
        .to_owned()
}

/// Debug lines of connection `name` in `text`.
fn debug_lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let conn = format!("connection{{conn=\"{name}\"");
    text.lines()
        .filter(|line| line.contains(" DEBUG ") && line.contains(&conn))
        .collect()
}

/// Wait until `daemon` logged at least `count` debug lines of `name` after `offset`.
fn wait_debug_lines(daemon: &Daemon, offset: usize, name: &str, count: usize) {
    wait_for(
        Duration::from_secs(15),
        &format!("{count} debug lines of {name}"),
        || (debug_lines(&log_since(daemon, offset), name).len() >= count).then_some(()),
    );
}

fn cli_ok(daemon: &Daemon, args: &[&str]) -> String {
    let out = daemon.cli(args);
    assert!(
        out.status.success(),
        "ikehub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn one_connection_logs_at_debug_and_back_without_touching_an_sa() {
    if skip_unless_root("one_connection_logs_at_debug_and_back_without_touching_an_sa") {
        return;
    }
    let dir = TempDir::new("log");
    // The peer logs at debug: its lines show both connections are busy all along.
    let mut b = Daemon::start_with_env(
        &dir.0,
        "b",
        &config("gw-b", (B1, B2), (A1, A2), false),
        &[("IKEHUB_LOG", Path::new("debug"))],
    );
    wait_for(ESTABLISH_DEADLINE, "the responder to listen", || b.status());
    let mut a = Daemon::start(&dir.0, "a", &config("gw-a", (A1, A2), (B1, B2), true));
    let spis_a = wait_for(ESTABLISH_DEADLINE, "both connections established", || {
        established_spis(&a)
    });
    let spis_b = wait_for(ESTABLISH_DEADLINE, "the peer established", || {
        established_spis(&b)
    });
    for (name, sas) in &spis_a {
        assert_eq!(sas.len(), 1, "{name}: {sas:?}");
    }

    let shown = cli_ok(&a, &["log"]);
    assert_eq!(
        shown,
        "global: info\nconnections: none with a level of their own\n"
    );
    // Without connection levels, at info, the connection spans are off: they cost nothing.
    assert!(!a.log_text().contains("connection{"), "{}", a.log_text());
    assert!(debug_lines(&a.log_text(), "one").is_empty());

    let out = a.cli(&["log", "debug", "--connection", "nosuch"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unknown connection \"nosuch\"; known connections: one, two"),
        "{stderr}"
    );

    // One connection to debug.
    let set = cli_ok(
        &a,
        &["log", "debug", "--connection", "one", "--timeout", "5"],
    );
    assert_eq!(
        set,
        "one: log level debug\nglobal: info\nconnection one: debug\n"
    );
    let switched = a.log_text().len();
    let peer_switched = b.log_text().len();
    wait_debug_lines(&a, switched, "one", 4);
    // The engine's lines are inside the connection's span as the daemon's are.
    wait_for(
        Duration::from_secs(15),
        "the engine's debug lines of one",
        || {
            debug_lines(&log_since(&a, switched), "one")
                .iter()
                .any(|l| l.contains("ikehub::ike::"))
                .then_some(())
        },
    );
    // The peer saw two's messages since: two was busy while one logged at debug.
    wait_debug_lines(&b, peer_switched, "two", 4);
    let since = log_since(&a, switched);
    assert!(debug_lines(&since, "two").is_empty(), "{since}");
    assert!(
        since
            .lines()
            .all(|l| !l.contains(" DEBUG ") || l.contains("conn=\"one\"")),
        "debug lines outside connection one: {since}"
    );

    // Back to the global level.
    let reset = cli_ok(&a, &["log", "reset", "--connection", "one"]);
    assert_eq!(
        reset,
        "one: log level as global\nglobal: info\nconnections: none with a level of their own\n"
    );
    let reset_at = a.log_text().len();
    let peer_reset_at = b.log_text().len();
    wait_debug_lines(&b, peer_reset_at, "one", 4);
    let since = log_since(&a, reset_at);
    assert!(!since.contains(" DEBUG "), "{since}");

    // The global level, and back to the daemon's start.
    assert_eq!(
        cli_ok(&a, &["log", "warn"]),
        "log level warn\nglobal: warn\nconnections: none with a level of their own\n"
    );
    assert_eq!(
        cli_ok(&a, &["log", "reset"]),
        "log filter back to the daemon's start\nglobal: info\nconnections: none with a level of their own\n"
    );

    // No SA was deleted or replaced on either side.
    assert_eq!(established_spis(&a), Some(spis_a));
    assert_eq!(established_spis(&b), Some(spis_b));
    assert!(!a.log_text().contains("IKE SA down"), "{}", a.log_text());

    for daemon in [&mut a, &mut b] {
        daemon.signal("TERM");
        assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    }
}
