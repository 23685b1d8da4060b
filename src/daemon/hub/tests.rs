//! The hub against recorded links: start, events, reload and stop.

use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::crypto::rng::SystemRandom;
use crate::ike::{ConnId, DownReason, EngineSettings, SaId};
use crate::kernel::link::{LinkInfo, RouteChange, XfrmInterface, MAIN_TABLE, OWNED_TABLE};
use crate::kernel::mock::RecordingLinks;

/// Recorded links that refuse to create one interface, as the kernel would.
#[derive(Default)]
struct Links {
    recorded: RecordingLinks,
    refuse: Option<&'static str>,
    forwarding: Option<bool>,
    batches: usize,
}

impl HubLinks for Links {
    async fn remove_stale(&mut self) -> Result<usize, KernelError> {
        self.recorded.remove_stale().await
    }

    fn enable_forwarding(&mut self, ipv6: bool) -> Result<(), KernelError> {
        self.forwarding = Some(ipv6);
        Ok(())
    }

    async fn add_rules(&mut self) -> Result<usize, KernelError> {
        self.recorded.add_rules().await
    }

    async fn egress(
        &mut self,
        _destination: std::net::IpAddr,
    ) -> Result<Option<LinkInfo>, KernelError> {
        Ok(None)
    }

    async fn create_interface(&mut self, spec: &XfrmInterface) -> Result<LinkInfo, KernelError> {
        if self.refuse == Some(spec.name.as_str()) {
            return Err(KernelError {
                errno: None,
                operation: format!("create xfrm interface {}", spec.name),
                message: "Operation not supported".into(),
            });
        }
        self.recorded.create_interface(spec).await
    }

    async fn delete_interface(&mut self, name: &str) -> Result<bool, KernelError> {
        self.recorded.delete_interface(name).await
    }

    async fn write_routes(&mut self, changes: &[RouteChange]) -> Vec<Result<(), KernelError>> {
        self.batches += 1;
        self.recorded.write_routes(changes).await
    }

    fn owned_table(&self) -> u32 {
        OWNED_TABLE
    }
}

const GATEWAY: &str = "[gateway]\nname = \"hub\"\nlocal_addresses = [\"192.0.2.1\"]\nlocal_subnets = [\"10.0.0.0/16\"]\nhub = true\n";

fn connection(name: &str, remote: &str) -> String {
    format!(
        "[[peer]]\nname = \"{name}\"\naddress = \"198.51.100.{}\"\n[[connection]]\nname = \"{name}\"\npeer = \"{name}\"\npsk = \"s3cret-{name}\"\nremote_subnets = [\"{remote}\"]\n",
        name.len()
    )
}

fn route(destination: &str, connection: &str, weight: u8, publish: bool) -> String {
    format!("[[route]]\ndestination = \"{destination}\"\nconnection = \"{connection}\"\nweight = {weight}\npublish = {publish}\n")
}

/// shanghai (active, published) and beijing (standby) for 10.10.10.0/24.
fn config_text() -> String {
    format!(
        "{GATEWAY}{}{}{}{}",
        connection("shanghai", "10.10.10.0/24"),
        connection("beijing", "10.10.0.0/16"),
        route("10.10.10.0/24", "shanghai", 100, true),
        route("10.10.10.0/24", "beijing", 0, false),
    )
}

fn parse(text: &str) -> Config {
    crate::config::parse(text, Path::new("hub.toml")).expect("valid configuration")
}

async fn start(links: Links, config: &Config) -> (Hub<Links>, Engine, Vec<Refused>) {
    let (mut settings, skipped) = EngineSettings::from_config(config);
    assert!(skipped.is_empty());
    let (hub, refused) = Hub::start(links, config, &mut settings.connections)
        .await
        .expect("hub starts");
    let engine = Engine::new(settings, Box::new(SystemRandom::new()));
    (hub, engine, refused)
}

/// The installed routes as (destination, table, interface name or "unreachable", metric).
fn routes(hub: &Hub<Links>) -> BTreeSet<(String, u32, String, u32)> {
    let recorded = &hub.links().recorded;
    recorded
        .routes
        .iter()
        .map(|r| {
            let via = recorded
                .interfaces
                .values()
                .find(|l| l.index == r.interface)
                .map_or("unreachable".to_owned(), |l| l.name.clone());
            (r.destination.to_string(), r.table, via, r.metric)
        })
        .collect()
}

fn r(destination: &str, table: u32, via: &str, metric: u32) -> (String, u32, String, u32) {
    (destination.to_owned(), table, via.to_owned(), metric)
}

fn child_up(conn: ConnId, spi: u32) -> Event {
    Event::ChildUp {
        conn,
        sa: SaId(spi),
        reqid: 1,
        inbound_spi: spi,
        outbound_spi: spi,
    }
}

fn child_down(conn: ConnId, spi: u32, reason: DownReason) -> Event {
    Event::ChildDown {
        conn,
        sa: SaId(spi),
        reqid: 1,
        inbound_spi: spi,
        reason,
    }
}

fn states(hub: &Hub<Links>, engine: &Engine) -> Vec<&'static str> {
    hub.routes(engine).iter().map(|r| r.state.name()).collect()
}

#[tokio::test]
async fn start_creates_interfaces_rules_and_unreachable_routes() {
    let config = parse(&config_text());
    let (hub, engine, refused) = start(Links::default(), &config).await;
    assert!(refused.is_empty());
    let recorded = &hub.links().recorded;
    assert!(recorded.rules);
    assert_eq!(hub.links().forwarding, Some(false), "IPv4 only");
    let shanghai = &recorded.interfaces["ikh-shanghai"];
    assert_eq!(shanghai.if_id, Some(crate::config::hub_if_id("shanghai")));
    assert_eq!(shanghai.mtu, Some(1399));
    assert!(shanghai.up);
    assert!(recorded.interfaces.contains_key("ikh-beijing"));
    assert_eq!(
        routes(&hub),
        BTreeSet::from([r("10.10.10.0/24", OWNED_TABLE, "unreachable", 4096)])
    );
    assert_eq!(states(&hub, &engine), ["down", "down"]);
    let view = hub.routes(&engine);
    assert_eq!(view[0].interface, "ikh-shanghai");
    assert!(view[0].published && !view[1].published);
}

#[tokio::test]
async fn standby_takes_over_and_traffic_returns_to_the_active_entry() {
    let config = parse(&config_text());
    let (mut hub, engine, _) = start(Links::default(), &config).await;
    let shanghai = engine.connection_id("shanghai").expect("id");
    let beijing = engine.connection_id("beijing").expect("id");

    assert!(hub.on_event(&child_up(shanghai, 1)));
    assert!(hub.on_event(&child_up(beijing, 2)));
    hub.sync(&engine).await;
    assert_eq!(states(&hub, &engine), ["active", "standby"]);
    assert_eq!(
        routes(&hub),
        BTreeSet::from([
            r("10.10.10.0/24", OWNED_TABLE, "unreachable", 4096),
            r("10.10.10.0/24", OWNED_TABLE, "ikh-shanghai", 100),
            r("10.10.10.0/24", OWNED_TABLE, "ikh-beijing", 200),
            r("10.10.10.0/24", MAIN_TABLE, "ikh-shanghai", 100),
        ])
    );

    // A rekey of the active connection: successor first, then the old one. No change.
    let batches = hub.links().batches;
    assert!(!hub.on_event(&child_up(shanghai, 3)));
    assert!(!hub.on_event(&child_down(shanghai, 1, DownReason::Rekeyed)));
    hub.sync(&engine).await;
    assert_eq!(hub.links().batches, batches, "nothing written");
    assert_eq!(states(&hub, &engine), ["active", "standby"]);

    // The active connection goes: the standby carries (not published: it does not ask).
    assert!(hub.on_event(&child_down(shanghai, 3, DownReason::PeerDead)));
    hub.sync(&engine).await;
    assert_eq!(hub.links().batches, batches + 1, "one batch per change");
    assert_eq!(states(&hub, &engine), ["down", "active"]);
    assert_eq!(
        routes(&hub),
        BTreeSet::from([
            r("10.10.10.0/24", OWNED_TABLE, "unreachable", 4096),
            r("10.10.10.0/24", OWNED_TABLE, "ikh-beijing", 200),
        ])
    );

    // Both down: only the unreachable route is left.
    hub.on_event(&Event::IkeDown {
        conn: beijing,
        sa: SaId(2),
        reason: DownReason::Deleted,
    });
    hub.sync(&engine).await;
    assert_eq!(states(&hub, &engine), ["down", "down"]);
    assert_eq!(
        routes(&hub),
        BTreeSet::from([r("10.10.10.0/24", OWNED_TABLE, "unreachable", 4096)])
    );

    // The active connection returns.
    hub.on_event(&child_up(shanghai, 4));
    hub.sync(&engine).await;
    assert_eq!(states(&hub, &engine), ["active", "down"]);
    assert!(routes(&hub).contains(&r("10.10.10.0/24", MAIN_TABLE, "ikh-shanghai", 100)));
}

#[tokio::test]
async fn a_refused_interface_keeps_its_connection_from_starting() {
    let config = parse(&config_text());
    let links = Links {
        refuse: Some("ikh-beijing"),
        ..Links::default()
    };
    let (mut hub, engine, refused) = start(links, &config).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, "beijing");
    assert!(
        refused[0].1.contains("Operation not supported"),
        "{:?}",
        refused
    );
    assert!(engine.connection_id("beijing").is_none(), "not started");
    assert!(!hub.links().recorded.interfaces.contains_key("ikh-beijing"));
    let shanghai = engine.connection_id("shanghai").expect("id");
    hub.on_event(&child_up(shanghai, 1));
    hub.sync(&engine).await;
    assert_eq!(states(&hub, &engine), ["active", "down"]);
}

#[tokio::test]
async fn reload_adds_and_removes_interfaces_and_stop_removes_everything() {
    let config = parse(&config_text());
    let (mut hub, mut engine, _) = start(Links::default(), &config).await;
    let beijing = engine.connection_id("beijing").expect("id");
    hub.on_event(&child_up(beijing, 1));
    hub.sync(&engine).await;

    // beijing goes, hangzhou comes with its own destination.
    let text = format!(
        "{GATEWAY}{}{}{}{}",
        connection("shanghai", "10.10.10.0/24"),
        connection("hangzhou", "10.30.0.0/16"),
        route("10.10.10.0/24", "shanghai", 100, true),
        route("10.30.0.0/16", "hangzhou", 100, false),
    );
    let new = parse(&text);
    let (mut settings, _) = EngineSettings::from_config(&new);
    let refused = hub.prepare_reload(&mut settings.connections).await;
    assert!(refused.is_empty());
    assert!(hub.links().recorded.interfaces.contains_key("ikh-hangzhou"));
    engine.reload(std::time::Instant::now(), settings);
    hub.finish_reload(&new, &engine).await;
    let recorded = &hub.links().recorded;
    assert!(!recorded.interfaces.contains_key("ikh-beijing"));
    assert_eq!(recorded.interfaces.len(), 2);
    assert_eq!(
        routes(&hub),
        BTreeSet::from([
            r("10.10.10.0/24", OWNED_TABLE, "unreachable", 4096),
            r("10.30.0.0/16", OWNED_TABLE, "unreachable", 4096),
        ])
    );
    assert_eq!(states(&hub, &engine), ["down", "down"]);

    let removed = hub.stop().await.expect("stop");
    assert_eq!(removed, 2 + 2 + 1, "two interfaces, two routes, the rules");
    let recorded = &hub.links().recorded;
    assert!(recorded.interfaces.is_empty() && recorded.routes.is_empty() && !recorded.rules);
}

#[tokio::test]
async fn a_reload_that_swaps_weights_and_publish_moves_the_routes_and_keeps_the_tunnels() {
    let config = parse(&config_text());
    let (mut hub, mut engine, _) = start(Links::default(), &config).await;
    let shanghai = engine.connection_id("shanghai").expect("id");
    let beijing = engine.connection_id("beijing").expect("id");
    hub.on_event(&child_up(shanghai, 1));
    hub.on_event(&child_up(beijing, 2));
    hub.sync(&engine).await;
    assert_eq!(states(&hub, &engine), ["active", "standby"]);

    // beijing becomes the active, published entry; the connections are as they were.
    let text = format!(
        "{GATEWAY}{}{}{}{}",
        connection("shanghai", "10.10.10.0/24"),
        connection("beijing", "10.10.0.0/16"),
        route("10.10.10.0/24", "shanghai", 0, false),
        route("10.10.10.0/24", "beijing", 100, true),
    );
    let new = parse(&text);
    let (mut settings, _) = EngineSettings::from_config(&new);
    assert!(hub
        .prepare_reload(&mut settings.connections)
        .await
        .is_empty());
    let report = engine.reload(std::time::Instant::now(), settings);
    assert_eq!(report.unchanged, ["shanghai", "beijing"]);
    assert!(report.changed.is_empty() && report.updated.is_empty());
    hub.finish_reload(&new, &engine).await;
    assert_eq!(states(&hub, &engine), ["standby", "active"]);
    assert_eq!(
        routes(&hub),
        BTreeSet::from([
            r("10.10.10.0/24", OWNED_TABLE, "unreachable", 4096),
            r("10.10.10.0/24", OWNED_TABLE, "ikh-beijing", 100),
            r("10.10.10.0/24", OWNED_TABLE, "ikh-shanghai", 200),
            r("10.10.10.0/24", MAIN_TABLE, "ikh-beijing", 100),
        ])
    );
}

#[tokio::test]
async fn ipv6_destinations_turn_on_ipv6_forwarding() {
    let text = format!(
        "{GATEWAY}{}{}",
        connection("v6", "fd00:10::/64"),
        route("fd00:10::/64", "v6", 100, true),
    );
    let (hub, _, _) = start(Links::default(), &parse(&text)).await;
    assert_eq!(hub.links().forwarding, Some(true));
}

#[tokio::test]
async fn syncing_only_what_changed_ends_where_the_whole_table_would() {
    // Six connections (names of distinct lengths: distinct peer addresses), four
    // destinations, two of them with a standby entry on another connection.
    let names = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"];
    let remotes = [
        "10.20.0.0/24",
        "10.20.0.0/24",
        "10.20.2.0/24",
        "10.20.2.0/24",
        "10.20.3.0/24",
        "10.20.4.0/24",
    ];
    let mut text = GATEWAY.to_owned();
    for (name, remote) in names.iter().zip(remotes) {
        text += &connection(name, remote);
    }
    for (destination, connection, weight, publish) in [
        ("10.20.0.0/24", "a", 100, true),
        ("10.20.0.0/24", "bb", 0, true),
        ("10.20.2.0/24", "ccc", 100, true),
        ("10.20.2.0/24", "dddd", 0, false),
        ("10.20.3.0/24", "eeeee", 100, true),
        ("10.20.4.0/24", "ffffff", 100, false),
    ] {
        text += &route(destination, connection, weight, publish);
    }
    let config = parse(&text);
    let (mut changed, engine, _) = start(Links::default(), &config).await;
    let (mut whole, _, _) = start(Links::default(), &config).await;
    let ids: Vec<ConnId> = names
        .iter()
        .map(|n| engine.connection_id(n).expect("id"))
        .collect();
    // Up and down in a fixed pseudo-random order, one or two events per sync.
    let mut spi_of: Vec<Option<u32>> = vec![None; ids.len()];
    let mut state = 0x2545_f491u32;
    for step in 0..80u32 {
        for _ in 0..=(step % 2) {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let which = (state % ids.len() as u32) as usize;
            let event = match spi_of[which] {
                Some(spi) => {
                    spi_of[which] = None;
                    child_down(ids[which], spi, DownReason::PeerDead)
                }
                None => {
                    spi_of[which] = Some(1000 + step);
                    child_up(ids[which], 1000 + step)
                }
            };
            changed.on_event(&event);
            whole.on_event(&event);
        }
        changed.sync(&engine).await;
        whole.resync(&engine).await;
        assert_eq!(routes(&changed), routes(&whole), "step {step}");
        assert_eq!(states(&changed, &engine), states(&whole, &engine));
        assert_eq!(changed.installed, whole.installed, "step {step}");
        assert_eq!(changed.carrying, whole.carrying, "step {step}");
    }
}
