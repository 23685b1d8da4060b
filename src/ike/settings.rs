//! What the engine needs to know about each connection, derived from the validated
//! configuration. Kept apart from the config model so the engine can be driven by tests
//! without a TOML file.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use zeroize::Zeroizing;

pub use crate::config::{
    AuthMethod, CloseAction, Credentials, EspProposal, IkeProposal, IkeVersion, Offload, Pfs,
};

/// The kind of an IKE identity. The ID types of IKEv2 (RFC 7296 3.5) and IKEv1 (RFC 2407
/// 4.6.2.1) share their numbers; each version's codec converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityKind {
    Ipv4,
    Ipv6,
    Fqdn,
    /// An email address (ID_RFC822_ADDR, ID_USER_FQDN in IKEv1).
    Email,
    /// A distinguished name (ID_DER_ASN1_DN).
    Dn,
    KeyId,
    /// A type without a name here, kept as received.
    Other(u8),
}

/// An IKE identity: its kind and the identification data as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IkeIdentity {
    pub kind: IdentityKind,
    pub data: Vec<u8>,
}

impl IkeIdentity {
    pub fn from_address(addr: IpAddr) -> IkeIdentity {
        match addr {
            IpAddr::V4(v4) => IkeIdentity {
                kind: IdentityKind::Ipv4,
                data: v4.octets().to_vec(),
            },
            IpAddr::V6(v6) => IkeIdentity {
                kind: IdentityKind::Ipv6,
                data: v6.octets().to_vec(),
            },
        }
    }
}

impl IkeIdentity {
    /// The same identity in one encoding per meaning: a distinguished name is re-encoded
    /// from its text form, so that a peer's PrintableString and our UTF8String of the same
    /// name compare (and index) equal. Other kinds are kept as they are.
    pub fn canonical(self) -> IkeIdentity {
        if self.kind != IdentityKind::Dn {
            return self;
        }
        let canonical = crate::crypto::pki::dn_to_text(&self.data)
            .and_then(|text| crate::crypto::pki::dn_from_text(&text).ok());
        match canonical {
            Some(data) => IkeIdentity {
                kind: IdentityKind::Dn,
                data,
            },
            None => self,
        }
    }
}

impl std::fmt::Display for IkeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            IdentityKind::Ipv4 => match <[u8; 4]>::try_from(self.data.as_slice()) {
                Ok(o) => write!(f, "{}", std::net::Ipv4Addr::from(o)),
                Err(_) => f.write_str("<bad ipv4 id>"),
            },
            IdentityKind::Ipv6 => match <[u8; 16]>::try_from(self.data.as_slice()) {
                Ok(o) => write!(f, "{}", std::net::Ipv6Addr::from(o)),
                Err(_) => f.write_str("<bad ipv6 id>"),
            },
            // A peer's identity: it reaches logs and status, escaped (see `escape.rs`).
            IdentityKind::Fqdn | IdentityKind::Email => {
                f.write_str(&crate::escape::peer_text(&self.data))
            }
            IdentityKind::Dn => match crate::crypto::pki::dn_to_text(&self.data) {
                Some(text) => f.write_str(&crate::escape::peer_text(text.as_bytes())),
                None => {
                    f.write_str("dn:0x")?;
                    self.data.iter().try_for_each(|b| write!(f, "{b:02x}"))
                }
            },
            _ => {
                f.write_str("0x")?;
                self.data.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// A pre-shared key. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PreSharedKey(pub Zeroizing<Vec<u8>>);

impl std::fmt::Debug for PreSharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreSharedKey(<redacted>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub name: String,
    pub local_addr: IpAddr,
    /// The peer's address in use: the configured one, or the one its name resolved to last;
    /// `None` without a name accepts a peer from any address (responder only), `None` with a
    /// name (never resolved) accepts no address at all.
    pub remote_addr: Option<IpAddr>,
    /// The peer's DNS name, resolved by the driver before each initiation
    /// ([`crate::ike::Engine::poll_resolve`]); `None`: the address is fixed (or "any").
    pub remote_name: Option<String>,
    pub local_id: IkeIdentity,
    /// `None` accepts whatever identity authenticates with the key.
    pub remote_id: Option<IkeIdentity>,
    /// Empty unless `local_auth` or `remote_auth` is [`AuthMethod::Psk`].
    pub psk: PreSharedKey,
    /// How we authenticate: with the PSK, or by signing with the gateway's certificate key
    /// ([`EngineSettings::credentials`]).
    pub local_auth: AuthMethod,
    /// How the peer must authenticate: with the PSK, or with a certificate that chains to
    /// one of the gateway's CAs and binds its identity.
    pub remote_auth: AuthMethod,
    pub local_subnets: Vec<IpNet>,
    pub remote_subnets: Vec<IpNet>,
    pub ike_proposals: Vec<IkeProposal>,
    pub esp_proposals: Vec<EspProposal>,
    pub ike_lifetime: Duration,
    pub child_lifetime: Duration,
    pub dpd_interval: Option<Duration>,
    /// Declare the peer dead when a request of an established IKE SA has been unanswered
    /// this long, even if retransmissions remain; `None`: when they run out.
    pub dpd_timeout: Option<Duration>,
    pub initiate: bool,
    /// What happens when an IKE SA of the connection ends without our delete.
    pub close_action: CloseAction,
    /// Install the connection's policies without SAs while it has no IKE SA, and initiate
    /// when the kernel reports traffic for them (ACQUIRE). Never set together with
    /// `initiate`.
    pub trap: bool,
    /// Hub mode: the if_id of the connection's xfrm interface. Its CHILD_SAs' states and
    /// policies carry it, so only traffic routed into that interface uses them.
    pub if_id: Option<u32>,
    /// ESP hardware offload requested for this connection's SAs. The engine passes it on to
    /// the kernel layer with every install (rekeys included) and does not interpret it.
    pub offload: Offload,
    /// Whether a CHILD_SA made or rekeyed with CREATE_CHILD_SA must have its own key exchange.
    pub pfs: Pfs,
    pub version: IkeVersion,
    /// IKEv1: Aggressive Mode rather than Main Mode.
    pub aggressive: bool,
}

impl ConnectionSettings {
    /// Whether an IKE SA from `remote` may belong to this connection by its address.
    ///
    /// A connection whose peer is given by a name accepts only the address the name resolved
    /// to last: the name is the operator's statement of where the peer is, and a name never
    /// resolved (the DNS has been failing since the start) must not turn into "any address".
    pub fn accepts_address(&self, remote: IpAddr) -> bool {
        match self.remote_addr {
            Some(addr) => addr == remote,
            None => self.remote_name.is_none(),
        }
    }

    /// Whether the connection accepts a peer from any address (a peer at "any").
    pub fn accepts_any_address(&self) -> bool {
        self.remote_addr.is_none() && self.remote_name.is_none()
    }

    /// Whether the connection can initiate: it has an address, or a name to resolve.
    pub fn can_initiate(&self) -> bool {
        self.remote_addr.is_some() || self.remote_name.is_some()
    }
}

/// Engine-wide knobs; the defaults follow strongSwan's where one exists.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub connections: Vec<ConnectionSettings>,
    /// First retransmission timeout; doubled by `retransmit_base` each try (strongSwan: 4 s).
    pub retransmit_timeout: Duration,
    pub retransmit_base: f64,
    /// Sends before a request is given up (strongSwan: 5 retransmissions after the first).
    pub retransmit_tries: u32,
    /// What half-open SAs may take: the cookie threshold (RFC 7296 2.6), per address, in
    /// all, in bytes.
    pub half_open: crate::config::HalfOpenLimits,
    /// Largest IP datagram an IKE message may fill before it is fragmented (RFC 7383;
    /// strongSwan's `fragment_size`, 1280 by default).
    pub fragment_size: usize,
    /// How long a responder keeps a half-open SA (IKE_SA_INIT answered, no IKE_AUTH yet) at
    /// least, whatever the half-open limits. It keeps one longer, as long as an initiator
    /// retransmitting on our schedule still waits for IKE_AUTH's answer
    /// ([`Self::half_open_lifetime`]), unless the limits are reached: then the oldest
    /// half-open SA past this age gives way to a new one.
    pub establish_timeout: Duration,
    /// Whether IKE_AUTH carries INITIAL_CONTACT when we hold no SA of the connection (RFC
    /// 7296 2.4). A load generator turns it off: its many connections share one pair of
    /// identities, and each would make the responder remove the others.
    pub initial_contact: bool,
    /// The gateway's certificate, key, CAs and CRLs, for connections that authenticate with
    /// `pubkey`; shared with the configuration, replaced whole on reload.
    pub credentials: Option<std::sync::Arc<Credentials>>,
}

impl EngineSettings {
    /// The wait after send number `sends` (from 1) of a request: the first timeout times
    /// `retransmit_base` to the power `sends - 1`.
    pub fn retransmit_delay(&self, sends: u32) -> Duration {
        let factor = self
            .retransmit_base
            .powi(i32::try_from(sends.saturating_sub(1)).unwrap_or(i32::MAX));
        self.retransmit_timeout.mul_f64(factor.clamp(0.0, 1e6))
    }

    /// From a request's first send until the requester gives it up: every wait of the
    /// schedule (4 s, 1.8 times more each, 6 sends: 165 s, as strongSwan's defaults).
    pub fn retransmission_span(&self) -> Duration {
        (1..=self.retransmit_tries)
            .map(|sends| self.retransmit_delay(sends))
            .fold(Duration::ZERO, Duration::saturating_add)
    }

    /// How long a responder keeps a half-open SA after the last IKE_SA_INIT of its
    /// initiator, while the half-open limits leave room (RFC 7296 2.4: an initiator
    /// retransmits IKE_AUTH until its own schedule ends; assumed to be like ours, so the
    /// SA stays as long as an IKE_AUTH can still come), and never less than
    /// `establish_timeout`.
    pub fn half_open_lifetime(&self) -> Duration {
        self.retransmission_span().max(self.establish_timeout)
    }

    pub fn new(connections: Vec<ConnectionSettings>) -> EngineSettings {
        EngineSettings {
            connections,
            retransmit_timeout: Duration::from_secs(4),
            retransmit_base: 1.8,
            retransmit_tries: 6,
            half_open: crate::config::HalfOpenLimits::default(),
            fragment_size: 1280,
            establish_timeout: Duration::from_secs(30),
            initial_contact: true,
            credentials: None,
        }
    }
}
