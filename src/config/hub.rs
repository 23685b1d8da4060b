//! Hub mode (`gateway.hub = true`): route-based connections, each with its own xfrm interface.
//!
//! Decisions:
//! - A hub connection's local traffic selectors default to "any" (0.0.0.0/0, and ::/0 when it
//!   has IPv6 remote subnets): its policies carry the interface's if_id, so only traffic the
//!   routing table sends into that interface meets them, and routing, not policy, decides
//!   where traffic goes. A peer that insists on narrower selectors narrows them (RFC 7296
//!   2.9); the remote side stays the configured remote subnets, so a site cannot inject
//!   traffic from addresses that are not its own.
//! - The if_id of a connection's interface is a hash of its name: stable across restarts and
//!   reloads without a state file, and the same on every run. Two names with the same hash
//!   are refused by check-config (with 32 bits, a hub of 10,000 connections meets that with a
//!   probability near 1%; renaming either connection resolves it).

use std::collections::HashMap;

use ipnet::IpNet;

use super::error::Diagnostics;
use super::rules::Entries;

/// The if_id of the xfrm interface of the hub connection `name`: 32-bit FNV-1a of the name,
/// never 0 (the kernel refuses if_id 0 for an interface).
pub fn hub_if_id(name: &str) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let hash = name
        .bytes()
        .fold(OFFSET, |h, b| (h ^ u32::from(b)).wrapping_mul(PRIME));
    hash.max(1)
}

/// The default local side of a hub connection: "any" of every family its remote side uses.
pub(crate) fn any_local(remote_subnets: &[IpNet]) -> Vec<IpNet> {
    let mut any = Vec::new();
    if remote_subnets.iter().any(|n| matches!(n, IpNet::V4(_))) {
        any.push(IpNet::V4(Default::default()));
    }
    if remote_subnets.iter().any(|n| matches!(n, IpNet::V6(_))) {
        any.push(IpNet::V6(Default::default()));
    }
    any
}

/// Refuses two hub connections whose interfaces would get the same if_id.
pub(crate) fn check(entries: &Entries<'_>, d: &mut Diagnostics<'_>) {
    if !entries.gateway.is_some_and(|g| g.hub) {
        return;
    }
    let mut seen: HashMap<u32, &str> = HashMap::new();
    for raw in &entries.raw.connections {
        let Some(name) = &raw.name else { continue };
        let name = name.get_ref().as_str();
        let if_id = hub_if_id(name);
        match seen.get(&if_id) {
            Some(first) if *first != name => d.error(
                Some(&raw.span),
                format!("{}.name", raw.label),
                format!(
                    "the xfrm interface if_id of connection \"{name}\" ({if_id:#x}, a hash of \
                     the name) equals that of connection \"{first}\"; rename one of them"
                ),
            ),
            _ => {
                seen.insert(if_id, name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_ids_are_stable_distinct_and_never_zero() {
        // FNV-1a 32 reference values: "" is the offset basis, "a" = 0xe40c292c.
        assert_eq!(hub_if_id(""), 0x811c_9dc5);
        assert_eq!(hub_if_id("a"), 0xe40c_292c);
        assert_ne!(hub_if_id("shanghai"), hub_if_id("hangzhou"));
        let ids: std::collections::HashSet<u32> = (0..10_000)
            .map(|n| hub_if_id(&format!("spoke-{n}")))
            .collect();
        assert!(ids.len() >= 9_990, "{} distinct of 10000", ids.len());
        assert!(!ids.contains(&0));
    }

    #[test]
    fn any_local_follows_the_remote_families() {
        let v4: IpNet = "10.10.10.0/24".parse().expect("net");
        let v6: IpNet = "2001:db8:10::/48".parse().expect("net");
        let show = |nets: Vec<IpNet>| nets.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(show(any_local(&[v4])), ["0.0.0.0/0"]);
        assert_eq!(show(any_local(&[v6])), ["::/0"]);
        assert_eq!(show(any_local(&[v6, v4])), ["0.0.0.0/0", "::/0"]);
    }
}
