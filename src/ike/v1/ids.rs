//! IKEv1 Identification payloads: the identities of phase 1 and the client IDs of Quick Mode,
//! which carry one traffic selector each (an address, a subnet or a range, with a protocol
//! and a port: RFC 2407 4.6.2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::ike::settings::{IdentityKind, IkeIdentity};
use crate::ike::Selector;
use crate::wire::ikev1::{self as id, Identification};

/// RFC 2407 4.6.2: in phase 1 the protocol and port are zero or UDP and 500; we send zero.
pub fn identity_payload(identity: &IkeIdentity) -> Identification {
    let id_type = match identity.kind {
        IdentityKind::Ipv4 => id::ID_IPV4_ADDR,
        IdentityKind::Ipv6 => id::ID_IPV6_ADDR,
        IdentityKind::Fqdn => id::ID_FQDN,
        IdentityKind::Email => id::ID_USER_FQDN,
        IdentityKind::Dn => id::ID_DER_ASN1_DN,
        IdentityKind::KeyId => id::ID_KEY_ID,
        IdentityKind::Other(n) => n,
    };
    Identification {
        id_type,
        protocol: 0,
        port: 0,
        data: identity.data.clone(),
    }
}

/// The identity a phase 1 ID payload names.
pub fn identity_of(payload: &Identification) -> IkeIdentity {
    let kind = match payload.id_type {
        id::ID_IPV4_ADDR => IdentityKind::Ipv4,
        id::ID_IPV6_ADDR => IdentityKind::Ipv6,
        id::ID_FQDN => IdentityKind::Fqdn,
        id::ID_USER_FQDN => IdentityKind::Email,
        id::ID_DER_ASN1_DN => IdentityKind::Dn,
        id::ID_KEY_ID => IdentityKind::KeyId,
        other => IdentityKind::Other(other),
    };
    IkeIdentity {
        kind,
        data: payload.data.clone(),
    }
}

/// A Quick Mode client ID for one selector: an address for a host prefix, a subnet
/// otherwise.
pub fn selector_payload(selector: &Selector) -> Identification {
    let (id_type, data) = match selector.net {
        IpNet::V4(n) if n.prefix_len() == 32 => (id::ID_IPV4_ADDR, n.addr().octets().to_vec()),
        IpNet::V6(n) if n.prefix_len() == 128 => (id::ID_IPV6_ADDR, n.addr().octets().to_vec()),
        IpNet::V4(n) => {
            let mut d = n.network().octets().to_vec();
            d.extend_from_slice(&n.netmask().octets());
            (id::ID_IPV4_ADDR_SUBNET, d)
        }
        IpNet::V6(n) => {
            let mut d = n.network().octets().to_vec();
            d.extend_from_slice(&n.netmask().octets());
            (id::ID_IPV6_ADDR_SUBNET, d)
        }
    };
    // One port is all an IKEv1 ID can name: a range becomes "any port".
    let port = if selector.start_port == selector.end_port {
        selector.start_port
    } else {
        0
    };
    Identification {
        id_type,
        protocol: selector.protocol,
        port,
        data,
    }
}

/// The selector of a Quick Mode client ID; `None` for a type or form that names no prefix
/// (a range that is not one prefix, a mask that is not contiguous, a name).
pub fn selector_of(payload: &Identification) -> Option<Selector> {
    let net = match (payload.id_type, payload.data.as_slice()) {
        (id::ID_IPV4_ADDR, d) => IpNet::V4(Ipv4Net::new(v4(d)?, 32).ok()?),
        (id::ID_IPV6_ADDR, d) => IpNet::V6(Ipv6Net::new(v6(d)?, 128).ok()?),
        (id::ID_IPV4_ADDR_SUBNET, d) if d.len() == 8 => {
            let (addr, mask) = d.split_at(4);
            let net = Ipv4Net::with_netmask(v4(addr)?, v4(mask)?).ok()?;
            IpNet::V4(net.trunc())
        }
        (id::ID_IPV6_ADDR_SUBNET, d) if d.len() == 32 => {
            let (addr, mask) = d.split_at(16);
            let net = Ipv6Net::with_netmask(v6(addr)?, v6(mask)?).ok()?;
            IpNet::V6(net.trunc())
        }
        (id::ID_IPV4_ADDR_RANGE, d) if d.len() == 8 => {
            let (first, last) = d.split_at(4);
            range_prefix(IpAddr::V4(v4(first)?), IpAddr::V4(v4(last)?))?
        }
        (id::ID_IPV6_ADDR_RANGE, d) if d.len() == 32 => {
            let (first, last) = d.split_at(16);
            range_prefix(IpAddr::V6(v6(first)?), IpAddr::V6(v6(last)?))?
        }
        _ => return None,
    };
    let (start_port, end_port) = match payload.port {
        0 => (0, u16::MAX),
        p => (p, p),
    };
    Some(Selector {
        net,
        protocol: payload.protocol,
        start_port,
        end_port,
    })
}

/// The one prefix a range is, if it is one.
fn range_prefix(first: IpAddr, last: IpAddr) -> Option<IpNet> {
    let nets: Vec<IpNet> = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect(),
        (IpAddr::V6(a), IpAddr::V6(b)) => ipnet::Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect(),
        _ => return None,
    };
    match nets.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

fn v4(d: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(d).ok().map(Ipv4Addr::from)
}

fn v6(d: &[u8]) -> Option<Ipv6Addr> {
    <[u8; 16]>::try_from(d).ok().map(Ipv6Addr::from)
}

/// Whether a selector lies within one of the subnets (its protocol and ports are not
/// constrained by them).
pub fn within(selector: &Selector, subnets: &[IpNet]) -> bool {
    subnets.iter().any(|n| n.contains(&selector.net))
}

/// Who we said we are, whom we expect and how we authenticate, with the connection's name:
/// what an operator compares with the peer's configuration after an authentication failure.
pub fn our_side(settings: Option<&crate::ike::ConnectionSettings>) -> String {
    match settings {
        Some(c) => format!(
            "connection {}: we are {} (auth {}), expecting {}",
            c.name,
            c.local_id,
            c.local_auth.name(),
            c.remote_id
                .as_ref()
                .map_or_else(|| "any ID".to_string(), ToString::to_string)
        ),
        None => "the connection is gone".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_and_hosts_round_trip() {
        for text in ["10.1.0.0/16", "10.1.2.3/32", "fd00::/64", "fd00::1/128"] {
            let s = Selector::subnet(text.parse().expect("net"));
            assert_eq!(selector_of(&selector_payload(&s)), Some(s), "{text}");
        }
    }

    #[test]
    fn a_range_that_is_one_prefix_is_taken() {
        let p = Identification {
            id_type: id::ID_IPV4_ADDR_RANGE,
            protocol: 0,
            port: 0,
            data: vec![10, 0, 0, 0, 10, 0, 0, 255],
        };
        assert_eq!(
            selector_of(&p).map(|s| s.net),
            Some("10.0.0.0/24".parse().expect("net"))
        );
        let odd = Identification {
            data: vec![10, 0, 0, 1, 10, 0, 0, 255],
            ..p
        };
        assert_eq!(selector_of(&odd), None);
    }

    #[test]
    fn a_port_is_kept() {
        let p = Identification {
            id_type: id::ID_IPV4_ADDR_SUBNET,
            protocol: 6,
            port: 443,
            data: vec![10, 0, 0, 0, 255, 255, 255, 0],
        };
        let s = selector_of(&p).expect("selector");
        assert_eq!((s.protocol, s.start_port, s.end_port), (6, 443, 443));
        assert_eq!(selector_payload(&s), p);
    }
}
