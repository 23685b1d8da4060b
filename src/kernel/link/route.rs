//! Route messages (`struct rtmsg` plus RTA_* attributes, include/uapi/linux/rtnetlink.h):
//! `DEST dev IFACE table T metric M proto ikehub` and `unreachable DEST table T metric M proto
//! ikehub`, IPv4 and IPv6, and reading routes back.
//!
//! Every route ikehub installs carries [`RTPROT_IKEHUB`] as its protocol, so routes are
//! recognised as ours in any table (the main table too, for published routes) and deletes
//! never touch a route someone else installed with the same destination.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use zeroize::Zeroizing;

use super::attr;
use super::interface::{NLM_F_CREATE, NLM_F_EXCL};
use crate::kernel::netlink::{attributes, u32_at, Request, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

pub(super) const RTM_NEWROUTE: u16 = 24;
pub(super) const RTM_DELROUTE: u16 = 25;
pub(super) const RTM_GETROUTE: u16 = 26;

/// `NLM_F_REPLACE`: replace the route of the same destination and metric.
const NLM_F_REPLACE: u16 = 0x100;

/// The routing table ikehub owns. strongSwan uses 220; 7220 stays clear of it and of the
/// reserved 253-255 (default, main, local).
pub const OWNED_TABLE: u32 = 7220;
/// The kernel's main table (RT_TABLE_MAIN), where published routes go.
pub const MAIN_TABLE: u32 = 254;
/// Route protocol of ikehub's routes (`proto 226` in `ip route`): not one of the kernel's
/// RTPROT_* values (which end at 192, RTPROT_EIGRP) nor of iproute2's rt_protos list.
pub const RTPROT_IKEHUB: u8 = 226;

/// `sizeof(struct rtmsg)`.
pub(super) const RTMSG_LEN: usize = 12;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_NOWHERE: u8 = 255;
const RTN_UNICAST: u8 = 1;
/// RTN_UNREACHABLE: the kernel refuses matching packets (ICMP unreachable, EHOSTUNREACH).
const RTN_UNREACHABLE: u8 = 7;
/// RT_TABLE_UNSPEC in `rtm_table`: the table is in RTA_TABLE (needed above 255).
const RT_TABLE_UNSPEC: u8 = 0;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;

/// One route: traffic to `destination` leaves by the interface with ifindex `interface`, or,
/// with `interface` 0 (no link has ifindex 0), is refused: an `unreachable` route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    pub destination: IpNet,
    /// ifindex of the output interface; [`UNREACHABLE`] for an `unreachable` route.
    pub interface: u32,
    pub table: u32,
    /// Lower wins among routes of the same destination (active below standby).
    pub metric: u32,
}

/// The `interface` of an `unreachable` route.
pub const UNREACHABLE: u32 = 0;

impl Route {
    /// `unreachable DESTINATION table TABLE metric METRIC`.
    pub fn unreachable(destination: IpNet, table: u32, metric: u32) -> Route {
        Route {
            destination,
            interface: UNREACHABLE,
            table,
            metric,
        }
    }

    pub fn is_unreachable(&self) -> bool {
        self.interface == UNREACHABLE
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_unreachable() {
            return write!(
                f,
                "route unreachable {} table {} metric {}",
                self.destination, self.table, self.metric
            );
        }
        write!(
            f,
            "route {} dev #{} table {} metric {}",
            self.destination, self.interface, self.table, self.metric
        )
    }
}

/// How a route is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    /// Fails with EEXIST when the same destination and metric is in the table.
    Add,
    /// Adds, or replaces the route of the same destination and metric.
    Replace,
}

fn rtmsg(route: &Route, scope: u8) -> Vec<u8> {
    let (kind, scope) = if route.is_unreachable() {
        // iproute2 leaves an unreachable route at universe scope; on delete, any scope.
        let scope = if scope == RT_SCOPE_NOWHERE {
            scope
        } else {
            RT_SCOPE_UNIVERSE
        };
        (RTN_UNREACHABLE, scope)
    } else {
        (RTN_UNICAST, scope)
    };
    let destination = route.destination.trunc();
    let family = match destination {
        IpNet::V4(_) => AF_INET,
        IpNet::V6(_) => AF_INET6,
    };
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(&[
        family,
        destination.prefix_len(),
        0, // source prefix length
        0, // tos
        u8::try_from(route.table)
            .ok()
            .filter(|&t| t != RT_TABLE_UNSPEC)
            .unwrap_or(RT_TABLE_UNSPEC),
        RTPROT_IKEHUB,
        scope,
        kind,
    ]);
    buf.extend_from_slice(&0u32.to_ne_bytes()); // rtm_flags
    match destination.network() {
        IpAddr::V4(a) => attr::put(&mut buf, RTA_DST, &a.octets()),
        IpAddr::V6(a) => attr::put(&mut buf, RTA_DST, &a.octets()),
    }
    if !route.is_unreachable() {
        attr::put_u32(&mut buf, RTA_OIF, route.interface);
    }
    attr::put_u32(&mut buf, RTA_PRIORITY, route.metric);
    attr::put_u32(&mut buf, RTA_TABLE, route.table);
    buf
}

/// RTM_NEWROUTE.
pub(super) fn write(route: &Route, how: Write) -> Request {
    let flags = NLM_F_REQUEST
        | NLM_F_ACK
        | NLM_F_CREATE
        | match how {
            Write::Add => NLM_F_EXCL,
            Write::Replace => NLM_F_REPLACE,
        };
    Request {
        msg_type: RTM_NEWROUTE,
        flags,
        // No next hop: the interface is point-to-point (an xfrm interface has no ARP).
        payload: Zeroizing::new(rtmsg(route, RT_SCOPE_LINK)),
    }
}

/// RTM_DELROUTE matching destination, interface, table, metric and ikehub's protocol.
pub(super) fn delete(route: &Route) -> Request {
    Request {
        msg_type: RTM_DELROUTE,
        flags: NLM_F_REQUEST | NLM_F_ACK,
        // RT_SCOPE_NOWHERE on delete: match a route of any scope.
        payload: Zeroizing::new(rtmsg(route, RT_SCOPE_NOWHERE)),
    }
}

/// RTM_GETROUTE dump of every table, both families.
pub(super) fn dump() -> Request {
    Request {
        msg_type: RTM_GETROUTE,
        flags: NLM_F_REQUEST | NLM_F_DUMP,
        // AF_UNSPEC: every family.
        payload: Zeroizing::new(vec![0u8; RTMSG_LEN]),
    }
}

/// RTM_GETROUTE for one address: the kernel answers with the route it would use to send
/// there (`ip route get ADDRESS`).
pub(super) fn get(destination: IpAddr) -> Request {
    let (family, prefix) = match destination {
        IpAddr::V4(_) => (AF_INET, 32),
        IpAddr::V6(_) => (AF_INET6, 128),
    };
    let mut buf = vec![family, prefix, 0, 0, 0, 0, 0, 0];
    buf.extend_from_slice(&0u32.to_ne_bytes());
    match destination {
        IpAddr::V4(a) => attr::put(&mut buf, RTA_DST, &a.octets()),
        IpAddr::V6(a) => attr::put(&mut buf, RTA_DST, &a.octets()),
    }
    Request {
        msg_type: RTM_GETROUTE,
        flags: NLM_F_REQUEST | NLM_F_ACK,
        payload: Zeroizing::new(buf),
    }
}

/// The output interface of a route message, whatever its type.
pub(super) fn output_interface(payload: &[u8]) -> Option<u32> {
    attributes(payload.get(RTMSG_LEN..)?)
        .find(|(kind, _)| *kind == RTA_OIF)
        .and_then(|(_, value)| u32_at(value, 0))
        .filter(|&index| index != UNREACHABLE)
}

/// A dumped route: the route and its protocol. `None` for routes this module cannot
/// describe (a unicast route without output interface, multipath, other types, malformed).
pub(super) fn parse(payload: &[u8]) -> Option<(Route, u8)> {
    let header = payload.get(..RTMSG_LEN)?;
    let (family, dst_len, table, protocol, kind) = (
        *header.first()?,
        *header.get(1)?,
        *header.get(4)?,
        *header.get(5)?,
        *header.get(7)?,
    );
    let mut destination: Option<IpAddr> = None;
    let mut interface = None;
    let mut metric = 0;
    let mut table = u32::from(table);
    for (kind, value) in attributes(payload.get(RTMSG_LEN..)?) {
        match kind {
            RTA_DST => {
                destination = match family {
                    AF_INET => <[u8; 4]>::try_from(value)
                        .ok()
                        .map(|a| IpAddr::V4(Ipv4Addr::from(a))),
                    AF_INET6 => <[u8; 16]>::try_from(value)
                        .ok()
                        .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
                    _ => None,
                }
            }
            RTA_OIF => interface = u32_at(value, 0),
            RTA_PRIORITY => metric = u32_at(value, 0).unwrap_or(0),
            RTA_TABLE => table = u32_at(value, 0).unwrap_or(table),
            _ => {}
        }
    }
    let destination = match (destination, family) {
        (Some(address), _) => address,
        // A default route has no RTA_DST.
        (None, AF_INET) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, AF_INET6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (None, _) => return None,
    };
    let destination = IpNet::new(destination, dst_len).ok()?;
    let interface = match kind {
        RTN_UNICAST => interface.filter(|&i| i != UNREACHABLE)?,
        RTN_UNREACHABLE => UNREACHABLE,
        _ => return None,
    };
    Some((
        Route {
            destination,
            interface,
            table,
            metric,
        },
        protocol,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dest: &str, table: u32) -> Route {
        Route {
            destination: dest.parse().unwrap(),
            interface: 12,
            table,
            metric: 100,
        }
    }

    fn attrs(payload: &[u8]) -> Vec<(u16, Vec<u8>)> {
        attributes(&payload[RTMSG_LEN..])
            .map(|(k, v)| (k, v.to_vec()))
            .collect()
    }

    #[test]
    fn ipv4_route_in_the_owned_table() {
        let request = write(&route("10.2.0.0/24", OWNED_TABLE), Write::Add);
        assert_eq!(request.msg_type, RTM_NEWROUTE);
        assert_eq!(request.flags, 0x1 | 0x4 | 0x400 | 0x200);
        let p = &request.payload;
        // family, dst_len, src_len, tos, table (in RTA_TABLE above 255), protocol, scope, type
        assert_eq!(&p[..8], &[2, 24, 0, 0, 0, 226, 253, 1]);
        assert_eq!(
            attrs(p),
            vec![
                (RTA_DST, vec![10, 2, 0, 0]),
                (RTA_OIF, 12u32.to_ne_bytes().to_vec()),
                (RTA_PRIORITY, 100u32.to_ne_bytes().to_vec()),
                (RTA_TABLE, 7220u32.to_ne_bytes().to_vec()),
            ]
        );
        assert_eq!(parse(p), Some((route("10.2.0.0/24", OWNED_TABLE), 226)));
    }

    #[test]
    fn ipv6_route_published_in_main() {
        let r = route("fd00:2::/64", MAIN_TABLE);
        let request = write(&r, Write::Replace);
        assert_eq!(request.flags, 0x1 | 0x4 | 0x400 | 0x100);
        let p = &request.payload;
        assert_eq!(&p[..8], &[10, 64, 0, 0, 254, 226, 253, 1]);
        assert_eq!(attrs(p)[0].1.len(), 16);
        assert_eq!(parse(p), Some((r, 226)));
    }

    #[test]
    fn host_bits_are_cleared_and_default_routes_parse() {
        let request = write(&route("10.2.0.77/24", 300), Write::Add);
        assert_eq!(attrs(&request.payload)[0].1, vec![10, 2, 0, 0]);
        // A default route as the kernel dumps it: no RTA_DST.
        let mut p = vec![2, 0, 0, 0, 254, 226, 253, 1, 0, 0, 0, 0];
        attr::put_u32(&mut p, RTA_OIF, 3);
        let (parsed, protocol) = parse(&p).unwrap();
        assert_eq!(parsed.destination, "0.0.0.0/0".parse::<IpNet>().unwrap());
        assert_eq!((parsed.table, parsed.interface, protocol), (254, 3, 226));
    }

    #[test]
    fn delete_matches_any_scope() {
        let request = delete(&route("10.2.0.0/24", OWNED_TABLE));
        assert_eq!(request.msg_type, RTM_DELROUTE);
        assert_eq!(request.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(request.payload[6], RT_SCOPE_NOWHERE);
        assert_eq!(request.payload[5], RTPROT_IKEHUB);
        assert_eq!(dump().payload.len(), RTMSG_LEN);
    }

    #[test]
    fn unreachable_route_has_no_interface() {
        let r = Route::unreachable("10.9.0.0/16".parse().unwrap(), OWNED_TABLE, 4096);
        assert!(r.is_unreachable());
        let request = write(&r, Write::Add);
        assert_eq!(request.msg_type, RTM_NEWROUTE);
        let p = &request.payload;
        // family, dst_len, src_len, tos, table, protocol, scope universe, RTN_UNREACHABLE
        assert_eq!(&p[..8], &[2, 16, 0, 0, 0, 226, 0, 7]);
        assert_eq!(&p[8..12], &[0, 0, 0, 0]);
        assert_eq!(
            attrs(p),
            vec![
                (RTA_DST, vec![10, 9, 0, 0]),
                (RTA_PRIORITY, 4096u32.to_ne_bytes().to_vec()),
                (RTA_TABLE, 7220u32.to_ne_bytes().to_vec()),
            ]
        );
        assert_eq!(parse(p), Some((r, 226)));
        let delete = delete(&r);
        assert_eq!(&delete.payload[5..8], &[226, RT_SCOPE_NOWHERE, 7]);
        assert!(!attrs(&delete.payload).iter().any(|(k, _)| *k == RTA_OIF));
        assert_eq!(
            r.to_string(),
            "route unreachable 10.9.0.0/16 table 7220 metric 4096"
        );
        // Other route types (here RTN_BLACKHOLE) are not described as ours.
        let mut blackhole = p.to_vec();
        blackhole[7] = 6;
        assert_eq!(parse(&blackhole), None);
    }

    #[test]
    fn route_lookup_asks_for_one_address() {
        let request = get("192.0.2.7".parse().unwrap());
        assert_eq!(request.msg_type, RTM_GETROUTE);
        assert_eq!(request.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(&request.payload[..8], &[2, 32, 0, 0, 0, 0, 0, 0]);
        assert_eq!(attrs(&request.payload), vec![(RTA_DST, vec![192, 0, 2, 7])]);
        let v6 = get("2001:db8::1".parse().unwrap());
        assert_eq!(&v6.payload[..2], &[10, 128]);
        // An answer: a local route through interface #1.
        let mut answer = vec![2, 32, 0, 0, 254, 2, 0, 2, 0, 0, 0, 0];
        attr::put_u32(&mut answer, RTA_OIF, 1);
        assert_eq!(output_interface(&answer), Some(1));
        assert_eq!(output_interface(&answer[..11]), None);
        assert_eq!(output_interface(&answer[..12]), None);
    }

    #[test]
    fn parsing_never_panics() {
        let full = write(&route("fd00:2::/64", OWNED_TABLE), Write::Add)
            .payload
            .to_vec();
        for len in 0..full.len() {
            let _ = parse(&full[..len]);
        }
        let mut bad_prefix = full.clone();
        bad_prefix[1] = 200;
        assert_eq!(parse(&bad_prefix), None);
        let mut no_oif = vec![2, 8, 0, 0, 254, 2, 0, 1, 0, 0, 0, 0];
        attr::put(&mut no_oif, RTA_DST, &[10, 0, 0, 0]);
        assert_eq!(parse(&no_oif), None);
    }
}
