//! The `ikehub` binary as a user runs it.

use std::process::Command;

fn ikehub(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ikehub"))
        .args(args)
        .output()
        .expect("run ikehub")
}

/// A copy of a shipped example that only its owner may read, in a directory of its own: git
/// checks the examples out readable by all, and ikehub refuses inline keys in such a file.
fn private_copy(name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ikehub-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let copy = dir.join(name);
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::copy(&example, &copy).expect("copy the example");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    copy
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
