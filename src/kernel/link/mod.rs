//! Hub mode's routing layer over rtnetlink (`NETLINK_ROUTE`): one xfrm interface per hub
//! connection, routes through those interfaces in a table ikehub owns (and, when published,
//! in the main table), and the rule that makes the kernel consult that table.
//!
//! The CHILD_SAs of a hub connection carry the interface's `if_id` (see
//! [`crate::ike::ChildInstall::if_id`]); routes, not policies, decide which connection a
//! packet takes, with the kernel's longest-prefix match.
//!
//! Messages are netlink-packet-route's types (module `message`), serialized and sent over the
//! same batching request socket as the XFRM dataplane (`kernel::netlink`); the kernel's
//! answers are decoded with that crate's bounds-checked parsers. rtnetlink's handle is not
//! used: its connection writes every message in a datagram of its own, where a hub writes
//! hundreds of routes with one `send` and one acknowledgement wait, and its errors are an
//! errno and the echoed request, without the kernel's extended-ACK text that ours carry.
//!
//! Ownership, as for SAs and policies (see `kernel::record`): every interface, route and rule
//! this dataplane adds is in its [`Record`] before the request goes to the kernel, with the
//! proof that it is ours (module `owned`: an interface's if_id, a route's protocol and
//! interface, a rule's table and protocol), and leaves it once the kernel confirmed it gone.
//! [`LinkDataplane::remove_stale`] removes exactly the recorded objects the kernel still holds
//! with their proof; xfrm interfaces whose name starts with [`INTERFACE_PREFIX`] and routes
//! with protocol [`RTPROT_IKEHUB`] that the record does not list (another instance's) are
//! counted in a log line and left alone.

mod ethtool;
mod forwarding;
mod interface;
mod message;
mod mtu;
mod name;
mod owned;
mod route;
mod rule;
mod stale;
#[cfg(test)]
mod testing;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use netlink_sys::Socket;

pub use self::ethtool::{EspFeatures, Ethtool, ESP_HW_OFFLOAD, ESP_TX_CSUM_HW_OFFLOAD};
pub use self::forwarding::enable_forwarding;
pub use self::interface::{LinkInfo, XfrmInterface};
pub use self::mtu::{esp_overhead, xfrm_interface_mtu, OuterFamily, MIN_INNER_MTU};
pub use self::name::{
    interface_name, interface_names_collide, is_ours, INTERFACE_PREFIX, MAX_INTERFACE_NAME,
};
pub use self::route::{Route, MAIN_TABLE, OWNED_TABLE, RTPROT_IKEHUB, UNREACHABLE};
pub use self::rule::{Family, RULE_PRIORITY};
use super::error::{kernel_error, open_error, transport_error};
use super::netlink::{NetlinkError, NetlinkSocket, Reply, Request, RequestSocket, EEXIST};
use super::record::{Record, RecordError};
use super::{netns, KernelError};

/// `ENODEV`: no such link.
const ENODEV: i32 = 19;
/// `ENETUNREACH`, `EHOSTUNREACH`: no route to a destination.
const ENETUNREACH: i32 = 101;
const EHOSTUNREACH: i32 = 113;

/// One destination of a hub connection, as [`LinkDataplane::attach`] installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub destination: IpNet,
    /// Route metric: lower wins among routes of one destination (active below standby).
    pub metric: u32,
    /// Also put the route into the main table, for the local networks to use.
    pub publish: bool,
}

/// One change of a route, as [`LinkDataplane::write_routes`] applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteChange {
    /// Fails (EEXIST) when the table has a route of the same destination and metric.
    Add(Route),
    /// Succeeds when the route is already gone (e.g. with its interface).
    Delete(Route),
}

impl std::fmt::Display for RouteChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteChange::Add(route) => write!(f, "add {route}"),
            RouteChange::Delete(route) => write!(f, "delete {route}"),
        }
    }
}

/// Links, routes and rules over rtnetlink, in the network namespace it was opened in.
///
/// Not cancel-safe: a dropped call may leave its requests applied without their results.
pub struct LinkDataplane {
    requests: RequestSocket,
    table: u32,
    /// The interfaces, routes and rules this dataplane owns: those it added, and those an
    /// earlier run of the instance recorded (see [`LinkDataplane::use_record`]).
    record: Record,
}

/// What [`open_error`] names when the socket cannot be opened.
const SOCKET: &str = "rtnetlink socket";

/// The link was already gone.
fn link_gone(error: &NetlinkError) -> bool {
    error.errno == ENODEV || error.is_not_found()
}

/// An answer of the kernel that could not be decoded, as the error of `operation`.
fn undecodable(operation: &str, problem: String) -> KernelError {
    KernelError {
        errno: None,
        operation: operation.to_owned(),
        message: problem,
    }
}

/// Skips an object of a dump that could not be decoded: it cannot be told to be ikehub's, so
/// it is left alone, as everything else that is not ikehub's.
fn readable<T>(outcome: Result<T, String>) -> Option<T> {
    outcome
        .map_err(|problem| tracing::debug!(%problem, "skipping an undecodable object of a dump"))
        .ok()
}

impl LinkDataplane {
    /// Opens the socket in the current network namespace. Must be called within a tokio
    /// runtime with I/O enabled.
    pub fn open() -> Result<Self, KernelError> {
        Self::from_socket(netns::route_socket().map_err(open_error(SOCKET))?)
    }

    /// Opens the socket inside the network namespace at `path` (e.g. `/run/netns/NAME`),
    /// without moving the calling thread into it.
    pub fn open_in_netns(path: &Path) -> Result<Self, KernelError> {
        Self::from_socket(
            netns::in_namespace(path, netns::route_socket).map_err(open_error(SOCKET))?,
        )
    }

    fn from_socket(socket: Socket) -> Result<Self, KernelError> {
        NetlinkSocket::configure_for_requests(&socket).map_err(open_error(SOCKET))?;
        Ok(LinkDataplane {
            requests: RequestSocket::new(NetlinkSocket::new(socket).map_err(open_error(SOCKET))?),
            table: OWNED_TABLE,
            record: Record::in_memory(),
        })
    }

    /// Keeps the record of what this dataplane adds in the file at `path`, and takes over
    /// the entries an earlier run left there: [`LinkDataplane::remove_stale`] removes those
    /// objects. Call before anything is added, with the instance's lock held. Returns how
    /// many entries the earlier run left.
    pub fn use_record(&mut self, path: &Path) -> Result<usize, RecordError> {
        let record = Record::open(path, owned::check)?;
        let left = record.len();
        self.record = record;
        Ok(left)
    }

    /// Writes the record's changes. A failure does not stop the kernel's work: the next
    /// write retries with the whole record.
    fn flush(&mut self) {
        if let Err(error) = self.record.flush() {
            tracing::error!("{error}");
        }
    }

    /// Records `routes` ahead of their requests; the proofs they had before.
    fn claim_routes<'a>(
        &mut self,
        routes: impl Iterator<Item = &'a Route>,
    ) -> Vec<(String, Option<String>)> {
        let claimed = routes
            .map(|route| {
                let key = owned::route_key(route);
                let previous = self.record.claim(key.clone(), owned::route_proof(route));
                (key, previous)
            })
            .collect();
        self.flush();
        claimed
    }

    /// The link `index` is gone, and with it the routes through it.
    fn forget_interface(&mut self, index: u32, name: Option<&str>) {
        let through = owned::through(index);
        let mut gone: Vec<String> = self
            .record
            .entries()
            .filter(|(key, proof)| key.starts_with("route ") && *proof == through)
            .map(|(key, _)| key.to_owned())
            .collect();
        if let Some(name) = name {
            gone.push(owned::interface_key(name));
        }
        for key in gone {
            self.record.forget(&key);
        }
        self.flush();
    }

    /// The table hub routes go to (default [`OWNED_TABLE`]).
    pub fn owned_table(&self) -> u32 {
        self.table
    }

    /// Uses another table than [`OWNED_TABLE`] for hub routes and the rule.
    pub fn with_owned_table(mut self, table: u32) -> Self {
        self.table = table;
        self
    }

    /// Sends `requests` in one batch; one outcome per request.
    async fn transact(
        &mut self,
        operation: &str,
        requests: &[Request],
    ) -> Result<Vec<Result<Vec<Reply>, NetlinkError>>, KernelError> {
        let refs: Vec<&Request> = requests.iter().collect();
        self.requests
            .transact(&refs)
            .await
            .map_err(|e| transport_error(operation, &e))
    }

    /// Sends one request; the kernel's answer as it came (a refusal is not yet an error).
    async fn outcome(
        &mut self,
        operation: &str,
        request: Request,
    ) -> Result<Result<Vec<Reply>, NetlinkError>, KernelError> {
        Ok(self
            .transact(operation, std::slice::from_ref(&request))
            .await?
            .into_iter()
            .next()
            .unwrap_or(Ok(Vec::new())))
    }

    async fn one(&mut self, operation: &str, request: Request) -> Result<Vec<Reply>, KernelError> {
        self.outcome(operation, request)
            .await?
            .map_err(|e| kernel_error(operation, &e))
    }

    /// Sends one delete request; `Ok(false)` when the kernel says (`gone`) there was nothing
    /// to delete.
    async fn delete(
        &mut self,
        operation: &str,
        request: Request,
        gone: fn(&NetlinkError) -> bool,
    ) -> Result<bool, KernelError> {
        match self.outcome(operation, request).await? {
            Ok(_) => Ok(true),
            Err(error) if gone(&error) => Ok(false),
            Err(error) => Err(kernel_error(operation, &error)),
        }
    }

    /// The link a `get link` request names, if there is one.
    async fn get_link(
        &mut self,
        operation: &str,
        request: Request,
    ) -> Result<Option<LinkInfo>, KernelError> {
        match self.outcome(operation, request).await? {
            Ok(replies) => interface::links(&replies)
                .next()
                .transpose()
                .map_err(|problem| undecodable(operation, problem)),
            Err(error) if error.errno == ENODEV => Ok(None),
            Err(error) => Err(kernel_error(operation, &error)),
        }
    }

    /// The link called `name`, if there is one.
    pub async fn link(&mut self, name: &str) -> Result<Option<LinkInfo>, KernelError> {
        let operation = format!("get link {name}");
        self.get_link(&operation, interface::get_by_name(name))
            .await
    }

    /// The link with ifindex `index`, if there is one.
    pub async fn link_by_index(&mut self, index: u32) -> Result<Option<LinkInfo>, KernelError> {
        let operation = format!("get link #{index}");
        self.get_link(&operation, interface::get_by_index(index))
            .await
    }

    /// The link the kernel would send packets to `destination` by (`ip route get`); `None`
    /// when it has no route there.
    pub async fn egress(&mut self, destination: IpAddr) -> Result<Option<LinkInfo>, KernelError> {
        let operation = format!("get route to {destination}");
        let index = match self.outcome(&operation, route::get(destination)).await? {
            Ok(replies) => match route::routes(&replies).next().transpose() {
                Ok(answer) => answer.as_ref().and_then(route::output_interface),
                Err(problem) => return Err(undecodable(&operation, problem)),
            },
            // ENETUNREACH, EHOSTUNREACH: no route.
            Err(error) if error.errno == ENETUNREACH || error.errno == EHOSTUNREACH => None,
            Err(error) => return Err(kernel_error(&operation, &error)),
        };
        match index {
            Some(index) => self.link_by_index(index).await,
            None => Ok(None),
        }
    }

    /// Creates the xfrm interface, up and with its MTU, and returns it as the kernel reports it.
    pub async fn create_xfrm_interface(
        &mut self,
        spec: &XfrmInterface,
    ) -> Result<LinkInfo, KernelError> {
        let operation = format!(
            "create xfrm interface {} if_id {} dev #{}",
            spec.name, spec.if_id, spec.underlying
        );
        interface::check_name(&spec.name).map_err(|message| KernelError {
            errno: None,
            operation: operation.clone(),
            message,
        })?;
        let key = owned::interface_key(&spec.name);
        let previous = self
            .record
            .claim(key.clone(), owned::interface_proof(spec.if_id));
        self.flush();
        if let Err(error) = self.one(&operation, interface::create_xfrm(spec)).await {
            self.record.restore(key, previous);
            self.flush();
            return Err(error);
        }
        match self.link(&spec.name).await {
            Ok(Some(link)) => Ok(link),
            outcome => {
                let (errno, message) = match outcome {
                    Err(error) => (error.errno, error.to_string()),
                    _ => (
                        None,
                        "created, but the kernel does not report it".to_owned(),
                    ),
                };
                // Nothing half-applied: the interface goes again (and leaves the record
                // once the kernel confirmed it gone).
                let deleted = self
                    .outcome(&operation, interface::delete_by_name(&spec.name))
                    .await;
                if matches!(&deleted, Ok(Ok(_))) || matches!(&deleted, Ok(Err(e)) if link_gone(e)) {
                    self.record.forget(&key);
                    self.flush();
                }
                Err(KernelError {
                    errno,
                    operation,
                    message,
                })
            }
        }
    }

    pub async fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<(), KernelError> {
        self.one(
            &format!("set MTU of link #{index} to {mtu}"),
            interface::set_mtu(index, mtu),
        )
        .await
        .map(drop)
    }

    pub async fn set_up(&mut self, index: u32, up: bool) -> Result<(), KernelError> {
        let state = if up { "up" } else { "down" };
        self.one(
            &format!("set link #{index} {state}"),
            interface::set_up(index, up),
        )
        .await
        .map(drop)
    }

    /// Deletes the link (and with it, the kernel removes its routes). `Ok(false)` when it was
    /// already gone.
    pub async fn delete_interface(&mut self, index: u32) -> Result<bool, KernelError> {
        let name = self.link_by_index(index).await?.map(|link| link.name);
        self.delete_link(index, name.as_deref()).await
    }

    /// Deletes the link `index`, called `name`; once the kernel confirmed it gone, it and its
    /// routes leave the record.
    async fn delete_link(&mut self, index: u32, name: Option<&str>) -> Result<bool, KernelError> {
        let operation = format!("delete link #{index}");
        let deleted = self
            .delete(&operation, interface::delete(index), link_gone)
            .await?;
        self.forget_interface(index, name);
        Ok(deleted)
    }

    /// ikehub's xfrm interfaces: kind `xfrm` and a name starting with [`INTERFACE_PREFIX`].
    pub async fn xfrm_interfaces(&mut self) -> Result<Vec<LinkInfo>, KernelError> {
        let replies = self.one("dump links", interface::dump()).await?;
        Ok(interface::links(&replies)
            .filter_map(readable)
            .filter(|link| link.kind.as_deref() == Some("xfrm") && is_ours(&link.name))
            .collect())
    }

    /// Adds a route; fails (EEXIST) when the table has one of the same destination and metric.
    pub async fn add_route(&mut self, route: &Route) -> Result<(), KernelError> {
        self.write_route(route, route::Write::Add, "add").await
    }

    /// Writes one route, recorded ahead; a refused write is taken back from the record.
    async fn write_route(
        &mut self,
        route: &Route,
        how: route::Write,
        verb: &str,
    ) -> Result<(), KernelError> {
        let claimed = self.claim_routes(std::iter::once(route));
        let outcome = self
            .one(&format!("{verb} {route}"), route::write(route, how))
            .await
            .map(drop);
        if outcome.is_err() {
            for (key, previous) in claimed {
                self.record.restore(key, previous);
            }
            self.flush();
        }
        outcome
    }

    /// Adds a route, or replaces the one of the same destination and metric in its table.
    pub async fn replace_route(&mut self, route: &Route) -> Result<(), KernelError> {
        self.write_route(route, route::Write::Replace, "replace")
            .await
    }

    /// Deletes one of ikehub's routes. `Ok(false)` when there was no such route.
    pub async fn delete_route(&mut self, route: &Route) -> Result<bool, KernelError> {
        let operation = format!("delete {route}");
        let deleted = self
            .delete(&operation, route::delete(route), NetlinkError::is_not_found)
            .await?;
        self.record.forget(&owned::route_key(route));
        self.flush();
        Ok(deleted)
    }

    /// Applies route changes in order, in one batch; one result per change. A refusal names
    /// the change and carries the kernel's message.
    pub async fn write_routes(&mut self, changes: &[RouteChange]) -> Vec<Result<(), KernelError>> {
        if changes.is_empty() {
            return Vec::new();
        }
        let requests: Vec<Request> = changes
            .iter()
            .map(|change| match change {
                RouteChange::Add(route) => route::write(route, route::Write::Add),
                RouteChange::Delete(route) => route::delete(route),
            })
            .collect();
        let mut claimed = self
            .claim_routes(changes.iter().filter_map(|change| match change {
                RouteChange::Add(route) => Some(route),
                RouteChange::Delete(_) => None,
            }))
            .into_iter();
        let outcomes = match self.transact("write hub routes", &requests).await {
            Ok(outcomes) => outcomes,
            Err(error) => {
                // Nothing is known to have been sent: the claims are kept, and the next
                // start removes what exists of them.
                return changes.iter().map(|_| Err(error.clone())).collect();
            }
        };
        let mut outcomes = outcomes.into_iter();
        let results: Vec<Result<(), KernelError>> = changes
            .iter()
            .map(|change| {
                let result = match (change, outcomes.next()) {
                    (_, Some(Ok(_))) => Ok(()),
                    (RouteChange::Delete(_), Some(Err(error))) if error.is_not_found() => Ok(()),
                    (_, Some(Err(error))) => Err(kernel_error(&change.to_string(), &error)),
                    (_, None) => Err(KernelError {
                        errno: None,
                        operation: change.to_string(),
                        message: "no answer from the kernel".to_owned(),
                    }),
                };
                match change {
                    RouteChange::Add(_) => {
                        if let (Some((key, previous)), true) = (claimed.next(), result.is_err()) {
                            self.record.restore(key, previous);
                        }
                    }
                    RouteChange::Delete(route) => {
                        if result.is_ok() {
                            self.record.forget(&owned::route_key(route));
                        }
                    }
                }
                result
            })
            .collect();
        self.flush();
        results
    }

    /// ikehub's routes (protocol [`RTPROT_IKEHUB`]), in `table` or in every table.
    pub async fn routes(&mut self, table: Option<u32>) -> Result<Vec<Route>, KernelError> {
        let replies = self.one("dump routes", route::dump()).await?;
        Ok(route::routes(&replies)
            .filter_map(readable)
            .filter_map(|message| route::describe(&message))
            .filter(|(route, protocol)| {
                *protocol == RTPROT_IKEHUB && table.is_none_or(|t| t == route.table)
            })
            .map(|(route, _)| route)
            .collect())
    }

    /// Adds the rules `priority RULE_PRIORITY lookup TABLE` for IPv4 and IPv6; a rule that is
    /// already there is left as it is. Returns how many were added.
    pub async fn add_rules(&mut self) -> Result<usize, KernelError> {
        let families = [Family::V4, Family::V6];
        let proof = owned::rule_proof(self.table);
        let claimed: Vec<(String, Option<String>)> = families
            .iter()
            .map(|&family| {
                let key = owned::rule_key(family, RULE_PRIORITY);
                let previous = self.record.claim(key.clone(), proof.clone());
                (key, previous)
            })
            .collect();
        self.flush();
        let requests: Vec<Request> = families
            .iter()
            .map(|&family| rule::add(family, self.table, RULE_PRIORITY))
            .collect();
        // On a transport error the claims stay: the next start removes what exists of them.
        let outcomes = self.transact("add routing rules", &requests).await?;
        let mut added = 0;
        let mut first_error = None;
        for ((family, (key, previous)), outcome) in families.iter().zip(claimed).zip(outcomes) {
            match outcome {
                Ok(_) => added += 1,
                Err(error) => {
                    // EEXIST: the rule is there, ours only if the record had it already
                    // (another instance with the same table may have added it).
                    self.record.restore(key, previous);
                    if error.errno != EEXIST {
                        first_error.get_or_insert_with(|| {
                            kernel_error(
                                &format!(
                                    "add {family:?} rule priority {RULE_PRIORITY} lookup {}",
                                    self.table
                                ),
                                &error,
                            )
                        });
                    }
                }
            }
        }
        self.flush();
        match first_error {
            Some(error) => Err(error),
            None => Ok(added),
        }
    }

    /// Removes the rules the record lists (those [`Self::add_rules`] added, in this run or
    /// the earlier one). Returns how many there were.
    pub async fn remove_rules(&mut self) -> Result<usize, KernelError> {
        let recorded: Vec<(String, Family, u32)> = [Family::V4, Family::V6]
            .into_iter()
            .filter_map(|family| {
                let key = owned::rule_key(family, RULE_PRIORITY);
                let table = owned::rule_table(self.record.proof(&key)?)?;
                Some((key, family, table))
            })
            .collect();
        if recorded.is_empty() {
            return Ok(0);
        }
        let requests: Vec<Request> = recorded
            .iter()
            .map(|&(_, family, table)| rule::delete(family, table, RULE_PRIORITY))
            .collect();
        let outcomes = self.transact("delete routing rules", &requests).await?;
        let mut removed = 0;
        let mut first_error = None;
        for ((key, family, table), outcome) in recorded.iter().zip(outcomes) {
            match outcome {
                Ok(_) => {
                    removed += 1;
                    self.record.forget(key);
                }
                Err(error) if error.is_not_found() => self.record.forget(key),
                Err(error) => {
                    first_error.get_or_insert_with(|| {
                        kernel_error(
                            &format!(
                                "delete {family:?} rule priority {RULE_PRIORITY} lookup {table}"
                            ),
                            &error,
                        )
                    });
                }
            }
        }
        self.flush();
        match first_error {
            Some(error) => Err(error),
            None => Ok(removed),
        }
    }

    /// Sets up one hub connection: its xfrm interface and a route per destination in the owned
    /// table (and in the main table where published), all routes in one batch. If any route
    /// is refused, the interface is deleted again (taking the routes that were added with
    /// it) and the first refusal is returned.
    pub async fn attach(
        &mut self,
        spec: &XfrmInterface,
        destinations: &[Destination],
    ) -> Result<LinkInfo, KernelError> {
        let link = self.create_xfrm_interface(spec).await?;
        let routes = routes_of(link.index, self.table, destinations);
        let claimed = self.claim_routes(routes.iter());
        let requests: Vec<Request> = routes
            .iter()
            .map(|r| route::write(r, route::Write::Add))
            .collect();
        let failure = match self.transact("add hub routes", &requests).await {
            Ok(outcomes) => {
                let mut failure = None;
                for ((route, (key, previous)), outcome) in routes.iter().zip(claimed).zip(outcomes)
                {
                    if let Err(e) = outcome {
                        self.record.restore(key, previous);
                        failure.get_or_insert_with(|| kernel_error(&format!("add {route}"), &e));
                    }
                }
                self.flush();
                failure
            }
            Err(error) => Some(error),
        };
        match failure {
            None => Ok(link),
            Some(mut error) => {
                if let Err(rollback) = self.delete_link(link.index, Some(&spec.name)).await {
                    error.message.push_str(&format!(
                        "; rollback could not delete {}: {rollback}",
                        spec.name
                    ));
                }
                Err(error)
            }
        }
    }

    /// Removes a hub connection's interface; the kernel removes its routes with it.
    pub async fn detach(&mut self, name: &str) -> Result<bool, KernelError> {
        match self.link(name).await? {
            Some(link) => self.delete_link(link.index, Some(&link.name)).await,
            None => {
                self.record.forget(&owned::interface_key(name));
                self.flush();
                Ok(false)
            }
        }
    }

    /// Removes the xfrm interfaces, routes and rules the record lists that the kernel still
    /// holds with their proof of ownership: those this dataplane added, and those the earlier
    /// run of the instance recorded. Interfaces and routes that only look like ikehub's are
    /// counted in a log line and left alone. Every entry leaves the record except those whose
    /// removal failed. Returns how many objects were removed (routes that went away with
    /// their interface are not counted).
    pub async fn remove_stale(&mut self) -> Result<usize, KernelError> {
        let mut kept = HashSet::new();
        let mut first_error = None;
        let mut unproven = Vec::new();
        // One batch per kind: a hub may hold thousands of interfaces.
        let links = self.xfrm_interfaces().await?;
        let cleanup = stale::interfaces(links, &self.record);
        unproven.extend(cleanup.unproven);
        let requests: Vec<Request> = cleanup
            .deletes
            .iter()
            .map(|(_, l)| interface::delete(l.index))
            .collect();
        let keys: Vec<String> = cleanup.deletes.into_iter().map(|(k, _)| k).collect();
        let mut removed = self
            .count_removed(
                "delete stale xfrm interfaces",
                &keys,
                &requests,
                link_gone,
                &mut kept,
                &mut first_error,
            )
            .await?;
        let routes = self.routes(None).await?;
        let cleanup = stale::routes(routes, &self.record);
        unproven.extend(cleanup.unproven);
        let requests: Vec<Request> = cleanup
            .deletes
            .iter()
            .map(|(_, r)| route::delete(r))
            .collect();
        let keys: Vec<String> = cleanup.deletes.into_iter().map(|(k, _)| k).collect();
        removed += self
            .count_removed(
                "delete stale hub routes",
                &keys,
                &requests,
                NetlinkError::is_not_found,
                &mut kept,
                &mut first_error,
            )
            .await?;
        stale::log_unproven(&unproven);
        match self.remove_rules().await {
            Ok(rules) => removed += rules,
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
        // Recorded interfaces and routes not in the kernel (or there without their proof)
        // are gone as far as this run is concerned; rules left the record in remove_rules.
        self.record
            .retain(|key| key.starts_with("rule ") || kept.contains(key));
        self.flush();
        match first_error {
            Some(error) => Err(error),
            None => Ok(removed),
        }
    }

    /// Sends the delete requests in one batch; counts those that removed something. The key
    /// of a refusal other than `gone` goes to `kept`, the first such refusal to `first_error`.
    async fn count_removed(
        &mut self,
        operation: &str,
        keys: &[String],
        requests: &[Request],
        gone: impl Fn(&NetlinkError) -> bool,
        kept: &mut HashSet<String>,
        first_error: &mut Option<KernelError>,
    ) -> Result<usize, KernelError> {
        if requests.is_empty() {
            return Ok(0);
        }
        let mut removed = 0;
        for (key, outcome) in keys.iter().zip(self.transact(operation, requests).await?) {
            match outcome {
                Ok(_) => removed += 1,
                Err(error) if gone(&error) => {}
                Err(error) => {
                    tracing::warn!(%operation, %key, error = %error.describe(), "stale object not removed");
                    kept.insert(key.clone());
                    first_error.get_or_insert_with(|| kernel_error(operation, &error));
                }
            }
        }
        Ok(removed)
    }
}

impl super::HubLinks for LinkDataplane {
    async fn remove_stale(&mut self) -> Result<usize, KernelError> {
        LinkDataplane::remove_stale(self).await
    }

    fn enable_forwarding(&mut self, ipv6: bool) -> Result<(), KernelError> {
        enable_forwarding(ipv6)
    }

    async fn add_rules(&mut self) -> Result<usize, KernelError> {
        LinkDataplane::add_rules(self).await
    }

    async fn egress(&mut self, destination: IpAddr) -> Result<Option<LinkInfo>, KernelError> {
        LinkDataplane::egress(self, destination).await
    }

    async fn create_interface(&mut self, spec: &XfrmInterface) -> Result<LinkInfo, KernelError> {
        self.create_xfrm_interface(spec).await
    }

    async fn delete_interface(&mut self, name: &str) -> Result<bool, KernelError> {
        self.detach(name).await
    }

    async fn write_routes(&mut self, changes: &[RouteChange]) -> Vec<Result<(), KernelError>> {
        LinkDataplane::write_routes(self, changes).await
    }

    fn owned_table(&self) -> u32 {
        self.table
    }
}

/// The routes of `destinations` through the link `index`: one in `table`, and one in the
/// main table for each published destination.
fn routes_of(index: u32, table: u32, destinations: &[Destination]) -> Vec<Route> {
    let mut routes = Vec::with_capacity(destinations.len() * 2);
    for d in destinations {
        let route = Route {
            destination: d.destination.trunc(),
            interface: index,
            table,
            metric: d.metric,
        };
        routes.push(route);
        if d.publish && table != MAIN_TABLE {
            routes.push(Route {
                table: MAIN_TABLE,
                ..route
            });
        }
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the host's routes and links (no change to them): needs only a NETLINK_ROUTE socket.
    #[tokio::test]
    async fn the_egress_of_a_loopback_address_is_lo() {
        let mut links = LinkDataplane::open().expect("rtnetlink socket");
        for address in ["127.0.0.1", "::1"] {
            let link = links
                .egress(address.parse().unwrap())
                .await
                .expect("route lookup")
                .expect("a route to loopback");
            assert_eq!(link.name, "lo", "{address}");
            assert!(link.mtu.is_some_and(|mtu| mtu >= 1280), "{link:?}");
            let again = links.link_by_index(link.index).await.expect("get link");
            assert_eq!(again.map(|l| l.name), Some("lo".to_owned()));
        }
        assert_eq!(
            links.link_by_index(0x7fff_fff0).await.expect("get link"),
            None
        );
    }

    /// The kernel's own answers (the host's links and routes, only read), whole and cut at
    /// every length: whole they decode, cut they decode or are errors, never a panic.
    #[tokio::test]
    async fn cut_kernel_answers_are_errors_not_panics() {
        let mut links = LinkDataplane::open().expect("rtnetlink socket");
        let link_dump = links
            .one("dump links", interface::dump())
            .await
            .expect("links");
        let route_dump = links
            .one("dump routes", route::dump())
            .await
            .expect("routes");
        let names: Vec<String> = interface::links(&link_dump)
            .map(|link| link.map(|link| link.name))
            .collect::<Result<_, _>>()
            .expect("every link decodes");
        assert!(names.iter().any(|name| name == "lo"), "{names:?}");
        assert_eq!(
            route::routes(&route_dump).filter(Result::is_err).count(),
            0,
            "every route decodes"
        );
        // The first few of each: a host may have hundreds of links.
        let cut =
            |whole: &Reply, len: usize| [testing::reply(whole.msg_type, &whole.payload[..len])];
        for whole in link_dump.iter().take(3) {
            for len in 0..whole.payload.len() {
                let decoded: Vec<_> = interface::links(&cut(whole, len)).collect();
                assert_eq!(decoded.len(), 1, "a link or an error");
                assert!(len >= 16 || decoded[0].is_err(), "ifinfomsg cut at {len}");
            }
        }
        for whole in route_dump.iter().take(8) {
            for len in 0..whole.payload.len() {
                let decoded: Vec<_> = route::routes(&cut(whole, len)).collect();
                assert_eq!(decoded.len(), 1, "a route or an error");
                assert!(len >= 12 || decoded[0].is_err(), "rtmsg cut at {len}");
            }
        }
    }

    #[test]
    fn published_destinations_get_a_main_table_route() {
        let routes = routes_of(
            5,
            OWNED_TABLE,
            &[
                Destination {
                    destination: "10.2.0.9/24".parse().unwrap(),
                    metric: 100,
                    publish: false,
                },
                Destination {
                    destination: "fd00:2::/64".parse().unwrap(),
                    metric: 0,
                    publish: true,
                },
            ],
        );
        let summary: Vec<(String, u32, u32, u32)> = routes
            .iter()
            .map(|r| (r.destination.to_string(), r.interface, r.table, r.metric))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("10.2.0.0/24".to_owned(), 5, OWNED_TABLE, 100),
                ("fd00:2::/64".to_owned(), 5, OWNED_TABLE, 0),
                ("fd00:2::/64".to_owned(), 5, MAIN_TABLE, 0),
            ]
        );
    }
}
