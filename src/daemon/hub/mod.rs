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
//! changes. A reload creates interfaces for new connections before the engine sees them
//! ([`Hub::prepare_reload`]) and deletes those of removed connections after
//! ([`Hub::finish_reload`]). [`Hub::stop`] removes every interface, route and rule.

mod apply;
mod interface;
pub mod table;
mod tunnels;
pub mod view;

use std::collections::{BTreeMap, HashMap, HashSet};

use ipnet::IpNet;

use tracing::{info, warn};

use crate::config::{Config, Route as ConfiguredRoute};
use crate::ike::{ConnectionSettings, Engine, Event};
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
        };
        let refused = hub.create_interfaces(connections).await;
        hub.apply(&HashSet::new()).await;
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
        self.tunnels.on_event(event).is_some()
    }

    /// Names of the connections with at least one CHILD_SA.
    fn up_names(&self, engine: &Engine) -> HashSet<String> {
        self.tunnels
            .up()
            .filter_map(|id| engine.connection(id))
            .map(|c| c.name.clone())
            .collect()
    }

    /// Brings the kernel's routes to what the table wants now.
    pub async fn sync(&mut self, engine: &Engine) {
        let up = self.up_names(engine);
        self.apply(&up).await;
    }

    async fn apply(&mut self, up: &HashSet<String>) {
        let plan = table::plan(&self.routes, |name| up.contains(name));
        self.log_carrying(&plan);
        let wanted = apply::kernel_routes(&plan.routes, &self.interfaces, self.links.owned_table());
        for error in apply::apply(&mut self.links, &mut self.installed, &wanted).await {
            warn!("hub: kernel refused: {error}");
        }
    }

    /// Logs each destination whose traffic moved to another connection or became unreachable.
    fn log_carrying(&mut self, plan: &table::Plan) {
        let now: BTreeMap<IpNet, String> = plan
            .entries
            .iter()
            .filter(|e| e.state == table::EntryState::Active)
            .map(|e| (e.destination, e.connection.clone()))
            .collect();
        let destinations: std::collections::BTreeSet<IpNet> =
            plan.entries.iter().map(|e| e.destination).collect();
        for destination in destinations {
            let (before, after) = (self.carrying.get(&destination), now.get(&destination));
            if before == after {
                continue;
            }
            match after {
                Some(connection) => info!(
                    "hub: {destination} now through {connection} ({})",
                    interface_name(connection)
                ),
                None => info!("hub: {destination} unreachable: none of its connections is up"),
            }
        }
        self.carrying = now;
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
        self.sync(engine).await;
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
