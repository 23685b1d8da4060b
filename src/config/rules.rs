//! Checks across entries: unique names, references between sections, address families,
//! start actions and the route table.
//!
//! Decisions:
//! - Peer names and connection names are each unique; a peer and a connection may share a
//!   name (one connection per office, both named after it, is the common case).
//! - References are checked against every entry's written name, even an entry with other
//!   errors, so one mistake is not reported again as a dangling reference.
//! - A peer with a fixed address needs a gateway local address of the same family: IKE must
//!   send from one.
//! - A connection to a peer at "any" cannot initiate, at start or on demand ("initiate",
//!   "trap"): there is nowhere to send to.
//! - A connection's `local_address` is one of the gateway's local addresses, of the peer's
//!   family (two uplinks of one family are two connections, each naming its address).
//! - Routes are allowed with or without `hub`: a site-to-site gateway may use them for
//!   active/standby connections too. Each route's weight is 100 (active) or 0 (standby); a
//!   destination has at most one route per weight, and never two routes to one connection;
//!   the destination must lie inside one of the connection's remote subnets, since traffic
//!   outside them cannot enter that connection's tunnel.
//! - A route may not cover a peer's address: IKE and ESP to the peer would enter a tunnel.

use std::collections::HashMap;
use std::ops::Range;

use ipnet::IpNet;

use super::error::Diagnostics;
use super::model::{CloseAction, Gateway, PeerAddress, StartAction};
use super::overlap::overlaps;
use super::raw::RawConfig;
use super::validate::{ConnectionDraft, PeerDraft, RouteDraft};

/// What the cross-entry checks look at: the raw sections (for positions) and whatever of
/// their fields was valid on its own, index for index.
pub(crate) struct Entries<'a> {
    pub(crate) raw: &'a RawConfig,
    pub(crate) gateway: Option<&'a Gateway>,
    pub(crate) peers: &'a [PeerDraft],
    pub(crate) connections: &'a [ConnectionDraft],
    pub(crate) routes: &'a [RouteDraft],
}

pub(crate) fn check(entries: &Entries<'_>, d: &mut Diagnostics<'_>) {
    unique_names(
        "peer",
        entries.raw.peers.iter().map(|p| p.name.as_ref()),
        d,
        |i| entries.raw.peers.get(i).map(|p| p.label.clone()),
    );
    unique_names(
        "connection",
        entries.raw.connections.iter().map(|c| c.name.as_ref()),
        d,
        |i| entries.raw.connections.get(i).map(|c| c.label.clone()),
    );
    peer_references(entries, d);
    peer_families(entries, d);
    connection_addresses(entries, d);
    routes(entries, d);
}

fn unique_names<'r>(
    kind: &str,
    names: impl Iterator<Item = Option<&'r toml::Spanned<String>>>,
    d: &mut Diagnostics<'_>,
    label: impl Fn(usize) -> Option<String>,
) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, name) in names.enumerate() {
        let Some(name) = name else { continue };
        if let Some(first) = seen.get(name.get_ref().as_str()) {
            let label = label(index).unwrap_or_else(|| format!("{kind}[{index}]"));
            d.error(
                Some(&name.span()),
                format!("{label}.name"),
                format!(
                    "duplicate {kind} name \"{}\" (also {kind}[{first}]); names must be unique",
                    name.get_ref()
                ),
            );
        } else {
            seen.insert(name.get_ref(), index);
        }
    }
}

/// Written names of a section, for reference checks and "known: ..." lists.
fn written_names<'r>(
    names: impl Iterator<Item = Option<&'r toml::Spanned<String>>>,
) -> Vec<&'r str> {
    let mut unique: Vec<&str> = Vec::new();
    for name in names.flatten() {
        if !unique.contains(&name.get_ref().as_str()) {
            unique.push(name.get_ref());
        }
    }
    unique
}

fn known_list(kind: &str, names: &[&str]) -> String {
    if names.is_empty() {
        format!("no {kind}s are defined")
    } else {
        format!("known {kind}s: {}", names.join(", "))
    }
}

fn peer_references(entries: &Entries<'_>, d: &mut Diagnostics<'_>) {
    let raw = entries.raw;
    let peer_names = written_names(raw.peers.iter().map(|p| p.name.as_ref()));
    for (index, connection) in raw.connections.iter().enumerate() {
        let Some(peer) = &connection.peer else {
            continue;
        };
        let name = peer.get_ref().as_str();
        let Some(peer_index) = raw
            .peers
            .iter()
            .position(|p| p.name.as_ref().is_some_and(|n| n.get_ref() == name))
        else {
            d.error(
                Some(&peer.span()),
                format!("{}.peer", connection.label),
                format!(
                    "unknown peer \"{name}\"; {}",
                    known_list("peer", &peer_names)
                ),
            );
            continue;
        };
        // A connection that must initiate, at once or when traffic asks for it (trap),
        // needs somewhere to send to; a trap's policies also name the peer's address as
        // the tunnel's end.
        let start_action = entries.connections.get(index).and_then(|c| c.start_action);
        let address = entries
            .peers
            .get(peer_index)
            .and_then(|p| p.address.clone());
        if let (Some(start_action), Some(address)) = (start_action, &address) {
            let initiates = matches!(start_action, StartAction::Initiate | StartAction::Trap);
            if initiates && *address == PeerAddress::Any {
                let span = connection
                    .start_action
                    .as_ref()
                    .map_or(connection.span.clone(), |s| s.span());
                d.error(
                    Some(&span),
                    format!("{}.start_action", connection.label),
                    format!(
                        "start_action \"{start_action}\" cannot initiate to peer \"{name}\": its address is \"any\"; use \"listen\""
                    ),
                );
            }
            // A trap's policies name the peer's address as the tunnel's end, installed
            // before any traffic: a name's address is only known once resolved.
            if start_action == StartAction::Trap {
                if let PeerAddress::Name(host) = address {
                    let span = connection
                        .start_action
                        .as_ref()
                        .map_or(connection.span.clone(), |s| s.span());
                    d.error(
                        Some(&span),
                        format!("{}.start_action", connection.label),
                        format!(
                            "start_action \"trap\" needs a peer address in the policies, but peer \"{name}\" is given by the DNS name \"{host}\"; use \"initiate\""
                        ),
                    );
                }
            }
        }
        // Restarting is initiating too.
        let close_action = entries.connections.get(index).and_then(|c| c.close_action);
        if let (Some(Some(CloseAction::Trap)), Some(PeerAddress::Name(host))) =
            (close_action, &address)
        {
            let span = connection
                .close_action
                .as_ref()
                .map_or(connection.span.clone(), |s| s.span());
            d.error(
                Some(&span),
                format!("{}.close_action", connection.label),
                format!(
                    "close_action = \"trap\" needs a peer address in the policies, but peer \"{name}\" is given by the DNS name \"{host}\"; use \"restart\""
                ),
            );
        }
        if let (
            Some(Some(action @ (CloseAction::Restart | CloseAction::Trap))),
            Some(PeerAddress::Any),
        ) = (close_action, address)
        {
            let span = connection
                .close_action
                .as_ref()
                .map_or(connection.span.clone(), |s| s.span());
            d.error(
                Some(&span),
                format!("{}.close_action", connection.label),
                format!(
                    "close_action = \"{action}\" initiates to peer \"{name}\", but its address \
                     is \"any\"; use \"none\""
                ),
            );
        }
    }
}

fn peer_families(entries: &Entries<'_>, d: &mut Diagnostics<'_>) {
    let Some(gateway) = entries.gateway else {
        return;
    };
    for (raw, peer) in entries.raw.peers.iter().zip(entries.peers) {
        // A name's family is the connection's local address's: it is resolved to match.
        let Some(address) = &peer.address else {
            continue;
        };
        let PeerAddress::Addr(addr) = *address else {
            continue;
        };
        if gateway.local_address_for(address).is_none() {
            let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
            let locals: Vec<String> = gateway
                .local_addresses
                .iter()
                .map(|a| a.to_string())
                .collect();
            let span = raw.address.as_ref().map_or(raw.span.clone(), |a| a.span());
            d.error(
                Some(&span),
                format!("{}.address", raw.label),
                format!(
                    "peer address {addr} is {family}, but the gateway has no {family} local \
                     address (gateway.local_addresses: {})",
                    locals.join(", ")
                ),
            );
        }
    }
}

/// A connection's own `local_address` is one of the gateway's, of its peer's family.
fn connection_addresses(entries: &Entries<'_>, d: &mut Diagnostics<'_>) {
    let Some(gateway) = entries.gateway else {
        return;
    };
    for (raw, draft) in entries.raw.connections.iter().zip(entries.connections) {
        let (Some(Some(local)), Some(text)) = (draft.local_address, raw.local_address.as_ref())
        else {
            continue;
        };
        let field = format!("{}.local_address", raw.label);
        if !gateway.local_addresses.contains(&local) {
            let locals: Vec<String> = gateway
                .local_addresses
                .iter()
                .map(ToString::to_string)
                .collect();
            d.error(
                Some(&text.span()),
                field,
                format!(
                    "{local} is not one of gateway.local_addresses ({}); IKE only runs there",
                    locals.join(", ")
                ),
            );
            continue;
        }
        let peer = draft.peer.as_deref().and_then(|name| {
            entries
                .peers
                .iter()
                .find(|p| p.name.as_deref() == Some(name))
        });
        if let Some(remote) = peer.and_then(|p| p.address.as_ref()?.addr()) {
            if remote.is_ipv4() != local.is_ipv4() {
                d.error(
                    Some(&text.span()),
                    field,
                    format!("{local} and the peer's address {remote} are of different families"),
                );
            }
        }
    }
}

fn routes(entries: &Entries<'_>, d: &mut Diagnostics<'_>) {
    let raw = entries.raw;
    let connection_names = written_names(raw.connections.iter().map(|c| c.name.as_ref()));
    // (destination, weight) -> index of the first route, to find conflicts.
    let mut by_weight: HashMap<(IpNet, u8), usize> = HashMap::new();
    let mut by_connection: HashMap<(IpNet, &str), usize> = HashMap::new();

    for (index, (raw_route, route)) in raw.routes.iter().zip(entries.routes).enumerate() {
        if let Some(connection) = &raw_route.connection {
            if !connection_names.contains(&connection.get_ref().as_str()) {
                d.error(
                    Some(&connection.span()),
                    format!("{}.connection", raw_route.label),
                    format!(
                        "unknown connection \"{}\"; {}",
                        connection.get_ref(),
                        known_list("connection", &connection_names)
                    ),
                );
                continue;
            }
        }
        let (Some(destination), Some(connection), Some(weight)) =
            (route.destination, route.connection.as_deref(), route.weight)
        else {
            continue;
        };
        let here: Range<usize> = raw_route.span.clone();
        let label = &raw_route.label;

        if let Some(first) = by_connection.get(&(destination, connection)) {
            d.error(
                Some(&here),
                label.clone(),
                format!(
                    "route {} to connection \"{}\" is given twice (also route[{first}])",
                    destination, connection
                ),
            );
            continue;
        }
        by_connection.insert((destination, connection), index);

        if let Some(first) = by_weight.get(&(destination, weight)) {
            let other = entries
                .routes
                .get(*first)
                .and_then(|r| r.connection.as_deref())
                .unwrap_or("?");
            let at = raw_route.weight.as_ref().map_or(here.clone(), |w| w.span());
            d.error(
                Some(&at),
                format!("{label}.weight"),
                format!(
                    "destination {} has weight {} on both connection \"{other}\" and connection \
                     \"{}\"; give one of them weight {}",
                    destination,
                    weight,
                    connection,
                    if weight == 0 {
                        "100 (active)"
                    } else {
                        "0 (standby)"
                    }
                ),
            );
        } else {
            by_weight.insert((destination, weight), index);
        }

        // Coverage by the connection's remote subnets.
        let draft = raw
            .connections
            .iter()
            .position(|c| c.name.as_ref().is_some_and(|n| n.get_ref() == connection))
            .and_then(|i| entries.connections.get(i))
            .and_then(|c| c.remote_subnets.as_ref());
        if let Some(remote_subnets) = draft {
            let covered = remote_subnets
                .iter()
                .any(|remote| remote.contains(&destination));
            if !covered {
                let remotes: Vec<String> = remote_subnets.iter().map(|n| n.to_string()).collect();
                let span = raw_route
                    .destination
                    .as_ref()
                    .map_or(here.clone(), |s| s.span());
                let partly = remote_subnets.iter().any(|r| overlaps(r, &destination));
                d.error(
                    Some(&span),
                    format!("{label}.destination"),
                    format!(
                        "destination {} is {} the remote subnets of connection \"{}\" ({}); \
                         traffic outside them cannot enter its tunnel",
                        destination,
                        if partly {
                            "not entirely inside"
                        } else {
                            "outside"
                        },
                        connection,
                        remotes.join(", ")
                    ),
                );
            }
        }
        route_loop(entries, raw_route, &destination, d);
    }
}

/// A route must not cover a peer's address: IKE and ESP to that peer would be routed into
/// a tunnel, which loops (ikehub's route table is consulted before the main table).
fn route_loop(
    entries: &Entries<'_>,
    raw_route: &super::raw::RawRoute,
    destination: &IpNet,
    d: &mut Diagnostics<'_>,
) {
    // A peer given by a DNS name is left out: its address is not known here.
    let peers = entries.peers.iter().filter_map(|p| match p.address {
        Some(PeerAddress::Addr(addr)) => Some((p.name.as_deref().unwrap_or("?"), addr)),
        _ => None,
    });
    for (peer, addr) in peers {
        if destination.contains(&addr) {
            let span = raw_route
                .destination
                .as_ref()
                .map_or(raw_route.span.clone(), |s| s.span());
            d.error(
                Some(&span),
                format!("{}.destination", raw_route.label),
                format!(
                    "destination {destination} contains the address {addr} of peer \"{peer}\": \
                     IKE and ESP to that peer would be routed into a tunnel; use narrower \
                     destinations that leave the peers' addresses out"
                ),
            );
        }
    }
}
