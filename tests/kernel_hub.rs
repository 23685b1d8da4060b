//! Hub mode's kernel layer against a real kernel: xfrm interfaces, CHILD_SAs bound to them by
//! if_id, routes in ikehub's table (and the rule that consults it), longest-prefix match
//! across interfaces, rollback and cleanup.
//!
//! Needs root and a kernel with ESP and xfrm interfaces; `cargo xtask vm-test kernel-hub`
//! runs these tests in a VM through tests/vm/kernel-hub.sh, which builds the topology and
//! names the namespaces in `IKEHUB_NS_A` / `IKEHUB_NS_B`:
//!
//! ```text
//!   A: outer 192.0.2.1 (veth vA)   inner 10.1.0.1/24, 10.1.5.1/24, fd00:1::1/64 (dummy dA)
//!   B: outer 192.0.2.2 (veth vB)   inner 10.2.0.1/24, 10.2.5.1/24, fd00:2::1/64 (dummy dB)
//! ```
//!
//! Nothing routes between the inner networks except what the tests install. Each test
//! starts and ends without XFRM state, hub interfaces, hub routes or hub rules.

use std::net::IpAddr;
use std::time::Duration;

mod support {
    pub mod netns;
}

use support::netns::Namespace;

use ikehub::algorithm::Encryption;
use ikehub::ike::{ChildInstall, ConnId, EspSa, IntentId, KernelIntent, SaId, REQID_BASE};
use ikehub::kernel::link::{
    interface_name, xfrm_interface_mtu, Destination, LinkDataplane, OuterFamily, Route,
    XfrmInterface, OWNED_TABLE, RULE_PRIORITY,
};
use ikehub::kernel::xfrm::XfrmDataplane;
use ikehub::kernel::Dataplane;
use ipnet::IpNet;
use zeroize::Zeroizing;

const OUTER_A: &str = "192.0.2.1";
const OUTER_B: &str = "192.0.2.2";

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn net(text: &str) -> IpNet {
    text.parse().expect("test network")
}

impl Namespace {
    fn links(&self) -> LinkDataplane {
        LinkDataplane::open_in_netns(&self.path())
            .unwrap_or_else(|e| panic!("open the link dataplane in {}: {e}", self.name))
    }

    /// Removes what a failed test may have left: XFRM state, `ikh-*` links, the hub rule,
    /// the owned table. Uses `ip` only, so it does not depend on the code under test.
    fn scrub(&self) {
        let _ = self.try_ip(&["xfrm", "state", "flush"]);
        let _ = self.try_ip(&["xfrm", "policy", "flush"]);
        if let Ok(links) = self.try_ip(&["-o", "link", "show"]) {
            for line in links.lines() {
                let name = line.split(": ").nth(1).unwrap_or("");
                let name = name.split('@').next().unwrap_or("");
                if name.starts_with("ikh-") || name == "other0" {
                    let _ = self.try_ip(&["link", "del", name]);
                }
            }
        }
        let priority = RULE_PRIORITY.to_string();
        for family in ["-4", "-6"] {
            while self
                .try_ip(&[family, "rule", "del", "priority", &priority])
                .is_ok()
            {}
            let _ = self.try_ip(&[family, "rule", "del", "priority", "7221"]);
            let _ = self.try_ip(&[family, "route", "flush", "table", "7220"]);
        }
    }
}

struct Topology {
    a: Namespace,
    b: Namespace,
}

impl Topology {
    fn new() -> Topology {
        let topology = Topology {
            a: Namespace::from_env("IKEHUB_NS_A", "kernel-hub"),
            b: Namespace::from_env("IKEHUB_NS_B", "kernel-hub"),
        };
        topology.a.scrub();
        topology.b.scrub();
        topology
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.a.scrub();
        self.b.scrub();
    }
}

/// One CHILD_SA between A and B bound to an xfrm interface: selectors 0.0.0.0/0 on both
/// sides, so only routes decide what it carries.
struct Pair {
    reqid: u32,
    spi_ab: u32,
    spi_ba: u32,
    if_id: u32,
    /// Both sides' selector: 0.0.0.0/0 or ::/0.
    any: &'static str,
}

impl Pair {
    fn sa(&self, src: &str, dst: &str, spi: u32, seed: u8) -> EspSa {
        let encryption = Encryption::AesGcm16 { key_bits: 128 };
        EspSa {
            src: ip(src),
            dst: ip(dst),
            spi,
            encryption,
            integrity: None,
            encryption_key: Zeroizing::new(
                (0..encryption.keymat_len())
                    .map(|i| seed.wrapping_add(i as u8))
                    .collect(),
            ),
            integrity_key: Zeroizing::new(Vec::new()),
            esn: false,
            encap: None,
        }
    }

    fn install(&self, a: bool) -> KernelIntent {
        let ab = self.sa(OUTER_A, OUTER_B, self.spi_ab, 0x10);
        let ba = self.sa(OUTER_B, OUTER_A, self.spi_ba, 0x80);
        let (inbound, outbound) = if a { (ba, ab) } else { (ab, ba) };
        KernelIntent::InstallChild {
            id: IntentId(u64::from(self.spi_ab)),
            child: Box::new(ChildInstall {
                conn: ConnId(0),
                ike_sa: SaId(0),
                reqid: self.reqid,
                inbound,
                outbound: Some(outbound),
                local_selectors: vec![net(self.any)],
                remote_selectors: vec![net(self.any)],
                soft_lifetime: Duration::from_secs(3000),
                hard_lifetime: Duration::from_secs(3600),
                byte_limit: None,
                if_id: Some(self.if_id),
                offload: ikehub::ike::Offload::None,
            }),
        }
    }

    fn delete(&self, a: bool) -> KernelIntent {
        let ab = (ip(OUTER_A), ip(OUTER_B), self.spi_ab);
        let ba = (ip(OUTER_B), ip(OUTER_A), self.spi_ba);
        let (inbound, outbound) = if a { (ba, ab) } else { (ab, ba) };
        KernelIntent::DeleteChild {
            id: IntentId(u64::from(self.spi_ba)),
            reqid: self.reqid,
            inbound,
            outbound,
            remove_policies: true,
            local_selectors: vec![net(self.any)],
            remote_selectors: vec![net(self.any)],
            if_id: Some(self.if_id),
        }
    }

    /// (destination, SPI) of A->B, then B->A.
    fn keys(&self) -> [(IpAddr, u32); 2] {
        [(ip(OUTER_B), self.spi_ab), (ip(OUTER_A), self.spi_ba)]
    }
}

async fn apply_ok(dataplane: &mut XfrmDataplane, intent: KernelIntent) {
    for (id, result) in dataplane.apply(vec![intent]).await {
        if let Err(e) = result {
            panic!("intent {id:?} failed: {e}");
        }
    }
}

/// Packets counted on A->B and B->A of `pair`; `None` where the SA does not exist.
async fn packets(dataplane: &mut XfrmDataplane, pair: &Pair) -> [Option<u64>; 2] {
    let counters = dataplane
        .counters(&pair.keys())
        .await
        .expect("read counters");
    [
        counters[0].as_ref().map(|c| c.packets),
        counters[1].as_ref().map(|c| c.packets),
    ]
}

/// The xfrm interface spec for `connection` over the veth `phys` of this namespace.
async fn spec(
    links: &mut LinkDataplane,
    connection: &str,
    phys: &str,
    if_id: u32,
) -> XfrmInterface {
    let phys = links
        .link(phys)
        .await
        .expect("read the physical link")
        .expect("the veth exists");
    XfrmInterface {
        name: interface_name(connection),
        if_id,
        underlying: phys.index,
        mtu: xfrm_interface_mtu(phys.mtu.expect("veth MTU"), OuterFamily::V4)
            .expect("room for ESP"),
    }
}

fn destination(text: &str) -> Destination {
    Destination {
        destination: net(text),
        metric: 100,
        publish: false,
    }
}

#[tokio::test]
#[ignore = "needs root and xfrm interfaces; run by cargo xtask vm-test kernel-hub"]
async fn routes_through_xfrm_interfaces_decide_where_traffic_goes() {
    let topology = Topology::new();
    let (ns_a, ns_b) = (&topology.a, &topology.b);
    let (mut xa, mut xb) = (ns_a.xfrm(), ns_b.xfrm());
    let (mut la, mut lb) = (ns_a.links(), ns_b.links());

    // Someone else's objects, which cleanup must leave alone: an xfrm interface, a route in
    // the owned table and a rule next to ours.
    ns_a.ip(&[
        "link", "add", "other0", "type", "xfrm", "dev", "vA", "if_id", "99",
    ]);
    ns_a.ip(&["route", "add", "10.9.0.0/24", "dev", "dA", "table", "7220"]);
    ns_a.ip(&["rule", "add", "priority", "7221", "lookup", "7220"]);

    // One interface per side (if_id 42), routing the other side's /16 in the owned table.
    let spec_a = spec(&mut la, "site-b", "vA", 42).await;
    let spec_b = spec(&mut lb, "site-a", "vB", 42).await;
    let if_a = la
        .attach(&spec_a, &[destination("10.2.0.0/16")])
        .await
        .expect("attach on A");
    let if_b = lb
        .attach(&spec_b, &[destination("10.1.0.0/16")])
        .await
        .expect("attach on B");
    assert_eq!(la.add_rules().await.expect("rules on A"), 2);
    assert_eq!(lb.add_rules().await.expect("rules on B"), 2);
    assert_eq!(la.add_rules().await.expect("rules again"), 0, "idempotent");
    assert_eq!((if_a.if_id, if_a.kind.as_deref()), (Some(42), Some("xfrm")));
    assert_eq!(if_b.if_id, Some(42));
    assert!(if_a.up);
    assert_eq!(
        if_a.mtu,
        Some(1399),
        "1500 minus the worst-case ESP overhead"
    );
    let link_text = ns_a.ip(&["-d", "link", "show", &spec_a.name]);
    assert!(link_text.contains("if_id 0x2a"), "{link_text}");
    let rules = ns_a.ip(&["rule", "show"]);
    assert!(rules.contains("7220:\tfrom all lookup 7220"), "{rules}");

    let main = Pair {
        reqid: REQID_BASE + 201,
        spi_ab: 0xa201,
        spi_ba: 0xb201,
        if_id: 42,
        any: "0.0.0.0/0",
    };
    apply_ok(&mut xa, main.install(true)).await;
    apply_ok(&mut xb, main.install(false)).await;
    let policies = ns_a.ip(&["xfrm", "policy", "list"]);
    assert_eq!(policies.matches("if_id 0x2a").count(), 3, "{policies}");
    assert!(ns_a.ip(&["xfrm", "state", "list"]).contains("if_id 0x2a"));

    assert!(
        ns_a.ping("10.1.0.1", "10.2.0.1", Duration::from_secs(10)),
        "ping through the xfrm interfaces"
    );
    let [a_out, a_in] = packets(&mut xa, &main).await;
    let [b_in, b_out] = packets(&mut xb, &main).await;
    for (what, count) in [
        ("A out", a_out),
        ("A in", a_in),
        ("B in", b_in),
        ("B out", b_out),
    ] {
        assert!(count.unwrap_or(0) >= 1, "{what} counted {count:?} packets");
    }
    println!("if_id 42 pair after the ping: A out {a_out:?}, A in {a_in:?}");

    // Without the route the traffic stops, though the SAs and policies stay.
    let route_a = Route {
        destination: net("10.2.0.0/16"),
        interface: if_a.index,
        table: OWNED_TABLE,
        metric: 100,
    };
    assert_eq!(
        la.routes(Some(OWNED_TABLE)).await.expect("routes"),
        vec![route_a]
    );
    assert!(la.delete_route(&route_a).await.expect("delete route"));
    assert!(
        !la.delete_route(&route_a).await.expect("delete again"),
        "already gone"
    );
    assert!(
        !ns_a.ping_once("10.1.0.1", "10.2.0.1"),
        "no route, no traffic"
    );
    let [a_out_after, _] = packets(&mut xa, &main).await;
    assert_eq!(
        a_out_after, a_out,
        "nothing left through the SA, which is still there"
    );
    assert_eq!(
        ns_a.ip(&["xfrm", "policy", "list"])
            .matches("if_id 0x2a")
            .count(),
        3
    );

    // The route back (replace adds when absent) and the traffic flows again.
    la.replace_route(&route_a).await.expect("replace route");
    la.replace_route(&route_a).await.expect("replace it again");
    assert!(
        ns_a.ping("10.1.0.1", "10.2.0.1", Duration::from_secs(10)),
        "route restored"
    );

    // A second interface (if_id 43) with its own pair takes the more specific prefixes.
    let narrow = Pair {
        reqid: REQID_BASE + 202,
        spi_ab: 0xa202,
        spi_ba: 0xb202,
        if_id: 43,
        any: "0.0.0.0/0",
    };
    let spec_a5 = spec(&mut la, "site-b-lan5", "vA", 43).await;
    let spec_b5 = spec(&mut lb, "site-a-lan5", "vB", 43).await;
    la.attach(&spec_a5, &[destination("10.2.5.0/24")])
        .await
        .expect("second interface on A");
    lb.attach(&spec_b5, &[destination("10.1.5.0/24")])
        .await
        .expect("second interface on B");
    apply_ok(&mut xa, narrow.install(true)).await;
    apply_ok(&mut xb, narrow.install(false)).await;
    // Same selectors as the first pair, a different if_id: three more policies, not a clash.
    assert_eq!(
        ns_a.ip(&["xfrm", "policy", "list"])
            .matches("if_id 0x2b")
            .count(),
        3
    );

    let [main_before, _] = packets(&mut xa, &main).await;
    assert!(
        ns_a.ping("10.1.5.1", "10.2.5.1", Duration::from_secs(10)),
        "ping to the narrower prefix"
    );
    let [main_after, _] = packets(&mut xa, &main).await;
    let [narrow_out, narrow_in] = packets(&mut xa, &narrow).await;
    assert!(
        narrow_out.unwrap_or(0) >= 1,
        "if_id 43 carried it: {narrow_out:?}"
    );
    assert!(narrow_in.unwrap_or(0) >= 1, "and the reply: {narrow_in:?}");
    assert_eq!(main_after, main_before, "if_id 42 did not carry the /24");
    println!(
        "longest prefix: 10.2.5.0/24 via {} ({narrow_out:?} packets out)",
        spec_a5.name
    );

    let [narrow_before, _] = packets(&mut xa, &narrow).await;
    assert!(
        ns_a.ping_once("10.1.0.1", "10.2.0.1"),
        "the /16 still goes by if_id 42"
    );
    let [narrow_after, _] = packets(&mut xa, &narrow).await;
    assert_eq!(narrow_after, narrow_before);

    // Deleting the if_id 43 pair by selector leaves the if_id 42 policies of the same
    // selector in place.
    apply_ok(&mut xa, narrow.delete(true)).await;
    let policies = ns_a.ip(&["xfrm", "policy", "list"]);
    assert_eq!(policies.matches("if_id 0x2b").count(), 0, "{policies}");
    assert_eq!(policies.matches("if_id 0x2a").count(), 3, "{policies}");
    assert!(
        ns_a.ping_once("10.1.0.1", "10.2.0.1"),
        "if_id 42 unaffected"
    );

    // Cleanup: the SAs and if_id policies, then interfaces (their routes go with them) and
    // rules; the foreign objects stay.
    assert_eq!(xa.remove_stale().await.expect("remove stale XFRM"), 5);
    assert_eq!(ns_a.ip(&["xfrm", "policy", "list"]).trim(), "");
    let removed = la.remove_stale().await.expect("remove stale links");
    assert_eq!(removed, 4, "2 interfaces and 2 rules");
    assert!(la.xfrm_interfaces().await.expect("list").is_empty());
    let links = ns_a.ip(&["link", "show"]);
    assert!(
        !links.contains("ikh-") && links.contains("other0"),
        "{links}"
    );
    let table = ns_a.ip(&["route", "show", "table", "7220"]);
    assert_eq!(table.trim(), "10.9.0.0/24 dev dA scope link", "{table}");
    let rules = ns_a.ip(&["rule", "show"]);
    assert!(
        !rules.contains("7220:") && rules.contains("7221:"),
        "{rules}"
    );
    assert_eq!(la.remove_stale().await.expect("remove stale again"), 0);
    assert!(lb.remove_stale().await.expect("B") >= 4);
}

#[tokio::test]
#[ignore = "needs root and xfrm interfaces; run by cargo xtask vm-test kernel-hub"]
async fn refused_route_removes_the_new_interface() {
    let topology = Topology::new();
    let mut la = topology.a.links();
    let spec_a = spec(&mut la, "rollback", "vA", 44).await;
    // The second route has the first one's destination and metric: the kernel refuses it.
    let error = la
        .attach(
            &spec_a,
            &[destination("10.7.0.0/24"), destination("10.7.0.0/24")],
        )
        .await
        .expect_err("a duplicate route must be refused");
    println!("kernel error: {error}");
    assert!(
        error.operation.starts_with("add route 10.7.0.0/24 dev #")
            && error.operation.ends_with(" table 7220 metric 100"),
        "{error}"
    );
    assert!(error.message.starts_with("File exists"), "{error}");
    assert_eq!(la.link(&spec_a.name).await.expect("lookup"), None);
    assert!(la.routes(None).await.expect("routes").is_empty());

    // The kernel's own words on a refused interface: if_id 0 is not allowed.
    let error = la
        .create_xfrm_interface(&XfrmInterface {
            if_id: 0,
            ..spec_a.clone()
        })
        .await
        .expect_err("if_id 0 must be refused");
    println!("kernel error: {error}");
    assert!(error
        .operation
        .starts_with("create xfrm interface ikh-rollback"));
    assert!(error.message.starts_with("Invalid argument"), "{error}");
    assert_eq!(la.link(&spec_a.name).await.expect("lookup"), None);
}

#[tokio::test]
#[ignore = "needs root and xfrm interfaces; run by cargo xtask vm-test kernel-hub"]
async fn interface_state_mtu_and_listing() {
    let topology = Topology::new();
    let mut la = topology.a.links();
    let spec_a = spec(&mut la, "frankfurt-datacenter-2", "vA", 45).await;
    assert!(spec_a.name.starts_with("ikh-fr."), "{}", spec_a.name);
    let link = la.create_xfrm_interface(&spec_a).await.expect("create");
    let listed = la.xfrm_interfaces().await.expect("list");
    assert_eq!(listed, vec![link.clone()]);
    assert_eq!(
        listed[0].underlying,
        la.link("vA").await.unwrap().map(|l| l.index)
    );

    la.set_mtu(link.index, 1300).await.expect("set MTU");
    la.set_up(link.index, false).await.expect("set down");
    let changed = la.link(&spec_a.name).await.expect("read").expect("exists");
    assert_eq!((changed.mtu, changed.up), (Some(1300), false));
    la.set_up(link.index, true).await.expect("set up");
    assert!(la.link(&spec_a.name).await.unwrap().unwrap().up);

    // Published routes land in main as well, with ikehub's protocol.
    let published = Route {
        destination: net("10.8.0.0/24"),
        interface: link.index,
        table: 254,
        metric: 0,
    };
    la.add_route(&published).await.expect("publish");
    let main = topology.a.ip(&["route", "show", "10.8.0.0/24"]);
    assert!(
        main.contains(&format!("dev {} proto 226", spec_a.name)),
        "{main}"
    );
    assert_eq!(la.routes(Some(254)).await.expect("routes"), vec![published]);
    let duplicate = la
        .add_route(&published)
        .await
        .expect_err("add is exclusive");
    assert!(duplicate.message.starts_with("File exists"), "{duplicate}");

    assert!(la.detach(&spec_a.name).await.expect("detach"));
    assert!(!la.detach(&spec_a.name).await.expect("detach again"));
    assert!(
        la.routes(None).await.expect("routes").is_empty(),
        "gone with the link"
    );
}

#[tokio::test]
#[ignore = "needs root and xfrm interfaces; run by cargo xtask vm-test kernel-hub"]
async fn ipv6_routes_published_and_owned_carry_pings() {
    let topology = Topology::new();
    let (ns_a, ns_b) = (&topology.a, &topology.b);
    let (mut xa, mut xb) = (ns_a.xfrm(), ns_b.xfrm());
    let (mut la, mut lb) = (ns_a.links(), ns_b.links());
    let spec_a = spec(&mut la, "site-b-v6", "vA", 46).await;
    let spec_b = spec(&mut lb, "site-a-v6", "vB", 46).await;
    let published = |text| Destination {
        publish: true,
        ..destination(text)
    };
    let if_a = la
        .attach(&spec_a, &[published("fd00:2::/64")])
        .await
        .expect("attach on A");
    lb.attach(&spec_b, &[published("fd00:1::/64")])
        .await
        .expect("attach on B");
    la.add_rules().await.expect("rules on A");
    lb.add_rules().await.expect("rules on B");
    let route = |table| Route {
        destination: net("fd00:2::/64"),
        interface: if_a.index,
        table,
        metric: 100,
    };
    assert_eq!(
        la.routes(Some(OWNED_TABLE)).await.expect("owned"),
        vec![route(OWNED_TABLE)]
    );
    assert_eq!(la.routes(Some(254)).await.expect("main"), vec![route(254)]);

    // IPv6 inside, IPv4 outside, selectors ::/0 bound to if_id 46.
    let pair = Pair {
        reqid: REQID_BASE + 203,
        spi_ab: 0xa203,
        spi_ba: 0xb203,
        if_id: 46,
        any: "::/0",
    };
    apply_ok(&mut xa, pair.install(true)).await;
    apply_ok(&mut xb, pair.install(false)).await;
    assert!(
        ns_a.ping("fd00:1::1", "fd00:2::1", Duration::from_secs(10)),
        "ping6 through the xfrm interfaces"
    );
    let [a_out, a_in] = packets(&mut xa, &pair).await;
    assert!(
        a_out.unwrap_or(0) >= 1 && a_in.unwrap_or(0) >= 1,
        "{a_out:?} {a_in:?}"
    );

    assert_eq!(xa.remove_stale().await.expect("remove stale XFRM"), 5);
    assert_eq!(
        la.remove_stale().await.expect("remove stale links"),
        3,
        "1 interface, 2 rules"
    );
    assert!(la.routes(None).await.expect("routes").is_empty());
    let main = ns_a.ip(&["-6", "route", "show"]);
    assert!(!main.contains("fd00:2::"), "{main}");
}

#[tokio::test]
#[ignore = "needs root and xfrm interfaces; run by cargo xtask vm-test kernel-hub"]
async fn a_restarted_run_removes_exactly_the_recorded_links() {
    let topology = Topology::new();
    let ns_a = &topology.a;
    let dir = std::env::temp_dir().join(format!("ikehub-links-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join("control.links.state");
    let _ = std::fs::remove_file(&path);

    // The run that dies: an interface with a route, an unreachable route and the rules, all
    // left in the kernel.
    let mut dead = ns_a.links();
    assert_eq!(dead.use_record(&path).expect("no record yet"), 0);
    let spec_a = spec(&mut dead, "crashed", "vA", 46).await;
    dead.attach(&spec_a, &[destination("10.6.0.0/24")])
        .await
        .expect("attach");
    dead.add_route(&Route::unreachable(net("10.6.1.0/24"), 7220, 0))
        .await
        .expect("unreachable route");
    assert_eq!(dead.add_rules().await.expect("rules"), 2);
    drop(dead);

    // Another instance's: an interface with ikehub's prefix and a route with its protocol.
    ns_a.ip(&[
        "link",
        "add",
        "ikh-other",
        "type",
        "xfrm",
        "dev",
        "vA",
        "if_id",
        "98",
    ]);
    ns_a.ip(&["link", "set", "ikh-other", "up"]);
    ns_a.ip(&[
        "route",
        "add",
        "10.6.2.0/24",
        "dev",
        "ikh-other",
        "table",
        "7220",
        "proto",
        "226",
    ]);

    let mut next = ns_a.links();
    assert_eq!(
        next.use_record(&path).expect("the dead run's record"),
        5,
        "interface, 2 routes, 2 rules"
    );
    assert_eq!(
        next.remove_stale().await.expect("remove stale"),
        4,
        "the interface (its route goes with it), the unreachable route, 2 rules"
    );
    let links = ns_a.ip(&["link", "show"]);
    assert!(
        links.contains("ikh-other") && !links.contains(&spec_a.name),
        "{links}"
    );
    let table = ns_a.ip(&["route", "show", "table", "7220"]);
    assert!(
        table.contains("10.6.2.0/24 dev ikh-other") && !table.contains("10.6.0.0/24"),
        "{table}"
    );
    assert!(!table.contains("10.6.1.0/24"), "{table}");
    let rules = ns_a.ip(&["rule", "show"]);
    assert!(!rules.contains("7220:"), "{rules}");
    // The record is empty now; another start removes nothing.
    let mut again = ns_a.links();
    assert_eq!(again.use_record(&path).expect("emptied record"), 0);
    assert_eq!(again.remove_stale().await.expect("remove stale again"), 0);
    assert!(ns_a.ip(&["link", "show"]).contains("ikh-other"));
    let _ = std::fs::remove_dir_all(&dir);
}
