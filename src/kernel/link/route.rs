//! Route messages (`ip route`), built with netlink-packet-route's types: `DEST dev IFACE table
//! T metric M proto ikehub` and `unreachable DEST table T metric M proto ikehub`, IPv4 and
//! IPv6, and reading routes back from the kernel's answers.
//!
//! Every route ikehub installs carries [`RTPROT_IKEHUB`] as its protocol, so routes are
//! recognised as ours in any table (the main table too, for published routes) and deletes
//! never touch a route someone else installed with the same destination.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::message;
use crate::kernel::netlink::{Reply, Request};

/// The routing table ikehub owns. strongSwan uses 220; 7220 stays clear of it and of the
/// reserved 253-255 (default, main, local).
pub const OWNED_TABLE: u32 = 7220;
/// The kernel's main table (RT_TABLE_MAIN), where published routes go.
pub const MAIN_TABLE: u32 = 254;
/// Route protocol of ikehub's routes (`proto 226` in `ip route`): not one of the kernel's
/// RTPROT_* values (which end at 192, RTPROT_EIGRP) nor of iproute2's rt_protos list.
pub const RTPROT_IKEHUB: u8 = 226;

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

fn family(address: IpAddr) -> AddressFamily {
    match address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

fn message(route: &Route, scope: RouteScope) -> RouteMessage {
    let destination = route.destination.trunc();
    let mut message = RouteMessage::default();
    let header = &mut message.header;
    header.address_family = family(destination.addr());
    header.destination_prefix_length = destination.prefix_len();
    // Tables above 255 are only in RTA_TABLE; rtm_table then says RT_TABLE_UNSPEC.
    header.table = u8::try_from(route.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    header.protocol = RouteProtocol::from(RTPROT_IKEHUB);
    if route.is_unreachable() {
        // iproute2 leaves an unreachable route at universe scope; on delete, any scope.
        header.kind = RouteType::Unreachable;
        header.scope = match scope {
            RouteScope::NoWhere => scope,
            _ => RouteScope::Universe,
        };
    } else {
        header.kind = RouteType::Unicast;
        header.scope = scope;
    }
    message
        .attributes
        .push(RouteAttribute::Destination(destination.network().into()));
    if !route.is_unreachable() {
        message
            .attributes
            .push(RouteAttribute::Oif(route.interface));
    }
    message.attributes.extend([
        RouteAttribute::Priority(route.metric),
        RouteAttribute::Table(route.table),
    ]);
    message
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
    // No next hop: the interface is point-to-point (an xfrm interface has no ARP).
    message::request(
        RouteNetlinkMessage::NewRoute(message(route, RouteScope::Link)),
        flags,
    )
}

/// RTM_DELROUTE matching destination, interface, table, metric and ikehub's protocol.
pub(super) fn delete(route: &Route) -> Request {
    // RT_SCOPE_NOWHERE on delete: match a route of any scope.
    message::acked(RouteNetlinkMessage::DelRoute(message(
        route,
        RouteScope::NoWhere,
    )))
}

/// RTM_GETROUTE dump of every table, both families (AF_UNSPEC).
pub(super) fn dump() -> Request {
    message::dump(RouteNetlinkMessage::GetRoute(RouteMessage::default()))
}

/// RTM_GETROUTE for one address: the kernel answers with the route it would use to send
/// there (`ip route get ADDRESS`).
pub(super) fn get(destination: IpAddr) -> Request {
    let mut message = RouteMessage::default();
    message.header.address_family = family(destination);
    message.header.destination_prefix_length = match destination {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    message
        .attributes
        .push(RouteAttribute::Destination(destination.into()));
    message::acked(RouteNetlinkMessage::GetRoute(message))
}

fn new_route(message: RouteNetlinkMessage) -> Option<RouteMessage> {
    match message {
        RouteNetlinkMessage::NewRoute(route) => Some(route),
        _ => None,
    }
}

/// The routes among the kernel's answers (RTM_NEWROUTE), each decoded or with the reason it
/// could not be.
pub(super) fn routes(replies: &[Reply]) -> impl Iterator<Item = Result<RouteMessage, String>> + '_ {
    message::answers(replies, new_route)
}

/// The output interface of a route message, whatever its type.
pub(super) fn output_interface(message: &RouteMessage) -> Option<u32> {
    message
        .attributes
        .iter()
        .find_map(|attribute| match attribute {
            RouteAttribute::Oif(index) => Some(*index),
            _ => None,
        })
        .filter(|&index| index != UNREACHABLE)
}

/// A dumped route: the route and its protocol. `None` for routes this module cannot
/// describe (a unicast route without output interface, multipath, other types or families).
pub(super) fn describe(message: &RouteMessage) -> Option<(Route, u8)> {
    let header = &message.header;
    let mut destination = None;
    let mut interface = None;
    let mut metric = 0;
    let mut table = u32::from(header.table);
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(RouteAddress::Inet(address)) => {
                destination = Some(IpAddr::V4(*address))
            }
            RouteAttribute::Destination(RouteAddress::Inet6(address)) => {
                destination = Some(IpAddr::V6(*address))
            }
            RouteAttribute::Oif(index) => interface = Some(*index),
            RouteAttribute::Priority(priority) => metric = *priority,
            RouteAttribute::Table(id) => table = *id,
            _ => {}
        }
    }
    let destination = match (destination, header.address_family) {
        (Some(address), _) => address,
        // A default route has no RTA_DST.
        (None, AddressFamily::Inet) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (None, AddressFamily::Inet6) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (None, _) => return None,
    };
    let destination = IpNet::new(destination, header.destination_prefix_length).ok()?;
    let interface = match header.kind {
        RouteType::Unicast => interface.filter(|&i| i != UNREACHABLE)?,
        RouteType::Unreachable => UNREACHABLE,
        _ => return None,
    };
    Some((
        Route {
            destination,
            interface,
            table,
            metric,
        },
        u8::from(header.protocol),
    ))
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::NLM_F_DUMP;

    use super::super::testing;
    use super::*;
    use crate::kernel::netlink::attributes;

    /// `sizeof(struct rtmsg)`.
    const RTMSG_LEN: usize = 12;
    const RTM_NEWROUTE: u16 = 24;
    const RTM_DELROUTE: u16 = 25;
    const RTM_GETROUTE: u16 = 26;
    const RT_SCOPE_NOWHERE: u8 = 255;
    const RTA_DST: u16 = 1;
    const RTA_OIF: u16 = 4;
    const RTA_PRIORITY: u16 = 6;
    const RTA_TABLE: u16 = 15;

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

    /// `payload` as the kernel's RTM_NEWROUTE answer, decoded.
    fn decode(payload: &[u8]) -> Result<RouteMessage, String> {
        let answer = [testing::reply(RTM_NEWROUTE, payload)];
        let first = routes(&answer).next();
        first.unwrap_or(Err("no route".to_owned()))
    }

    /// `payload` as a dumped route, as [`LinkDataplane::routes`] reads it.
    fn parse(payload: &[u8]) -> Option<(Route, u8)> {
        describe(&decode(payload).ok()?)
    }

    /// `header` followed by RTA_OIF `index`: an answer as the kernel sends it.
    fn answer(header: [u8; RTMSG_LEN], index: u32) -> Vec<u8> {
        testing::with(&header, &RouteAttribute::Oif(index))
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
        let p = answer([2, 0, 0, 0, 254, 226, 253, 1, 0, 0, 0, 0], 3);
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
        let dump = dump();
        assert_eq!(dump.payload.len(), RTMSG_LEN);
        assert!(dump.payload.iter().all(|&b| b == 0), "AF_UNSPEC");
        assert_eq!(dump.flags, NLM_F_REQUEST | NLM_F_DUMP);
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
        let answer = answer([2, 32, 0, 0, 254, 2, 0, 2, 0, 0, 0, 0], 1);
        assert_eq!(
            decode(&answer).ok().as_ref().and_then(output_interface),
            Some(1)
        );
        assert!(decode(&answer[..11]).is_err());
        assert!(decode(&answer[..13]).is_err(), "a cut attribute");
        assert_eq!(
            decode(&answer[..12])
                .ok()
                .as_ref()
                .and_then(output_interface),
            None
        );
    }

    #[test]
    fn short_or_odd_answers_are_errors_not_panics() {
        let full = write(&route("fd00:2::/64", OWNED_TABLE), Write::Add)
            .payload
            .to_vec();
        for len in 0..full.len() {
            let _ = parse(&full[..len]);
        }
        for len in 0..RTMSG_LEN {
            assert!(decode(&full[..len]).is_err(), "{len} bytes");
        }
        let mut bad_prefix = full.clone();
        bad_prefix[1] = 200;
        assert_eq!(parse(&bad_prefix), None);
        // An IPv6 route whose RTA_DST holds four bytes.
        let short_address = testing::with(
            &answer([10, 8, 0, 0, 254, 2, 0, 1, 0, 0, 0, 0], 3),
            &RouteAttribute::Destination(RouteAddress::Other(vec![10, 0, 0, 0])),
        );
        assert!(decode(&short_address).is_err());
        let no_oif = testing::with(
            &[2, 8, 0, 0, 254, 2, 0, 1, 0, 0, 0, 0],
            &RouteAttribute::Destination(RouteAddress::Inet([10, 0, 0, 0].into())),
        );
        assert!(decode(&no_oif).is_ok());
        assert_eq!(parse(&no_oif), None, "a unicast route without interface");
    }
}
