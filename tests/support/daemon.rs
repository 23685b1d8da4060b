//! Helpers shared by the daemon integration tests: temp dirs, configurations, daemon child
//! processes and the CLI run against them, polling with deadlines.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BINARY: &str = env!("CARGO_BIN_EXE_ikehub");
pub const ESTABLISH_DEADLINE: Duration = Duration::from_secs(20);
pub const POLL_EVERY: Duration = Duration::from_millis(20);

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

pub fn skip_unless_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    println!("SKIPPED {test}: binding UDP port 500 needs root; run the tests as root");
    true
}

/// A temp directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ikehub-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        // Reachable by an unprivileged user whatever the umask: the permission test runs a
        // client from here and must be refused by the socket, not by the directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Side {
    pub address: Ipv4Addr,
    pub subnet: &'static str,
}

pub fn config_text(me: &Side, peer: &Side, initiate: bool, extra: &str) -> String {
    format!(
        r#"
[gateway]
name = "gw-{me}"
local_addresses = ["{me}"]
local_subnets = ["{my_subnet}"]

[[peer]]
name = "other"
address = "{peer}"

[[connection]]
name = "tunnel"
peer = "other"
psk = "test-only-key-f3a9c1d2e5b7"
remote_subnets = ["{peer_subnet}"]
ike_proposals = ["aes128gcm16-prfsha256-ecp256"]
esp_proposals = ["aes256-sha256"]
start_action = "{start}"
{extra}
"#,
        me = me.address,
        peer = peer.address,
        my_subnet = me.subnet,
        peer_subnet = peer.subnet,
        start = if initiate { "initiate" } else { "listen" },
    )
}

/// Write a configuration readable by its owner only: ikehub refuses an inline `psk` in a
/// file group or others can read.
pub fn write_private(path: &Path, text: &str) {
    write_with_mode(path, 0o600, text);
}

/// Write a file and give it `mode`, whatever the umask.
pub fn write_with_mode(path: &Path, mode: u32, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write config");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// One daemon child process; killed if the test fails before stopping it.
pub struct Daemon {
    pub child: Child,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, name: &str, config: &str) -> Daemon {
        Daemon::start_with_env(dir, name, config, &[])
    }

    pub fn start_with_env(dir: &Path, name: &str, config: &str, env: &[(&str, &Path)]) -> Daemon {
        Daemon::start_in(&[], dir, name, config, env)
    }

    /// Start the daemon through `prefix` (e.g. `nsenter --net=...`), which must exec it so
    /// the child's pid is the daemon's.
    pub fn start_in(
        prefix: &[&str],
        dir: &Path,
        name: &str,
        config: &str,
        env: &[(&str, &Path)],
    ) -> Daemon {
        let config_path = dir.join(format!("{name}.toml"));
        write_private(&config_path, config);
        let socket = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(BINARY);
                command
            }
            None => Command::new(BINARY),
        };
        let child = command
            .arg("--socket")
            .arg(&socket)
            .args(["daemon", "--dataplane", "recording", "--config"])
            .arg(&config_path)
            .env("IKEHUB_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the daemon");
        Daemon {
            child,
            config: config_path,
            socket,
            log,
        }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BINARY)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run ikehub")
    }

    /// `status --json`, or `None` while the daemon does not answer yet.
    pub fn status(&self) -> Option<Value> {
        let out = self.cli(&["status", "--json"]);
        if !out.status.success() {
            return None;
        }
        Some(serde_json::from_slice(&out.stdout).expect("status --json is JSON"))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Wait for the process to exit (with a deadline) and return its exit code.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<i32> {
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(
                Instant::now() < end,
                "daemon did not exit within {deadline:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(POLL_EVERY);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Poll `check` until it returns `Some`, failing with `what` after `deadline`.
pub fn wait_for<T>(deadline: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + deadline;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < end,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(POLL_EVERY);
    }
}

pub fn connection(status: &Value) -> &Value {
    &status["connections"][0]
}

pub fn state_of(daemon: &Daemon) -> Option<String> {
    daemon
        .status()
        .map(|s| connection(&s)["state"].as_str().unwrap_or("").to_string())
}

/// Both daemons report the connection in `state`; returns both status documents.
pub fn wait_both(a: &Daemon, b: &Daemon, state: &str, deadline: Duration) -> (Value, Value) {
    wait_for(deadline, &format!("both sides {state}"), || {
        let sa = a.status()?;
        let sb = b.status()?;
        (connection(&sa)["state"] == state && connection(&sb)["state"] == state).then_some((sa, sb))
    })
}

pub fn hex_field(value: &Value, len: usize) -> String {
    let text = value.as_str().expect("hex string").to_string();
    assert_eq!(text.len(), len, "{text}");
    assert!(text.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
    text
}

pub fn pair_configs(a: &Side, b: &Side) -> (String, String) {
    (config_text(a, b, true, ""), config_text(b, a, false, ""))
}
