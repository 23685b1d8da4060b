//! The policy-routing rule that makes the kernel consult ikehub's table (`ip rule add
//! priority P lookup T proto ikehub`), one per address family, built with
//! netlink-packet-route's types.

use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::message;
use super::route::RTPROT_IKEHUB;
use crate::kernel::netlink::Request;

/// Priority of ikehub's rule: after the local table (priority 0), before main (32766), so hub
/// routes win over the main table's (e.g. a default route), and clear of strongSwan's 220.
pub const RULE_PRIORITY: u32 = 7220;

/// The address family a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

fn rule(family: Family, table: u32, priority: u32) -> RuleMessage {
    let mut rule = RuleMessage::default();
    rule.header.family = match family {
        Family::V4 => AddressFamily::Inet,
        Family::V6 => AddressFamily::Inet6,
    };
    // The table goes in FRA_TABLE (it may be above 255); the header's stays RT_TABLE_UNSPEC.
    rule.header.action = RuleAction::ToTable;
    rule.attributes.extend([
        RuleAttribute::Priority(priority),
        RuleAttribute::Table(table),
        RuleAttribute::Protocol(RouteProtocol::from(RTPROT_IKEHUB)),
    ]);
    rule
}

/// RTM_NEWRULE; NLM_F_EXCL makes a second add fail with EEXIST instead of duplicating it.
pub(super) fn add(family: Family, table: u32, priority: u32) -> Request {
    message::request(
        RouteNetlinkMessage::NewRule(rule(family, table, priority)),
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    )
}

/// RTM_DELRULE of the rule with this priority, table and protocol.
pub(super) fn delete(family: Family, table: u32, priority: u32) -> Request {
    message::acked(RouteNetlinkMessage::DelRule(rule(family, table, priority)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::attributes;

    /// `sizeof(struct fib_rule_hdr)`.
    const FIB_RULE_HDR_LEN: usize = 12;
    const RTM_NEWRULE: u16 = 32;
    const RTM_DELRULE: u16 = 33;
    const FRA_PRIORITY: u16 = 6;
    const FRA_TABLE: u16 = 15;
    const FRA_PROTOCOL: u16 = 21;

    #[test]
    fn rule_message_fields() {
        let request = add(Family::V6, 7220, RULE_PRIORITY);
        assert_eq!(request.msg_type, RTM_NEWRULE);
        assert_eq!(request.flags, 0x1 | 0x4 | 0x400 | 0x200);
        assert_eq!(
            &request.payload[..FIB_RULE_HDR_LEN],
            &[10, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        );
        let attrs: Vec<(u16, Vec<u8>)> = attributes(&request.payload[FIB_RULE_HDR_LEN..])
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        assert_eq!(
            attrs,
            vec![
                (FRA_PRIORITY, 7220u32.to_ne_bytes().to_vec()),
                (FRA_TABLE, 7220u32.to_ne_bytes().to_vec()),
                (FRA_PROTOCOL, vec![226]),
            ]
        );
        let delete = delete(Family::V4, 7220, RULE_PRIORITY);
        assert_eq!(delete.msg_type, RTM_DELRULE);
        assert_eq!(delete.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(delete.payload[0], 2);
    }
}
