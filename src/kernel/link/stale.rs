//! Choosing what [`LinkDataplane::remove_stale`](super::LinkDataplane::remove_stale) removes,
//! as `xfrm::stale` does for SAs and policies: the dumped interfaces and routes the record
//! proves ours (recorded key, recorded proof), and, to be logged and left alone, those that
//! only look like ikehub's (its name prefix, its route protocol).

use super::interface::LinkInfo;
use super::owned;
use super::route::Route;
use crate::kernel::record::Record;

/// Objects shown by name in the log line about those left alone; the rest are counted.
pub(super) const UNPROVEN_SHOWN: usize = 5;

/// What to do with dumped objects of one kind.
#[derive(Debug)]
pub(super) struct Cleanup<T> {
    /// (record key, object) of each object proven ours.
    pub deletes: Vec<(String, T)>,
    /// Objects that look like ikehub's but that the record does not prove ours.
    pub unproven: Vec<String>,
}

/// Sorts ikehub-looking xfrm interfaces (see `LinkDataplane::xfrm_interfaces`).
pub(super) fn interfaces(links: Vec<LinkInfo>, record: &Record) -> Cleanup<LinkInfo> {
    let mut cleanup = Cleanup {
        deletes: Vec::new(),
        unproven: Vec::new(),
    };
    for link in links {
        let key = owned::interface_key(&link.name);
        let proof = link.if_id.map(owned::interface_proof);
        if proof.is_some() && record.proof(&key) == proof.as_deref() {
            cleanup.deletes.push((key, link));
        } else {
            cleanup.unproven.push(format!(
                "interface {} if_id {}",
                link.name,
                link.if_id.map_or("?".to_owned(), |id| id.to_string())
            ));
        }
    }
    cleanup
}

/// Sorts routes with ikehub's protocol.
pub(super) fn routes(routes: Vec<Route>, record: &Record) -> Cleanup<Route> {
    let mut cleanup = Cleanup {
        deletes: Vec::new(),
        unproven: Vec::new(),
    };
    for route in routes {
        let key = owned::route_key(&route);
        if record.proof(&key) == Some(owned::route_proof(&route).as_str()) {
            cleanup.deletes.push((key, route));
        } else {
            cleanup.unproven.push(route.to_string());
        }
    }
    cleanup
}

/// Logs, at info, the objects left alone: how many, and the first few.
pub(super) fn log_unproven(unproven: &[String]) {
    if unproven.is_empty() {
        return;
    }
    let shown: Vec<&str> = unproven
        .iter()
        .take(UNPROVEN_SHOWN)
        .map(String::as_str)
        .collect();
    tracing::info!(
        "left alone {} hub object(s) with ikehub's name prefix or route protocol that this \
         instance's record does not list (another instance's or another program's): {}{}",
        unproven.len(),
        shown.join(", "),
        if unproven.len() > shown.len() {
            ", ..."
        } else {
            ""
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(index: u32, name: &str, if_id: u32) -> LinkInfo {
        LinkInfo {
            index,
            name: name.to_owned(),
            up: true,
            mtu: Some(1400),
            kind: Some("xfrm".to_owned()),
            if_id: Some(if_id),
            underlying: None,
        }
    }

    fn route(destination: &str, interface: u32) -> Route {
        Route {
            destination: destination.parse().unwrap(),
            interface,
            table: 7220,
            metric: 0,
        }
    }

    /// The record of a run that made `ikh-a` (if_id 10, ifindex 5) with a route through it
    /// and an unreachable route.
    fn record() -> Record {
        let mut record = Record::in_memory();
        record.claim(owned::interface_key("ikh-a"), owned::interface_proof(10));
        for route in [route("10.2.0.0/24", 5), route("10.3.0.0/24", 0)] {
            record.claim(owned::route_key(&route), owned::route_proof(&route));
        }
        record
    }

    #[test]
    fn only_recorded_interfaces_with_their_if_id_are_selected() {
        let cleanup = interfaces(
            vec![
                link(5, "ikh-a", 10),
                // Same name, another if_id: made by someone else since.
                link(6, "ikh-b", 11),
                link(7, "ikh-other", 12),
            ],
            &record(),
        );
        let chosen: Vec<&str> = cleanup.deletes.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(chosen, vec!["link ikh-a"]);
        assert_eq!(
            cleanup.unproven,
            vec!["interface ikh-b if_id 11", "interface ikh-other if_id 12"]
        );
        let moved = interfaces(vec![link(5, "ikh-a", 99)], &record());
        assert!(moved.deletes.is_empty());
        assert_eq!(moved.unproven.len(), 1);
    }

    #[test]
    fn only_recorded_routes_through_their_interface_are_selected() {
        let cleanup = routes(
            vec![
                route("10.2.0.0/24", 5),
                // The recorded destination through another interface: not ours.
                route("10.2.0.0/24", 8),
                route("10.3.0.0/24", 0),
                route("10.4.0.0/24", 5),
            ],
            &record(),
        );
        let chosen: Vec<String> = cleanup.deletes.iter().map(|(_, r)| r.to_string()).collect();
        assert_eq!(
            chosen,
            vec![
                "route 10.2.0.0/24 dev #5 table 7220 metric 0",
                "route unreachable 10.3.0.0/24 table 7220 metric 0"
            ]
        );
        assert_eq!(cleanup.unproven.len(), 2);
    }

    #[test]
    fn without_a_record_nothing_is_selected() {
        let empty = Record::in_memory();
        let links = interfaces(vec![link(5, "ikh-a", 10)], &empty);
        let routes = routes(vec![route("10.2.0.0/24", 5)], &empty);
        assert!(links.deletes.is_empty() && routes.deletes.is_empty());
        assert_eq!(links.unproven.len() + routes.unproven.len(), 2);
    }
}
