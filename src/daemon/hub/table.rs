//! The destination route table as a pure function: from the configured `[[route]]` entries
//! and the set of connections that are up, which entry of each destination carries traffic,
//! and which kernel routes should exist. No I/O; the daemon diffs the result against what it
//! installed (see `apply.rs`).
//!
//! Rules (the hub mode contract):
//! - An entry's route is installed while its connection has at least one CHILD_SA, in the
//!   owned table, with a metric from its weight: active (100) below standby (0), so the kernel
//!   prefers the active entry and the standby carries traffic only while the active one is
//!   withdrawn.
//! - Every destination also has an `unreachable` route in the owned table, with a metric above
//!   every entry's: while no entry is up, traffic to it is refused rather than leaked
//!   unencrypted through the main table. It stays installed while entries are up too, so the
//!   moment the last entry is withdrawn leaves no gap.
//! - A published entry is also in the main table, only while it is the entry carrying traffic.
//! - Destinations are independent: a longer prefix of another destination does not change
//!   this one's routes (the kernel's longest-prefix match chooses between them).

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::config::{Route as ConfiguredRoute, WEIGHT_ACTIVE};

/// Metric of an entry of weight 100; an entry of weight `w` gets `ACTIVE_METRIC + 100 - w`.
pub const ACTIVE_METRIC: u32 = 100;
/// Metric of the `unreachable` route of each destination: above every entry's.
pub const UNREACHABLE_METRIC: u32 = 4096;

/// What an entry is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryState {
    /// Installed and preferred: carries the destination's traffic.
    Active,
    /// Installed (its connection is up), another entry is preferred.
    Standby,
    /// Its connection has no CHILD_SA: withdrawn.
    Down,
}

impl EntryState {
    pub fn name(self) -> &'static str {
        match self {
            EntryState::Active => "active",
            EntryState::Standby => "standby",
            EntryState::Down => "down",
        }
    }
}

/// Which table a route goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Owned,
    Main,
}

/// Where a route sends traffic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    /// The xfrm interface of this connection.
    Connection(String),
    Unreachable,
}

/// A kernel route the table wants installed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WantedRoute {
    pub destination: IpNet,
    pub table: Table,
    pub via: Via,
    pub metric: u32,
}

/// One configured entry and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub destination: IpNet,
    pub connection: String,
    pub weight: u8,
    pub publish: bool,
    pub state: EntryState,
}

/// The table's answer: entries in configuration order, and the routes to install.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub entries: Vec<Entry>,
    /// Sorted, without duplicates.
    pub routes: Vec<WantedRoute>,
}

/// The metric of an entry of `weight`: the higher the weight, the lower (preferred) the metric.
pub fn metric_of(weight: u8) -> u32 {
    ACTIVE_METRIC + u32::from(WEIGHT_ACTIVE.saturating_sub(weight))
}

/// Computes entry states and wanted routes; `is_up(connection)` tells whether a connection
/// has at least one CHILD_SA installed.
pub fn plan(configured: &[ConfiguredRoute], is_up: impl Fn(&str) -> bool) -> Plan {
    // Per destination (host bits cleared), the indices of its entries.
    let mut by_destination: BTreeMap<IpNet, Vec<usize>> = BTreeMap::new();
    for (index, route) in configured.iter().enumerate() {
        by_destination
            .entry(route.destination.trunc())
            .or_default()
            .push(index);
    }
    let mut states = vec![EntryState::Down; configured.len()];
    let mut routes = Vec::new();
    for (destination, indices) in &by_destination {
        routes.push(WantedRoute {
            destination: *destination,
            table: Table::Owned,
            via: Via::Unreachable,
            metric: UNREACHABLE_METRIC,
        });
        let mut up: Vec<(u32, usize)> = indices
            .iter()
            .filter_map(|&i| configured.get(i).map(|r| (i, r)))
            .filter(|(_, r)| is_up(&r.connection))
            .map(|(i, r)| (metric_of(r.weight), i))
            .collect();
        // Lowest metric first; configuration order breaks a tie the kernel would break
        // by insertion order (the contract allows one entry per weight, so none arise).
        up.sort_unstable();
        for (rank, &(metric, index)) in up.iter().enumerate() {
            let Some(route) = configured.get(index) else {
                continue;
            };
            let carrying = rank == 0;
            if let Some(state) = states.get_mut(index) {
                *state = if carrying {
                    EntryState::Active
                } else {
                    EntryState::Standby
                };
            }
            let via = Via::Connection(route.connection.clone());
            routes.push(WantedRoute {
                destination: *destination,
                table: Table::Owned,
                via: via.clone(),
                metric,
            });
            if carrying && route.publish {
                routes.push(WantedRoute {
                    destination: *destination,
                    table: Table::Main,
                    via,
                    metric,
                });
            }
        }
    }
    routes.sort();
    routes.dedup();
    let entries = configured
        .iter()
        .zip(states)
        .map(|(route, state)| Entry {
            destination: route.destination.trunc(),
            connection: route.connection.clone(),
            weight: route.weight,
            publish: route.publish,
            state,
        })
        .collect();
    Plan { entries, routes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WEIGHT_STANDBY;

    fn net(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    fn route(destination: &str, connection: &str, weight: u8, publish: bool) -> ConfiguredRoute {
        ConfiguredRoute {
            destination: net(destination),
            connection: connection.into(),
            weight,
            publish,
        }
    }

    /// 10.10.10.0/24: shanghai active (published), beijing standby (published);
    /// 10.20.0.0/16: beijing only.
    fn table() -> Vec<ConfiguredRoute> {
        vec![
            route("10.10.10.0/24", "shanghai", WEIGHT_ACTIVE, true),
            route("10.10.10.0/24", "beijing", WEIGHT_STANDBY, true),
            route("10.20.0.0/16", "beijing", WEIGHT_ACTIVE, false),
        ]
    }

    fn up(names: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |name| names.contains(&name)
    }

    fn states(plan: &Plan) -> Vec<(String, &'static str)> {
        plan.entries
            .iter()
            .map(|e| {
                (
                    format!("{} {}", e.destination, e.connection),
                    e.state.name(),
                )
            })
            .collect()
    }

    fn wanted(destination: &str, table: Table, via: Option<&str>, metric: u32) -> WantedRoute {
        WantedRoute {
            destination: net(destination),
            table,
            via: via.map_or(Via::Unreachable, |c| Via::Connection(c.into())),
            metric,
        }
    }

    fn sorted(mut routes: Vec<WantedRoute>) -> Vec<WantedRoute> {
        routes.sort();
        routes
    }

    #[test]
    fn metrics_order_active_standby_unreachable() {
        assert_eq!(metric_of(WEIGHT_ACTIVE), 100);
        assert_eq!(metric_of(WEIGHT_STANDBY), 200);
        assert!(metric_of(WEIGHT_STANDBY) < UNREACHABLE_METRIC);
        assert_eq!(
            metric_of(u8::MAX),
            100,
            "weights above 100 do not underflow"
        );
    }

    #[test]
    fn nothing_up_leaves_only_unreachable_routes() {
        let plan = plan(&table(), up(&[]));
        assert!(plan.entries.iter().all(|e| e.state == EntryState::Down));
        assert_eq!(
            plan.routes,
            sorted(vec![
                wanted("10.10.10.0/24", Table::Owned, None, UNREACHABLE_METRIC),
                wanted("10.20.0.0/16", Table::Owned, None, UNREACHABLE_METRIC),
            ])
        );
    }

    #[test]
    fn both_up_active_carries_and_standby_is_installed_behind_it() {
        let plan = plan(&table(), up(&["shanghai", "beijing"]));
        assert_eq!(
            states(&plan),
            vec![
                ("10.10.10.0/24 shanghai".into(), "active"),
                ("10.10.10.0/24 beijing".into(), "standby"),
                ("10.20.0.0/16 beijing".into(), "active"),
            ]
        );
        assert_eq!(
            plan.routes,
            sorted(vec![
                wanted("10.10.10.0/24", Table::Owned, None, UNREACHABLE_METRIC),
                wanted("10.10.10.0/24", Table::Owned, Some("shanghai"), 100),
                wanted("10.10.10.0/24", Table::Owned, Some("beijing"), 200),
                // Only the carrying entry is published, although both ask for it.
                wanted("10.10.10.0/24", Table::Main, Some("shanghai"), 100),
                wanted("10.20.0.0/16", Table::Owned, None, UNREACHABLE_METRIC),
                wanted("10.20.0.0/16", Table::Owned, Some("beijing"), 100),
            ])
        );
    }

    #[test]
    fn active_down_standby_carries_and_is_published() {
        let plan = plan(&table(), up(&["beijing"]));
        assert_eq!(
            states(&plan),
            vec![
                ("10.10.10.0/24 shanghai".into(), "down"),
                ("10.10.10.0/24 beijing".into(), "active"),
                ("10.20.0.0/16 beijing".into(), "active"),
            ]
        );
        assert!(plan
            .routes
            .contains(&wanted("10.10.10.0/24", Table::Main, Some("beijing"), 200)));
        assert!(!plan
            .routes
            .iter()
            .any(|r| r.via == Via::Connection("shanghai".into())));
    }

    #[test]
    fn both_down_is_unreachable_and_the_active_coming_back_takes_over() {
        let configured = table();
        let down = plan(&configured, up(&[]));
        assert_eq!(down.entries[0].state, EntryState::Down);
        assert_eq!(down.entries[1].state, EntryState::Down);
        let back = plan(&configured, up(&["shanghai"]));
        assert_eq!(back.entries[0].state, EntryState::Active);
        assert_eq!(back.entries[1].state, EntryState::Down);
        assert!(back
            .routes
            .contains(&wanted("10.10.10.0/24", Table::Main, Some("shanghai"), 100)));
        // And once the standby returns, traffic stays with the active entry.
        let both = plan(&configured, up(&["shanghai", "beijing"]));
        assert_eq!(both.entries[0].state, EntryState::Active);
        assert_eq!(both.entries[1].state, EntryState::Standby);
        assert!(!both
            .routes
            .contains(&wanted("10.10.10.0/24", Table::Main, Some("beijing"), 200)));
    }

    #[test]
    fn destinations_are_independent_of_longer_prefixes() {
        let configured = vec![
            route("10.10.0.0/16", "wide", WEIGHT_ACTIVE, false),
            route("10.10.10.0/24", "narrow", WEIGHT_ACTIVE, false),
        ];
        let only_wide = plan(&configured, up(&["wide"]));
        assert_eq!(only_wide.entries[0].state, EntryState::Active);
        assert_eq!(only_wide.entries[1].state, EntryState::Down);
        // The /24 keeps its unreachable route: its traffic does not fall back to the /16.
        assert!(only_wide.routes.contains(&wanted(
            "10.10.10.0/24",
            Table::Owned,
            None,
            UNREACHABLE_METRIC
        )));
        let wide_routes = |p: &Plan| -> Vec<WantedRoute> {
            p.routes
                .iter()
                .filter(|r| r.destination == net("10.10.0.0/16"))
                .cloned()
                .collect()
        };
        let both = plan(&configured, up(&["wide", "narrow"]));
        assert_eq!(wide_routes(&only_wide), wide_routes(&both));
        assert_eq!(both.entries[1].state, EntryState::Active);
    }

    #[test]
    fn host_bits_and_ipv6_destinations() {
        let configured = vec![
            route("10.10.10.9/24", "a", WEIGHT_ACTIVE, false),
            route("fd00:10::/64", "a", WEIGHT_ACTIVE, true),
        ];
        let plan = plan(&configured, up(&["a"]));
        assert_eq!(plan.entries[0].destination, net("10.10.10.0/24"));
        assert!(plan
            .routes
            .contains(&wanted("fd00:10::/64", Table::Main, Some("a"), 100)));
        assert_eq!(plan.routes.len(), 5);
    }

    #[test]
    fn no_routes_plan_nothing() {
        assert_eq!(plan(&[], up(&["a"])), Plan::default());
    }
}
