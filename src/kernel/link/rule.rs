//! The policy-routing rule that makes the kernel consult ikehub's table (`ip rule add
//! priority P lookup T proto ikehub`), one per address family (`struct fib_rule_hdr` plus
//! FRA_* attributes, include/uapi/linux/fib_rules.h).

use zeroize::Zeroizing;

use super::attr;
use super::interface::{NLM_F_CREATE, NLM_F_EXCL};
use super::route::RTPROT_IKEHUB;
use crate::kernel::netlink::{Request, NLM_F_ACK, NLM_F_REQUEST};

pub(super) const RTM_NEWRULE: u16 = 32;
pub(super) const RTM_DELRULE: u16 = 33;

/// Priority of ikehub's rule: after the local table (priority 0), before main (32766), so hub
/// routes win over the main table's (e.g. a default route), and clear of strongSwan's 220.
pub const RULE_PRIORITY: u32 = 7220;

/// `sizeof(struct fib_rule_hdr)`.
#[cfg(test)]
const FIB_RULE_HDR_LEN: usize = 12;
const FR_ACT_TO_TBL: u8 = 1;
const FRA_PRIORITY: u16 = 6;
const FRA_TABLE: u16 = 15;
const FRA_PROTOCOL: u16 = 21;

/// The address family a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn value(self) -> u8 {
        match self {
            Family::V4 => 2,
            Family::V6 => 10,
        }
    }
}

fn message(family: Family, table: u32, priority: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(40);
    // family, dst_len, src_len, tos, table (in FRA_TABLE), res1, res2, action; flags.
    buf.extend_from_slice(&[family.value(), 0, 0, 0, 0, 0, 0, FR_ACT_TO_TBL]);
    buf.extend_from_slice(&0u32.to_ne_bytes());
    attr::put_u32(&mut buf, FRA_PRIORITY, priority);
    attr::put_u32(&mut buf, FRA_TABLE, table);
    attr::put(&mut buf, FRA_PROTOCOL, &[RTPROT_IKEHUB]);
    buf
}

/// RTM_NEWRULE; NLM_F_EXCL makes a second add fail with EEXIST instead of duplicating it.
pub(super) fn add(family: Family, table: u32, priority: u32) -> Request {
    Request {
        msg_type: RTM_NEWRULE,
        flags: NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        payload: Zeroizing::new(message(family, table, priority)),
    }
}

/// RTM_DELRULE of the rule with this priority, table and protocol.
pub(super) fn delete(family: Family, table: u32, priority: u32) -> Request {
    Request {
        msg_type: RTM_DELRULE,
        flags: NLM_F_REQUEST | NLM_F_ACK,
        payload: Zeroizing::new(message(family, table, priority)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::attributes;

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
