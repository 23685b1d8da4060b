//! Moving the kernel's hub routes to what the table wants: the difference between the routes
//! installed and the routes wanted, applied in one batch. A refused change is returned with
//! the kernel's message; what the kernel accepted is remembered, so a refused add is tried
//! again at the next change and a refused delete is not forgotten.

use std::collections::{HashMap, HashSet};

use crate::kernel::link::{Route, RouteChange, MAIN_TABLE};
use crate::kernel::{HubLinks, KernelError};

use super::table::{Table, Via, WantedRoute};

/// The kernel routes for the wanted ones: connections by their interface's ifindex (a
/// connection without an interface gets none), tables by number.
pub fn kernel_routes(
    wanted: &[WantedRoute],
    interfaces: &HashMap<String, u32>,
    owned_table: u32,
) -> HashSet<Route> {
    wanted
        .iter()
        .filter_map(|w| {
            let table = match w.table {
                Table::Owned => owned_table,
                Table::Main => MAIN_TABLE,
            };
            match &w.via {
                Via::Unreachable => Some(Route::unreachable(w.destination, table, w.metric)),
                Via::Connection(name) => interfaces.get(name).map(|&index| Route {
                    destination: w.destination,
                    interface: index,
                    table,
                    metric: w.metric,
                }),
            }
        })
        .collect()
}

/// The changes from `installed` to `wanted`: deletes first (a route leaving the main table
/// must not collide with its replacement), then adds; each group in a stable order.
pub fn changes(installed: &HashSet<Route>, wanted: &HashSet<Route>) -> Vec<RouteChange> {
    let key = |r: &Route| (r.table, r.destination, r.metric, r.interface);
    let mut deletes: Vec<Route> = installed.difference(wanted).copied().collect();
    let mut adds: Vec<Route> = wanted.difference(installed).copied().collect();
    deletes.sort_by_key(key);
    adds.sort_by_key(key);
    deletes
        .into_iter()
        .map(RouteChange::Delete)
        .chain(adds.into_iter().map(RouteChange::Add))
        .collect()
}

/// Applies the changes toward `wanted` in one batch and updates `installed` with what the
/// kernel accepted. Returns the refusals.
pub async fn apply<L: HubLinks>(
    links: &mut L,
    installed: &mut HashSet<Route>,
    wanted: &HashSet<Route>,
) -> Vec<KernelError> {
    let changes = changes(installed, wanted);
    if changes.is_empty() {
        return Vec::new();
    }
    let results = links.write_routes(&changes).await;
    let mut refused = Vec::new();
    let mut results = results.into_iter();
    for change in &changes {
        let result = results.next().unwrap_or_else(|| {
            Err(KernelError {
                errno: None,
                operation: change.to_string(),
                message: "no result from the dataplane".to_owned(),
            })
        });
        match (change, result) {
            (RouteChange::Add(route), Ok(())) => {
                installed.insert(*route);
            }
            (RouteChange::Delete(route), Ok(())) => {
                installed.remove(route);
            }
            (_, Err(error)) => refused.push(error),
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::link::OWNED_TABLE;
    use crate::kernel::mock::RecordingLinks;

    fn wanted(destination: &str, table: Table, via: Option<&str>, metric: u32) -> WantedRoute {
        WantedRoute {
            destination: destination.parse().expect("net"),
            table,
            via: via.map_or(Via::Unreachable, |c| Via::Connection(c.into())),
            metric,
        }
    }

    fn interfaces() -> HashMap<String, u32> {
        HashMap::from([("a".to_owned(), 7), ("b".to_owned(), 8)])
    }

    #[test]
    fn wanted_routes_become_kernel_routes() {
        let routes = kernel_routes(
            &[
                wanted("10.1.0.0/16", Table::Owned, Some("a"), 100),
                wanted("10.1.0.0/16", Table::Main, Some("a"), 100),
                wanted("10.1.0.0/16", Table::Owned, None, 4096),
                wanted("10.1.0.0/16", Table::Owned, Some("gone"), 200),
            ],
            &interfaces(),
            OWNED_TABLE,
        );
        let mut summary: Vec<(u32, u32, u32)> = routes
            .iter()
            .map(|r| (r.table, r.interface, r.metric))
            .collect();
        summary.sort_unstable();
        assert_eq!(
            summary,
            vec![(254, 7, 100), (OWNED_TABLE, 0, 4096), (OWNED_TABLE, 7, 100)]
        );
    }

    #[test]
    fn deletes_come_before_adds() {
        let unreachable = Route::unreachable("10.1.0.0/16".parse().expect("net"), 7220, 4096);
        let via_a = Route {
            interface: 7,
            metric: 100,
            ..unreachable
        };
        let via_b = Route {
            interface: 8,
            metric: 200,
            ..unreachable
        };
        let installed = HashSet::from([unreachable, via_a]);
        let wanted = HashSet::from([unreachable, via_b]);
        assert_eq!(
            changes(&installed, &wanted),
            vec![RouteChange::Delete(via_a), RouteChange::Add(via_b)]
        );
        assert!(changes(&wanted, &wanted).is_empty());
    }

    #[tokio::test]
    async fn refused_adds_are_not_remembered_and_are_reported() {
        let mut links = RecordingLinks::default();
        let mut installed = HashSet::new();
        // No interface #7 exists in the recording links: the kernel would say ENODEV.
        let wanted = kernel_routes(
            &[
                wanted("10.1.0.0/16", Table::Owned, Some("a"), 100),
                wanted("10.1.0.0/16", Table::Owned, None, 4096),
            ],
            &interfaces(),
            OWNED_TABLE,
        );
        let refused = apply(&mut links, &mut installed, &wanted).await;
        assert_eq!(refused.len(), 1);
        assert!(
            refused[0].to_string().contains("No such device"),
            "{:?}",
            refused
        );
        assert!(refused[0]
            .operation
            .starts_with("add route 10.1.0.0/16 dev #7"));
        assert_eq!(installed.len(), 1);
        assert_eq!(links.routes, installed);
        // Nothing left to do but the refused add, which is tried again.
        assert_eq!(changes(&installed, &wanted).len(), 1);
    }
}
