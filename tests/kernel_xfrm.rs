//! The XFRM dataplane against a real kernel datapath.
//!
//! Needs root and a kernel with ESP; `cargo xtask vm-test kernel-xfrm` runs these tests in a
//! VM through tests/vm/kernel-xfrm.sh, which builds the topology and names the namespaces in
//! `IKEHUB_NS_A` / `IKEHUB_NS_B`:
//!
//! ```text
//!   A: outer 192.0.2.1, 2001:db8::1 (veth vA)   inner 10.1.0.1/24, fd00:1::1/64 (dummy dA)
//!   B: outer 192.0.2.2, 2001:db8::2 (veth vB)   inner 10.2.0.1/24, fd00:2::1/64 (dummy dB)
//! ```
//!
//! Each test starts and ends with empty SA and policy databases in both namespaces.

use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

mod support {
    pub mod netns;
}

use support::netns::Namespace;

use ikehub::algorithm::{Encryption, Integrity};
use ikehub::ike::{
    ChildInstall, ConnId, EspSa, IntentId, KernelIntent, OutboundInstall, SaId, REQID_BASE,
};
use ikehub::kernel::xfrm::XfrmDataplane;
use ikehub::kernel::{Dataplane, KernelEvent};
use ipnet::IpNet;
use zeroize::Zeroizing;

const OUTER_A: &str = "192.0.2.1";
const OUTER_B: &str = "192.0.2.2";
const INNER_A: &str = "10.1.0.1";
const INNER_B: &str = "10.2.0.1";
const OUTER6_A: &str = "2001:db8::1";
const OUTER6_B: &str = "2001:db8::2";
const INNER6_A: &str = "fd00:1::1";
const INNER6_B: &str = "fd00:2::1";

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn net(text: &str) -> IpNet {
    text.parse().expect("test network")
}

impl Namespace {
    fn flush(&self) {
        self.ip(&["xfrm", "state", "flush"]);
        self.ip(&["xfrm", "policy", "flush"]);
    }

    fn states(&self) -> String {
        self.ip(&["xfrm", "state", "list"])
    }

    fn policies(&self) -> String {
        self.ip(&["xfrm", "policy", "list"])
    }
}

struct Topology {
    a: Namespace,
    b: Namespace,
}

impl Topology {
    fn new() -> Topology {
        let topology = Topology {
            a: Namespace::from_env("IKEHUB_NS_A", "kernel-xfrm"),
            b: Namespace::from_env("IKEHUB_NS_B", "kernel-xfrm"),
        };
        topology.a.flush();
        topology.b.flush();
        topology
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["-n", &ns.name, "xfrm", "state", "flush"])
                .status();
            let _ = Command::new("ip")
                .args(["-n", &ns.name, "xfrm", "policy", "flush"])
                .status();
        }
    }
}

/// The keys and SPIs of one CHILD_SA between A and B.
#[derive(Clone)]
struct Pair {
    reqid: u32,
    spi_ab: u32,
    spi_ba: u32,
    encryption: Encryption,
    integrity: Option<Integrity>,
    esn: bool,
    encap: Option<(u16, u16)>,
    soft: Duration,
    hard: Duration,
    outer_a: &'static str,
    outer_b: &'static str,
    net_a: String,
    net_b: String,
}

impl Pair {
    fn gcm(reqid: u32, spi_ab: u32, spi_ba: u32) -> Pair {
        Pair {
            reqid,
            spi_ab,
            spi_ba,
            encryption: Encryption::AesGcm16 { key_bits: 128 },
            integrity: None,
            esn: false,
            encap: None,
            soft: Duration::from_secs(3000),
            hard: Duration::from_secs(3600),
            outer_a: OUTER_A,
            outer_b: OUTER_B,
            net_a: "10.1.0.0/24".into(),
            net_b: "10.2.0.0/24".into(),
        }
    }

    /// The same over IPv6, outside and inside.
    fn gcm6(reqid: u32, spi_ab: u32, spi_ba: u32) -> Pair {
        Pair {
            outer_a: OUTER6_A,
            outer_b: OUTER6_B,
            net_a: "fd00:1::/64".into(),
            net_b: "fd00:2::/64".into(),
            ..Pair::gcm(reqid, spi_ab, spi_ba)
        }
    }

    fn sa(&self, src: &str, dst: &str, spi: u32, key_seed: u8) -> EspSa {
        EspSa {
            src: ip(src),
            dst: ip(dst),
            spi,
            encryption: self.encryption,
            integrity: self.integrity,
            encryption_key: Zeroizing::new(
                (0..self.encryption.keymat_len())
                    .map(|i| key_seed.wrapping_add(i as u8))
                    .collect(),
            ),
            integrity_key: Zeroizing::new(
                self.integrity
                    .map_or(Vec::new(), |i| vec![key_seed ^ 0x5a; i.key_len()]),
            ),
            esn: self.esn,
            encap: self.encap,
        }
    }

    fn a_to_b(&self) -> EspSa {
        self.sa(self.outer_a, self.outer_b, self.spi_ab, 0x10)
    }

    fn b_to_a(&self) -> EspSa {
        self.sa(self.outer_b, self.outer_a, self.spi_ba, 0x80)
    }

    /// The install intent for side A (`a == true`) or B.
    fn install(&self, a: bool) -> KernelIntent {
        let (inbound, outbound, local, remote) = if a {
            (self.b_to_a(), self.a_to_b(), &self.net_a, &self.net_b)
        } else {
            (self.a_to_b(), self.b_to_a(), &self.net_b, &self.net_a)
        };
        KernelIntent::InstallChild {
            id: IntentId(u64::from(self.spi_ab)),
            child: Box::new(ChildInstall {
                conn: ConnId(0),
                ike_sa: SaId(0),
                reqid: self.reqid,
                inbound,
                outbound: Some(outbound),
                local_selectors: vec![net(local)],
                remote_selectors: vec![net(remote)],
                soft_lifetime: self.soft,
                hard_lifetime: self.hard,
                byte_limit: None,
                if_id: None,
                offload: ikehub::ike::Offload::None,
            }),
        }
    }

    fn delete(&self, a: bool, remove_policies: bool) -> KernelIntent {
        let (ab, ba) = (
            (ip(self.outer_a), ip(self.outer_b), self.spi_ab),
            (ip(self.outer_b), ip(self.outer_a), self.spi_ba),
        );
        let (inbound, outbound, local, remote) = if a {
            (ba, ab, &self.net_a, &self.net_b)
        } else {
            (ab, ba, &self.net_b, &self.net_a)
        };
        KernelIntent::DeleteChild {
            id: IntentId(u64::from(self.spi_ba)),
            reqid: self.reqid,
            inbound,
            outbound,
            remove_policies,
            local_selectors: vec![net(local)],
            remote_selectors: vec![net(remote)],
            if_id: None,
        }
    }

    /// The SA keys (destination, SPI) in both directions: A->B, then B->A.
    fn keys(&self) -> [(IpAddr, u32); 2] {
        [
            (ip(self.outer_b), self.spi_ab),
            (ip(self.outer_a), self.spi_ba),
        ]
    }
}

async fn apply_ok(dataplane: &mut XfrmDataplane, intent: KernelIntent) {
    let results = dataplane.apply(vec![intent]).await;
    assert_eq!(results.len(), 1);
    for (id, result) in results {
        if let Err(e) = result {
            panic!("intent {id:?} failed: {e}");
        }
    }
}

/// Packets the kernel counted on both SAs of `pair`, as seen by `dataplane`.
async fn packets(dataplane: &mut XfrmDataplane, pair: &Pair) -> [Option<u64>; 2] {
    let counters = dataplane
        .counters(&pair.keys())
        .await
        .expect("read counters");
    assert_eq!(counters.len(), 2);
    [
        counters[0].as_ref().map(|c| c.packets),
        counters[1].as_ref().map(|c| c.packets),
    ]
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn installed_pair_carries_pings_and_counts_them() {
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let mut b = topology.b.xfrm();
    let mut pair = Pair::gcm(REQID_BASE + 1, 0xa001, 0xb001);
    pair.esn = true;

    apply_ok(&mut a, pair.install(true)).await;
    apply_ok(&mut b, pair.install(false)).await;
    let states = topology.a.states();
    assert!(states.contains("rfc4106(gcm(aes))"), "{states}");
    assert!(states.contains("esn"), "{states}");
    assert_eq!(topology.a.policies().matches("10.2.0.0/24").count(), 3);

    assert!(
        topology.a.ping(INNER_A, INNER_B, Duration::from_secs(10)),
        "ping through the tunnel"
    );
    let [a_out, a_in] = packets(&mut a, &pair).await;
    let [b_in, b_out] = packets(&mut b, &pair).await;
    for (what, count) in [
        ("A out", a_out),
        ("A in", a_in),
        ("B in", b_in),
        ("B out", b_out),
    ] {
        assert!(count.unwrap_or(0) >= 1, "{what} counted {count:?} packets");
    }

    let results = a.apply(vec![pair.delete(true, true)]).await;
    assert!(results[0].1.is_ok(), "{results:?}");
    assert_eq!(packets(&mut a, &pair).await, [None, None]);
    assert_eq!(topology.a.states().trim(), "");
    assert_eq!(topology.a.policies().trim(), "");
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn failed_install_is_rolled_back_with_the_kernel_reason() {
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let pair = Pair::gcm(REQID_BASE + 2, 0xa002, 0xb002);
    let mut intent = pair.install(true);
    if let KernelIntent::InstallChild { child, .. } = &mut intent {
        // The outbound SA gets a 7-byte AES-GCM key: the inbound SA and the policies are
        // accepted before the kernel refuses it, so all of them must be undone.
        if let Some(outbound) = &mut child.outbound {
            outbound.encryption_key = Zeroizing::new(vec![1; 7]);
        }
    }
    let results = a.apply(vec![intent]).await;
    let error = results[0]
        .1
        .clone()
        .expect_err("a 7-byte AES-GCM key must be refused");
    println!("kernel error: {error}");
    assert!(
        error
            .operation
            .starts_with("add SA 192.0.2.1->192.0.2.2 spi 0x0000a002"),
        "{error}"
    );
    // errno text, then the extended ACK text in parentheses.
    let (errno_text, ext_ack) = error.message.split_once(" (").expect("extended ACK text");
    assert!(!errno_text.is_empty() && ext_ack.len() > 2, "{error}");
    assert_eq!(topology.a.states().trim(), "", "no SA left behind");
    assert_eq!(topology.a.policies().trim(), "", "no policy left behind");
    assert_eq!(packets(&mut a, &pair).await, [None, None]);
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn remove_stale_removes_only_our_reqid_range() {
    let topology = Topology::new();
    // Another IPsec user's SA and policy, reqid 7.
    topology.a.ip(&[
        "xfrm",
        "state",
        "add",
        "src",
        "192.0.2.9",
        "dst",
        "192.0.2.8",
        "proto",
        "esp",
        "spi",
        "0x777",
        "reqid",
        "7",
        "mode",
        "tunnel",
        "aead",
        "rfc4106(gcm(aes))",
        "0x0102030405060708090a0b0c0d0e0f1011121314",
        "128",
    ]);
    topology.a.ip(&[
        "xfrm",
        "policy",
        "add",
        "src",
        "10.9.0.0/24",
        "dst",
        "10.8.0.0/24",
        "dir",
        "out",
        "tmpl",
        "src",
        "192.0.2.9",
        "dst",
        "192.0.2.8",
        "proto",
        "esp",
        "reqid",
        "7",
        "mode",
        "tunnel",
    ]);
    let mut a = topology.a.xfrm();
    let mut pair = Pair::gcm(REQID_BASE + 3, 0xa003, 0xb003);
    pair.encryption = Encryption::ChaCha20Poly1305;
    apply_ok(&mut a, pair.install(true)).await;

    // Our 2 SAs and 3 policies.
    assert_eq!(a.remove_stale().await.expect("remove stale"), 5);
    let states = topology.a.states();
    assert!(states.contains("spi 0x00000777 reqid 7"), "{states}");
    assert!(
        !states.contains("0x0000a003") && !states.contains("0x0000b003"),
        "{states}"
    );
    let policies = topology.a.policies();
    assert!(policies.contains("10.9.0.0/24"), "{policies}");
    assert!(!policies.contains("10.1.0.0/24"), "{policies}");
    assert_eq!(a.remove_stale().await.expect("remove stale again"), 0);
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn rekey_installs_next_to_the_old_pair_without_interruption() {
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let mut b = topology.b.xfrm();
    let old = Pair::gcm(REQID_BASE + 4, 0xa004, 0xb004);
    let mut new = Pair::gcm(REQID_BASE + 4, 0xa104, 0xb104);
    new.encryption = Encryption::AesCbc { key_bits: 256 };
    new.integrity = Some(Integrity::HmacSha256_128);

    apply_ok(&mut a, old.install(true)).await;
    apply_ok(&mut b, old.install(false)).await;
    assert!(
        topology.a.ping(INNER_A, INNER_B, Duration::from_secs(10)),
        "ping on the old pair"
    );

    // Make before break: the new pair joins the old one under the same reqid and policies.
    apply_ok(&mut b, new.install(false)).await;
    apply_ok(&mut a, new.install(true)).await;
    assert!(
        topology.a.ping_once(INNER_A, INNER_B),
        "ping with both pairs installed"
    );
    assert_eq!(
        topology.a.policies().matches("10.2.0.0/24").count(),
        3,
        "policies updated, not doubled"
    );

    apply_ok(&mut a, old.delete(true, false)).await;
    apply_ok(&mut b, old.delete(false, false)).await;
    assert_eq!(packets(&mut a, &old).await, [None, None]);
    let [a_out_before, _] = packets(&mut a, &new).await;
    assert!(
        topology.a.ping_once(INNER_A, INNER_B),
        "ping on the new pair alone"
    );
    let [a_out, a_in] = packets(&mut a, &new).await;
    let [b_in, b_out] = packets(&mut b, &new).await;
    assert!(
        a_out.unwrap_or(0) > a_out_before.unwrap_or(0),
        "A sent on the new SA: {a_out:?}"
    );
    for (what, count) in [("A in", a_in), ("B in", b_in), ("B out", b_out)] {
        assert!(count.unwrap_or(0) >= 1, "{what} counted {count:?} packets");
    }
    let states = topology.a.states();
    assert!(
        states.contains("cbc(aes)") && states.contains("hmac(sha256)"),
        "{states}"
    );
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn rekey_responder_keeps_sending_on_the_old_sa_until_its_outbound_sa_is_added() {
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let mut b = topology.b.xfrm();
    let old = Pair::gcm(REQID_BASE + 9, 0xa009, 0xb009);
    let new = Pair::gcm(REQID_BASE + 9, 0xa109, 0xb109);
    apply_ok(&mut a, old.install(true)).await;
    apply_ok(&mut b, old.install(false)).await;

    // B answered A's rekey: the new inbound SA only. A, the initiator, installs both.
    let mut inbound_only = new.install(false);
    let mut later = None;
    if let KernelIntent::InstallChild { child, .. } = &mut inbound_only {
        later = child.outbound.take().map(|sa| OutboundInstall {
            conn: child.conn,
            ike_sa: child.ike_sa,
            reqid: child.reqid,
            sa,
            soft_lifetime: child.soft_lifetime,
            hard_lifetime: child.hard_lifetime,
            byte_limit: child.byte_limit,
            if_id: child.if_id,
            offload: child.offload,
        });
    }
    let later = later.expect("the install has an outbound SA");
    apply_ok(&mut b, inbound_only).await;
    apply_ok(&mut a, new.install(true)).await;
    assert!(
        topology.a.ping_once(INNER_A, INNER_B),
        "ping during the rekey"
    );
    // [B in, B out] of each pair: A already sends on the new SA, B still answers on the old.
    let [new_in, new_out] = packets(&mut b, &new).await;
    let [_, old_out] = packets(&mut b, &old).await;
    assert!(
        new_in.unwrap_or(0) >= 1,
        "B received on the new SA: {new_in:?}"
    );
    assert_eq!(new_out, None, "B's new outbound SA is not installed yet");
    assert!(
        old_out.unwrap_or(0) >= 1,
        "B answered on the old SA: {old_out:?}"
    );

    // A deletes the old pair; B adds its outbound SA, then drops the old pair.
    apply_ok(
        &mut b,
        KernelIntent::InstallOutbound {
            id: IntentId(9),
            child: Box::new(later),
        },
    )
    .await;
    apply_ok(&mut a, old.delete(true, false)).await;
    apply_ok(&mut b, old.delete(false, false)).await;
    assert!(
        topology.a.ping_once(INNER_A, INNER_B),
        "ping after the rekey"
    );
    let [_, new_out] = packets(&mut b, &new).await;
    assert!(
        new_out.unwrap_or(0) >= 1,
        "B answers on the new SA: {new_out:?}"
    );
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn soft_lifetime_raises_an_expire_event() {
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let mut pair = Pair::gcm(REQID_BASE + 5, 0xa005, 0xb005);
    pair.soft = Duration::from_secs(5);
    pair.hard = Duration::from_secs(120);
    let started = Instant::now();
    apply_ok(&mut a, pair.install(true)).await;

    let ours = pair.keys();
    let event = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let event = a.next_event().await;
            if let KernelEvent::Expire { dst, spi, .. } = &event {
                if ours.contains(&(*dst, *spi)) {
                    return event;
                }
            }
        }
    })
    .await
    .expect("an expire event within 30 s");
    let waited = started.elapsed();
    assert!(
        matches!(event, KernelEvent::Expire { hard: false, .. }),
        "{event:?}"
    );
    assert!(
        waited >= Duration::from_secs(4),
        "soft expiry after {waited:?}"
    );
    println!("soft expire after {waited:?}: {event:?}");
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn ipv6_pair_carries_pings() {
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let mut b = topology.b.xfrm();
    let mut pair = Pair::gcm6(REQID_BASE + 6, 0xa006, 0xb006);
    pair.encryption = Encryption::AesCbc { key_bits: 128 };
    pair.integrity = Some(Integrity::HmacSha512_256);
    apply_ok(&mut a, pair.install(true)).await;
    apply_ok(&mut b, pair.install(false)).await;
    let policies = topology.a.policies();
    assert_eq!(policies.matches("fd00:2::/64").count(), 3, "{policies}");

    assert!(
        topology.a.ping(INNER6_A, INNER6_B, Duration::from_secs(10)),
        "ping6 through the tunnel"
    );
    let [a_out, a_in] = packets(&mut a, &pair).await;
    let [b_in, b_out] = packets(&mut b, &pair).await;
    for (what, count) in [
        ("A out", a_out),
        ("A in", a_in),
        ("B in", b_in),
        ("B out", b_out),
    ] {
        assert!(count.unwrap_or(0) >= 1, "{what} counted {count:?} packets");
    }
    assert_eq!(a.remove_stale().await.expect("remove stale"), 5);
    assert_eq!(b.remove_stale().await.expect("remove stale"), 5);
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn nat_traversal_sas_carry_udp_encapsulation() {
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let mut pair = Pair::gcm(REQID_BASE + 7, 0xa007, 0xb007);
    pair.encap = Some((4500, 4501));
    apply_ok(&mut a, pair.install(true)).await;
    let states = topology.a.states();
    // Both directions carry the same (source, destination) ports as given.
    assert_eq!(
        states
            .matches("encap type espinudp sport 4500 dport 4501")
            .count(),
        2,
        "{states}"
    );
    assert_eq!(a.remove_stale().await.expect("remove stale"), 5);
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn a_thousand_children_in_one_apply() {
    const CHILDREN: u32 = 1000;
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let intents: Vec<KernelIntent> = (0..CHILDREN)
        .map(|i| {
            let mut pair = Pair::gcm(REQID_BASE + 100 + i, 0x10_0000 + i, 0x20_0000 + i);
            let [hi, lo] = u16::try_from(i).expect("small index").to_be_bytes();
            pair.net_a = format!("10.100.{hi}.{lo}/32");
            pair.net_b = format!("10.200.{hi}.{lo}/32");
            pair.install(true)
        })
        .collect();
    let keys: Vec<(IpAddr, u32)> = (0..CHILDREN)
        .flat_map(|i| [(ip(OUTER_B), 0x10_0000 + i), (ip(OUTER_A), 0x20_0000 + i)])
        .collect();

    let started = Instant::now();
    let results = a.apply(intents).await;
    let applied = started.elapsed();
    assert_eq!(results.len(), CHILDREN as usize);
    assert!(
        results.iter().all(|(_, r)| r.is_ok()),
        "{:?}",
        results.iter().find(|(_, r)| r.is_err())
    );

    let started = Instant::now();
    let counters = a.counters(&keys).await.expect("read counters");
    let counted = started.elapsed();
    assert!(counters.iter().all(Option::is_some), "every SA is found");

    let started = Instant::now();
    let removed = a.remove_stale().await.expect("remove stale");
    let cleaned = started.elapsed();
    assert_eq!(
        removed,
        5 * CHILDREN as usize,
        "2 SAs and 3 policies per child"
    );
    assert_eq!(topology.a.states().trim(), "");
    println!(
        "{CHILDREN} children ({} messages): apply {applied:?}, counters of {} SAs {counted:?}, \
         remove_stale {cleaned:?} (TCG guest: relative figures only)",
        5 * CHILDREN,
        keys.len()
    );
}

#[tokio::test]
#[ignore = "needs root and an ESP-capable kernel; run by cargo xtask vm-test kernel-xfrm"]
async fn traffic_on_a_policy_without_sas_raises_an_acquire_event() {
    let topology = Topology::new();
    let mut a = topology.a.xfrm();
    let pair = Pair::gcm(REQID_BASE + 8, 0xa008, 0xb008);
    apply_ok(&mut a, pair.install(true)).await;
    // The SAs go, the policies stay (as between a delete and its successor).
    apply_ok(&mut a, pair.delete(true, false)).await;
    assert_eq!(topology.a.policies().matches("10.2.0.0/24").count(), 3);
    assert!(
        !topology.a.ping_once(INNER_A, INNER_B),
        "no SA: the out policy holds the packet"
    );

    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = a.next_event().await;
            if matches!(event, KernelEvent::Acquire { .. }) {
                return event;
            }
        }
    })
    .await
    .expect("an acquire event within 10 s");
    assert_eq!(event, KernelEvent::Acquire { reqid: pair.reqid });
    assert_eq!(a.remove_stale().await.expect("remove stale"), 3);
}
