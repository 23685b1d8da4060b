//! Turns each raw section into model values, one field at a time, reporting every bad field.
//!
//! Checks that involve more than one entry (names, references, overlaps, the route table) are
//! in `rules.rs`; defaults that depend on other entries are filled in by `finish`.

use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use toml::Spanned;

use super::defaults;
use super::duration;
use super::error::Diagnostics;
use super::identity::Identity;
use super::model::{
    Auth, AuthMethod, CloseAction, Connection, EspProposal, Gateway, IkeProposal, IkeVersion,
    Offload, Peer, PeerAddress, Pfs, Psk, Route, StartAction, WEIGHT_ACTIVE, WEIGHT_STANDBY,
};
use super::raw::{RawConnection, RawGateway, RawPeer, RawRoute, Strings, TimeSetting};
use super::secret;

/// A peer as far as its fields are valid: each field is None when missing or invalid (and the
/// reason has been reported). Cross-entry checks use whatever is there.
#[derive(Debug)]
pub(crate) struct PeerDraft {
    pub(crate) name: Option<String>,
    pub(crate) address: Option<PeerAddress>,
    pub(crate) identity: Option<Identity>,
}

impl PeerDraft {
    pub(crate) fn model(&self) -> Option<Peer> {
        Some(Peer {
            name: self.name.clone()?,
            address: self.address.clone()?,
            identity: self.identity.clone()?,
        })
    }
}

/// A connection as far as its fields are valid. Defaults that depend on the gateway, the peer
/// or other connections are still open.
#[derive(Debug)]
pub(crate) struct ConnectionDraft {
    pub(crate) name: Option<String>,
    pub(crate) peer: Option<String>,
    pub(crate) version: Option<IkeVersion>,
    pub(crate) auth: Option<Auth>,
    /// Some(None): not given; the default comes from the gateway (and, in hub mode, the other
    /// connections).
    pub(crate) local_subnets: Option<Option<Vec<IpNet>>>,
    pub(crate) remote_subnets: Option<Vec<IpNet>>,
    pub(crate) local_identity: Option<Option<Identity>>,
    pub(crate) ike_proposals: Option<Vec<IkeProposal>>,
    pub(crate) esp_proposals: Option<Vec<EspProposal>>,
    pub(crate) ike_lifetime: Option<Duration>,
    pub(crate) child_lifetime: Option<Duration>,
    pub(crate) dpd_interval: Option<Option<Duration>>,
    /// Some(None): not given; the retransmission schedule decides.
    pub(crate) dpd_timeout: Option<Option<Duration>>,
    /// Some(None): not given; the gateway's first local address of the peer's family.
    pub(crate) local_address: Option<Option<IpAddr>>,
    pub(crate) start_action: Option<StartAction>,
    /// Some(None): not given; the default is the gateway's.
    pub(crate) offload: Option<Option<Offload>>,
    pub(crate) pfs: Option<Pfs>,
    /// Some(None): not given; the default follows the start action.
    pub(crate) close_action: Option<Option<CloseAction>>,
    pub(crate) aggressive: Option<bool>,
}

/// A route as far as its fields are valid.
#[derive(Debug)]
pub(crate) struct RouteDraft {
    pub(crate) destination: Option<IpNet>,
    pub(crate) connection: Option<String>,
    pub(crate) weight: Option<u8>,
    pub(crate) publish: bool,
}

impl RouteDraft {
    pub(crate) fn model(&self) -> Option<Route> {
        Some(Route {
            destination: self.destination?,
            connection: self.connection.clone()?,
            weight: self.weight?,
            publish: self.publish,
        })
    }
}

/// Field-by-field conversion with error collection. Each `Option` result is None when the
/// field was missing or invalid (and the reason has been reported).
pub(crate) struct Validator<'d, 'a> {
    pub(crate) d: &'d mut Diagnostics<'a>,
    /// Directory that relative `psk_file` paths start from.
    pub(crate) base_dir: &'d Path,
    /// The configuration file and its permission bits, when it was read from a file: an
    /// inline `psk` is refused in a file group or others can read, as a `psk_file` is.
    pub(crate) file_mode: Option<(&'d Path, u32)>,
}

impl Validator<'_, '_> {
    fn fail(&mut self, span: &Range<usize>, field: String, message: impl Into<String>) {
        self.d.error(Some(span), field, message);
    }

    pub(crate) fn gateway(&mut self, raw: &RawGateway) -> Option<Gateway> {
        let name = self.name(raw.name.as_ref(), "gateway.name");
        let local_addresses = raw
            .local_addresses
            .as_ref()
            .and_then(|list| self.addresses(list, "gateway.local_addresses"));
        if let (Some(list), Some(addresses)) = (&raw.local_addresses, &local_addresses) {
            if addresses.is_empty() {
                self.fail(
                    &list.span(),
                    "gateway.local_addresses".into(),
                    "no local address: name at least one address IKE uses on this gateway",
                );
            }
        }
        let local_subnets = match &raw.local_subnets {
            Some(list) => self.subnets(list, "gateway.local_subnets"),
            None => Some(Vec::new()),
        };
        let hub = raw.hub.as_ref().is_some_and(|h| *h.get_ref());
        let offload = match &raw.offload {
            None => Some(Offload::default()),
            Some(text) => self.offload(text, "gateway.offload"),
        };
        let local_addresses = local_addresses.filter(|a| !a.is_empty());
        let half_open = self.half_open_limits(raw);
        let metrics_listen = match &raw.metrics_listen {
            None => Some(None),
            Some(text) => self.metrics_listen(text).map(Some),
        };
        let control_group = match &raw.control_group {
            None => Some(None),
            Some(text) => match super::control_group::resolve(text.get_ref()) {
                Ok(group) => Some(Some(group)),
                Err(message) => {
                    self.fail(&text.span(), "gateway.control_group".into(), message);
                    None
                }
            },
        };
        let credentials = self.credentials(raw);
        Some(Gateway {
            name: name?,
            local_addresses: local_addresses?,
            local_subnets: local_subnets?,
            hub,
            offload: offload?,
            half_open: half_open?,
            metrics_listen: metrics_listen?,
            control_group: control_group?,
            credentials: credentials?,
        })
    }

    /// `gateway.metrics_listen`: an address and port, e.g. "127.0.0.1:9669" or "[::1]:9669".
    fn metrics_listen(&mut self, text: &Spanned<String>) -> Option<SocketAddr> {
        match text.get_ref().parse::<SocketAddr>() {
            Ok(address) if address.port() != 0 => Some(address),
            Ok(_) => {
                self.fail(
                    &text.span(),
                    "gateway.metrics_listen".into(),
                    "port 0: give the port Prometheus scrapes, e.g. \"127.0.0.1:9669\"",
                );
                None
            }
            Err(_) => {
                self.fail(
                    &text.span(),
                    "gateway.metrics_listen".into(),
                    format!(
                        "{:?} is not an address and port: write e.g. \"127.0.0.1:9669\" or \"[::1]:9669\"",
                        text.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// The half-open limits: whole numbers from the key's minimum up to 2^32 - 1.
    fn half_open_limits(&mut self, raw: &RawGateway) -> Option<super::limits::HalfOpenLimits> {
        let mut limits = super::limits::HalfOpenLimits::default();
        let mut valid = true;
        for (key, value) in &raw.limits {
            let minimum = super::limits::KEYS
                .iter()
                .find(|(k, _)| k == key)
                .map_or(0, |(_, m)| *m);
            match u32::try_from(*value.get_ref()) {
                Ok(v) if i64::from(v) >= minimum => limits.set(key, v),
                _ => {
                    self.fail(
                        &value.span(),
                        format!("gateway.{key}"),
                        format!(
                            "{} is out of range: use a whole number from {minimum} to {}",
                            value.get_ref(),
                            u32::MAX
                        ),
                    );
                    valid = false;
                }
            }
        }
        valid.then_some(limits)
    }

    pub(crate) fn peer(&mut self, raw: &RawPeer) -> PeerDraft {
        let label = &raw.label;
        let name = self.name(raw.name.as_ref(), &format!("{label}.name"));
        let address = raw.address.as_ref().and_then(|text| {
            let value = text.get_ref().trim();
            if value.eq_ignore_ascii_case("any") {
                return Some(PeerAddress::Any);
            }
            if let Ok(addr) = value.parse::<IpAddr>() {
                return Some(PeerAddress::Addr(addr));
            }
            match super::host_name::parse(value) {
                Ok(name) => Some(PeerAddress::Name(name)),
                Err(why) => {
                    self.fail(
                        &text.span(),
                        format!("{label}.address"),
                        format!(
                            "\"{value}\" is not an IP address, a DNS name or \"any\": as a \
                             DNS name, {why}"
                        ),
                    );
                    None
                }
            }
        });
        let identity = match &raw.identity {
            Some(text) => self.identity(text, &format!("{label}.identity")),
            None => match &address {
                Some(PeerAddress::Addr(addr)) => Some(Identity::from_ip(*addr)),
                // Its address changes: the name is what stays, as an FQDN ID.
                Some(PeerAddress::Name(name)) => Some(Identity::Fqdn(name.clone())),
                Some(PeerAddress::Any) => {
                    let span = raw.address.as_ref().map_or(raw.span.clone(), |a| a.span());
                    self.fail(
                        &span,
                        format!("{label}.identity"),
                        "a peer with address \"any\" needs an identity: it is the only way to \
                         tell the peer apart",
                    );
                    None
                }
                None => None,
            },
        };
        PeerDraft {
            name,
            address,
            identity,
        }
    }

    pub(crate) fn connection(&mut self, raw: &RawConnection) -> ConnectionDraft {
        let label = raw.label.clone();
        let field = |key: &str| format!("{label}.{key}");
        let name = self.name(raw.name.as_ref(), &field("name"));
        let peer = raw.peer.as_ref().map(|p| p.get_ref().clone());
        let version = match &raw.version {
            None => Some(defaults::VERSION),
            Some(text) => match text.get_ref().as_str() {
                "ikev2" => Some(IkeVersion::V2),
                "ikev1" => Some(IkeVersion::V1),
                other => {
                    self.fail(
                        &text.span(),
                        field("version"),
                        format!("unknown version \"{other}\"; use \"ikev2\" or \"ikev1\""),
                    );
                    None
                }
            },
        };
        let auth = self.auth(raw, &label);
        let local_subnets = match &raw.local_subnets {
            None => Some(None),
            Some(list) => {
                let subnets = self.subnets(list, &field("local_subnets"));
                if subnets.as_ref().is_some_and(Vec::is_empty) {
                    self.fail(
                        &list.span(),
                        field("local_subnets"),
                        "empty list; leave the key out to use gateway.local_subnets",
                    );
                    None
                } else {
                    subnets.map(Some)
                }
            }
        };
        let remote_subnets = raw.remote_subnets.as_ref().and_then(|list| {
            let subnets = self.subnets(list, &field("remote_subnets"));
            if subnets.as_ref().is_some_and(Vec::is_empty) {
                self.fail(
                    &list.span(),
                    field("remote_subnets"),
                    "empty list; name the networks behind the peer",
                );
                return None;
            }
            subnets
        });
        let local_identity = match &raw.local_identity {
            None => Some(None),
            Some(text) => self.identity(text, &field("local_identity")).map(Some),
        };
        let ike_proposals = self.ike_proposals(raw, version, &field("ike_proposals"));
        let esp_proposals = self.esp_proposals(raw, version, &field("esp_proposals"));
        let ike_lifetime = self.lifetime(
            raw.ike_lifetime.as_ref(),
            defaults::IKE_LIFETIME,
            &field("ike_lifetime"),
        );
        let child_lifetime = self.lifetime(
            raw.child_lifetime.as_ref(),
            defaults::CHILD_LIFETIME,
            &field("child_lifetime"),
        );
        let dpd_interval = self.dpd(raw.dpd_interval.as_ref(), &field("dpd_interval"));
        let dpd_timeout = match &raw.dpd_timeout {
            None => Some(None),
            Some(raw) => self.dpd_timeout(raw, &field("dpd_timeout")).map(Some),
        };
        let local_address = match &raw.local_address {
            None => Some(None),
            Some(text) => match text.get_ref().trim().parse::<IpAddr>() {
                Ok(addr) => Some(Some(addr)),
                Err(_) => {
                    self.fail(
                        &text.span(),
                        field("local_address"),
                        format!("\"{}\" is not an IP address", text.get_ref().trim()),
                    );
                    None
                }
            },
        };
        let start_action = match &raw.start_action {
            None => Some(defaults::START_ACTION),
            Some(text) => match text.get_ref().as_str() {
                "initiate" => Some(StartAction::Initiate),
                "listen" => Some(StartAction::Listen),
                "trap" => Some(StartAction::Trap),
                other => {
                    self.fail(
                        &text.span(),
                        field("start_action"),
                        format!(
                            "unknown start action \"{other}\"; use \"initiate\", \"listen\" or \"trap\""
                        ),
                    );
                    None
                }
            },
        };
        let offload = match &raw.offload {
            None => Some(None),
            Some(text) => self.offload(text, &field("offload")).map(Some),
        };
        let pfs = self.pfs(raw, esp_proposals.as_deref(), &field("pfs"));
        let close_action = match &raw.close_action {
            None => Some(None),
            Some(text) => match CloseAction::parse(text.get_ref()) {
                Some(action) => Some(Some(action)),
                None => {
                    self.fail(
                        &text.span(),
                        field("close_action"),
                        format!(
                            "unknown close action \"{}\"; use {}",
                            text.get_ref(),
                            CloseAction::CHOICES
                        ),
                    );
                    None
                }
            },
        };
        let aggressive = match &raw.aggressive {
            Some(flag) if *flag.get_ref() && version == Some(IkeVersion::V2) => {
                self.fail(
                    &flag.span(),
                    field("aggressive"),
                    "Aggressive Mode exists only in IKEv1; set version = \"ikev1\" or leave it out",
                );
                None
            }
            Some(flag) => Some(*flag.get_ref()),
            None => Some(false),
        };
        ConnectionDraft {
            aggressive,
            close_action,
            offload,
            pfs,
            name,
            peer,
            version,
            auth,
            local_subnets,
            remote_subnets,
            local_identity,
            ike_proposals,
            esp_proposals,
            ike_lifetime,
            child_lifetime,
            dpd_interval,
            dpd_timeout,
            local_address,
            start_action,
        }
    }

    pub(crate) fn route(&mut self, raw: &RawRoute) -> RouteDraft {
        let label = &raw.label;
        let destination = raw
            .destination
            .as_ref()
            .and_then(|text| self.subnet(text, &format!("{label}.destination")));
        let connection = raw.connection.as_ref().map(|c| c.get_ref().clone());
        let weight = match &raw.weight {
            None => Some(WEIGHT_ACTIVE),
            Some(w) => match u8::try_from(*w.get_ref()) {
                Ok(weight) if weight == WEIGHT_ACTIVE || weight == WEIGHT_STANDBY => Some(weight),
                _ => {
                    self.fail(
                        &w.span(),
                        format!("{label}.weight"),
                        format!(
                            "weight {} is neither {WEIGHT_ACTIVE} (active) nor {WEIGHT_STANDBY} (standby)",
                            w.get_ref()
                        ),
                    );
                    None
                }
            },
        };
        let publish = raw.publish.as_ref().is_some_and(|p| *p.get_ref());
        RouteDraft {
            destination,
            connection,
            weight,
            publish,
        }
    }

    /// Names end up in the command line, logs and the control protocol: keep them plain.
    fn name(&mut self, raw: Option<&Spanned<String>>, field: &str) -> Option<String> {
        let raw = raw?;
        let name = raw.get_ref();
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
            self.fail(
                &raw.span(),
                field.into(),
                format!(
                    "{name:?} is not a valid name: use 1 to 64 letters, digits, '-', '_' or '.'"
                ),
            );
            return None;
        }
        Some(name.clone())
    }

    fn offload(&mut self, text: &Spanned<String>, field: &str) -> Option<Offload> {
        let value = Offload::parse(text.get_ref());
        if value.is_none() {
            self.fail(
                &text.span(),
                field.to_owned(),
                format!(
                    "unknown offload mode \"{}\"; use {}",
                    text.get_ref(),
                    Offload::CHOICES
                ),
            );
        }
        value
    }

    /// `pfs`: "optional" (default) or "required"; required PFS needs a key exchange group in
    /// every ESP proposal, or a rekey could be offered without one.
    fn pfs(
        &mut self,
        raw: &RawConnection,
        esp_proposals: Option<&[EspProposal]>,
        field: &str,
    ) -> Option<Pfs> {
        let Some(text) = &raw.pfs else {
            return Some(Pfs::default());
        };
        let Some(value) = Pfs::parse(text.get_ref()) else {
            self.fail(
                &text.span(),
                field.to_owned(),
                format!(
                    "unknown PFS setting \"{}\"; use {}",
                    text.get_ref(),
                    Pfs::CHOICES
                ),
            );
            return None;
        };
        let without_group = esp_proposals
            .unwrap_or_default()
            .iter()
            .position(|p| p.dh.is_empty());
        if let (Pfs::Required, Some(index)) = (value, without_group) {
            self.fail(
                &text.span(),
                field.to_owned(),
                format!(
                    "pfs = \"required\" but esp_proposals[{index}] names no key exchange \
                     group (e.g. \"aes128gcm16-ecp256\")"
                ),
            );
            return None;
        }
        Some(value)
    }

    fn identity(&mut self, text: &Spanned<String>, field: &str) -> Option<Identity> {
        match Identity::parse(text.get_ref()) {
            Ok(identity) => Some(identity),
            Err(message) => {
                self.fail(&text.span(), field.into(), message);
                None
            }
        }
    }

    fn addresses(&mut self, list: &Strings, field: &str) -> Option<Vec<IpAddr>> {
        let mut addresses = Vec::new();
        let mut ok = true;
        for (index, text) in list.get_ref().iter().enumerate() {
            let value = text.get_ref().trim();
            match value.parse::<IpAddr>() {
                Ok(addr) if addresses.contains(&addr) => {
                    self.fail(
                        &text.span(),
                        format!("{field}[{index}]"),
                        format!("{addr} is listed twice"),
                    );
                    ok = false;
                }
                Ok(addr) => addresses.push(addr),
                Err(_) => {
                    self.fail(
                        &text.span(),
                        format!("{field}[{index}]"),
                        format!("\"{value}\" is not an IP address"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(addresses)
    }

    fn subnets(&mut self, list: &Strings, field: &str) -> Option<Vec<IpNet>> {
        let mut subnets = Vec::new();
        let mut ok = true;
        for (index, text) in list.get_ref().iter().enumerate() {
            match self.subnet(text, &format!("{field}[{index}]")) {
                Some(net) => subnets.push(net),
                None => ok = false,
            }
        }
        ok.then_some(subnets)
    }

    /// A subnet in CIDR notation; a bare address means that one host.
    fn subnet(&mut self, text: &Spanned<String>, field: &str) -> Option<IpNet> {
        match parse_subnet(text.get_ref()) {
            Ok(net) => Some(net),
            Err(message) => {
                self.fail(&text.span(), field.into(), message);
                None
            }
        }
    }

    /// `local_auth`, `remote_auth` and the pre-shared key, required when either end uses
    /// one and refused when neither does (a key that is never used is a mistake).
    fn auth(&mut self, raw: &RawConnection, label: &str) -> Option<Auth> {
        let local = self.auth_method(raw.local_auth.as_ref(), &format!("{label}.local_auth"));
        let remote = self.auth_method(raw.remote_auth.as_ref(), &format!("{label}.remote_auth"));
        let (local, remote) = (local?, remote?);
        let uses_psk = local == AuthMethod::Psk || remote == AuthMethod::Psk;
        if !uses_psk {
            if let Some(given) = raw
                .psk_file
                .as_ref()
                .map(|f| (f.span(), "psk_file"))
                .or(raw.psk.as_ref().map(|p| (p.span(), "psk")))
            {
                self.fail(
                    &given.0,
                    format!("{label}.{}", given.1),
                    "both ends authenticate with certificates (local_auth and remote_auth are \
                     \"pubkey\"): remove the pre-shared key",
                );
                return None;
            }
            return Some(Auth {
                local,
                remote,
                psk: None,
            });
        }
        let psk = self.psk(raw, label)?;
        Some(Auth {
            local,
            remote,
            psk: Some(psk),
        })
    }

    fn auth_method(&mut self, text: Option<&Spanned<String>>, field: &str) -> Option<AuthMethod> {
        let Some(text) = text else {
            return Some(AuthMethod::Psk);
        };
        match text.get_ref().as_str() {
            "psk" => Some(AuthMethod::Psk),
            "pubkey" => Some(AuthMethod::Pubkey),
            other => {
                self.fail(
                    &text.span(),
                    field.to_string(),
                    format!("unknown authentication \"{other}\"; use \"psk\" or \"pubkey\""),
                );
                None
            }
        }
    }

    fn psk(&mut self, raw: &RawConnection, label: &str) -> Option<Psk> {
        match (&raw.psk, &raw.psk_file) {
            (Some(_), Some(file)) => {
                self.fail(
                    &file.span(),
                    format!("{label}.psk_file"),
                    "give either psk or psk_file, not both",
                );
                None
            }
            (None, None) => {
                self.fail(
                    &raw.span,
                    format!("{label}.psk"),
                    "no pre-shared key: set psk_file (or psk), or local_auth and remote_auth = \"pubkey\" for certificates",
                );
                None
            }
            (Some(inline), None) => {
                if inline.get_ref().is_empty() {
                    self.fail(
                        &inline.span(),
                        format!("{label}.psk"),
                        "the pre-shared key is empty",
                    );
                    return None;
                }
                let too_open = self
                    .file_mode
                    .and_then(|(path, mode)| secret::too_open(path, mode));
                if let Some(why) = too_open {
                    self.fail(
                        &inline.span(),
                        format!("{label}.psk"),
                        format!("the key is inline and {why} (or move the key to a psk_file)"),
                    );
                    return None;
                }
                let secret = zeroize::Zeroizing::new(inline.get_ref().as_bytes().to_vec());
                Some(Psk::new(secret))
            }
            (None, Some(file)) => {
                let path = self.base_dir.join(file.get_ref());
                match secret::read_psk_file(&path) {
                    Ok(psk) => Some(psk),
                    Err(message) => {
                        self.fail(&file.span(), format!("{label}.psk_file"), message);
                        None
                    }
                }
            }
        }
    }

    fn ike_proposals(
        &mut self,
        raw: &RawConnection,
        version: Option<IkeVersion>,
        field: &str,
    ) -> Option<Vec<IkeProposal>> {
        let Some(list) = &raw.ike_proposals else {
            return Some(defaults::ike_proposals(
                version.unwrap_or(defaults::VERSION),
            ));
        };
        let parsed = self.proposals(list, field, IkeProposal::parse)?;
        let mut ok = true;
        if version == Some(IkeVersion::V1) {
            for ((proposal, text), index) in parsed.iter().zip(list.get_ref()).zip(0..) {
                if let Some(aead) = proposal.encryption.iter().find(|e| e.is_aead()) {
                    self.fail(
                        &text.span(),
                        format!("{field}[{index}]"),
                        format!("IKEv1 has no AEAD cipher for the IKE SA ({aead}); use e.g. aes128-sha256-modp2048"),
                    );
                    ok = false;
                } else if !proposal.is_single_choice() {
                    self.fail(
                        &text.span(),
                        format!("{field}[{index}]"),
                        "an IKEv1 proposal takes one algorithm of each kind; write the \
                         alternatives as separate proposals",
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(parsed)
    }

    fn esp_proposals(
        &mut self,
        raw: &RawConnection,
        version: Option<IkeVersion>,
        field: &str,
    ) -> Option<Vec<EspProposal>> {
        let Some(list) = &raw.esp_proposals else {
            return Some(defaults::esp_proposals());
        };
        let parsed = self.proposals(list, field, EspProposal::parse)?;
        let mut ok = true;
        if version == Some(IkeVersion::V1) {
            for ((proposal, text), index) in parsed.iter().zip(list.get_ref()).zip(0..) {
                if !proposal.is_single_choice() {
                    self.fail(
                        &text.span(),
                        format!("{field}[{index}]"),
                        "an IKEv1 proposal takes one algorithm of each kind; write the \
                         alternatives as separate proposals",
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(parsed)
    }

    fn proposals<P>(
        &mut self,
        list: &Strings,
        field: &str,
        parse: fn(&str) -> Result<P, String>,
    ) -> Option<Vec<P>> {
        if list.get_ref().is_empty() {
            self.fail(
                &list.span(),
                field.into(),
                "empty list; leave the key out to use the defaults",
            );
            return None;
        }
        let mut parsed = Vec::new();
        let mut ok = true;
        for (index, text) in list.get_ref().iter().enumerate() {
            match parse(text.get_ref()) {
                Ok(p) => parsed.push(p),
                Err(message) => {
                    self.fail(
                        &text.span(),
                        format!("{field}[{index}]"),
                        format!("\"{}\": {message}", text.get_ref()),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(parsed)
    }

    fn duration(&mut self, raw: &Spanned<TimeSetting>, field: &str) -> Option<Duration> {
        let result = match raw.get_ref() {
            TimeSetting::Text(text) => duration::parse(text),
            TimeSetting::Seconds(seconds) => u64::try_from(*seconds)
                .map(Duration::from_secs)
                .map_err(|_| format!("{seconds} is negative")),
        };
        match result {
            Ok(d) => Some(d),
            Err(message) => {
                self.fail(&raw.span(), field.into(), message);
                None
            }
        }
    }

    fn lifetime(
        &mut self,
        raw: Option<&Spanned<TimeSetting>>,
        default: Duration,
        field: &str,
    ) -> Option<Duration> {
        let Some(raw) = raw else {
            return Some(default);
        };
        let lifetime = self.duration(raw, field)?;
        if lifetime < defaults::MIN_LIFETIME {
            self.fail(
                &raw.span(),
                field.into(),
                format!(
                    "{} is too short; the minimum is {}",
                    duration::format(lifetime),
                    duration::format(defaults::MIN_LIFETIME)
                ),
            );
            return None;
        }
        Some(lifetime)
    }

    fn dpd_timeout(&mut self, raw: &Spanned<TimeSetting>, field: &str) -> Option<Duration> {
        let timeout = self.duration(raw, field)?;
        if timeout < defaults::MIN_DPD_TIMEOUT {
            self.fail(
                &raw.span(),
                field.into(),
                format!(
                    "{} is too short; the minimum is {}",
                    duration::format(timeout),
                    duration::format(defaults::MIN_DPD_TIMEOUT)
                ),
            );
            return None;
        }
        Some(timeout)
    }

    /// Some(None): DPD off.
    fn dpd(&mut self, raw: Option<&Spanned<TimeSetting>>, field: &str) -> Option<Option<Duration>> {
        let Some(raw) = raw else {
            return Some(Some(defaults::DPD_INTERVAL));
        };
        if matches!(raw.get_ref(), TimeSetting::Text(t) if t.trim() == "off") {
            return Some(None);
        }
        let interval = self.duration(raw, field)?;
        if interval < defaults::MIN_DPD_INTERVAL {
            self.fail(
                &raw.span(),
                field.into(),
                format!(
                    "{} is too short; the minimum is {} (write \"off\" to disable DPD)",
                    duration::format(interval),
                    duration::format(defaults::MIN_DPD_INTERVAL)
                ),
            );
            return None;
        }
        Some(Some(interval))
    }
}

/// Parses `address/prefix` (or a bare address: one host), rejecting host bits.
pub(crate) fn parse_subnet(text: &str) -> Result<IpNet, String> {
    let value = text.trim();
    let net = if value.contains('/') {
        value
            .parse::<IpNet>()
            .map_err(|_| format!("\"{value}\" is not a subnet (write it like 10.0.0.0/16)"))?
    } else {
        value
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| format!("\"{value}\" is not a subnet (write it like 10.0.0.0/16)"))?
    };
    if net.trunc() != net {
        return Err(format!(
            "{net} has host bits set; did you mean {}?",
            net.trunc()
        ));
    }
    Ok(net)
}

/// Completes a draft once the gateway is known and cross-entry checks have passed.
/// None if any field is missing (which has been reported).
pub(crate) fn finish(
    draft: ConnectionDraft,
    gateway: &Gateway,
    peer: &Peer,
    local_subnets: Vec<IpNet>,
) -> Option<Connection> {
    let local_address = draft
        .local_address?
        .or_else(|| gateway.local_address_for(&peer.address))?;
    let auth = draft.auth?;
    // With a certificate, the default identity is its subject, as strongSwan's.
    let certificate_subject = gateway
        .credentials
        .as_ref()
        .and_then(|c| c.local.as_ref())
        .filter(|_| auth.local == AuthMethod::Pubkey)
        .map(|l| Identity::Dn(l.certificate.subject_der.clone()));
    let local_identity = draft
        .local_identity?
        .or(certificate_subject)
        .unwrap_or_else(|| Identity::from_ip(local_address));
    let start_action = draft.start_action?;
    Some(Connection {
        name: draft.name?,
        peer: draft.peer?,
        version: draft.version?,
        auth,
        local_subnets,
        remote_subnets: draft.remote_subnets?,
        local_identity,
        ike_proposals: draft.ike_proposals?,
        esp_proposals: draft.esp_proposals?,
        ike_lifetime: draft.ike_lifetime?,
        child_lifetime: draft.child_lifetime?,
        dpd_interval: draft.dpd_interval?,
        dpd_timeout: draft.dpd_timeout?,
        local_address,
        start_action,
        close_action: draft
            .close_action?
            .unwrap_or_else(|| CloseAction::default_for(start_action)),
        offload: draft.offload?.unwrap_or(gateway.offload),
        pfs: draft.pfs?,
        aggressive: draft.aggressive?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        assert_eq!(
            parse_subnet("10.0.0.0/16").map(|n| n.to_string()),
            Ok("10.0.0.0/16".into())
        );
        assert_eq!(
            parse_subnet("192.0.2.7").map(|n| n.to_string()),
            Ok("192.0.2.7/32".into())
        );
        assert_eq!(
            parse_subnet("2001:db8::/32").map(|n| n.to_string()),
            Ok("2001:db8::/32".into())
        );
        let e = parse_subnet("10.0.0.1/16").expect_err("host bits");
        assert!(
            e.contains("10.0.0.1/16") && e.contains("10.0.0.0/16"),
            "{e}"
        );
        assert!(parse_subnet("10.0.0.0/33").is_err());
        assert!(parse_subnet("office").is_err());
    }
}
