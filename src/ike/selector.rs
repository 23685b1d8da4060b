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

/// One CIDR with "[protocol/port]" or "[protocol/first-last]" appended when the selector is
/// narrower than "any protocol, any port": "172.16.0.0/16", "172.16.0.0/16[6/443]",
/// "172.16.0.0/16[17/500-4500]".
impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.net, f)?;
        if *self == Selector::subnet(self.net) {
            Ok(())
        } else if self.start_port == self.end_port {
            write!(f, "[{}/{}]", self.protocol, self.start_port)
        } else {
            write!(
                f,
                "[{}/{}-{}]",
                self.protocol, self.start_port, self.end_port
            )
        }
    }
}

/// Whole subnets as selectors.
pub fn subnets(nets: &[IpNet]) -> Vec<Selector> {
    nets.iter().copied().map(Selector::subnet).collect()
}

/// Selectors as a comma-separated list, for logs.
pub fn list(selectors: &[Selector]) -> String {
    selectors
        .iter()
        .map(Selector::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The prefixes of a list of selectors, for the kernel's policies.
pub fn prefixes(selectors: &[Selector]) -> Vec<IpNet> {
    selectors.iter().map(|s| s.net).collect()
}
