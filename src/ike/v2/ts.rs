//! IKEv2 traffic selectors: conversion between subnets, TS ranges and the engine's
//! [`Selector`]s, and narrowing (RFC 7296 2.9).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::wire::ikev2::{TrafficSelector, TsType};

use super::super::selector::Selector;

/// An address range of one family, as u128 bounds for arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    v6: bool,
    start: u128,
    end: u128,
}

fn to_u128(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

fn from_u128(v6: bool, x: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(x.into())
    } else {
        // Callers only pass values derived from IPv4 ranges.
        IpAddr::V4(u32::try_from(x).unwrap_or(u32::MAX).into())
    }
}

fn range_of_ts(ts: &TrafficSelector) -> Option<Range> {
    let (v6a, start) = to_u128(ts.start);
    let (v6b, end) = to_u128(ts.end);
    (v6a == v6b && start <= end).then_some(Range {
        v6: v6a,
        start,
        end,
    })
}

fn range_of_net(net: &IpNet) -> Range {
    let (v6, start) = to_u128(net.network());
    let (_, end) = to_u128(net.broadcast());
    Range { v6, start, end }
}

/// A selector covering a whole subnet, any protocol and port.
pub fn from_subnet(net: &IpNet) -> TrafficSelector {
    let ts_type = if matches!(net, IpNet::V6(_)) {
        TsType::Ipv6AddrRange
    } else {
        TsType::Ipv4AddrRange
    };
    TrafficSelector {
        ts_type,
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: net.network(),
        end: net.broadcast(),
    }
}

pub fn from_subnets(nets: &[IpNet]) -> Vec<TrafficSelector> {
    nets.iter().map(from_subnet).collect()
}

/// The engine's selectors for negotiated TS payloads: each range as its prefixes, protocol
/// and ports kept.
pub fn to_selectors(list: &[TrafficSelector]) -> Vec<Selector> {
    let mut out = Vec::with_capacity(list.len());
    for ts in list {
        let selector = |net| Selector {
            net,
            protocol: ts.ip_protocol,
            start_port: ts.start_port,
            end_port: ts.end_port,
        };
        out.extend(
            to_subnets(std::slice::from_ref(ts))
                .into_iter()
                .map(selector),
        );
    }
    out
}

/// TS payload entries for the engine's selectors (a rekey proposes the old CHILD_SA's).
pub fn from_selectors(list: &[Selector]) -> Vec<TrafficSelector> {
    list.iter()
        .map(|s| TrafficSelector {
            ip_protocol: s.protocol,
            start_port: s.start_port,
            end_port: s.end_port,
            ..from_subnet(&s.net)
        })
        .collect()
}

/// Narrow the peer's proposed selectors to what our configuration allows: the intersection
/// of each proposed range with each configured subnet, protocol and ports kept from the
/// proposal. Empty when nothing is acceptable (then TS_UNACCEPTABLE, RFC 7296 2.9).
pub fn narrow(proposed: &[TrafficSelector], allowed: &[IpNet]) -> Vec<TrafficSelector> {
    let mut out = Vec::new();
    for ts in proposed {
        let Some(p) = range_of_ts(ts) else { continue };
        for net in allowed {
            let a = range_of_net(net);
            if a.v6 != p.v6 {
                continue;
            }
            let start = p.start.max(a.start);
            let end = p.end.min(a.end);
            if start <= end {
                let narrowed = TrafficSelector {
                    start: from_u128(p.v6, start),
                    end: from_u128(p.v6, end),
                    ..ts.clone()
                };
                if !out.contains(&narrowed) {
                    out.push(narrowed);
                }
            }
        }
    }
    out
}

/// Whether [`narrow`] would keep anything, without building its answer: a responder
/// trying many connections' subnets for one proposal (a hub with a connection per spoke)
/// allocates nothing per connection.
pub fn overlaps(proposed: &[TrafficSelector], allowed: &[IpNet]) -> bool {
    proposed.iter().filter_map(range_of_ts).any(|p| {
        allowed
            .iter()
            .map(range_of_net)
            .any(|a| a.v6 == p.v6 && p.start.max(a.start) <= p.end.min(a.end))
    })
}

/// Whether every selector the responder returned lies within what we proposed (the
/// initiator must not accept a widening).
pub fn within(answer: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    answer.iter().all(|a| {
        range_of_ts(a).is_some_and(|ra| {
            proposed
                .iter()
                .filter_map(range_of_ts)
                .any(|rp| rp.v6 == ra.v6 && rp.start <= ra.start && ra.end <= rp.end)
        })
    })
}

/// The smallest set of prefixes covering exactly the selectors' address ranges; the kernel's
/// policies take prefixes.
pub fn to_subnets(selectors: &[TrafficSelector]) -> Vec<IpNet> {
    let mut out = Vec::new();
    for r in selectors.iter().filter_map(range_of_ts) {
        let bits: u32 = if r.v6 { 128 } else { 32 };
        let mut start = r.start;
        loop {
            // Largest aligned block starting at `start` that does not pass `end`.
            let mut size_log = if start == 0 {
                bits
            } else {
                start.trailing_zeros().min(bits)
            };
            while size_log > 0 {
                let last = if size_log >= 128 {
                    u128::MAX
                } else {
                    start.saturating_add((1u128 << size_log) - 1)
                };
                if last <= r.end {
                    break;
                }
                size_log -= 1;
            }
            let prefix_len = u8::try_from(bits - size_log).unwrap_or(0);
            if let Ok(net) = IpNet::new(from_u128(r.v6, start), prefix_len) {
                out.push(net);
            }
            let last = if size_log >= 128 {
                u128::MAX
            } else {
                start + ((1u128 << size_log) - 1)
            };
            if last >= r.end {
                break;
            }
            start = last + 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn narrowing_intersects_with_configuration() {
        let proposed = from_subnets(&[net("10.0.0.0/8")]);
        let got = narrow(&proposed, &[net("10.1.0.0/16"), net("192.168.0.0/24")]);
        assert_eq!(to_subnets(&got), vec![net("10.1.0.0/16")]);
    }

    #[test]
    fn overlapping_is_narrowing_to_something() {
        let allowed = [net("10.1.0.0/16"), net("192.168.0.0/24"), net("fd00::/64")];
        for proposed in [
            "10.0.0.0/8",
            "10.1.2.0/24",
            "10.2.0.0/16",
            "192.168.0.128/25",
            "192.168.1.0/24",
            "fd00::/16",
            "fd01::/64",
            "0.0.0.0/0",
        ] {
            let proposed = from_subnets(&[net(proposed)]);
            assert_eq!(
                overlaps(&proposed, &allowed),
                !narrow(&proposed, &allowed).is_empty(),
                "{proposed:?}"
            );
        }
        assert!(!overlaps(&[], &allowed));
        assert!(!overlaps(&from_subnets(&[net("10.1.0.0/16")]), &[]));
    }

    #[test]
    fn narrowing_of_disjoint_ranges_is_empty() {
        let proposed = from_subnets(&[net("10.0.0.0/24")]);
        assert!(narrow(&proposed, &[net("10.0.1.0/24")]).is_empty());
        assert!(narrow(&proposed, &[net("fd00::/64")]).is_empty());
    }

    #[test]
    fn ranges_split_into_prefixes() {
        let ts = TrafficSelector {
            ts_type: TsType::Ipv4AddrRange,
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: "10.0.0.1".parse().unwrap(),
            end: "10.0.0.6".parse().unwrap(),
        };
        let nets: Vec<String> = to_subnets(&[ts]).iter().map(|n| n.to_string()).collect();
        assert_eq!(
            nets,
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
    }

    #[test]
    fn whole_address_space_is_one_prefix() {
        assert_eq!(
            to_subnets(&from_subnets(&[net("0.0.0.0/0")])),
            vec![net("0.0.0.0/0")]
        );
        assert_eq!(to_subnets(&from_subnets(&[net("::/0")])), vec![net("::/0")]);
    }

    #[test]
    fn selectors_keep_protocol_and_ports_and_split_ranges() {
        let ts = TrafficSelector {
            ts_type: TsType::Ipv4AddrRange,
            ip_protocol: 6,
            start_port: 443,
            end_port: 443,
            start: "10.0.0.0".parse().unwrap(),
            end: "10.0.2.255".parse().unwrap(),
        };
        let selectors = to_selectors(std::slice::from_ref(&ts));
        let nets: Vec<String> = selectors.iter().map(|s| s.net.to_string()).collect();
        assert_eq!(nets, ["10.0.0.0/23", "10.0.2.0/24"]);
        assert!(selectors
            .iter()
            .all(|s| (s.protocol, s.start_port, s.end_port) == (6, 443, 443)));
        let prefix = from_subnets(&[net("10.1.0.0/16")]);
        assert_eq!(
            from_selectors(&to_selectors(&prefix)),
            prefix,
            "a prefix round-trips"
        );
    }

    #[test]
    fn selectors_are_the_split_prefixes_with_protocol_and_ports() {
        let ts = |start: &str, end: &str| TrafficSelector {
            ts_type: if start.contains(':') {
                TsType::Ipv6AddrRange
            } else {
                TsType::Ipv4AddrRange
            },
            ip_protocol: 6,
            start_port: 443,
            end_port: 443,
            start: start.parse().expect("start"),
            end: end.parse().expect("end"),
        };
        let cases = [
            ts("10.1.2.0", "10.1.2.255"),
            ts("0.0.0.0", "255.255.255.255"),
            ts("192.0.2.7", "192.0.2.7"),
            ts("10.0.0.0", "10.0.2.255"),
            ts("10.0.0.1", "10.0.0.4"),
            ts("10.0.0.128", "10.0.1.127"),
            ts("10.0.0.9", "10.0.0.1"),
            ts("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ts("2001:db8::", "2001:db8::ffff:ffff:ffff:ffff"),
            ts("2001:db8::1", "2001:db8::1"),
            ts("2001:db8::1", "2001:db8::3"),
            ts("10.0.0.0", "2001:db8::1"),
        ];
        for case in &cases {
            let expected: Vec<Selector> = to_subnets(std::slice::from_ref(case))
                .into_iter()
                .map(|net| Selector {
                    net,
                    protocol: 6,
                    start_port: 443,
                    end_port: 443,
                })
                .collect();
            assert_eq!(
                to_selectors(std::slice::from_ref(case)),
                expected,
                "{case:?}"
            );
        }
        let one: Vec<String> = to_selectors(&cases[..1])
            .iter()
            .map(|s| s.net.to_string())
            .collect();
        assert_eq!(one, ["10.1.2.0/24"]);
        assert!(to_selectors(&cases[3..4]).len() > 1);
        assert_eq!(to_selectors(&cases[..2]).len(), 2);
    }

    #[test]
    fn widening_is_refused() {
        let proposed = from_subnets(&[net("10.1.0.0/16")]);
        assert!(within(&from_subnets(&[net("10.1.2.0/24")]), &proposed));
        assert!(!within(&from_subnets(&[net("10.0.0.0/8")]), &proposed));
    }
}
