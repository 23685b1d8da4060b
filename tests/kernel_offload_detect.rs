//! Offload detection against the host kernel, in a scratch network namespace: the ESP
//! features of a link read over ethtool netlink, and strict offload settings refused before
//! anything is installed when the SA's egress device cannot take them (no route, a device
//! without `esp-hw-offload`, a device that is down). Nothing here needs ESP support in the
//! kernel; offload onto a capable device is tested in the VM (tests/vm/offload.sh).
//! Needs root and `ip`; skipped otherwise.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ikehub::algorithm::Encryption;
use ikehub::ike::{ChildInstall, ConnId, EspSa, IntentId, KernelIntent, Offload, SaId};
use ikehub::kernel::link::{Ethtool, LinkDataplane};
use ikehub::kernel::xfrm::XfrmDataplane;
use ikehub::kernel::Dataplane;
use zeroize::Zeroizing;

struct Scratch {
    name: String,
}

impl Scratch {
    fn create() -> Option<Scratch> {
        let name = format!("ikt-offload-{}", std::process::id());
        let made = Command::new("ip").args(["netns", "add", &name]).output();
        match made {
            Ok(out) if out.status.success() => Some(Scratch { name }),
            _ => None,
        }
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn esp(src: &str, dst: &str, spi: u32) -> EspSa {
    EspSa {
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        spi,
        encryption: Encryption::AesGcm16 { key_bits: 128 },
        integrity: None,
        encryption_key: Zeroizing::new(vec![7; 20]),
        integrity_key: Zeroizing::new(Vec::new()),
        esn: false,
        encap: None,
    }
}

fn install(local: &str, peer: &str, offload: Offload) -> KernelIntent {
    KernelIntent::InstallChild {
        id: IntentId(1),
        child: Box::new(ChildInstall {
            conn: ConnId(0),
            ike_sa: SaId(0),
            reqid: 0x4000_0001,
            inbound: esp(peer, local, 0x100),
            outbound: Some(esp(local, peer, 0x200)),
            local_selectors: vec!["10.1.0.0/24".parse().unwrap()],
            remote_selectors: vec!["10.2.0.0/24".parse().unwrap()],
            soft_lifetime: Duration::from_secs(50),
            hard_lifetime: Duration::from_secs(60),
            byte_limit: None,
            if_id: None,
            offload,
        }),
    }
}

async fn refusal(dataplane: &mut XfrmDataplane, intent: KernelIntent) -> String {
    let results = dataplane.apply(vec![intent]).await;
    assert_eq!(results.len(), 1);
    match &results[0].1 {
        Ok(()) => panic!("a strict offload setting was installed without a capable device"),
        Err(error) => error.to_string(),
    }
}

#[tokio::test]
async fn strict_offload_needs_a_capable_egress_device() {
    let Some(ns) = Scratch::create() else {
        println!("SKIPPED strict_offload_needs_a_capable_egress_device: `ip netns add` needs root");
        return;
    };
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    ns.ip(&["link", "set", "d1", "up"]);
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "d0"]);
    ns.ip(&["link", "set", "d0", "up"]);

    // The features, as `ethtool -k d0` shows them: a veth has no ESP offload.
    let mut links = LinkDataplane::open_in_netns(&ns.path()).expect("rtnetlink");
    let d0 = links
        .egress("192.0.2.2".parse::<IpAddr>().unwrap())
        .await
        .expect("route lookup")
        .expect("a route to the peer");
    assert_eq!(d0.name, "d0");
    let mut ethtool = Ethtool::open_in_netns(&ns.path()).expect("generic netlink");
    let features = ethtool
        .esp_features(d0.index)
        .await
        .expect("ethtool features");
    assert!(!features.esp_hw_offload);
    assert!(!features.esp_tx_csum_hw_offload);

    let mut dataplane = XfrmDataplane::open_in_netns(&ns.path()).expect("XFRM");
    let error = refusal(
        &mut dataplane,
        install("192.0.2.1", "192.0.2.2", Offload::Crypto),
    )
    .await;
    assert!(
        error.contains("crypto offload of SA to")
            && error.contains("d0 has ethtool feature esp-hw-offload off"),
        "{error}"
    );
    let error = refusal(
        &mut dataplane,
        install("192.0.2.1", "203.0.113.9", Offload::Packet),
    )
    .await;
    assert!(error.contains("no route to 203.0.113.9"), "{error}");
    ns.ip(&["link", "set", "d0", "down"]);
    let error = refusal(
        &mut dataplane,
        install("192.0.2.1", "192.0.2.2", Offload::Crypto),
    )
    .await;
    assert!(
        error.contains("d0 is down") || error.contains("no route to 192.0.2.2"),
        "{error}"
    );
    // Refused before anything was sent: the kernel holds no SA and no policy.
    let states = Command::new("ip")
        .args(["-n", &ns.name, "xfrm", "state"])
        .output()
        .expect("ip xfrm state");
    assert!(states.stdout.is_empty());
    let policies = Command::new("ip")
        .args(["-n", &ns.name, "xfrm", "policy"])
        .output()
        .expect("ip xfrm policy");
    assert!(policies.stdout.is_empty());
}
