//! The local side of each connection, and the address-overlap checks.
//!
//! Decisions:
//! - A connection's local subnets default to `gateway.local_subnets`. In hub mode
//!   (`gateway.hub = true`) they default to "any" instead (see hub.rs): routes decide.
//! - Local and remote subnets of one connection must not overlap: the error names both ranges.
//!   A hub connection's default "any" local side is exempt, since it covers everything.
//! - Remote subnets of two different connections must not overlap either (traffic would have
//!   two tunnels to go to), except when the route table declares the two connections
//!   alternatives for that address space: a route to each with the same destination, one at
//!   weight 100 and one at weight 0. This holds whether or not both connections go to the same
//!   peer, since an office with two uplinks is two peers.

use ipnet::IpNet;

use super::error::Diagnostics;
use super::hub::any_local;
use super::model::Gateway;
use super::rules::Entries;

/// Whether two prefixes share any address (CIDR blocks are nested or disjoint).
pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The effective local subnets of each connection (None where the connection is invalid or
/// has none, which is reported).
pub(crate) fn local_subnets(
    entries: &Entries<'_>,
    d: &mut Diagnostics<'_>,
) -> Vec<Option<Vec<IpNet>>> {
    let Some(gateway) = entries.gateway else {
        return entries.connections.iter().map(|_| None).collect();
    };
    entries
        .connections
        .iter()
        .enumerate()
        .map(|(index, draft)| {
            if let Some(explicit) = draft.local_subnets.as_ref()? {
                return Some(explicit.clone());
            }
            let derived = derived_local_subnets(entries, gateway, index);
            if derived.is_empty() {
                let raw = entries.raw.connections.get(index)?;
                d.error(
                    Some(&raw.span),
                    format!("{}.local_subnets", raw.label),
                    "no local subnets: set local_subnets here or gateway.local_subnets",
                );
                return None;
            }
            Some(derived)
        })
        .collect()
}

fn derived_local_subnets(entries: &Entries<'_>, gateway: &Gateway, index: usize) -> Vec<IpNet> {
    if !gateway.hub {
        return gateway.local_subnets.clone();
    }
    let remote = entries
        .connections
        .get(index)
        .and_then(|c| c.remote_subnets.as_deref())
        .unwrap_or(&[]);
    any_local(remote)
}

/// Reports overlapping local/remote subnets within a connection and remote subnets shared by
/// connections that are not active/standby alternatives.
pub(crate) fn check(entries: &Entries<'_>, locals: &[Option<Vec<IpNet>>], d: &mut Diagnostics<'_>) {
    for (index, (raw, draft)) in entries
        .raw
        .connections
        .iter()
        .zip(entries.connections)
        .enumerate()
    {
        let (Some(remote_subnets), Some(Some(local))) = (&draft.remote_subnets, locals.get(index))
        else {
            continue;
        };
        let from_gateway = matches!(draft.local_subnets, Some(None));
        if from_gateway && entries.gateway.is_some_and(|g| g.hub) {
            continue;
        }
        for (r, remote) in remote_subnets.iter().enumerate() {
            for local in local.iter().filter(|l| overlaps(l, remote)) {
                let span = raw
                    .remote_subnets
                    .as_ref()
                    .and_then(|list| list.get_ref().get(r))
                    .map_or(raw.span.clone(), |s| s.span());
                d.error(
                    Some(&span),
                    format!("{}.remote_subnets[{r}]", raw.label),
                    format!(
                        "local subnet {local}{} overlaps remote subnet {remote}",
                        if from_gateway {
                            " (from gateway.local_subnets)"
                        } else {
                            ""
                        }
                    ),
                );
            }
        }
    }

    for (j, (raw_j, draft_j)) in entries
        .raw
        .connections
        .iter()
        .zip(entries.connections)
        .enumerate()
    {
        let Some(remotes_j) = &draft_j.remote_subnets else {
            continue;
        };
        for (i, draft_i) in entries.connections.iter().enumerate().take(j) {
            let Some(remotes_i) = &draft_i.remote_subnets else {
                continue;
            };
            let name_i = written_name(entries, i);
            let name_j = written_name(entries, j);
            for (r, remote_j) in remotes_j.iter().enumerate() {
                for remote_i in remotes_i.iter().filter(|n| overlaps(n, remote_j)) {
                    if alternatives(entries, name_i, name_j, remote_i, remote_j) {
                        continue;
                    }
                    let span = raw_j
                        .remote_subnets
                        .as_ref()
                        .and_then(|list| list.get_ref().get(r))
                        .map_or(raw_j.span.clone(), |s| s.span());
                    d.error(
                        Some(&span),
                        format!("{}.remote_subnets[{r}]", raw_j.label),
                        format!(
                            "remote subnet {remote_j} overlaps remote subnet {remote_i} of \
                             connection \"{}\" (connection[{i}]); two connections may share \
                             remote addresses only as active/standby alternatives: routes to \
                             both for the same destination, weight 100 on one and 0 on the other",
                            name_i
                        ),
                    );
                }
            }
        }
    }
}

/// The name a connection is written with ("" when it has none, which has been reported).
fn written_name<'a>(entries: &Entries<'a>, index: usize) -> &'a str {
    entries
        .raw
        .connections
        .get(index)
        .and_then(|c| c.name.as_ref())
        .map_or("", |n| n.get_ref().as_str())
}

/// Whether the route table makes connections `a` and `b` active/standby alternatives for
/// address space covering both overlapping subnets.
fn alternatives(
    entries: &Entries<'_>,
    a: &str,
    b: &str,
    subnet_a: &IpNet,
    subnet_b: &IpNet,
) -> bool {
    let routes: Vec<_> = entries.routes.iter().filter_map(|r| r.model()).collect();
    routes.iter().filter(|r| r.connection == a).any(|route_a| {
        routes.iter().filter(|r| r.connection == b).any(|route_b| {
            route_a.destination == route_b.destination
                && route_a.weight != route_b.weight
                && overlaps(&route_a.destination, subnet_a)
                && overlaps(&route_a.destination, subnet_b)
        })
    })
}
