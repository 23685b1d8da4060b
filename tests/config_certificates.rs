//! `check-config` on certificate settings: a working set loads, and each problem an operator
//! can make with the files is named with the file and what is wrong.

mod support {
    pub mod certs;
}

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use support::certs::{Profile, TestCa, PKCS_ECDSA_P256_SHA256};

/// A directory with the files of one test, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("ikehub-cfg-cert-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Dir(path)
    }

    fn write(&self, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    use std::fmt::Write;
    let b64 = base64_encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        let _ = writeln!(out, "{}", std::str::from_utf8(chunk).expect("ascii"));
    }
    let _ = writeln!(out, "-----END {label}-----");
    out
}

fn base64_encode(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn config(certificate: &str, key: &str, cas: &str, identity: Option<&str>) -> String {
    let local_identity = identity
        .map(|id| format!("local_identity = \"{id}\"\n"))
        .unwrap_or_default();
    format!(
        r#"[gateway]
name = "gw"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.1.0.0/16"]
certificate = "{certificate}"
private_key = "{key}"
ca_certificates = "{cas}"

[[peer]]
name = "office"
address = "192.0.2.2"

[[connection]]
name = "office"
peer = "office"
local_auth = "pubkey"
remote_auth = "pubkey"
remote_subnets = ["10.2.0.0/16"]
{local_identity}"#
    )
}

fn check(dir: &Dir, text: &str) -> Result<ikehub::config::Config, String> {
    let path = dir.write("ikehub.toml", text.as_bytes(), 0o600);
    ikehub::config::load(&path).map_err(|e| e.to_string())
}

/// A CA, our certificate for 192.0.2.1 and its key, written to files.
fn files(dir: &Dir, profile: &Profile) -> (TestCa, PathBuf, PathBuf, PathBuf) {
    let mut ca = TestCa::new("Test CA");
    let ours = ca.issue(profile, &PKCS_ECDSA_P256_SHA256);
    let cert = dir.write("gw.pem", pem("CERTIFICATE", &ours.der).as_bytes(), 0o644);
    let key = dir.write("gw.key", ours.key_pem.as_bytes(), 0o600);
    let cas = dir.write(
        "ca.pem",
        pem("CERTIFICATE", &ca.certificate_der).as_bytes(),
        0o644,
    );
    (ca, cert, key, cas)
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn a_working_set_loads_and_the_identity_defaults_to_the_subject() {
    let dir = Dir::new("ok");
    let (_, cert, key, cas) = files(
        &dir,
        &Profile::for_ip("gw", "192.0.2.1".parse().expect("ip")),
    );
    let loaded = check(&dir, &config(text(&cert), text(&key), text(&cas), None)).expect("valid");
    let connection = &loaded.connections[0];
    assert!(connection.psk().is_none());
    assert_eq!(connection.local_identity.to_string(), "CN=gw, O=Example");
    // An address in the certificate's subjectAltName is an identity it holds.
    check(
        &dir,
        &config(text(&cert), text(&key), text(&cas), Some("192.0.2.1")),
    )
    .expect("valid");
}

#[test]
fn every_problem_is_named() {
    let dir = Dir::new("bad");
    let mut profile = Profile::for_ip("gw", "192.0.2.1".parse().expect("ip"));
    profile.not_after = (2024, 3, 1);
    let (mut ca, cert, _key, cas) = files(&dir, &profile);
    // A key that is not the certificate's, readable by others.
    let other = ca.issue(
        &Profile::for_ip("other", "192.0.2.9".parse().expect("ip")),
        &PKCS_ECDSA_P256_SHA256,
    );
    let wrong_key = dir.write("other.key", other.key_pem.as_bytes(), 0o600);
    let open_key = dir.write("open.key", other.key_pem.as_bytes(), 0o644);
    // A "CA" file holding an end-entity certificate.
    let not_ca = dir.write(
        "not-ca.pem",
        pem("CERTIFICATE", &other.der).as_bytes(),
        0o644,
    );

    let errors = check(
        &dir,
        &config(
            text(&cert),
            text(&wrong_key),
            text(&not_ca),
            Some("gw.example"),
        ),
    )
    .expect_err("refused");
    for expected in [
        "is not the key of the certificate \"CN=gw, O=Example\"",
        "expired on 2024-03-01",
        "holds no CA: \"CN=other, O=Example\" is not a CA certificate",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
    let errors = check(
        &dir,
        &config(text(&cert), text(&open_key), text(&cas), None),
    )
    .expect_err("refused");
    assert!(errors.contains("chmod 600"), "{errors}");

    // An identity the (valid) certificate does not hold.
    let dir = Dir::new("identity");
    let (_, cert, key, cas) = files(
        &dir,
        &Profile::for_ip("gw", "192.0.2.1".parse().expect("ip")),
    );
    let errors = check(
        &dir,
        &config(text(&cert), text(&key), text(&cas), Some("gw.example")),
    )
    .expect_err("refused");
    assert!(
        errors.contains("identity gw.example is not in the certificate \"CN=gw, O=Example\""),
        "{errors}"
    );
}

#[test]
fn pubkey_needs_the_gateway_files_and_psk_is_refused_when_unused() {
    let dir = Dir::new("missing");
    let text = r#"[gateway]
name = "gw"
local_addresses = ["192.0.2.1"]
local_subnets = ["10.1.0.0/16"]

[[peer]]
name = "office"
address = "192.0.2.2"

[[connection]]
name = "office"
peer = "office"
local_auth = "pubkey"
remote_auth = "pubkey"
remote_subnets = ["10.2.0.0/16"]

[[connection]]
name = "third"
peer = "office"
local_auth = "pubkey"
remote_auth = "pubkey"
psk = "unused"
remote_subnets = ["10.4.0.0/16"]

[[connection]]
name = "second"
peer = "office"
version = "ikev1"
remote_auth = "pubkey"
psk = "s3cret"
remote_subnets = ["10.3.0.0/16"]
"#;
    let errors = check(&dir, text).expect_err("refused");
    for expected in [
        "connection \"third\".psk: both ends authenticate with certificates",
        "local_auth = \"pubkey\" needs gateway.certificate and gateway.private_key",
        "remote_auth = \"pubkey\" needs gateway.ca_certificates",
        "certificate authentication is implemented for IKEv2 only",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}
