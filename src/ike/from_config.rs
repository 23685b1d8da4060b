//! The engine's view of a validated configuration.

use crate::config::{hub_if_id, Config, Connection, Identity, PeerAddress, StartAction};

use super::settings::{
    ConnectionSettings, EngineSettings, IdentityKind, IkeIdentity, PreSharedKey,
};

impl From<&Identity> for IkeIdentity {
    fn from(id: &Identity) -> IkeIdentity {
        let (kind, data) = match id {
            Identity::Ipv4(a) => (IdentityKind::Ipv4, a.octets().to_vec()),
            Identity::Ipv6(a) => (IdentityKind::Ipv6, a.octets().to_vec()),
            Identity::Fqdn(s) => (IdentityKind::Fqdn, s.as_bytes().to_vec()),
            Identity::Email(s) => (IdentityKind::Email, s.as_bytes().to_vec()),
            Identity::KeyId(k) => (IdentityKind::KeyId, k.clone()),
            Identity::Dn(der) => (IdentityKind::Dn, der.clone()),
        };
        IkeIdentity { kind, data }
    }
}

/// A connection the IKEv2 engine cannot run, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub connection: String,
    pub reason: String,
}

fn connection_settings(config: &Config, conn: &Connection) -> Result<ConnectionSettings, String> {
    let peer = config
        .peer_of(conn)
        .ok_or_else(|| format!("unknown peer {:?}", conn.peer))?;
    let local_addr = conn.local_address;
    let remote_name = match &peer.address {
        PeerAddress::Name(name) => Some(name.clone()),
        PeerAddress::Addr(_) | PeerAddress::Any => None,
    };
    Ok(ConnectionSettings {
        name: conn.name.clone(),
        local_addr,
        // A name has no address until the driver resolves it.
        remote_addr: peer.address.addr(),
        remote_name,
        local_id: IkeIdentity::from(&conn.local_identity),
        remote_id: Some(IkeIdentity::from(&peer.identity).canonical()),
        psk: PreSharedKey(zeroize::Zeroizing::new(
            conn.psk().map(|p| p.secret().to_vec()).unwrap_or_default(),
        )),
        local_auth: conn.auth.local,
        remote_auth: conn.auth.remote,
        local_subnets: conn.local_subnets.clone(),
        remote_subnets: conn.remote_subnets.clone(),
        ike_proposals: conn.ike_proposals.clone(),
        esp_proposals: conn.esp_proposals.clone(),
        ike_lifetime: conn.ike_lifetime,
        child_lifetime: conn.child_lifetime,
        dpd_interval: conn.dpd_interval,
        dpd_timeout: conn.dpd_timeout,
        initiate: conn.start_action == StartAction::Initiate,
        trap: conn.start_action == StartAction::Trap,
        if_id: config.gateway.hub.then(|| hub_if_id(&conn.name)),
        offload: conn.offload,
        pfs: conn.pfs,
        close_action: conn.close_action,
        version: conn.version,
        aggressive: conn.aggressive,
    })
}

impl EngineSettings {
    /// Engine settings for every connection the engine can run; the others are listed with
    /// the reason, so the caller can report them instead of silently ignoring them.
    pub fn from_config(config: &Config) -> (EngineSettings, Vec<Skipped>) {
        let mut connections = Vec::new();
        let mut skipped = Vec::new();
        for conn in &config.connections {
            match connection_settings(config, conn) {
                Ok(c) => connections.push(c),
                Err(reason) => skipped.push(Skipped {
                    connection: conn.name.clone(),
                    reason,
                }),
            }
        }
        let mut settings = EngineSettings::new(connections);
        settings.half_open = config.gateway.half_open;
        settings.credentials = config.gateway.credentials.clone();
        (settings, skipped)
    }
}
