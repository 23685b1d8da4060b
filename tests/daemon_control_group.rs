//! `[gateway] control_group`: members of the group may read (status, routes, log) but not
//! change anything; everyone else is refused, by the socket file's mode or by the daemon.
//!
//! The group and its member exist only for the daemon: it runs in a mount namespace of its
//! own where the test's copies of /etc/group and /etc/passwd (the host's, plus one group and
//! two users with unused ids) are bound over the real ones. Nothing on the host changes, and
//! the namespace goes with the daemon. The clients run under those ids with setpriv.

mod support {
    pub mod daemon;
}

use std::net::Ipv4Addr;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use support::daemon::{config_text, skip_unless_root, wait_for, Daemon, Side, TempDir, BINARY};

const GROUP: &str = "ikehub-readers-test";
/// A user listed as a member of [`GROUP`] in the daemon's group database.
const MEMBER: (&str, u32) = ("ikehub-reader-test", 4_242_001);
/// A user that is not.
const OUTSIDER: (&str, u32) = ("ikehub-outsider-test", 4_242_002);

/// EX_NOPERM, the CLI's exit status for a permission refusal.
const EXIT_NO_PERMISSION: i32 = 77;

/// The tools exist, and this process may make a mount namespace.
fn tools_present() -> bool {
    let succeeds = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|out| out.status.success())
    };
    succeeds("mount", &["--help"])
        && succeeds("setpriv", &["--help"])
        && succeeds("unshare", &["--mount", "--propagation", "private", "true"])
}

/// Group ids present in `group_file`.
fn gids_in(group_file: &str) -> Vec<u32> {
    group_file
        .lines()
        .filter_map(|line| line.split(':').nth(2)?.parse().ok())
        .collect()
}

/// An id from 4242000 upward that the host's group database does not use.
fn unused_gid(group_file: &str) -> u32 {
    let used = gids_in(group_file);
    (4_242_000..4_243_000)
        .find(|gid| !used.contains(gid))
        .expect("a free gid")
}

/// The host's file with `extra` lines added, written to `path` for the daemon's namespace.
fn extended(host: &str, path: &Path, extra: &str) {
    let text = std::fs::read_to_string(host).expect("read the host's database");
    let mut out = text.trim_end().to_owned();
    out.push('\n');
    out.push_str(extra);
    std::fs::write(path, out).expect("write the copy");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

/// Run the client as `uid:gid` with exactly the supplementary groups `groups`.
fn cli_as(
    client: &Path,
    socket: &Path,
    uid: u32,
    gid: u32,
    groups: &[u32],
    args: &[&str],
) -> Output {
    let groups = match groups {
        [] => "--clear-groups".to_owned(),
        some => format!(
            "--groups={}",
            some.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    // A copied client may still be open for writing in a child another test forked (see
    // `place_client`): exec fails with "Text file busy" until that child has exec'd.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = Command::new("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .arg(&groups)
            .arg(client)
            .arg("--socket")
            .arg(socket)
            .args(args)
            .output()
            .expect("run the client under setpriv");
        let busy = !out.status.success() && text(&out.stderr).contains("Text file busy");
        if !busy || std::time::Instant::now() >= deadline {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The client binary at `path`, for users who cannot reach the build directory. A hard link
/// where the file system allows one: a copy is written through a file descriptor that a
/// child forked meanwhile by another test of this binary inherits, and exec of a file open
/// for writing fails with ETXTBSY ("Text file busy") until that child execs or exits.
fn place_client(path: &Path) {
    if std::fs::hard_link(BINARY, path).is_ok() {
        return;
    }
    std::fs::copy(BINARY, path).expect("copy the binary");
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_denied(out: &Output, what: &str, expected: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(EXIT_NO_PERMISSION),
        "{what}: {stderr}"
    );
    assert!(stderr.contains(expected), "{what}: {stderr}");
    assert!(out.stdout.is_empty(), "{what}: {}", text(&out.stdout));
}

/// How the daemon comes by the socket's group.
#[derive(Clone, Copy)]
enum DaemonGroup {
    /// Root's group, with CAP_CHOWN: it gives the socket to the group after binding it.
    Root,
    /// The control group as its own and no CAP_CHOWN, as the systemd unit with `Group=`.
    Own,
}

#[test]
fn group_members_may_read_and_nobody_but_root_may_change() {
    if skip_unless_root("group_members_may_read_and_nobody_but_root_may_change") {
        return;
    }
    check_access("control-group", 131, DaemonGroup::Root);
}

#[test]
fn a_daemon_running_as_the_group_needs_no_chown() {
    if skip_unless_root("a_daemon_running_as_the_group_needs_no_chown") {
        return;
    }
    check_access("control-group-own", 134, DaemonGroup::Own);
}

/// The daemon at 127.0.0.`host` (its peer at the next address), and every client.
fn check_access(tag: &str, host: u8, daemon_group: DaemonGroup) {
    if !tools_present() {
        println!(
            "SKIPPED: unshare, mount or setpriv is missing, or no mount namespace may be made"
        );
        return;
    }
    let dir = TempDir::new(tag);
    let host_groups = std::fs::read_to_string("/etc/group").expect("/etc/group");
    let gid = unused_gid(&host_groups);
    let (member, member_uid) = MEMBER;
    let (outsider, outsider_uid) = OUTSIDER;
    // Each user's primary group is its own id, so that the member is one only through the
    // group database's member list: a supplementary group.
    let group_file = dir.0.join("group");
    let passwd_file = dir.0.join("passwd");
    extended(
        "/etc/group",
        &group_file,
        &format!("{GROUP}:x:{gid}:{member}\n"),
    );
    extended(
        "/etc/passwd",
        &passwd_file,
        &format!(
            "{member}:x:{member_uid}:{member_uid}::/nonexistent:/usr/sbin/nologin\n{outsider}:x:{outsider_uid}:{outsider_uid}::/nonexistent:/usr/sbin/nologin\n"
        ),
    );
    // Own group: the daemon keeps uid 0 and its other capabilities.
    let as_group = match daemon_group {
        DaemonGroup::Root => String::new(),
        DaemonGroup::Own => format!("setpriv --regid={gid} --clear-groups --bounding-set=-chown "),
    };
    let bind = format!(
        "mount --bind {} /etc/group && mount --bind {} /etc/passwd && exec {as_group}\"$@\"",
        group_file.display(),
        passwd_file.display()
    );
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, host),
        subnet: "10.131.0.0/16",
    };
    let peer = Side {
        address: Ipv4Addr::new(127, 0, 0, host + 1),
        subnet: "10.132.0.0/16",
    };
    let config = config_text(&me, &peer, false, "").replacen(
        "[gateway]\n",
        &format!("[gateway]\ncontrol_group = \"{GROUP}\"\n"),
        1,
    );
    let prefix = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &bind,
        "ikehub-daemon",
    ];
    let daemon = Daemon::start_in(&prefix, &dir.0, "gw", &config, &[]);
    wait_for(
        support::daemon::ESTABLISH_DEADLINE,
        "the daemon to answer root",
        || daemon.status(),
    );
    if let DaemonGroup::Own = daemon_group {
        let status = std::fs::read_to_string(format!("/proc/{}/status", daemon.child.id()))
            .expect("the daemon's /proc status");
        let bounding = status
            .lines()
            .find_map(|line| line.strip_prefix("CapBnd:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .expect("CapBnd");
        assert_eq!(bounding & 1, 0, "CAP_CHOWN (bit 0) is not the daemon's");
        assert!(status.contains(&format!("\nGid:\t{gid}\t")), "{status}");
    }

    // The socket is the group's, 0660.
    let meta = std::fs::metadata(&daemon.socket).expect("socket metadata");
    assert_eq!(meta.mode() & 0o7777, 0o660, "socket mode");
    assert_eq!(meta.gid(), gid, "socket group");
    assert_eq!(meta.uid(), 0, "socket owner");

    // The build directory may not be reachable for these users: run a copy from the test's
    // own world-readable directory.
    let client = dir.0.join("ikehub-client");
    place_client(&client);
    let socket = &daemon.socket;

    // (a) A member through a supplementary group: reading works...
    let as_member = |args: &[&str]| cli_as(&client, socket, member_uid, member_uid, &[gid], args);
    let status = as_member(&["status", "--json"]);
    assert!(
        status.status.success(),
        "member status: {}",
        text(&status.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(json["connections"][0]["name"], "tunnel");
    for args in [&["routes"][..], &["log"][..]] {
        let out = as_member(args);
        assert!(
            out.status.success(),
            "member {args:?}: {}",
            text(&out.stderr)
        );
    }
    // ...changing anything does not.
    let only_read = format!("members of group {GROUP} may only read");
    for (args, command) in [
        (&["down", "tunnel"][..], "down"),
        (&["up", "tunnel"][..], "up"),
        (&["reload"][..], "reload"),
        (&["log", "debug"][..], "log debug"),
    ] {
        let out = as_member(args);
        assert_denied(
            &out,
            &format!("member {args:?}"),
            &format!("ikehub: permission denied: `{command}` needs root; {only_read}"),
        );
    }
    let log = daemon.log_text();
    assert!(
        log.contains(&format!(
            "control socket: refused `down` from uid {member_uid} (gid {member_uid}"
        )),
        "{log}"
    );
    assert_eq!(
        daemon.status().expect("root status")["connections"][0]["state"],
        "down",
        "the refused commands changed nothing"
    );
    let root_log = daemon.cli(&["log"]);
    assert!(
        text(&root_log.stdout).contains("global: info"),
        "the refused `log debug` left the level: {}",
        text(&root_log.stdout)
    );

    // (b) A user outside the group: the socket's mode refuses it everything.
    for args in [&["status"][..], &["down", "tunnel"][..]] {
        let out = cli_as(&client, socket, outsider_uid, outsider_uid, &[], args);
        assert_denied(
            &out,
            &format!("outsider {args:?}"),
            &format!(
                "ikehub: permission denied on {}: the control socket is root-only",
                socket.display()
            ),
        );
    }

    // (c) A process that holds the group without the group database listing its user gets
    // past the socket's mode, and the daemon's own check refuses it.
    let out = cli_as(
        &client,
        socket,
        outsider_uid,
        outsider_uid,
        &[gid],
        &["status"],
    );
    assert_denied(
        &out,
        "outsider holding the group",
        &format!("ikehub: permission denied: uid {outsider_uid} is neither root nor a member of group {GROUP}"),
    );

    // Root may still do everything.
    let down = daemon.cli(&["down", "tunnel"]);
    assert!(down.status.success(), "root down: {}", text(&down.stderr));
}

#[test]
fn without_chown_or_the_group_the_daemon_says_how_to_give_it() {
    if skip_unless_root("without_chown_or_the_group_the_daemon_says_how_to_give_it") {
        return;
    }
    if !tools_present() {
        println!(
            "SKIPPED: unshare, mount or setpriv is missing, or no mount namespace may be made"
        );
        return;
    }
    let dir = TempDir::new("control-group-no-chown");
    let group_file = dir.0.join("group");
    let gid = unused_gid(&std::fs::read_to_string("/etc/group").expect("/etc/group"));
    extended("/etc/group", &group_file, &format!("{GROUP}:x:{gid}:\n"));
    let bind = format!(
        "mount --bind {} /etc/group && exec setpriv --bounding-set=-chown \"$@\"",
        group_file.display()
    );
    let me = Side {
        address: Ipv4Addr::new(127, 0, 0, 136),
        subnet: "10.131.0.0/16",
    };
    let peer = Side {
        address: Ipv4Addr::new(127, 0, 0, 137),
        subnet: "10.132.0.0/16",
    };
    let config = config_text(&me, &peer, false, "").replacen(
        "[gateway]\n",
        &format!("[gateway]\ncontrol_group = \"{GROUP}\"\n"),
        1,
    );
    let prefix = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &bind,
        "ikehub-daemon",
    ];
    let mut daemon = Daemon::start_in(&prefix, &dir.0, "gw", &config, &[]);
    let code = daemon.wait_exit(support::daemon::ESTABLISH_DEADLINE);
    let log = daemon.log_text();
    assert_eq!(code, Some(1), "{log}");
    assert!(
        log.contains(&format!(
            "cannot give {} to group {GROUP} (gateway.control_group)",
            daemon.socket.display()
        )) && log.contains(&format!("[Service] Group={GROUP}")),
        "{log}"
    );
    assert!(!daemon.socket.exists(), "no socket file is left behind");
}
