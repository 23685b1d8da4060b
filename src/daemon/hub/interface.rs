//! The xfrm interface of a hub connection: its name, if_id, underlying device and MTU.
//!
//! MTU: the MTU of the device the kernel routes the peer's address through (`ip route get`),
//! minus the worst-case ESP overhead of the outer family (1500 -> 1399 over IPv4, 1379 over
//! IPv6). When that device is unknown (a peer at "any", no route yet, or a dataplane that
//! cannot tell), Ethernet's 1500 is assumed and path MTU discovery covers smaller links.

use std::net::IpAddr;

use crate::ike::ConnectionSettings;
use crate::kernel::link::{
    interface_name, xfrm_interface_mtu, LinkInfo, OuterFamily, XfrmInterface, MIN_INNER_MTU,
};

/// The physical MTU assumed when the egress device is unknown.
pub const DEFAULT_PHYSICAL_MTU: u32 = 1500;

/// The peer's address, the one to look the egress device up for; `None` for a peer at "any".
pub fn peer(connection: &ConnectionSettings) -> Option<IpAddr> {
    connection.remote_addr
}

/// The interface to create for a connection whose packets leave by `egress` (if known).
pub fn spec(connection: &ConnectionSettings, egress: Option<&LinkInfo>) -> XfrmInterface {
    // The outer family is the peer's; a peer at "any" is reached from our own address.
    let outer = match connection.remote_addr.unwrap_or(connection.local_addr) {
        IpAddr::V4(_) => OuterFamily::V4,
        IpAddr::V6(_) => OuterFamily::V6,
    };
    let physical = egress
        .and_then(|link| link.mtu)
        .unwrap_or(DEFAULT_PHYSICAL_MTU);
    XfrmInterface {
        name: interface_name(&connection.name),
        if_id: connection
            .if_id
            .unwrap_or_else(|| crate::config::hub_if_id(&connection.name)),
        underlying: egress.map_or(0, |link| link.index),
        // Below the IPv6 minimum the interface could not carry IPv6 at all: keep the minimum
        // and let the outer packets fragment.
        mtu: xfrm_interface_mtu(physical, outer).unwrap_or(MIN_INNER_MTU),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConnectionSettings {
        let config = crate::config::parse(
            "[gateway]\nname = \"hub\"\nlocal_addresses = [\"192.0.2.1\"]\nhub = true\n[[peer]]\nname = \"p\"\naddress = \"198.51.100.1\"\n[[connection]]\nname = \"site\"\npeer = \"p\"\npsk = \"s3cret-site\"\nremote_subnets = [\"10.9.0.0/16\"]\n",
            std::path::Path::new("hub.toml"),
        )
        .expect("valid");
        let (settings, _) = crate::ike::EngineSettings::from_config(&config);
        settings.connections.into_iter().next().expect("one")
    }

    fn link(index: u32, mtu: u32) -> LinkInfo {
        LinkInfo {
            index,
            name: "eth0".into(),
            up: true,
            mtu: Some(mtu),
            kind: None,
            if_id: None,
            underlying: None,
        }
    }

    #[test]
    fn the_egress_device_sets_mtu_and_underlying_link() {
        let connection = settings();
        assert_eq!(peer(&connection), Some("198.51.100.1".parse().unwrap()));
        let spec = spec(&connection, Some(&link(3, 1492)));
        assert_eq!(spec.name, "ikh-site");
        assert_eq!(spec.if_id, crate::config::hub_if_id("site"));
        assert_eq!(spec.underlying, 3);
        assert_eq!(spec.mtu, 1492 - 101);
    }

    #[test]
    fn an_unknown_or_tiny_egress_device_falls_back() {
        let connection = settings();
        let unknown = spec(&connection, None);
        assert_eq!((unknown.underlying, unknown.mtu), (0, 1399));
        let tiny = spec(&connection, Some(&link(4, 1300)));
        assert_eq!((tiny.underlying, tiny.mtu), (4, MIN_INNER_MTU));
    }
}
