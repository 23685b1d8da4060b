//! The TOML configuration file and its validated model.
//!
//! [`load`] reads a file, [`parse`] checks text; both return a [`Config`] or every problem
//! found ([`ConfigErrors`]), each naming the file, the line and column, the setting and why.
//!
//! # File format
//!
//! Every key, its default and its meaning are documented once, in the ikehub.toml(5) page:
//! docs/ikehub.toml.5.md (`cargo xtask dist` renders it; `reference_tests` checks that it
//! names every key `raw.rs` accepts). Proposals use strongSwan's compact syntax (see
//! `proposal.rs`); the defaults and why they interoperate with a stock strongSwan 5.9 are in
//! `defaults.rs`. Unknown keys are errors. The checks that span entries are documented in
//! `rules.rs` and `overlap.rs`.

mod close_action;
mod control_group;
mod credentials;
mod defaults;
mod document;
mod duration;
mod error;
mod host_name;
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
mod reference_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use credentials::{Credentials, LocalCredential};
pub use defaults::{
    CHILD_LIFETIME as DEFAULT_CHILD_LIFETIME, DPD_INTERVAL as DEFAULT_DPD_INTERVAL,
    ESP_PROPOSALS as DEFAULT_ESP_PROPOSALS, IKEV1_PROPOSALS as DEFAULT_IKEV1_PROPOSALS,
    IKEV2_PROPOSALS as DEFAULT_IKEV2_PROPOSALS, IKE_LIFETIME as DEFAULT_IKE_LIFETIME, MIN_LIFETIME,
};
pub use error::{ConfigError, ConfigErrors};
pub use hub::hub_if_id;
pub use limits::HalfOpenLimits;
pub use model::{
    Auth, AuthMethod, CloseAction, Config, Connection, ControlGroup, EspProposal, Gateway,
    Identity, IkeProposal, IkeVersion, Offload, Peer, PeerAddress, Pfs, Psk, Route, StartAction,
    WEIGHT_ACTIVE, WEIGHT_STANDBY,
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
    credentials::check(&entries, &mut d);
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
