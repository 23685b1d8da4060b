//! The `ikehub` binary as a user runs it. The tests that need a daemon start one with the
//! recording dataplane on loopback (binding UDP 500 needs root: without it they say so and
//! return).

mod support {
    pub mod daemon;
    pub mod examples;
}

use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use support::examples::private_copy;

use support::daemon::*;

fn ikehub(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ikehub"))
        .args(args)
        .output()
        .expect("run ikehub")
}

fn text(path: &std::path::Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

#[test]
fn check_config_accepts_the_hub_example() {
    let out = ikehub(&["check-config", text(&private_copy("hub.toml"))]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configuration is valid"));
    assert!(stdout.contains("ningbo"));
}

#[test]
fn check_config_names_both_overlapping_ranges_and_fails() {
    let dir = std::env::temp_dir().join(format!("ikehub-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("overlap.toml");
    std::fs::write(
        &file,
        r#"
[gateway]
name = "gw"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.0.0.0/16"]

[[peer]]
name = "office"
address = "198.51.100.1"

[[connection]]
name = "office"
peer = "office"
psk = "not a real secret"
remote_subnets = ["10.0.1.0/24"]
"#,
    )
    .expect("write config");
    let out = ikehub(&["check-config", file.to_str().expect("utf-8 path")]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("10.0.0.0/16") && stderr.contains("10.0.1.0/24"),
        "{stderr}"
    );
    assert!(
        stderr.contains("overlap.toml:15:"),
        "error carries file:line: {stderr}"
    );
    assert!(
        !stderr.contains("not a real secret"),
        "the secret is never echoed"
    );
}

#[test]
fn client_commands_without_a_daemon_say_so_and_fail() {
    let socket = std::env::temp_dir().join(format!("ikehub-cli-none-{}.sock", std::process::id()));
    let socket = socket.to_str().expect("utf-8 path");
    for cmd in [
        &["status"][..],
        &["status", "--json"],
        &["up", "x"],
        &["down", "x"],
        &["routes"],
        &["routes", "--json"],
    ] {
        let mut args = vec!["--socket", socket];
        args.extend_from_slice(cmd);
        let out = ikehub(&args);
        assert_eq!(out.status.code(), Some(69), "{cmd:?}");
        assert!(
            out.stdout.is_empty(),
            "no output that could pass for state: {cmd:?}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.trim_end(),
            format!("ikehub: the daemon is not running (no control socket at {socket})"),
            "{cmd:?}"
        );
    }
}

#[test]
fn a_local_address_the_machine_lacks_is_refused_plainly() {
    let out = ikehub(&[
        "--socket",
        "/nonexistent/ikehub.sock",
        "daemon",
        "--config",
        text(&private_copy("site-to-site.toml")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot bind UDP 203.0.113.1:500"),
        "{stderr}"
    );
}

#[test]
fn check_config_refuses_inline_keys_in_a_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let copy = private_copy("site-to-site.toml");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = ikehub(&["check-config", text(&copy)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let path = copy.display();
    assert!(
        stderr.contains(&format!(
            "has mode 0644: group or others can access it; run chmod 600 {path}"
        )),
        "{stderr}"
    );
}

/// Run `command` with its standard output a pipe whose reader has gone away.
fn into_closed_pipe(mut command: Command) -> Output {
    let (reader, writer) = nix::unistd::pipe().expect("pipe");
    drop(reader);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .output()
        .expect("run ikehub")
}

fn assert_quiet_end(what: &str, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 141)),
        "{what}: {:?}: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(!stderr.contains("Broken pipe"), "{what}: {stderr}");
}

#[test]
fn a_closed_output_ends_check_config_and_help_quietly() {
    let hub = private_copy("hub.toml");
    for args in [
        &["check-config", text(&hub)][..],
        &["--help"],
        &["--version"],
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ikehub"));
        command.args(args);
        assert_quiet_end(&format!("{args:?}"), &into_closed_pipe(command));
    }
    // The daemon prints nothing on stdout: a closed one changes nothing (here it stops on
    // a missing configuration file, with status 1).
    let socket =
        std::env::temp_dir().join(format!("ikehub-cli-closed-{}.sock", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_ikehub"));
    command
        .arg("--socket")
        .arg(&socket)
        .args(["daemon", "--config", "/nonexistent/ikehub.toml"]);
    let out = into_closed_pipe(command);
    let _ = std::fs::remove_file(socket.with_extension("lock"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/nonexistent/ikehub.toml"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Every command that asks the daemon, its output going into a closed pipe: no panic.
#[test]
fn a_closed_output_ends_every_daemon_command_quietly() {
    if skip_unless_root("a_closed_output_ends_every_daemon_command_quietly") {
        return;
    }
    let dir = TempDir::new("cli-closed-output");
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, 61),
        subnet: "10.1.0.0/16",
    };
    let peer = Side {
        address: Ipv4Addr::new(127, 0, 0, 62),
        subnet: "10.2.0.0/16",
    };
    let mut daemon = Daemon::start(&dir.0, "a", &config_text(&me, &peer, false, ""));
    wait_for(ESTABLISH_DEADLINE, "the daemon to answer", || {
        daemon.status()
    });
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["status", "tunnel"],
        &["routes"],
        &["routes", "--json"],
        &["reload"],
        &["down", "tunnel"],
        &["up", "tunnel"],
        &["down", "tunnel"],
    ] {
        let mut command = Command::new(BINARY);
        command.arg("--socket").arg(&daemon.socket).args(args);
        assert_quiet_end(&format!("{args:?}"), &into_closed_pipe(command));
    }
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(std::time::Duration::from_secs(10)),
        Some(0)
    );
}

/// Sends SIGCONT to a stopped daemon when dropped, even when the test fails.
struct Stopped<'a>(&'a Daemon);

impl<'a> Stopped<'a> {
    fn stop(daemon: &'a Daemon) -> Stopped<'a> {
        daemon.signal("STOP");
        Stopped(daemon)
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.0.signal("CONT");
    }
}

/// A stopped daemon (SIGSTOP) accepts connections in the kernel but never answers: every
/// command gives up after `--timeout`, saying so, with its own exit status.
#[test]
fn a_stopped_daemon_makes_commands_give_up_after_the_timeout() {
    if skip_unless_root("a_stopped_daemon_makes_commands_give_up_after_the_timeout") {
        return;
    }
    let dir = TempDir::new("cli-stopped");
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, 63),
        subnet: "10.1.0.0/16",
    };
    let peer = Side {
        address: Ipv4Addr::new(127, 0, 0, 64),
        subnet: "10.2.0.0/16",
    };
    let mut daemon = Daemon::start(&dir.0, "a", &config_text(&me, &peer, false, ""));
    wait_for(ESTABLISH_DEADLINE, "the daemon to answer", || {
        daemon.status()
    });
    // Running, with no peer at the other end: `up` waits for the daemon's timeout and says
    // so with its own status; `down` drops the half-made IKE SA at once.
    let started = std::time::Instant::now();
    let out = daemon.cli(&["up", "tunnel", "--timeout", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("ikehub: tunnel: not established within 1 s; the daemon goes on trying"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tunnel: initiating\n");
    let out = daemon.cli(&["down", "tunnel"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("tunnel: down\n"));
    {
        let _stopped = Stopped::stop(&daemon);
        for args in [
            &["status", "--timeout", "1"][..],
            &["--timeout", "1", "status", "--json"],
            &["routes", "--timeout", "1"],
            &["reload", "--timeout", "1"],
            &["log", "--timeout", "1"],
            &["log", "debug", "--connection", "tunnel", "--timeout", "1"],
            &["down", "tunnel", "--timeout", "1"],
            &["up", "tunnel", "--timeout", "1"],
            &["up", "tunnel", "--no-wait", "--timeout", "1"],
        ] {
            let started = std::time::Instant::now();
            let out = daemon.cli(args);
            let took = started.elapsed();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(75), "{args:?}: {stderr}");
            assert!(
                took < std::time::Duration::from_secs(6),
                "{args:?} took {took:?}"
            );
            assert!(
                stderr.contains("ikehub: no answer from the daemon on ")
                    && stderr.contains(" within 1 s: it is stopped or too busy"),
                "{args:?}: {stderr}"
            );
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
    // Running again, it answers the requests it had queued and new ones.
    wait_for(ESTABLISH_DEADLINE, "the daemon to answer again", || {
        daemon.status()
    });
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(std::time::Duration::from_secs(10)),
        Some(0)
    );
}
