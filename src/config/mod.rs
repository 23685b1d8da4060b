//! The TOML configuration file and its validated model.
//!
//! [`load`] reads a file, [`parse`] checks text; both return a [`Config`] or every problem
//! found ([`ConfigErrors`]), each naming the file, the line and column, the setting and why.
//!
//! # File format
//!
//! ```toml
//! [gateway]
//! name = "hub"                      # required; letters, digits, '-', '_', '.'
//! local_addresses = ["192.0.2.1"]   # required, at least one: IKE runs on these
//! local_subnets = ["10.0.0.0/16"]   # networks behind this gateway; default: none
//! hub = true                        # route-based hub: an xfrm interface per connection,
//!                                   # forwarding between them; default: false
//! offload = "none"                  # ESP hardware offload of every connection that does
//!                                   # not set its own: "none" (default), "crypto", "packet"
//!                                   # (both strict: the SA fails if the device refuses it),
//!                                   # "auto" (packet, else crypto, else none, per SA)
//! cookie_threshold = 1000           # half-open IKE SAs (IKE_SA_INIT answered, no IKE_AUTH
//!                                   # yet) above which initiators must return a cookie
//! half_open_per_address = 1000      # half-open SAs one address may hold,
//! half_open_limit = 10000           # in all,
//! half_open_memory_mib = 32         # and the IKE_SA_INIT bytes they may keep; requests
//!                                   # beyond are dropped and counted (dropped_half_open)
//!
//! [[peer]]                          # one per remote gateway
//! name = "shanghai"                 # required, unique among peers
//! address = "198.51.100.10"         # required: an IP address, or "any" (respond only)
//! identity = "198.51.100.10"        # IKE ID the peer presents; default: its address
//!                                   # (required with address "any"). Forms: IP literal,
//!                                   # "vpn.example.com" (FQDN), "user@example.com" (email),
//!                                   # "keyid:#0a1b..." (key ID, hex) -- see identity.rs.
//!
//! [[connection]]                    # one per tunnel
//! name = "shanghai"                 # required, unique among connections
//! peer = "shanghai"                 # required: a [[peer]] name
//! version = "ikev2"                 # or "ikev1"; default "ikev2"
//! psk_file = "secrets/shanghai.psk" # relative to this file; mode 600 (or psk = "...",
//!                                   #   in a configuration file of mode 600)
//! local_subnets = ["10.0.0.0/16"]   # default: gateway.local_subnets (in hub mode: any,
//!                                   # 0.0.0.0/0 and/or ::/0; routes decide, see hub.rs)
//! remote_subnets = ["10.10.10.0/24"]  # required
//! local_identity = "192.0.2.1"      # our IKE ID; default: the gateway's first local
//!                                   # address of the peer's address family
//! ike_proposals = ["aes128gcm16-prfsha256-ecp256", "aes256-sha256-modp2048"]
//! esp_proposals = ["aes128gcm16-ecp256", "aes256-sha256-ecp256"]  # a group: PFS on rekeys;
//!                                   # default "aes128gcm16-ecp256-modp2048",
//!                                   # "aes128-sha256-ecp256-modp2048" (defaults.rs says why)
//! pfs = "optional"                  # CHILD_SAs of CREATE_CHILD_SA: "optional" (default:
//!                                   # ours carry a key exchange, the peer's may or may not)
//!                                   # or "required" (one without is refused with
//!                                   # NO_PROPOSAL_CHOSEN); IKE_AUTH's first never has one
//! ike_lifetime = "4h"               # s, m, h, d (or bare seconds); minimum 10s
//! child_lifetime = "1h"
//! dpd_interval = "30s"              # "off" disables dead peer detection
//! dpd_timeout = "10s"               # declare the peer dead when a request is unanswered
//!                                   # this long; default: when retransmissions run out
//!                                   # (~165 s); minimum 2s
//! local_address = "192.0.2.1"       # one of gateway.local_addresses; default: the first
//!                                   # of the peer's family (a second uplink names its own)
//! start_action = "initiate"         # "initiate" (at start, and again after a failure),
//!                                   # "listen" (default: wait for the peer) or "trap" (on
//!                                   # demand: the policies are installed without SAs and
//!                                   # the first packet matching them initiates; they stay
//!                                   # when the tunnel goes down, so the next packet brings
//!                                   # it up again). "initiate" and "trap" need a peer
//!                                   # address other than "any"
//! close_action = "restart"          # when the IKE SA ends without our delete (the peer
//!                                   # deleted it, it was found dead, a negotiation or a
//!                                   # CHILD_SA replacement failed): "restart" (initiate
//!                                   # again with backoff; default with "initiate"),
//!                                   # "trap" (policies without SAs: the next packet
//!                                   # initiates; default with "trap") or "none" (default
//!                                   # with "listen")
//! offload = "crypto"                # default: gateway.offload (see above)
//!
//! [[route]]                         # destination route table
//! destination = "10.10.10.0/24"     # required; inside the connection's remote subnets
//! connection = "shanghai"           # required: a [[connection]] name
//! weight = 100                      # 100 active (default), 0 standby
//! publish = true                    # also install in the main routing table; default false
//! ```
//!
//! Proposals use strongSwan's compact syntax (see `proposal.rs`); the defaults and why they
//! interoperate with a stock strongSwan 5.9 are in `defaults.rs`. Unknown keys are errors.
//! The checks that span entries are documented in `rules.rs` and `overlap.rs`.

mod close_action;
mod defaults;
mod document;
mod duration;
mod error;
mod hub;
mod identity;
mod limits;
mod model;
mod offload;
mod overlap;
mod pfs;
mod proposal;
mod raw;
mod rules;
mod secret;
mod summary;
mod validate;
mod warnings;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use defaults::{
    CHILD_LIFETIME as DEFAULT_CHILD_LIFETIME, DPD_INTERVAL as DEFAULT_DPD_INTERVAL,
    ESP_PROPOSALS as DEFAULT_ESP_PROPOSALS, IKEV1_PROPOSALS as DEFAULT_IKEV1_PROPOSALS,
    IKEV2_PROPOSALS as DEFAULT_IKEV2_PROPOSALS, IKE_LIFETIME as DEFAULT_IKE_LIFETIME, MIN_LIFETIME,
};
pub use error::{ConfigError, ConfigErrors};
pub use hub::hub_if_id;
pub use limits::HalfOpenLimits;
pub use model::{
    Auth, CloseAction, Config, Connection, EspProposal, Gateway, Identity, IkeProposal, IkeVersion,
    Offload, Peer, PeerAddress, Pfs, Psk, Route, StartAction, WEIGHT_ACTIVE, WEIGHT_STANDBY,
};

use error::Diagnostics;
use rules::Entries;
use validate::Validator;

/// Reads, parses and validates a configuration file.
///
/// An inline `psk` is refused (with every other error) when the file is readable by group or
/// others, as a `psk_file` is.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    // The text may hold inline secrets: wipe it when done. The mode is the opened file's.
    let read = || -> std::io::Result<(zeroize::Zeroizing<String>, Option<u32>)> {
        use std::io::Read;
        let mut file = std::fs::File::open(path)?;
        let mode = secret::file_mode(&file.metadata()?);
        let mut text = zeroize::Zeroizing::new(String::new());
        file.read_to_string(&mut text)?;
        Ok((text, mode))
    };
    let (text, mode) = match read() {
        Ok(read) => read,
        Err(e) => {
            return Err(ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line_col: None,
                field: String::new(),
                message: format!("cannot read the configuration: {e}"),
            }]))
        }
    };
    parse_text(&text, path, mode)
}

/// Parses and validates configuration text. `origin` names the file in errors and is the base
/// for relative `psk_file` paths (its parent directory). Text that comes from no file has no
/// mode to check: [`load`] checks the file's.
pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigErrors> {
    parse_text(text, origin, None)
}

/// [`parse`], with the permission bits of the file the text was read from.
fn parse_text(text: &str, origin: &Path, file_mode: Option<u32>) -> Result<Config, ConfigErrors> {
    let mut d = Diagnostics::new(origin, text);
    let root = match document::parse(text) {
        Ok(root) => root,
        Err(e) => {
            d.error(
                e.span().as_ref(),
                "",
                format!("TOML syntax: {}", e.message().trim()),
            );
            return Err(d.into_errors());
        }
    };
    let raw = raw::read(root, &mut d);

    let base_dir = origin.parent().unwrap_or(Path::new("."));
    let mut v = Validator {
        d: &mut d,
        base_dir,
        file_mode: file_mode.map(|mode| (origin, mode)),
    };
    let gateway = raw.gateway.as_ref().and_then(|g| v.gateway(g));
    let peers: Vec<_> = raw.peers.iter().map(|p| v.peer(p)).collect();
    let connections: Vec<_> = raw.connections.iter().map(|c| v.connection(c)).collect();
    let routes: Vec<_> = raw.routes.iter().map(|r| v.route(r)).collect();

    let entries = Entries {
        raw: &raw,
        gateway: gateway.as_ref(),
        peers: &peers,
        connections: &connections,
        routes: &routes,
    };
    rules::check(&entries, &mut d);
    hub::check(&entries, &mut d);
    let locals = overlap::local_subnets(&entries, &mut d);
    overlap::check(&entries, &locals, &mut d);
    if d.has_errors() {
        return Err(d.into_errors());
    }

    // Every None above came with an error, so from here on all entries are present.
    assemble(gateway, peers, connections, locals, routes).ok_or_else(|| {
        d.error(None, "", "invalid configuration");
        d.into_errors()
    })
}

fn assemble(
    gateway: Option<Gateway>,
    peers: Vec<validate::PeerDraft>,
    connections: Vec<validate::ConnectionDraft>,
    locals: Vec<Option<Vec<ipnet::IpNet>>>,
    routes: Vec<validate::RouteDraft>,
) -> Option<Config> {
    let gateway = gateway?;
    let peers: Vec<Peer> = peers
        .iter()
        .map(validate::PeerDraft::model)
        .collect::<Option<_>>()?;
    let routes: Vec<Route> = routes
        .iter()
        .map(validate::RouteDraft::model)
        .collect::<Option<_>>()?;
    let connections = connections
        .into_iter()
        .zip(locals)
        .map(|(draft, local)| {
            let peer = peers
                .iter()
                .find(|p| Some(&p.name) == draft.peer.as_ref())?;
            validate::finish(draft, &gateway, peer, local?)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Config {
        gateway,
        peers,
        connections,
        routes,
    })
}
