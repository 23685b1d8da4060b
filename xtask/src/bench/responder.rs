//! The two responders under test, each started fresh in the responder namespace with the
//! same proposal: `ikehub daemon --dataplane recording` and Debian's charon with
//! kernel-libipsec. Neither puts an SA into the kernel's XFRM.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::lab::{
    INITIATOR_ADDR, INITIATOR_SUPERNET, RESPONDER_ADDR, RESPONDER_NS, RESPONDER_SUBNET,
};
use super::Case;
use crate::process::{capture, describe, output};

pub const PSK: &str = "ikehub benchmark pre-shared key";
const CHARON: &str = "/usr/lib/ipsec/charon";
/// charon's plugins: kernel-libipsec before kernel-netlink (userspace SAs), crypto for the
/// three groups, the socket and vici. Nothing else.
const CHARON_PLUGINS: &str = "random nonce openssl aes sha1 sha2 hmac kdf gmp curve25519 pem \
                              pkcs1 pkcs8 x509 pubkey kernel-libipsec kernel-netlink \
                              socket-default vici";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ikehub,
    Strongswan,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ikehub => "ikehub",
            Kind::Strongswan => "strongSwan",
        }
    }
}

pub struct Responder {
    pub kind: Kind,
    pub pid: u32,
    child: Child,
    dir: PathBuf,
    ikehub: PathBuf,
}

/// IKE proposal, ESP proposal and version of a case, as both daemons write them: IKEv2
/// `aes128gcm16-prfsha256-GROUP` with ESP `aes128gcm16`; IKEv1 (one algorithm of each kind,
/// no AEAD in phase 1) `aes128-sha256-GROUP` with ESP `aes128-sha256`, no PFS.
fn proposals(case: &Case) -> (String, &'static str) {
    let group = &case.group;
    if case.version == 1 {
        (format!("aes128-sha256-{group}"), "aes128-sha256")
    } else {
        (format!("aes128gcm16-prfsha256-{group}"), "aes128gcm16")
    }
}

/// With `metrics_listen`, the daemon serves `GET /metrics` there.
fn ikehub_config(case: &Case, metrics_listen: Option<&str>) -> String {
    let (ike, esp) = proposals(case);
    let version = if case.version == 1 { "ikev1" } else { "ikev2" };
    let metrics = metrics_listen.map_or(String::new(), |addr| {
        format!("metrics_listen = \"{addr}\"\n")
    });
    format!(
        r#"[gateway]
name = "bench-responder"
local_addresses = ["{RESPONDER_ADDR}"]
local_subnets = ["{RESPONDER_SUBNET}"]
{metrics}
[[peer]]
name = "loadgen"
address = "{INITIATOR_ADDR}"

[[connection]]
name = "loadgen"
peer = "loadgen"
version = "{version}"
psk = "{PSK}"
remote_subnets = ["{INITIATOR_SUPERNET}"]
ike_proposals = ["{ike}"]
esp_proposals = ["{esp}"]
dpd_interval = "off"
start_action = "listen"
"#
    )
}

fn strongswan_conf(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        r#"charon {{
    load_modular = no
    load = {CHARON_PLUGINS}
    # no routes of charon's own; kernel-libipsec still routes each CHILD_SA into its TUN
    install_routes = no
    install_virtual_ip = no
    # the load generator keeps many setups in flight from one address: no cookies, no
    # per-address half-open limit (ikehub's cookie threshold is 1000 half-open SAs)
    cookie_threshold = 1000000
    block_threshold = 1000000
    plugins {{
        vici {{
            socket = unix://{dir}/charon.vici
        }}
        kernel-libipsec {{
            allow_peer_ts = no
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
}}
swanctl {{
    load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey
    socket = unix://{dir}/charon.vici
}}
"#
    )
}

fn swanctl_conf(case: &Case) -> String {
    let (ike, esp) = proposals(case);
    let version = case.version;
    // IKEv1: any identity the key authenticates (the load generator presents one per tunnel,
    // see bench::measure_handshakes); the key is found by address in Main Mode either way.
    let remote_id = if version == 1 { "%any" } else { INITIATOR_ADDR };
    format!(
        r#"connections {{
    loadgen {{
        version = {version}
        local_addrs = {RESPONDER_ADDR}
        remote_addrs = {INITIATOR_ADDR}
        proposals = {ike}
        dpd_delay = 0s
        local {{
            auth = psk
            id = {RESPONDER_ADDR}
        }}
        remote {{
            auth = psk
            id = {remote_id}
        }}
        children {{
            loadgen {{
                local_ts = {RESPONDER_SUBNET}
                remote_ts = {INITIATOR_SUPERNET}
                esp_proposals = {esp}
                start_action = none
            }}
        }}
    }}
}}
secrets {{
    ike-loadgen {{
        id-local = {RESPONDER_ADDR}
        id-remote = {INITIATOR_ADDR}
        secret = "{PSK}"
    }}
}}
"#
    )
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Write a configuration only its owner may read: ikehub refuses an inline psk in a file
/// group or others can read.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("chmod 600 {}: {e}", path.display()))
}

fn log_file(path: &Path) -> Result<Stdio, String> {
    std::fs::File::create(path)
        .map(Stdio::from)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Poll `ready` until it holds; fail after READY_TIMEOUT or when the process exits.
fn wait_ready(
    child: &mut Child,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{what} exited during start-up ({status})"));
        }
        if Instant::now() > deadline {
            return Err(format!("{what} not ready after {READY_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl Responder {
    /// Start a fresh responder for `case` with its files in `dir` (emptied first); an ikehub
    /// responder serves its metrics at `metrics_listen` if given (charon ignores it).
    pub fn start(
        kind: Kind,
        case: &Case,
        dir: &Path,
        ikehub: &Path,
        metrics_listen: Option<&str>,
    ) -> Result<Responder, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut responder = match kind {
            Kind::Ikehub => {
                Responder::spawn_ikehub(dir, ikehub, &ikehub_config(case, metrics_listen))?
            }
            Kind::Strongswan => {
                for sub in ["run", "swanctl/conf.d"] {
                    let path = dir.join(sub);
                    std::fs::create_dir_all(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                write(&dir.join("strongswan.conf"), &strongswan_conf(dir))?;
                write(&dir.join("swanctl/swanctl.conf"), &swanctl_conf(case))?;
                // `ip netns exec` gives charon a mount namespace of its own: a private /run
                // for its compiled-in pid file. bash execs charon, so the pid is charon's.
                let child = Command::new("ip")
                    .args(["netns", "exec", RESPONDER_NS, "/bin/bash", "-c"])
                    .arg(r#"mount --bind "$1/run" /run && STRONGSWAN_CONF="$1/strongswan.conf" exec "$2""#)
                    .arg("bench")
                    .arg(dir)
                    .arg(CHARON)
                    .stdin(Stdio::null())
                    .stdout(log_file(&dir.join("charon.out"))?)
                    .stderr(log_file(&dir.join("charon.err"))?)
                    .spawn()
                    .map_err(|e| format!("cannot start charon: {e}"))?;
                Responder {
                    kind,
                    pid: child.id(),
                    child,
                    dir: dir.to_path_buf(),
                    ikehub: ikehub.to_path_buf(),
                }
            }
        };
        let started = responder.wait_until_ready();
        if let Err(e) = started {
            responder.stop();
            return Err(e);
        }
        Ok(responder)
    }

    /// A fresh ikehub responder with the configuration `config`, its files in `dir` (emptied
    /// first).
    pub fn start_ikehub(dir: &Path, ikehub: &Path, config: &str) -> Result<Responder, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut responder = Responder::spawn_ikehub(dir, ikehub, config)?;
        let started = responder.wait_until_ready();
        if let Err(e) = started {
            responder.stop();
            return Err(e);
        }
        Ok(responder)
    }

    fn spawn_ikehub(dir: &Path, ikehub: &Path, config_text: &str) -> Result<Responder, String> {
        let kind = Kind::Ikehub;
        let config = dir.join("ikehub.toml");
        write_private(&config, config_text)?;
        let child = Command::new("ip")
            .args(["netns", "exec", RESPONDER_NS])
            .arg(ikehub)
            .arg("--socket")
            .arg(dir.join("control.sock"))
            .arg("daemon")
            .arg("--config")
            .arg(&config)
            .args(["--dataplane", "recording"])
            // as quiet as charon below: warnings and errors only
            .env("IKEHUB_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file(&dir.join("daemon.log"))?)
            .stderr(log_file(&dir.join("daemon.err"))?)
            .spawn()
            .map_err(|e| format!("cannot start ikehub: {e}"))?;
        Ok(Responder {
            kind,
            pid: child.id(),
            child,
            dir: dir.to_path_buf(),
            ikehub: ikehub.to_path_buf(),
        })
    }

    fn swanctl(&self) -> Command {
        let mut cmd = Command::new("swanctl");
        cmd.env("STRONGSWAN_CONF", self.dir.join("strongswan.conf"));
        cmd
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        match self.kind {
            Kind::Ikehub => {
                let mut status = self.status_command();
                wait_ready(
                    &mut self.child,
                    "ikehub daemon",
                    || matches!(capture(&mut status), Ok(out) if out.status.success()),
                )
            }
            Kind::Strongswan => {
                let mut stats = self.swanctl();
                stats.arg("--stats");
                wait_ready(
                    &mut self.child,
                    "charon",
                    || matches!(capture(&mut stats), Ok(out) if out.status.success()),
                )?;
                let file = self.dir.join("swanctl/swanctl.conf");
                let mut load = self.swanctl();
                load.args(["--load-all", "--file"]).arg(&file);
                let text = output(&mut load)?;
                if !text.contains("successfully loaded 1 connections") {
                    return Err(format!(
                        "`{}` did not load the connection:\n{text}",
                        describe(&load)
                    ));
                }
                Ok(())
            }
        }
    }

    fn status_command(&self) -> Command {
        let mut cmd = Command::new(&self.ikehub);
        cmd.arg("--socket")
            .arg(self.dir.join("control.sock"))
            .args(["status", "--json"]);
        cmd
    }

    /// The command that lists every SA in machine-readable form: `ikehub status --json`, or
    /// `swanctl --list-sas --raw` (vici's raw encoding; swanctl 5.9 has no JSON).
    fn listing_command(&self) -> Command {
        match self.kind {
            Kind::Ikehub => self.status_command(),
            Kind::Strongswan => {
                let mut cmd = self.swanctl();
                cmd.args(["--list-sas", "--raw"]);
                cmd
            }
        }
    }

    /// Wall-clock time of one whole listing command (start, connect, the daemon's
    /// snapshot, output, exit) and the size of its output.
    pub fn time_listing(&self) -> Result<(Duration, usize), String> {
        let mut cmd = self.listing_command();
        let start = Instant::now();
        let text = output(&mut cmd)?;
        Ok((start.elapsed(), text.len()))
    }

    /// ikehub's `status --json`.
    pub fn status(&self) -> Result<serde_json::Value, String> {
        let text = output(&mut self.status_command())?;
        serde_json::from_str(&text).map_err(|e| format!("ikehub status --json: {e}"))
    }

    /// The number of established IKE SAs as the daemon itself reports them.
    pub fn established(&self) -> Result<usize, String> {
        match self.kind {
            Kind::Ikehub => {
                let text = output(&mut self.status_command())?;
                let value: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| format!("ikehub status --json: {e}"))?;
                Ok(count_ikehub_sas(&value))
            }
            Kind::Strongswan => {
                let text = output(self.swanctl().arg("--stats"))?;
                strongswan_ike_sas(&text)
            }
        }
    }

    /// SIGTERM, then wait for the exit so that the ports are free for the next responder.
    /// charon deletes every IKE SA with its peer on the way out, which takes long with
    /// thousands of them: after STOP_TIMEOUT it is killed. Either way the process is gone
    /// when this returns.
    pub fn stop(mut self) {
        let _ = capture(Command::new("kill").arg(self.pid.to_string()));
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    eprintln!(
                        "xtask bench: {} still running {STOP_TIMEOUT:?} after SIGTERM: killed",
                        self.kind.name()
                    );
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return;
                }
            }
        }
    }
}

/// IKE SAs in ikehub's status JSON: connections[].ike_sas[].
pub fn count_ikehub_sas(status: &serde_json::Value) -> usize {
    status
        .get("connections")
        .and_then(serde_json::Value::as_array)
        .map_or(0, |conns| {
            conns
                .iter()
                .filter_map(|c| c.get("ike_sas").and_then(serde_json::Value::as_array))
                .map(Vec::len)
                .sum()
        })
}

/// Total IKE SAs from `swanctl --stats` ("IKE_SAs: 2000 total, 0 half-open").
pub fn strongswan_ike_sas(stats: &str) -> Result<usize, String> {
    stats
        .lines()
        .find_map(|l| l.trim().strip_prefix("IKE_SAs:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no IKE_SA count in swanctl --stats:\n{stats}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sas_in_both_reports() {
        let status = serde_json::json!({"connections": [
            {"name": "a", "ike_sas": [{}, {}]}, {"name": "b", "ike_sas": [{}]}, {"name": "c"}
        ]});
        assert_eq!(count_ikehub_sas(&status), 3);
        let stats =
            "uptime: 13 seconds\nworker threads: 16 total\nIKE_SAs: 2000 total, 0 half-open\n";
        assert_eq!(strongswan_ike_sas(stats), Ok(2000));
        assert!(strongswan_ike_sas("uptime: 1 second\n").is_err());
    }

    #[test]
    fn configs_carry_the_group() {
        assert!(ikehub_config(&Case::ikev2("modp2048"), None)
            .contains("aes128gcm16-prfsha256-modp2048"));
        assert!(swanctl_conf(&Case::ikev2("curve25519"))
            .contains("proposals = aes128gcm16-prfsha256-curve25519"));
        let v1 = ikehub_config(&Case::ikev1("ecp256"), None);
        assert!(v1.contains(r#"version = "ikev1""#), "{v1}");
        assert!(!v1.contains("metrics_listen"), "{v1}");
        let scraped = ikehub_config(&Case::ikev2("ecp256"), Some("127.0.0.1:9669"));
        assert!(
            scraped.contains(
                "local_subnets = [\"172.16.0.0/16\"]\nmetrics_listen = \"127.0.0.1:9669\"\n"
            ),
            "{scraped}"
        );
        assert!(
            v1.contains(r#"ike_proposals = ["aes128-sha256-ecp256"]"#),
            "{v1}"
        );
        assert!(v1.contains(r#"esp_proposals = ["aes128-sha256"]"#), "{v1}");
        let v1 = swanctl_conf(&Case::ikev1("modp2048"));
        assert!(v1.contains("version = 1"), "{v1}");
        assert!(v1.contains("proposals = aes128-sha256-modp2048"), "{v1}");
        assert!(v1.contains("esp_proposals = aes128-sha256\n"), "{v1}");
        assert!(v1.contains("id = %any"), "{v1}");
        let conf = strongswan_conf(Path::new("/x"));
        let libipsec = conf.find("kernel-libipsec").expect("libipsec");
        let netlink = conf.find("kernel-netlink").expect("netlink");
        assert!(libipsec < netlink, "kernel-libipsec must come first");
    }
}
