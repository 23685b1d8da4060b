//! Hub mode in the daemon (`gateway.hub = true`): one xfrm interface per connection, and the
//! destination route table (`[[route]]`) kept in the kernel as connections come and go.
//!
//! - `table.rs`: which entry of each destination carries traffic, and the routes wanted (pure).
//! - `tunnels.rs`: which connections have a CHILD_SA, from the engine's events.
//! - `apply.rs`: the difference between installed and wanted routes, in one batch.
//! - `interface.rs`: a connection's interface (name, if_id, MTU).
//! - `view.rs`: what `ikehub routes` shows.
//!
//! Lifecycle: [`Hub::start`] removes what an earlier run left, enables forwarding, adds the
//! lookup rules, creates the interfaces (a connection whose interface the kernel refuses is
//! not started, with the kernel's reason) and installs an `unreachable` route per
//! destination. Engine events go to [`Hub::on_event`], then [`Hub::sync`] applies the route
//! changes of the destinations whose connections went up or down, and only theirs: a hub
//! with thousands of routes pays per drain for what changed, not for the whole table. A reload creates interfaces for new connections before the engine sees them
//! ([`Hub::prepare_reload`]) and deletes those of removed connections after
//! ([`Hub::finish_reload`]). [`Hub::stop`] removes every interface, route and rule.

mod apply;
mod interface;
pub mod table;
mod tunnels;
pub mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ipnet::IpNet;

use tracing::{info, warn};

use crate::config::{Config, Route as ConfiguredRoute};
use crate::ike::{ConnId, ConnectionSettings, Engine, Event};
use crate::kernel::link::{interface_name, Route};
use crate::kernel::{HubLinks, KernelError};

pub use self::view::{render, RouteStatus, RoutesSnapshot};

/// A connection the hub could not give an interface: its name and the kernel's reason.
pub type Refused = (String, String);

pub struct Hub<L> {
    links: L,
    routes: Vec<ConfiguredRoute>,
    /// ifindex of each connection's interface, by connection name.
    interfaces: HashMap<String, u32>,
    tunnels: tunnels::Tunnels,
    /// The routes the kernel accepted and still has, as far as we know.
    installed: HashSet<Route>,
    /// The connection carrying each destination's traffic, for logging changes.
    carrying: BTreeMap<IpNet, String>,
    /// Names of the connections with a CHILD_SA, as of the last sync.
    up: HashSet<String>,
    /// Connections that went up or down since the last sync.
    changed: HashSet<ConnId>,
    /// The destinations (host bits cleared) each connection has entries for.
    destinations_of: HashMap<String, Vec<IpNet>>,
    /// The entries (indexes into `routes`, in configuration order) of each destination.
    entries_of: HashMap<IpNet, Vec<usize>>,
}

/// Whether any destination or remote subnet is IPv6: then IPv6 forwarding is needed too.
fn uses_ipv6(config: &Config) -> bool {
    config.routes.iter().any(|r| r.destination.addr().is_ipv6())
        || config
            .connections
            .iter()
            .flat_map(|c| &c.remote_subnets)
            .any(|net| net.addr().is_ipv6())
}

impl<L: HubLinks> Hub<L> {
    /// Sets the hub up before the engine starts; `connections` loses those whose interface
    /// could not be created, which are returned with the reason. An error here (stale state,
    /// forwarding, rules) stops the daemon: without them no connection could route.
    pub async fn start(
        mut links: L,
        config: &Config,
        connections: &mut Vec<ConnectionSettings>,
    ) -> Result<(Hub<L>, Vec<Refused>), String> {
        let removed = links
            .remove_stale()
            .await
            .map_err(|e| format!("cannot remove stale hub interfaces, routes and rules: {e}"))?;
        info!("hub: removed {removed} stale interface(s), route(s) and rule(s)");
        let ipv6 = uses_ipv6(config);
        links
            .enable_forwarding(ipv6)
            .map_err(|e| format!("hub mode needs IP forwarding: {e}"))?;
        links
            .add_rules()
            .await
            .map_err(|e| format!("cannot add the hub's routing rules: {e}"))?;
        let mut hub = Hub {
            links,
            routes: config.routes.clone(),
            interfaces: HashMap::new(),
            tunnels: tunnels::Tunnels::default(),
            installed: HashSet::new(),
            carrying: BTreeMap::new(),
            up: HashSet::new(),
            changed: HashSet::new(),
            destinations_of: HashMap::new(),
            entries_of: HashMap::new(),
        };
        hub.index_routes();
        let refused = hub.create_interfaces(connections).await;
        hub.apply(None).await;
        Ok((hub, refused))
    }

    /// Creates the interfaces of `connections` that have none yet; removes from the list
    /// those the kernel refused and returns them with its reason.
    async fn create_interfaces(
        &mut self,
        connections: &mut Vec<ConnectionSettings>,
    ) -> Vec<Refused> {
        let mut refused = Vec::new();
        let mut kept = Vec::with_capacity(connections.len());
        for connection in connections.drain(..) {
            if self.interfaces.contains_key(&connection.name) {
                kept.push(connection);
                continue;
            }
            let egress = match interface::peer(&connection) {
                Some(peer) => match self.links.egress(peer).await {
                    Ok(link) => link,
                    Err(e) => {
                        warn!(
                            "{}: egress device unknown, MTU from {} bytes: {e}",
                            connection.name,
                            interface::DEFAULT_PHYSICAL_MTU
                        );
                        None
                    }
                },
                None => None,
            };
            let spec = interface::spec(&connection, egress.as_ref());
            match self.links.create_interface(&spec).await {
                Ok(link) => {
                    let over = egress.as_ref().map_or_else(
                        || {
                            format!(
                                "an assumed {} physical MTU",
                                interface::DEFAULT_PHYSICAL_MTU
                            )
                        },
                        |e| {
                            format!(
                                "{} MTU {}",
                                e.name,
                                e.mtu.unwrap_or(interface::DEFAULT_PHYSICAL_MTU)
                            )
                        },
                    );
                    info!(
                        "{}: interface {} (if_id {}, MTU {} over {over}, ifindex {})",
                        connection.name, spec.name, spec.if_id, spec.mtu, link.index
                    );
                    self.interfaces.insert(connection.name.clone(), link.index);
                    kept.push(connection);
                }
                Err(e) => {
                    warn!("{}: not started: {e}", connection.name);
                    refused.push((connection.name, format!("cannot create its interface: {e}")));
                }
            }
        }
        *connections = kept;
        refused
    }

    /// Follows an engine event; true when a connection went up or down.
    pub fn on_event(&mut self, event: &Event) -> bool {
        match self.tunnels.on_event(event) {
            Some(conn) => {
                self.changed.insert(conn);
                true
            }
            None => false,
        }
    }

    /// The indexes from connections to destinations to entries, after `routes` changed.
    fn index_routes(&mut self) {
        self.destinations_of.clear();
        self.entries_of.clear();
        for (index, route) in self.routes.iter().enumerate() {
            let destination = route.destination.trunc();
            let entries = self.entries_of.entry(destination).or_default();
            entries.push(index);
            let destinations = self
                .destinations_of
                .entry(route.connection.clone())
                .or_default();
            if !destinations.contains(&destination) {
                destinations.push(destination);
            }
        }
    }

    /// Names of the connections with at least one CHILD_SA.
    fn up_names(&self, engine: &Engine) -> HashSet<String> {
        self.tunnels
            .up()
            .filter_map(|id| engine.connection(id))
            .map(|c| c.name.clone())
            .collect()
    }

    /// Brings the kernel's routes of the destinations whose connections went up or down
    /// since the last sync to what the table wants now; the others are left as they are.
    pub async fn sync(&mut self, engine: &Engine) {
        let mut destinations = BTreeSet::new();
        for conn in std::mem::take(&mut self.changed) {
            // A connection a reload removed: the reload resyncs the whole table.
            let Some(name) = engine.connection(conn).map(|c| c.name.as_str()) else {
                continue;
            };
            if self.tunnels.is_up(conn) {
                self.up.insert(name.to_owned());
            } else {
                self.up.remove(name);
            }
            if let Some(of) = self.destinations_of.get(name) {
                destinations.extend(of.iter().copied());
            }
        }
        if !destinations.is_empty() {
            self.apply(Some(&destinations)).await;
        }
    }

    /// Brings every route of the table to what it wants now (after a reload).
    async fn resync(&mut self, engine: &Engine) {
        self.changed.clear();
        self.up = self.up_names(engine);
        self.apply(None).await;
    }

    /// Plans the entries of `only` these destinations (`None`: all) and applies the
    /// difference to the kernel's routes of those destinations. With `None`, installed routes
    /// of destinations no longer configured are removed too.
    async fn apply(&mut self, only: Option<&BTreeSet<IpNet>>) {
        let configured: Vec<ConfiguredRoute> = match only {
            None => self.routes.clone(),
            Some(destinations) => destinations
                .iter()
                .filter_map(|destination| self.entries_of.get(destination))
                .flatten()
                .filter_map(|&index| self.routes.get(index).cloned())
                .collect(),
        };
        let plan = table::plan(&configured, |name| self.up.contains(name));
        self.log_carrying(&plan, only.is_none());
        let wanted = apply::kernel_routes(&plan.routes, &self.interfaces, self.links.owned_table());
        let refused = match only {
            None => apply::apply(&mut self.links, &mut self.installed, &wanted).await,
            Some(destinations) => {
                // One pass over the installed routes (copies, no allocation per route) to
                // find those of these destinations; the kernel sees only their changes.
                let before: HashSet<Route> = self
                    .installed
                    .iter()
                    .filter(|route| destinations.contains(&route.destination))
                    .copied()
                    .collect();
                let mut after = before.clone();
                let refused = apply::apply(&mut self.links, &mut after, &wanted).await;
                for gone in before.difference(&after) {
                    self.installed.remove(gone);
                }
                self.installed.extend(after);
                refused
            }
        };
        for error in refused {
            warn!("hub: kernel refused: {error}");
        }
    }

    /// Logs each destination of the plan whose traffic moved to another connection or became
    /// unreachable. `whole`: the plan covers the whole table (destinations outside it are
    /// forgotten).
    fn log_carrying(&mut self, plan: &table::Plan, whole: bool) {
        let now: BTreeMap<IpNet, &str> = plan
            .entries
            .iter()
            .filter(|e| e.state == table::EntryState::Active)
            .map(|e| (e.destination, e.connection.as_str()))
            .collect();
        let destinations: BTreeSet<IpNet> = plan.entries.iter().map(|e| e.destination).collect();
        if whole {
            self.carrying.retain(|d, _| destinations.contains(d));
        }
        for destination in destinations {
            let after = now.get(&destination).copied();
            if self.carrying.get(&destination).map(String::as_str) == after {
                continue;
            }
            match after {
                Some(connection) => {
                    info!(
                        "hub: {destination} now through {connection} ({})",
                        interface_name(connection)
                    );
                    self.carrying.insert(destination, connection.to_owned());
                }
                None => {
                    info!("hub: {destination} unreachable: none of its connections is up");
                    self.carrying.remove(&destination);
                }
            }
        }
    }

    /// Before the engine reloads: interfaces for the connections that are new (removed from
    /// `connections` when refused, and returned with the reason).
    pub async fn prepare_reload(
        &mut self,
        connections: &mut Vec<ConnectionSettings>,
    ) -> Vec<Refused> {
        self.create_interfaces(connections).await
    }

    /// After the engine reloaded: the new route table applied, then the interfaces of
    /// connections that are gone deleted (their routes are withdrawn first).
    pub async fn finish_reload(&mut self, config: &Config, engine: &Engine) {
        // IPv6 destinations may be new: IPv6 forwarding is turned on then (never off).
        if let Err(e) = self.links.enable_forwarding(uses_ipv6(config)) {
            warn!("hub: {e}");
        }
        self.routes = config.routes.clone();
        self.index_routes();
        let running: HashSet<&str> = engine
            .connection_ids()
            .filter_map(|id| engine.connection(id))
            .map(|c| c.name.as_str())
            .collect();
        let gone: Vec<String> = self
            .interfaces
            .keys()
            .filter(|name| !running.contains(name.as_str()))
            .cloned()
            .collect();
        for name in &gone {
            self.interfaces.remove(name);
        }
        self.resync(engine).await;
        for name in gone {
            let interface = interface_name(&name);
            match self.links.delete_interface(&interface).await {
                Ok(_) => info!("{name}: interface {interface} deleted"),
                Err(e) => warn!("{name}: cannot delete interface {interface}: {e}"),
            }
        }
    }

    /// Removes every interface, route and rule of the hub.
    pub async fn stop(&mut self) -> Result<usize, KernelError> {
        self.installed.clear();
        self.interfaces.clear();
        self.links.remove_stale().await
    }

    /// Every configured entry with its state, for `ikehub routes`.
    pub fn routes(&self, engine: &Engine) -> Vec<RouteStatus> {
        let up = self.up_names(engine);
        table::plan(&self.routes, |name| up.contains(name))
            .entries
            .into_iter()
            .map(|entry| RouteStatus {
                destination: entry.destination,
                interface: interface_name(&entry.connection),
                connection: entry.connection,
                weight: entry.weight,
                state: entry.state,
                published: entry.publish,
            })
            .collect()
    }

    /// The links, for tests that look at what was installed.
    #[cfg(test)]
    pub fn links(&self) -> &L {
        &self.links
    }
}

#[cfg(test)]
mod tests;
