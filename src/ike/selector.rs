//! Traffic selectors as both IKE versions and the kernel see them: a prefix, an IP protocol
//! and a port range. IKEv2 carries address ranges (RFC 7296 3.13.1) and IKEv1 IDs carry
//! addresses, subnets or ranges (RFC 2407 4.6.2); each version converts its own wire form, a
//! range that is no single prefix becoming the smallest set of prefixes that covers it
//! exactly (the kernel's policies take prefixes).

use ipnet::IpNet;

/// One selector of a CHILD_SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Selector {
    pub net: IpNet,
    /// IP protocol number; 0 for any.
    pub protocol: u8,
    pub start_port: u16,
    pub end_port: u16,
}

impl Selector {
    /// The whole subnet, any protocol and port.
    pub fn subnet(net: IpNet) -> Selector {
        Selector {
            net,
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
        }
    }
}

/// The prefixes of a list of selectors, for the kernel's policies.
pub fn prefixes(selectors: &[Selector]) -> Vec<IpNet> {
    selectors.iter().map(|s| s.net).collect()
}
