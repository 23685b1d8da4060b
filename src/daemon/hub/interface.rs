//! The xfrm interface of a hub connection: its name, if_id and MTU.
//!
//! MTU: the physical MTU is taken as Ethernet's 1500 rather than read from the egress device
//! (which needs a route lookup toward the peer); the interface gets 1500 minus the worst-case
//! ESP overhead of the outer family (1399 over IPv4, 1379 over IPv6). Links with a smaller
//! physical MTU rely on path MTU discovery.

use std::net::IpAddr;

use crate::ike::ConnectionSettings;
use crate::kernel::link::{
    interface_name, xfrm_interface_mtu, OuterFamily, XfrmInterface, MIN_INNER_MTU,
};

/// The physical MTU assumed for the egress device.
pub const PHYSICAL_MTU: u32 = 1500;

/// The interface to create for a connection.
pub fn spec(connection: &ConnectionSettings) -> XfrmInterface {
    // The outer family is the peer's; a peer at "any" is reached from our own address.
    let outer = match connection.remote_addr.unwrap_or(connection.local_addr) {
        IpAddr::V4(_) => OuterFamily::V4,
        IpAddr::V6(_) => OuterFamily::V6,
    };
    XfrmInterface {
        name: interface_name(&connection.name),
        if_id: connection
            .if_id
            .unwrap_or_else(|| crate::config::hub_if_id(&connection.name)),
        underlying: 0,
        mtu: xfrm_interface_mtu(PHYSICAL_MTU, outer).unwrap_or(MIN_INNER_MTU),
    }
}
