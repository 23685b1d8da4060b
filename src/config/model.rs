//! The validated configuration: what the rest of ikehub runs from.
//!
//! Every value here has passed the checks in `validate.rs` and `rules.rs`; defaults are filled
//! in. Nothing in this model needs re-checking by its users.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

pub use super::close_action::CloseAction;
pub use super::control_group::ControlGroup;
pub use super::identity::Identity;
pub use super::offload::Offload;
pub use super::pfs::Pfs;
pub use super::proposal::{EspProposal, IkeProposal};
pub use super::secret::Psk;

/// A whole, valid configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: Gateway,
    pub peers: Vec<Peer>,
    pub connections: Vec<Connection>,
    pub routes: Vec<Route>,
}

impl Config {
    /// The peer with this name.
    pub fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// The connection with this name.
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// The peer a connection goes to (always present in a validated configuration).
    pub fn peer_of(&self, connection: &Connection) -> Option<&Peer> {
        self.peer(&connection.peer)
    }
}

/// This gateway: its public addresses and the networks behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub name: String,
    /// Addresses IKE listens on and sends from. Never empty.
    pub local_addresses: Vec<IpAddr>,
    /// The networks behind this gateway (the default local side of every connection).
    pub local_subnets: Vec<IpNet>,
    /// Hub mode (route-based): each connection gets its own xfrm interface (if_id from
    /// [`super::hub_if_id`]), routes decide where traffic goes, the gateway forwards between
    /// connections, and a connection's default local side is "any".
    pub hub: bool,
    /// ESP hardware offload of connections that do not set their own.
    pub offload: Offload,
    /// What half-open IKE SAs may take (see `limits.rs`).
    pub half_open: super::limits::HalfOpenLimits,
    /// Where Prometheus scrapes `/metrics` over HTTP; `None`: no metrics endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// Members of this group may use the control socket's read-only commands; `None`: root
    /// only.
    pub control_group: Option<ControlGroup>,
    /// Our certificate and key, and the CAs and CRLs peers' certificates are checked
    /// against; `None` when none are configured.
    pub credentials: Option<std::sync::Arc<super::credentials::Credentials>>,
}

impl Gateway {
    /// The address IKE talks to a peer from: the first local address of the peer's address
    /// family (the first local address for a peer at "any" or given by a DNS name, whose
    /// family is not known before it is resolved: the name is then resolved to an address
    /// of this one's family). Validation guarantees one exists for every configured peer.
    pub fn local_address_for(&self, peer: &PeerAddress) -> Option<IpAddr> {
        match peer {
            PeerAddress::Addr(addr) => self
                .local_addresses
                .iter()
                .find(|local| local.is_ipv4() == addr.is_ipv4())
                .copied(),
            PeerAddress::Any | PeerAddress::Name(_) => self.local_addresses.first().copied(),
        }
    }
}

/// A remote gateway (customer gateway): where it is and who it says it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub address: PeerAddress,
    /// The IKE identity the peer must present (IDi/IDr).
    pub identity: Identity,
}

/// Where a peer is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAddress {
    /// A fixed address: we can initiate to it and accept it.
    Addr(IpAddr),
    /// A DNS name (RFC 1123 host name), for a peer on a dynamic address: the daemon resolves
    /// it before each initiation, and accepts the peer from the address it resolved last.
    Name(String),
    /// Any address (e.g. a peer behind a dynamic address): we only respond, matching it by
    /// its identity.
    Any,
}

impl PeerAddress {
    /// The fixed address, if the peer has one.
    pub fn addr(&self) -> Option<IpAddr> {
        match self {
            PeerAddress::Addr(addr) => Some(*addr),
            PeerAddress::Name(_) | PeerAddress::Any => None,
        }
    }

    /// Whether ikehub can initiate to the peer: it has an address or a name to resolve.
    pub fn can_initiate(&self) -> bool {
        !matches!(self, PeerAddress::Any)
    }
}

impl std::fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerAddress::Addr(addr) => write!(f, "{addr}"),
            PeerAddress::Name(name) => f.write_str(name),
            PeerAddress::Any => f.write_str("any"),
        }
    }
}

/// IKE major version of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IkeVersion {
    /// IKEv2 (RFC 7296).
    V2,
    /// IKEv1 (RFC 2409): for peers that speak nothing else.
    V1,
}

impl std::fmt::Display for IkeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IkeVersion::V2 => "ikev2",
            IkeVersion::V1 => "ikev1",
        })
    }
}

/// How one end proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A pre-shared key (RFC 7296 2.15; RFC 2409 5.4).
    Psk,
    /// A signature with the private key of a certificate (RFC 7296 2.15 and RFC 7427; RFC
    /// 2409 5.1).
    Pubkey,
}

impl AuthMethod {
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Psk => "psk",
            AuthMethod::Pubkey => "pubkey",
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How both ends prove who they are.
#[derive(Debug, Clone)]
pub struct Auth {
    /// How we authenticate to the peer.
    pub local: AuthMethod,
    /// How the peer must authenticate to us.
    pub remote: AuthMethod,
    /// The pre-shared key; present whenever either end uses one.
    pub psk: Option<Psk>,
}

/// What the gateway does with a connection when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAction {
    /// Bring the tunnel up right away (and again after it fails).
    Initiate,
    /// Wait for the peer to initiate.
    Listen,
    /// Install the connection's policies without SAs and initiate when traffic matches them
    /// (the kernel's ACQUIRE): an on-demand tunnel, as strongSwan's trap policies.
    Trap,
}

impl std::fmt::Display for StartAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StartAction::Initiate => "initiate",
            StartAction::Listen => "listen",
            StartAction::Trap => "trap",
        })
    }
}

/// One IPsec connection: an IKE SA with a peer and the child SA(s) for its subnets.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: String,
    /// Name of a [`Peer`] in [`Config::peers`].
    pub peer: String,
    pub version: IkeVersion,
    pub auth: Auth,
    /// Our side of the traffic selectors. Never empty.
    pub local_subnets: Vec<IpNet>,
    /// The peer's side of the traffic selectors. Never empty.
    pub remote_subnets: Vec<IpNet>,
    /// The identity we present (IDi/IDr).
    pub local_identity: Identity,
    /// IKE SA proposals, most preferred first. Never empty.
    pub ike_proposals: Vec<IkeProposal>,
    /// ESP (child SA) proposals, most preferred first. Never empty.
    pub esp_proposals: Vec<EspProposal>,
    /// Time after which the IKE SA is rekeyed.
    pub ike_lifetime: Duration,
    /// Time after which a child SA is rekeyed.
    pub child_lifetime: Duration,
    /// Dead peer detection interval; None: off.
    pub dpd_interval: Option<Duration>,
    /// How long a request to the peer (a liveness check, a rekey, ...) may stay unanswered
    /// before the peer is declared dead; None: when the retransmissions run out (about 165 s
    /// with the defaults, as strongSwan).
    pub dpd_timeout: Option<Duration>,
    /// The address IKE runs on for this connection: one of `gateway.local_addresses`, of the
    /// peer's family.
    pub local_address: IpAddr,
    pub start_action: StartAction,
    /// What happens when the IKE SA ends without our delete.
    pub close_action: CloseAction,
    /// ESP hardware offload of this connection's SAs (default: the gateway's).
    pub offload: Offload,
    /// Whether CHILD_SAs made or rekeyed with CREATE_CHILD_SA must have their own key
    /// exchange (default: optional).
    pub pfs: Pfs,
    /// IKEv1 only: Aggressive Mode instead of Main Mode (identities in the clear, and a hash
    /// of the pre-shared key an eavesdropper can attack offline).
    pub aggressive: bool,
}

impl Connection {
    /// The pre-shared key of this connection, if either end uses one.
    pub fn psk(&self) -> Option<&Psk> {
        self.auth.psk.as_ref()
    }
}

/// One entry of the destination route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: IpNet,
    /// Name of a [`Connection`] in [`Config::connections`].
    pub connection: String,
    /// 100: active; 0: standby, carrying traffic only while the active route's connection
    /// is down.
    pub weight: u8,
    /// Also install the route in the router's main table for the local networks to use.
    pub publish: bool,
}

/// Weight of an active route.
pub const WEIGHT_ACTIVE: u8 = 100;
/// Weight of a standby route.
pub const WEIGHT_STANDBY: u8 = 0;
