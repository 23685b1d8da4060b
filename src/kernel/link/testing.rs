//! Kernel answers for the unit tests of this module: bytes as a reply, attributes appended.

use netlink_packet_core::Emitable;
use zeroize::Zeroizing;

use crate::kernel::netlink::Reply;

/// `payload` as an answer of type `msg_type`, as the socket hands it over.
pub(super) fn reply(msg_type: u16, payload: &[u8]) -> Reply {
    Reply {
        msg_type,
        payload: Zeroizing::new(payload.to_vec()),
    }
}

/// `payload` with `attribute` appended.
pub(super) fn with(payload: &[u8], attribute: &impl Emitable) -> Vec<u8> {
    let mut buf = payload.to_vec();
    let start = buf.len();
    buf.resize(start + attribute.buffer_len(), 0);
    attribute.emit(&mut buf[start..]);
    buf
}
