//! Hub mode with the kernel dataplane, in a scratch network namespace: the lookup rules, the
//! `unreachable` route of each destination in the owned table, IP forwarding, the xfrm
//! interface of each connection, and the cleanup on SIGTERM, read back with `ip`.
//!
//! A kernel without xfrm interfaces (a build host's) refuses the interface: the test then
//! checks that the connection is not started and says why with the kernel's message, and
//! that everything else is in place all the same. Needs root, `unshare`, `nsenter` and `ip`.

mod support {
    pub mod daemon;
}

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::daemon::*;

/// A network namespace held open by a `sleep` child, with loopback up.
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
        let found = wait_for_ready(&ready, &mut holder);
        if !found {
            let _ = holder.kill();
            let _ = holder.wait();
            return Err("the namespace was not set up within 10 s".into());
        }
        Ok(Namespace { holder })
    }

    fn net(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.holder.id())
    }

    /// A command run inside the namespace.
    fn run(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(self.net())
            .arg("--")
            .args(args)
            .output()
            .expect("nsenter")
    }

    fn text(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn wait_for_ready(ready: &Path, holder: &mut Child) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < end {
        if ready.exists() {
            return true;
        }
        if let Ok(Some(_)) = holder.try_wait() {
            return false;
        }
        std::thread::sleep(POLL_EVERY);
    }
    false
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

const CONFIG: &str = r#"
[gateway]
name = "hub"
local_addresses = ["127.0.0.1"]
local_subnets = ["10.1.0.0/16"]
hub = true

[[peer]]
name = "east"
address = "127.0.0.2"

[[connection]]
name = "east"
peer = "east"
psk = "test-only-key-f3a9c1d2e5b7"
remote_subnets = ["10.2.0.0/16"]

[[route]]
destination = "10.2.0.0/16"
connection = "east"
publish = true
"#;

#[test]
fn hub_mode_sets_up_and_removes_its_kernel_objects() {
    if skip_unless_root("hub_mode_sets_up_and_removes_its_kernel_objects") {
        return;
    }
    for tool in ["unshare", "nsenter", "ip"] {
        if Command::new(tool).arg("-V").output().is_err() {
            println!("SKIPPED hub_mode_sets_up...: {tool} is not installed");
            return;
        }
    }
    let dir = TempDir::new("hub-kernel");
    let namespace = match Namespace::create(&dir.0) {
        Ok(ns) => ns,
        Err(e) => {
            println!("SKIPPED hub_mode_sets_up...: {e}");
            return;
        }
    };
    let config = dir.0.join("hub.toml");
    write_private(&config, CONFIG);
    let socket = dir.0.join("hub.sock");
    let log = dir.0.join("hub.log");
    let mut daemon = Daemon {
        child: Command::new("nsenter")
            .arg(namespace.net())
            .arg("--")
            .arg(BINARY)
            .arg("--socket")
            .arg(&socket)
            .args(["daemon", "--dataplane", "kernel", "--config"])
            .arg(&config)
            .env("IKEHUB_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start the daemon"),
        config,
        socket,
        log,
    };
    let status = wait_for(Duration::from_secs(20), "the daemon to answer", || {
        daemon.status()
    });
    let east = connection(&status);
    assert_eq!(east["name"], "east");
    assert_eq!(east["interface"], "ikh-east");
    assert_eq!(status["daemon"]["dataplane"], "kernel");

    // The lookup rule (both families) and the unreachable route of the destination.
    let rules = namespace.text(&["ip", "rule"]);
    assert!(
        rules.contains("7220:\tfrom all lookup 7220 proto 226"),
        "{rules}"
    );
    let rules6 = namespace.text(&["ip", "-6", "rule"]);
    assert!(rules6.contains("lookup 7220"), "{rules6}");
    let owned = namespace.text(&["ip", "route", "show", "table", "7220"]);
    assert!(
        owned.contains("unreachable 10.2.0.0/16 proto 226 metric 4096"),
        "{owned}"
    );
    let forwarding = namespace.text(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(forwarding.trim(), "1");

    let links = namespace.text(&["ip", "-d", "link", "show"]);
    let log_text = daemon.log_text();
    if links.contains("ikh-east") {
        // A kernel with xfrm interfaces: the connection runs behind its interface.
        println!("xfrm interfaces supported: {links}");
        assert!(links.contains("xfrm"), "{links}");
        assert_eq!(east["last_error"], Value::Null, "{log_text}");
    } else {
        // The kernel refused the interface: the connection is not started, with its words.
        let error = east["last_error"].as_str().unwrap_or_default();
        println!("xfrm interfaces refused: {error}");
        assert!(
            error.starts_with(
                "not started: cannot create its interface: create xfrm interface ikh-east if_id "
            ),
            "{error}"
        );
        assert!(error.contains("Operation not supported"), "{error}");
        let out = daemon.cli(&["up", "east"]);
        assert_eq!(out.status.code(), Some(1));
    }
    let routes: Value =
        serde_json::from_slice(&daemon.cli(&["routes", "--json"]).stdout).expect("routes --json");
    assert_eq!(
        routes,
        serde_json::json!({"schema": 1, "routes": [{"destination": "10.2.0.0/16", "connection": "east",
            "interface": "ikh-east", "weight": 100, "state": "down", "published": true}]})
    );

    // SIGTERM: every interface, route and rule of the hub goes.
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)), Some(0));
    let rules = namespace.text(&["ip", "rule"]);
    assert!(!rules.contains("7220"), "{rules}");
    let rules6 = namespace.text(&["ip", "-6", "rule"]);
    assert!(!rules6.contains("7220"), "{rules6}");
    let owned = namespace.text(&["ip", "route", "show", "table", "all"]);
    assert!(!owned.contains("proto 226"), "{owned}");
    let links = namespace.text(&["ip", "link", "show"]);
    assert!(!links.contains("ikh-"), "{links}");
    assert!(
        daemon.log_text().contains("hub: removed "),
        "{}",
        daemon.log_text()
    );
}
