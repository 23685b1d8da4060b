//! Third-party IKE peers in the guest: Debian's strongSwan (charon, swanctl,
//! every plugin) and Libreswan (pluto, whack, addconn, NSS's certutil and
//! pk12util), each with openssl for the tests' certificates, with the
//! libraries they load, so tests can run against real peers.
//!
//! A test asks for peers with a line `# guest-payload: strongswan libreswan`
//! in its script. Their files are then installed on the host (with apt when
//! missing; Libreswan's deb, which conflicts with strongSwan's, is only
//! unpacked) and, for a VM run, packed into one cpio for the set of peers,
//! cached, and appended after the base image: a run that needs no peer
//! neither installs nor boots them.
use super::initramfs::{copy_file, file_identity, fresh_dir, shared_libraries, write_cpio};
use crate::apt::Apt;
use crate::fingerprint::Fingerprint;
use crate::process::{capture, describe, output};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bump when the layout of a peer layer changes in a way its inputs don't show.
const PEER_LAYOUT_VERSION: &str = "1";

/// The marker a test script carries to get a peer into the guest.
const MARKER: &str = "# guest-payload:";

/// A peer implementation a test can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    StrongSwan,
    Libreswan,
}

/// Where a peer's file comes from.
#[derive(Clone, Copy)]
enum Origin {
    /// Installed on the host by the peer's host packages.
    Host,
    /// Unpacked (never installed) from the peer's own deb: Libreswan's
    /// package conflicts with strongSwan's, so only its files are taken.
    Deb,
}

impl Peer {
    fn from_name(name: &str) -> Option<Peer> {
        match name {
            "strongswan" => Some(Peer::StrongSwan),
            "libreswan" => Some(Peer::Libreswan),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Peer::StrongSwan => "strongswan",
            Peer::Libreswan => "libreswan",
        }
    }

    /// Host packages that hold the peer's files (for Libreswan: the libraries
    /// its deb needs, and NSS's certutil and pk12util); openssl for both.
    fn host_packages(self) -> &'static [&'static str] {
        match self {
            Peer::StrongSwan => &[
                "strongswan-charon",
                "strongswan-swanctl",
                "libcharon-extra-plugins",
                "libstrongswan-standard-plugins",
                "libstrongswan-extra-plugins",
                "openssl",
            ],
            Peer::Libreswan => &[
                "openssl",
                "libnss3-tools",
                "libnss3",
                "libnspr4",
                "libaudit1",
                "libcap-ng0",
                "libcrypt1",
                "libcurl3-nss",
                "libevent-core-2.1-7",
                "libevent-pthreads-2.1-7",
                "libldap-2.5-0",
                "libldns3",
                "libpam0g",
                "libselinux1",
                "libsystemd0",
                "libunbound8",
            ],
        }
    }

    /// The deb whose files are unpacked rather than installed.
    fn deb(self) -> Option<&'static str> {
        match self {
            Peer::StrongSwan => None,
            Peer::Libreswan => Some("libreswan"),
        }
    }

    /// Services the packages start on a systemd host: the tests run their own
    /// instances, in namespaces, and need no system-wide daemon.
    fn host_services(self) -> &'static [&'static str] {
        match self {
            Peer::StrongSwan => &["strongswan-starter.service", "strongswan.service"],
            Peer::Libreswan => &[],
        }
    }

    /// ELF programs and libraries loaded with dlopen.
    fn programs(self) -> &'static [(Origin, &'static str)] {
        match self {
            Peer::StrongSwan => &[
                (Origin::Host, "/usr/lib/ipsec/charon"),
                (Origin::Host, "/usr/sbin/swanctl"),
                // tests make their certificates (CA, peers, CRLs) with it
                (Origin::Host, "/usr/bin/openssl"),
            ],
            // pluto runs addconn from this compiled-in path
            Peer::Libreswan => &[
                (Origin::Deb, "/usr/libexec/ipsec/pluto"),
                (Origin::Deb, "/usr/libexec/ipsec/whack"),
                (Origin::Deb, "/usr/libexec/ipsec/addconn"),
                (Origin::Host, "/usr/bin/certutil"),
                // tests make certificates with openssl and import them
                // (PKCS#12) into pluto's NSS database
                (Origin::Host, "/usr/bin/pk12util"),
                (Origin::Host, "/usr/bin/openssl"),
                // NSS loads its softoken (and what that needs) by itself
                (Origin::Host, "/usr/lib/x86_64-linux-gnu/libsoftokn3.so"),
                (Origin::Host, "/usr/lib/x86_64-linux-gnu/libfreeblpriv3.so"),
                (Origin::Host, "/usr/lib/x86_64-linux-gnu/libfreebl3.so"),
                (Origin::Host, "/usr/lib/x86_64-linux-gnu/libnssdbm3.so"),
            ],
        }
    }

    /// Directories whose every `.so` is loaded at run time (dlopen).
    fn plugin_dirs(self) -> &'static [&'static str] {
        match self {
            // libcrypto loads its legacy provider by itself (strongSwan's
            // openssl plugin asks for it, for MD4/DES)
            Peer::StrongSwan => &[
                "/usr/lib/ipsec/plugins",
                "/usr/lib/x86_64-linux-gnu/ossl-modules",
            ],
            Peer::Libreswan => &[],
        }
    }

    /// Plain files copied when the host has them.
    fn files(self) -> &'static [&'static str] {
        match self {
            Peer::StrongSwan => &["/usr/lib/ssl/openssl.cnf"],
            Peer::Libreswan => &["/usr/lib/ssl/openssl.cnf"],
        }
    }
}

/// Peers asked for by the `# guest-payload: NAME...` lines of the chosen tests.
pub fn wanted(tests_dir: &Path, tests: &[String]) -> Result<Vec<Peer>, String> {
    let mut peers = Vec::new();
    for test in tests {
        let script = tests_dir.join(format!("{test}.sh"));
        let Ok(text) = std::fs::read_to_string(&script) else {
            continue; // the runner reports missing scripts
        };
        for name in parse_markers(&text) {
            if name == super::netdevsim::PAYLOAD || name == super::deb_payload::PAYLOAD {
                continue; // not a peer: see netdevsim.rs and deb_payload.rs
            }
            let peer = Peer::from_name(&name).ok_or_else(|| {
                format!(
                    "{} asks for the guest payload `{name}`; known: strongswan, libreswan, netdevsim, deb",
                    script.display()
                )
            })?;
            if !peers.contains(&peer) {
                peers.push(peer);
            }
        }
    }
    Ok(peers)
}

/// The names on `# guest-payload: a b` lines.
fn parse_markers(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|line| line.trim().strip_prefix(MARKER))
        .flat_map(|names| names.split_whitespace().map(str::to_string))
        .collect()
}

/// Installs the peers' host packages when missing; stops the services the
/// installation may have started.
pub fn ensure_host(apt: &mut Apt, peers: &[Peer]) -> Result<(), String> {
    for peer in peers {
        let missing = peer
            .host_packages()
            .iter()
            .any(|p| !crate::apt::installed(p));
        apt.ensure_installed(peer.host_packages())?;
        if missing && Path::new("/run/systemd/system").is_dir() {
            for service in peer.host_services() {
                let mut stop = Command::new("systemctl");
                stop.args(["disable", "--now", "--quiet", service]);
                // a service the packages did not install is not an error
                let _ = capture(&mut stop);
            }
        }
    }
    Ok(())
}

/// For a run on the host: installs the peers' packages and unpacks the debs
/// that cannot be installed, telling the helpers where (IKEHUB_LSW_ROOT).
pub fn prepare_host(apt: &mut Apt, lab: &Path, peers: &[Peer]) -> Result<(), String> {
    ensure_host(apt, peers)?;
    for peer in peers {
        if let Some(package) = peer.deb() {
            let tree = unpack_deb(apt, &lab.join("peers"), package)?;
            // read by tests/vm/lib/libreswan.sh in the test processes
            std::env::set_var("IKEHUB_LSW_ROOT", &tree);
        }
    }
    Ok(())
}

/// The cached cpio holding the files of `peers` (one image for the set, so
/// the libraries they share are stored once), rebuilt when those change.
pub fn layer(lab: &Path, apt: &mut Apt, peers: &[Peer]) -> Result<PathBuf, String> {
    let dir = lab.join("peers");
    let mut names: Vec<&str> = peers.iter().map(|peer| peer.name()).collect();
    names.sort_unstable();
    names.dedup();
    let name = names.join("+");
    let cpio = dir.join(format!("{name}.cpio"));
    let stamp_path = dir.join(format!("{name}.stamp"));
    let mut elves = Vec::new();
    let mut files: Vec<&str> = Vec::new();
    for peer in peers {
        let unpacked = match peer.deb() {
            Some(package) => Some(unpack_deb(apt, &dir, package)?),
            None => None,
        };
        elves.extend(elf_files(*peer, unpacked.as_deref())?);
        files.extend(peer.files());
    }

    let mut inputs = Fingerprint::default();
    inputs.add(PEER_LAYOUT_VERSION.as_bytes());
    for (host, _) in &elves {
        inputs.add(file_identity(host).as_bytes());
    }
    for file in &files {
        inputs.add(file_identity(Path::new(file)).as_bytes());
    }
    let stamp = format!("{name} {}\n", inputs.hex());
    if cpio.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp) {
        println!("xtask: {name} layer up to date ({})", cpio.display());
        return Ok(cpio);
    }

    println!("xtask: building the {name} layer");
    let root = dir.join(&name);
    fresh_dir(&root)?;
    let _ = std::fs::remove_file(&stamp_path);
    let mut libraries = Vec::new();
    for (host, guest) in &elves {
        copy_file(host, &guest_path(&root, guest), 0o755)?;
        libraries.extend(ldd(host)?);
    }
    libraries.sort();
    libraries.dedup();
    for library in &libraries {
        copy_file(library, &guest_path(&root, library), 0o755)?;
    }
    for file in &files {
        let path = Path::new(file);
        if path.is_file() {
            copy_file(path, &guest_path(&root, path), 0o644)?;
        }
    }

    write_cpio(&root, &cpio)?;
    std::fs::write(&stamp_path, &stamp)
        .map_err(|e| format!("cannot write {}: {e}", stamp_path.display()))?;
    let size = std::fs::metadata(&cpio).map(|m| m.len()).unwrap_or(0);
    println!(
        "xtask: {name} layer {} ({} MB: {} programs and plugins, {} libraries)",
        cpio.display(),
        size / 1_000_000,
        elves.len(),
        libraries.len()
    );
    Ok(cpio)
}

/// `apt-get download` + `dpkg -x` of `package` into a cached directory
/// (never installed); returns that directory.
fn unpack_deb(apt: &mut Apt, dir: &Path, package: &str) -> Result<PathBuf, String> {
    let tree = dir.join(format!("{package}-deb"));
    let done = tree.join(".unpacked");
    if done.is_file() {
        return Ok(tree);
    }
    let debs = dir.join("debs");
    fresh_dir(&debs)?;
    println!("xtask: apt-get download {package}");
    let download = || {
        let mut cmd = Command::new("apt-get");
        cmd.current_dir(&debs).args(["download", "-qq", package]);
        output(&mut cmd)
    };
    if download().is_err() {
        apt.update()?;
        download()?;
    }
    let deb = std::fs::read_dir(&debs)
        .map_err(|e| format!("cannot list {}: {e}", debs.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .ok_or_else(|| format!("apt-get download {package} left no .deb"))?;
    fresh_dir(&tree)?;
    output(Command::new("dpkg").arg("-x").arg(&deb).arg(&tree))?;
    std::fs::write(&done, "").map_err(|e| format!("cannot write {}: {e}", done.display()))?;
    Ok(tree)
}

/// (host file, guest path) of the peer's programs and of every shared object
/// in its plugin directories.
fn elf_files(peer: Peer, unpacked: Option<&Path>) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let mut files = Vec::new();
    for (origin, program) in peer.programs() {
        let host = match (origin, unpacked) {
            (Origin::Host, _) => PathBuf::from(program),
            (Origin::Deb, Some(tree)) => guest_path(tree, Path::new(program)),
            (Origin::Deb, None) => return Err(format!("{program}: {} has no deb", peer.name())),
        };
        if !host.is_file() {
            return Err(format!(
                "{} is missing (packages: {})",
                host.display(),
                peer.host_packages().join(" ")
            ));
        }
        files.push((host, PathBuf::from(program)));
    }
    for dir in peer.plugin_dirs() {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut plugins: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "so") && path.is_file())
            .collect();
        plugins.sort();
        files.extend(plugins.into_iter().map(|path| (path.clone(), path)));
    }
    Ok(files)
}

/// The shared libraries `ldd` resolves for an ELF file (program or plugin).
fn ldd(elf: &Path) -> Result<Vec<PathBuf>, String> {
    let mut cmd = Command::new("ldd");
    cmd.arg(elf);
    let out = capture(&mut cmd)?;
    let listing = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "`{}` failed: {}",
            describe(&cmd),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if let Some(line) = listing.lines().find(|l| l.contains("not found")) {
        return Err(format!(
            "{} needs a library the host lacks: {}",
            elf.display(),
            line.trim()
        ));
    }
    Ok(shared_libraries(&listing))
}

/// Where a host file goes under the guest root: the same path.
fn guest_path(root: &Path, host: &Path) -> PathBuf {
    root.join(host.strip_prefix("/").unwrap_or(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_name_payloads() {
        let script = "#!/bin/bash\n# a test\n# guest-payload: strongswan\n  # guest-payload: a b\n\
                      echo '# guest-payload' # not a marker line\n";
        assert_eq!(parse_markers(script), vec!["strongswan", "a", "b"]);
    }

    #[test]
    fn the_shipped_peer_tests_ask_for_their_peers() {
        let smoke = include_str!("../../../tests/vm/strongswan-smoke.sh");
        assert_eq!(parse_markers(smoke), vec!["strongswan"]);
        let ikev1 = include_str!("../../../tests/vm/libreswan-ikev1.sh");
        assert_eq!(parse_markers(ikev1), vec!["strongswan", "libreswan"]);
        let certificates = include_str!("../../../tests/vm/interop-libreswan-certificates.sh");
        assert_eq!(parse_markers(certificates), vec!["libreswan"]);
    }

    #[test]
    fn each_peer_brings_the_tools_its_certificate_tests_use() {
        let has = |peer: Peer, program: &str| peer.programs().iter().any(|(_, p)| *p == program);
        assert!(has(Peer::StrongSwan, "/usr/bin/openssl"));
        assert!(has(Peer::Libreswan, "/usr/bin/openssl"));
        assert!(has(Peer::Libreswan, "/usr/bin/certutil"));
        assert!(has(Peer::Libreswan, "/usr/bin/pk12util"));
        assert!(Peer::Libreswan.host_packages().contains(&"openssl"));
        assert!(Peer::Libreswan
            .files()
            .contains(&"/usr/lib/ssl/openssl.cnf"));
    }

    #[test]
    fn unknown_payloads_are_refused() {
        assert_eq!(Peer::from_name("strongswan"), Some(Peer::StrongSwan));
        assert_eq!(Peer::from_name("libreswan"), Some(Peer::Libreswan));
        assert_eq!(Peer::from_name("openvpn"), None);
    }

    #[test]
    fn guest_paths_mirror_host_paths() {
        assert_eq!(
            guest_path(Path::new("/r"), Path::new("/usr/lib/ipsec/charon")),
            PathBuf::from("/r/usr/lib/ipsec/charon")
        );
    }
}
