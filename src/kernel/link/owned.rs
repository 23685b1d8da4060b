//! How hub links are named in the run's [`Record`](crate::kernel::record::Record), as
//! `xfrm::owned` names SAs and policies: an xfrm interface by its name with its if_id as the
//! proof, a route by (destination, table, metric) with ikehub's protocol and its interface
//! (ifindex, or `unreachable`) as the proof, a rule by (family, priority) with its table and
//! protocol. A dumped object is ours only when the kernel holds it under a recorded key with
//! the recorded proof: an interface another instance made under the same name has another
//! if_id, a route through another instance's interface another ifindex.

use ipnet::IpNet;

use super::route::{Route, RTPROT_IKEHUB};
use super::rule::Family;

pub(super) fn interface_key(name: &str) -> String {
    format!("link {name}")
}

pub(super) fn interface_proof(if_id: u32) -> String {
    format!("if_id {if_id}")
}

/// IPv6 routes added with metric 0 get the kernel's default metric, and are dumped with it.
const IP6_RT_PRIO_USER: u32 = 1024;

pub(super) fn route_key(route: &Route) -> String {
    let metric = match route.destination {
        IpNet::V6(_) if route.metric == 0 => IP6_RT_PRIO_USER,
        _ => route.metric,
    };
    format!(
        "route {} table {} metric {metric}",
        route.destination.trunc(),
        route.table,
    )
}

pub(super) fn route_proof(route: &Route) -> String {
    if route.is_unreachable() {
        format!("proto {RTPROT_IKEHUB} unreachable")
    } else {
        format!("proto {RTPROT_IKEHUB} dev #{}", route.interface)
    }
}

/// The proof of every route through the interface `index`: the kernel removes those with it.
pub(super) fn through(index: u32) -> String {
    format!("proto {RTPROT_IKEHUB} dev #{index}")
}

pub(super) fn rule_key(family: Family, priority: u32) -> String {
    let family = match family {
        Family::V4 => "inet",
        Family::V6 => "inet6",
    };
    format!("rule {family} priority {priority}")
}

pub(super) fn rule_proof(table: u32) -> String {
    format!("table {table} proto {RTPROT_IKEHUB}")
}

/// The table a rule's proof names.
pub(super) fn rule_table(proof: &str) -> Option<u32> {
    let rest = proof.strip_prefix("table ")?;
    let (table, protocol) = rest.split_once(' ')?;
    (protocol == format!("proto {RTPROT_IKEHUB}")).then_some(())?;
    table.parse().ok()
}

/// Checks an entry read back from a record: one of the three kinds above.
pub(super) fn check(key: &str, proof: &str) -> Result<(), String> {
    let number = |word: &str| word.parse::<u32>().is_ok();
    let protocol = RTPROT_IKEHUB.to_string();
    let key_words: Vec<&str> = key.split(' ').collect();
    let proof_words: Vec<&str> = proof.split(' ').collect();
    let known = match (key_words.as_slice(), proof_words.as_slice()) {
        (["link", name], ["if_id", id]) => super::interface::check_name(name).is_ok() && number(id),
        (["route", destination, "table", table, "metric", metric], ["proto", p, rest @ ..]) => {
            destination.parse::<IpNet>().is_ok()
                && number(table)
                && number(metric)
                && *p == protocol
                && match rest {
                    ["unreachable"] => true,
                    ["dev", index] => index.strip_prefix('#').is_some_and(number),
                    _ => false,
                }
        }
        (["rule", family, "priority", priority], ["table", table, "proto", p]) => {
            matches!(*family, "inet" | "inet6")
                && number(priority)
                && number(table)
                && *p == protocol
        }
        _ => false,
    };
    if known {
        Ok(())
    } else {
        Err(format!(
            "{key:?} with {proof:?} names no interface, route or rule of a hub"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_entries_pass_the_check() {
        let through = Route {
            destination: "10.2.0.9/24".parse().unwrap(),
            interface: 7,
            table: 7220,
            metric: 100,
        };
        let unreachable = Route::unreachable("fd00:2::/64".parse().unwrap(), 254, 0);
        assert_eq!(
            route_key(&through),
            "route 10.2.0.0/24 table 7220 metric 100"
        );
        assert_eq!(route_proof(&through), "proto 226 dev #7");
        assert_eq!(route_proof(&through), super::through(7));
        assert_eq!(
            route_key(&unreachable),
            route_key(&Route {
                metric: 1024,
                ..unreachable
            })
        );
        assert_eq!(rule_table(&rule_proof(7221)), Some(7221));
        assert_eq!(rule_table("table 7221 proto 4"), None);
        for (key, proof) in [
            (interface_key("ikh-shanghai"), interface_proof(42)),
            (route_key(&through), route_proof(&through)),
            (route_key(&unreachable), route_proof(&unreachable)),
            (rule_key(Family::V4, 7220), rule_proof(7220)),
            (rule_key(Family::V6, 7220), rule_proof(7221)),
        ] {
            assert_eq!(check(&key, &proof), Ok(()), "{key} {proof}");
        }
    }

    #[test]
    fn other_entries_are_refused() {
        for (key, proof) in [
            ("link ikh-a b", "if_id 1"),
            ("link ikh-a", "if_id x"),
            ("link ikh-a", "reqid 0x1"),
            ("route 10.0.0.0/8 table 1 metric 0", "proto 4 dev #1"),
            ("route 10.0.0.0/8 table 1 metric 0", "proto 226 dev 1"),
            ("route 10.0.0.0/8 table 1", "proto 226 unreachable"),
            ("rule inet priority 7220", "table 7220"),
            ("rule ipx priority 7220", "table 7220 proto 226"),
            ("sa 192.0.2.1 spi 0x1", "reqid 0x7"),
        ] {
            assert!(check(key, proof).is_err(), "{key} {proof}");
        }
    }
}
