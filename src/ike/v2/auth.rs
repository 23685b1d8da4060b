//! IKE_AUTH (RFC 7296 1.2, 2.15): identities, PSK or certificate authentication (see
//! `signature.rs`) and the first CHILD_SA.

use std::time::Instant;

use tracing::debug;

use crate::config::{AuthMethod as AuthKind, Credentials};
use crate::crypto::auth::{psk_auth, signed_octets, verify_psk_auth};
use crate::crypto::keymat::derive_child_keys;
use crate::wire::ikev2::{
    AuthMethod, AuthPayload, ExchangeType, IdType, Identification, NotifyType, Payload, SaPayload,
    TrafficSelector,
};

use super::super::child::NewChild;
use super::super::context::Context;
use super::super::engine::Fate;
use super::super::error::Failure;
use super::super::output::{ConnId, DownReason, Event};
use super::super::peer_certificate::PeerCertificate;
use super::super::sa::{IkeSa, SaState};
use super::super::selector;
use super::super::settings::{ConnectionSettings, IdentityKind, IkeIdentity};
use super::super::timer::{Timer, TimerQueue};
use super::informational::{error_notify, notify};
use super::message;
use super::proposal::{accept_esp, describe, esp_sa_payload, select_esp};
use super::sa::{AuthContext, AuthKeys, Expect, SaCrypto};
use super::signature;
use super::ts;

fn identification(id: &IkeIdentity) -> Identification {
    let id_type = match id.kind {
        IdentityKind::Ipv4 => IdType::Ipv4Addr,
        IdentityKind::Ipv6 => IdType::Ipv6Addr,
        IdentityKind::Fqdn => IdType::Fqdn,
        IdentityKind::Email => IdType::Rfc822Addr,
        IdentityKind::Dn => IdType::DerAsn1Dn,
        IdentityKind::KeyId => IdType::KeyId,
        IdentityKind::Other(raw) => IdType::from(raw),
    };
    Identification {
        id_type,
        data: id.data.clone(),
    }
}

fn identity(id: &Identification) -> IkeIdentity {
    let kind = match id.id_type {
        IdType::Ipv4Addr => IdentityKind::Ipv4,
        IdType::Ipv6Addr => IdentityKind::Ipv6,
        IdType::Fqdn => IdentityKind::Fqdn,
        IdType::Rfc822Addr => IdentityKind::Email,
        IdType::DerAsn1Dn => IdentityKind::Dn,
        IdType::KeyId => IdentityKind::KeyId,
        other => IdentityKind::Other(other.value()),
    };
    IkeIdentity {
        kind,
        data: id.data.clone(),
    }
    .canonical()
}

/// The payloads of an IKE_AUTH message we look at.
#[derive(Default)]
struct AuthPayloads<'a> {
    idi: Option<&'a Identification>,
    idr: Option<&'a Identification>,
    auth: Option<&'a AuthPayload>,
    sa: Option<&'a SaPayload>,
    tsi: Option<&'a [TrafficSelector]>,
    tsr: Option<&'a [TrafficSelector]>,
    error: Option<NotifyType>,
    initial_contact: bool,
}

fn collect(payloads: &[Payload]) -> AuthPayloads<'_> {
    let mut p = AuthPayloads::default();
    for payload in payloads {
        match payload {
            Payload::IdI(id) => p.idi = Some(id),
            Payload::IdR(id) => p.idr = Some(id),
            Payload::Auth(a) => p.auth = Some(a),
            Payload::Sa(s) => p.sa = Some(s),
            Payload::TsI(t) => p.tsi = Some(t),
            Payload::TsR(t) => p.tsr = Some(t),
            Payload::Notify(n) if n.notify_type.is_error() && p.error.is_none() => {
                p.error = Some(n.notify_type)
            }
            Payload::Notify(n) if n.notify_type == NotifyType::InitialContact => {
                p.initial_contact = true
            }
            _ => {}
        }
    }
    p
}

/// What signing or verifying AUTH needs (RFC 7296 2.15).
struct AuthInputs<'a> {
    settings: &'a ConnectionSettings,
    /// Both IKE_SA_INIT messages and nonces.
    init: &'a AuthContext,
    crypto: &'a SaCrypto,
    /// SK_pi and SK_pr.
    auth_keys: &'a AuthKeys,
    /// The gateway's certificate, key and CAs, if any.
    credentials: Option<&'a Credentials>,
}

/// The connection's settings and what IKE_SA_INIT left behind; `None` if any is gone.
fn auth_inputs<'a>(
    settings: Option<&'a ConnectionSettings>,
    credentials: Option<&'a Credentials>,
    sa: &'a IkeSa,
) -> Option<AuthInputs<'a>> {
    let crypto = sa.v2.crypto.as_ref()?;
    Some(AuthInputs {
        settings: settings?,
        init: sa.v2.auth_context()?,
        crypto,
        auth_keys: crypto.auth_keys.as_ref()?,
        credentials,
    })
}

/// Our AUTH payload (and CERT payloads before it, for a signature) over `octets`' inputs:
/// the message we sent in IKE_SA_INIT, the peer's nonce, our SK_p and our ID (RFC 7296 2.15).
fn our_auth(
    inputs: &AuthInputs,
    message: &[u8],
    peer_nonce: &[u8],
    sk_p: &[u8],
    id_body: &[u8],
) -> Result<(Vec<Payload>, AuthPayload), String> {
    let prf = inputs.crypto.suite.prf;
    let settings = inputs.settings;
    match settings.local_auth {
        AuthKind::Psk => Ok((
            Vec::new(),
            AuthPayload {
                method: AuthMethod::SharedKeyMic,
                data: psk_auth(prf, &settings.psk.0, message, peer_nonce, sk_p, id_body).to_vec(),
            },
        )),
        AuthKind::Pubkey => {
            let local = inputs
                .credentials
                .and_then(|c| c.local.as_ref())
                .ok_or("the gateway has no certificate and key")?;
            let octets = signed_octets(prf, message, peer_nonce, sk_p, id_body);
            let auth = signature::sign(local, inputs.init.peer_hashes.as_deref(), &octets)?;
            Ok((signature::certificates(local).collect(), auth))
        }
    }
}

/// Verifies the peer's AUTH payload the way the connection expects it to authenticate, over
/// the peer's IKE_SA_INIT message, our nonce, the peer's SK_p and its ID. The peer's
/// certificate, if it authenticated with one; or why it is refused.
#[allow(clippy::too_many_arguments)]
fn verify_peer_auth(
    inputs: &AuthInputs,
    unix_time: Option<u64>,
    payloads: &[Payload],
    identity: &IkeIdentity,
    auth: &AuthPayload,
    (message, our_nonce, sk_p, id_body): (&[u8], &[u8], &[u8], &[u8]),
) -> Result<Option<PeerCertificate>, String> {
    let settings = inputs.settings;
    let prf = inputs.crypto.suite.prf;
    match (settings.remote_auth, auth.method) {
        (AuthKind::Psk, AuthMethod::SharedKeyMic) => {
            if verify_psk_auth(prf, &settings.psk.0, message, our_nonce, sk_p, id_body, &auth.data) {
                Ok(None)
            } else {
                Err(format!(
                    "AUTH payload of {identity} (psk) does not verify with the pre-shared key of connection {} (we are {}, auth {})",
                    settings.name, settings.local_id, settings.local_auth
                ))
            }
        }
        (AuthKind::Psk, other) => Err(format!(
            "{identity} authenticates with {}, connection {} expects psk (we are {})",
            method_name(other),
            settings.name,
            settings.local_id
        )),
        (AuthKind::Pubkey, AuthMethod::SharedKeyMic) => Err(format!(
            "{identity} authenticates with psk, connection {} expects a certificate (remote_auth pubkey; we are {})",
            settings.name, settings.local_id
        )),
        (AuthKind::Pubkey, _) => {
            let octets = signed_octets(prf, message, our_nonce, sk_p, id_body);
            signature::verify(inputs.credentials, unix_time, payloads, identity, auth, &octets)
                .map(Some)
                .map_err(|why| format!("connection {}: {why}", settings.name))
        }
    }
}

/// An AUTH method as the configuration names it (`psk`), else by its IANA name.
fn method_name(method: AuthMethod) -> String {
    match method {
        AuthMethod::SharedKeyMic => "psk".to_string(),
        other => other
            .registry_name()
            .unwrap_or_else(|| format!("auth method {}", other.value())),
    }
}

/// Who we said we are, whom we expected and how we authenticated: what an operator compares
/// with the peer's configuration when it refuses us.
fn our_side(settings: Option<&ConnectionSettings>) -> String {
    match settings {
        Some(c) => format!(
            "we are {} (auth {}), expecting {}",
            c.local_id,
            c.local_auth,
            c.remote_id
                .as_ref()
                .map_or_else(|| "any ID".to_string(), ToString::to_string)
        ),
        None => "the connection is gone".to_string(),
    }
}

/// Why an IKE_AUTH response without IDr or AUTH ends the SA.
fn refused_auth(error: Option<NotifyType>, settings: Option<&ConnectionSettings>) -> DownReason {
    match error {
        Some(NotifyType::AuthenticationFailed) => DownReason::AuthFailed(Failure::refused_by_peer(
            ExchangeType::IkeAuth,
            NotifyType::AuthenticationFailed,
            format!(
                "{}; check the {} and identities",
                our_side(settings),
                match settings.map(|s| (s.local_auth, s.remote_auth)) {
                    Some((AuthKind::Psk, AuthKind::Psk)) => "pre-shared key",
                    Some((AuthKind::Pubkey, AuthKind::Pubkey)) => "certificates",
                    _ => "pre-shared key, certificates",
                }
            ),
        )),
        Some(kind) => DownReason::NegotiationFailed(Failure::refused_by_peer(
            ExchangeType::IkeAuth,
            kind,
            our_side(settings),
        )),
        None => DownReason::NegotiationFailed(Failure::gave_up(
            ExchangeType::IkeAuth,
            "response without IDr or AUTH",
        )),
    }
}

/// Initiator: the first CHILD_SA from the responder's IKE_AUTH answer, which must pick one of
/// our ESP proposals and may only narrow our selectors (RFC 7296 2.9).
fn first_child_as_initiator(
    settings: &ConnectionSettings,
    init: &AuthContext,
    crypto: &SaCrypto,
    p: &AuthPayloads,
) -> Result<NewChild, Failure> {
    let gave_up = |detail: String| Failure::gave_up(ExchangeType::IkeAuth, detail);
    let (Some(answer), Some(tsi), Some(tsr)) = (p.sa, p.tsi, p.tsr) else {
        // What we asked for, to compare with what the peer's configuration accepts.
        let ours: Vec<String> = settings
            .esp_proposals
            .iter()
            .map(|p| p.to_string())
            .collect();
        let asked = format!(
            "we offered {}, local {}, remote {}",
            ours.join(", "),
            selector::list(&selector::subnets(&settings.local_subnets)),
            selector::list(&selector::subnets(&settings.remote_subnets))
        );
        return Err(match p.error {
            Some(kind) => Failure::refused_by_peer(
                ExchangeType::IkeAuth,
                kind,
                format!("no CHILD_SA; {asked}"),
            ),
            None => gave_up(format!("peer created no CHILD_SA; {asked}")),
        });
    };
    let Some((suite, peer_spi)) = accept_esp(&settings.esp_proposals, answer, None) else {
        return Err(gave_up(
            "responder chose an ESP proposal we did not offer".into(),
        ));
    };
    let offered_local = ts::from_subnets(&settings.local_subnets);
    let offered_remote = ts::from_subnets(&settings.remote_subnets);
    if !(ts::within(tsi, &offered_local) && ts::within(tsr, &offered_remote)) {
        return Err(gave_up("responder widened the traffic selectors".into()));
    }
    let keys = derive_child_keys(
        crypto.suite.prf,
        &crypto.sk_d,
        suite.encryption,
        suite.integrity,
        None,
        &init.ni,
        &init.nr,
    );
    Ok(NewChild {
        suite,
        keys,
        inbound_spi: init.child_spi,
        outbound_spi: peer_spi,
        local_ts: ts::to_selectors(tsi),
        remote_ts: ts::to_selectors(tsr),
        initiator: true,
        reqid: None,
        defer_outbound: false,
        byte_limit: None,
        agreed_lifetime: None,
    })
}

impl Context {
    /// Initiator: after IKE_SA_INIT, authenticate and ask for the first CHILD_SA.
    pub(in crate::ike) fn send_auth_request(&mut self, now: Instant, sa: &mut IkeSa) -> Fate {
        let message_id = sa.v2.exchanges.next_request_id;
        let header = message::header(sa, ExchangeType::IkeAuth, false, message_id);
        let credentials = self.settings.credentials.as_deref();
        let Some(inputs) = auth_inputs(self.connection(sa.conn), credentials, sa) else {
            return Fate::Remove(DownReason::Deleted);
        };
        let (settings, init) = (inputs.settings, inputs.init);
        let idi = identification(&settings.local_id);
        // RFC 7296 2.15: the initiator signs its IKE_SA_INIT request, the responder's nonce
        // and prf(SK_pi, IDi').
        let (certificates, auth) = match our_auth(
            &inputs,
            &init.request,
            &init.nr,
            &inputs.auth_keys.sk_pi,
            &idi.body_bytes(),
        ) {
            Ok(signed) => signed,
            Err(why) => {
                return Fate::Remove(DownReason::AuthFailed(Failure::gave_up(
                    ExchangeType::IkeAuth,
                    format!(
                        "cannot authenticate as {} ({}): {why}",
                        settings.local_id, settings.local_auth
                    ),
                )))
            }
        };
        let mut payloads = vec![Payload::IdI(idi)];
        payloads.extend(certificates);
        if settings.remote_auth == AuthKind::Pubkey {
            payloads.extend(signature::certificate_request(credentials));
        }
        if init.initial_contact {
            payloads.push(Payload::Notify(notify(
                NotifyType::InitialContact,
                Vec::new(),
            )));
        }
        if let Some(r) = &settings.remote_id {
            payloads.push(Payload::IdR(identification(r)));
        }
        payloads.push(Payload::Auth(auth));
        payloads.push(Payload::Sa(esp_sa_payload(
            &settings.esp_proposals,
            init.child_spi,
            false,
        )));
        payloads.push(Payload::TsI(ts::from_subnets(&settings.local_subnets)));
        payloads.push(Payload::TsR(ts::from_subnets(&settings.remote_subnets)));
        let Some(datagrams) = self.seal_for(sa, &header, &payloads) else {
            return Fate::Remove(DownReason::Deleted);
        };
        sa.state = SaState::AuthSent;
        self.send_request(now, sa, Expect::AuthResponse, message_id, datagrams);
        Fate::Keep
    }

    /// The connection an authenticated initiator belongs to: same addresses, and the
    /// identity it claims, if the connection names one.
    /// The connection an authenticated initiator belongs to: same addresses, the identity it
    /// claims (if the connection names one), and, among several such connections to the same
    /// peer, the one whose subnets the proposed traffic selectors fit (as strongSwan picks a
    /// child config by its selectors).
    fn connection_for_identity(
        &self,
        sa: &IkeSa,
        identity: &IkeIdentity,
        selectors: Option<(&[TrafficSelector], &[TrafficSelector])>,
    ) -> Option<ConnId> {
        let fits = |id: &ConnId| {
            self.connection(*id).is_some_and(|c| {
                c.local_addr == sa.local.ip()
                    && (c.accepts_address(sa.remote.ip())
                        || (c.remote_addr.is_some() && sa.nat.remote_behind))
                    && c.remote_id.as_ref().is_none_or(|r| r == identity)
            })
        };
        let selectors_fit = |id: &ConnId| match (selectors, self.connection(*id)) {
            (Some((tsi, tsr)), Some(c)) => {
                ts::overlaps(tsi, &c.remote_subnets) && ts::overlaps(tsr, &c.local_subnets)
            }
            _ => true,
        };
        let candidates = || {
            std::iter::once(sa.conn)
                .chain(self.conn_index.by_identity(identity))
                .filter(fits)
        };
        candidates()
            .find(selectors_fit)
            .or_else(|| candidates().next())
    }

    /// Responder: verify the initiator, authenticate ourselves, create the first CHILD_SA.
    pub(in crate::ike) fn respond_auth(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        payloads: &[Payload],
    ) -> (Vec<Payload>, Fate) {
        let p = collect(payloads);
        let (conn, identity, peer_certificate, mut response) =
            match self.authenticate_initiator(now, sa, &p, payloads) {
                Ok(authenticated) => authenticated,
                Err((refusal, reason)) => {
                    return (
                        vec![Payload::Notify(notify(refusal, Vec::new()))],
                        Fate::Remove(reason),
                    )
                }
            };
        self.move_sa(sa.id, sa.conn, conn);
        sa.conn = conn;
        sa.remote_id = Some(identity);
        sa.peer_certificate = peer_certificate.map(Box::new);
        if p.initial_contact {
            self.initial_contacts.push(sa.id);
        }
        if let (Some(sa_p), Some(tsi), Some(tsr)) = (p.sa, p.tsi, p.tsr) {
            match self.negotiate_child_as_responder(sa, sa_p, tsi, tsr) {
                Ok((answer, child)) => {
                    response.push(Payload::Sa(answer));
                    response.push(Payload::TsI(ts::from_selectors(&child.remote_ts)));
                    response.push(Payload::TsR(ts::from_selectors(&child.local_ts)));
                    self.install_child(now, sa, child);
                }
                Err(e) => {
                    // RFC 7296 2.21.2: the IKE SA is still created without the CHILD_SA.
                    let refusal = error_notify(&e);
                    if let Some(kind) = refusal {
                        response.push(Payload::Notify(notify(kind, Vec::new())));
                    }
                    let failure = self.first_child_refused(sa, &e, refusal, (sa_p, tsi, tsr));
                    self.emit_event(Event::ChildFailed {
                        conn,
                        sa: sa.id,
                        reason: DownReason::NegotiationFailed(failure),
                    });
                }
            }
        }
        self.establish(now, sa);
        (response, Fate::Keep)
    }

    /// Responder: find the initiator's connection, verify its AUTH and build ours (RFC 7296
    /// 2.15). The connection, the identity, the initiator's certificate if it used one, and
    /// our IDr, CERT and AUTH payloads; or the error notify to answer with and why the SA
    /// ends.
    #[allow(clippy::type_complexity)]
    fn authenticate_initiator(
        &self,
        now: Instant,
        sa: &IkeSa,
        p: &AuthPayloads,
        payloads: &[Payload],
    ) -> Result<
        (ConnId, IkeIdentity, Option<PeerCertificate>, Vec<Payload>),
        (NotifyType, DownReason),
    > {
        let (Some(idi), Some(auth)) = (p.idi, p.auth) else {
            return Err((
                NotifyType::InvalidSyntax,
                DownReason::NegotiationFailed(Failure::refused(
                    ExchangeType::IkeAuth,
                    NotifyType::InvalidSyntax,
                    "IKE_AUTH without IDi or AUTH",
                )),
            ));
        };
        let identity = identity(idi);
        let failed = |why: String| {
            (
                NotifyType::AuthenticationFailed,
                DownReason::AuthFailed(Failure::refused(
                    ExchangeType::IkeAuth,
                    NotifyType::AuthenticationFailed,
                    why,
                )),
            )
        };
        let selectors = p.tsi.zip(p.tsr);
        let Some(conn) = self.connection_for_identity(sa, &identity, selectors) else {
            let expected = self
                .connection(sa.conn)
                .and_then(|c| Some(format!("{}: {}", c.name, c.remote_id.as_ref()?)))
                .unwrap_or_else(|| "none".to_string());
            return Err(failed(format!(
                "no connection for identity {identity} ({}) from {}; remote IDs configured for this address: {expected}",
                method_name(auth.method),
                sa.remote
            )));
        };
        let credentials = self.settings.credentials.as_deref();
        let Some(inputs) = auth_inputs(self.connection(conn), credentials, sa) else {
            return Err(failed("internal state missing".into()));
        };
        let (init, auth_keys) = (inputs.init, inputs.auth_keys);
        let peer_certificate = verify_peer_auth(
            &inputs,
            self.unix_time(now),
            payloads,
            &identity,
            auth,
            (&init.request, &init.nr, &auth_keys.sk_pi, &idi.body_bytes()),
        )
        .map_err(|why| {
            debug!(sa = sa.id.0, %identity, "initiator's AUTH refused");
            failed(why)
        })?;
        let idr = identification(&inputs.settings.local_id);
        let (certificates, our_auth) = our_auth(
            &inputs,
            &init.response,
            &init.ni,
            &auth_keys.sk_pr,
            &idr.body_bytes(),
        )
        .map_err(|why| {
            failed(format!(
                "cannot authenticate as {} ({}): {why}",
                inputs.settings.local_id, inputs.settings.local_auth
            ))
        })?;
        let mut response = vec![Payload::IdR(idr)];
        response.extend(certificates);
        response.push(Payload::Auth(our_auth));
        Ok((conn, identity, peer_certificate, response))
    }

    /// Why we refused the first CHILD_SA in IKE_AUTH, with what both sides wanted.
    fn first_child_refused(
        &self,
        sa: &IkeSa,
        error: &super::super::error::Error,
        refusal: Option<NotifyType>,
        (offer, tsi, tsr): (&SaPayload, &[TrafficSelector], &[TrafficSelector]),
    ) -> Failure {
        use super::super::error::Error;
        let settings = self.connection(sa.conn);
        let detail = match (error, settings) {
            (Error::NoProposalChosen, Some(c)) => {
                let ours: Vec<String> = c.esp_proposals.iter().map(|p| p.to_string()).collect();
                format!(
                    "no ESP proposal matches: ours {}; offered {}",
                    ours.join(", "),
                    describe(offer)
                )
            }
            (Error::TsUnacceptable, Some(c)) => format!(
                "traffic selectors do not fit ours (local {}, remote {}): offered TSi {}, TSr {}",
                selector::list(&selector::subnets(&c.local_subnets)),
                selector::list(&selector::subnets(&c.remote_subnets)),
                selector::list(&ts::to_selectors(tsi)),
                selector::list(&ts::to_selectors(tsr))
            ),
            _ => error.to_string(),
        };
        match refusal {
            Some(kind) => Failure::refused(ExchangeType::IkeAuth, kind, detail),
            None => Failure::gave_up(ExchangeType::IkeAuth, detail),
        }
    }

    fn negotiate_child_as_responder(
        &mut self,
        sa: &IkeSa,
        offer: &SaPayload,
        tsi: &[TrafficSelector],
        tsr: &[TrafficSelector],
    ) -> Result<(SaPayload, NewChild), super::super::error::Error> {
        use super::super::error::Error;
        let (Some(settings), Some(init), Some(crypto)) = (
            self.shared_connection(sa.conn),
            sa.v2.auth_context(),
            sa.v2.crypto.as_ref(),
        ) else {
            return Err(Error::NoProposalChosen);
        };
        // TSi are the initiator's (our remote) networks, TSr ours.
        let remote_ts = ts::narrow(tsi, &settings.remote_subnets);
        let local_ts = ts::narrow(tsr, &settings.local_subnets);
        if remote_ts.is_empty() || local_ts.is_empty() {
            return Err(Error::TsUnacceptable);
        }
        let our_spi = self.new_esp_spi();
        let Some((suite, answer, peer_spi)) =
            select_esp(&settings.esp_proposals, offer, None, our_spi)
        else {
            self.inbound_spis.remove(&our_spi);
            return Err(Error::NoProposalChosen);
        };
        let keys = derive_child_keys(
            crypto.suite.prf,
            &crypto.sk_d,
            suite.encryption,
            suite.integrity,
            None,
            &init.ni,
            &init.nr,
        );
        Ok((
            answer,
            NewChild {
                suite,
                keys,
                inbound_spi: our_spi,
                outbound_spi: peer_spi,
                local_ts: ts::to_selectors(&local_ts),
                remote_ts: ts::to_selectors(&remote_ts),
                initiator: false,
                reqid: None,
                defer_outbound: false,
                byte_limit: None,
                agreed_lifetime: None,
            },
        ))
    }

    /// Initiator: the responder's IKE_AUTH answer.
    pub(in crate::ike) fn on_auth_response(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        payloads: &[Payload],
    ) -> Fate {
        let p = collect(payloads);
        let (Some(idr), Some(auth)) = (p.idr, p.auth) else {
            return Fate::Remove(refused_auth(p.error, self.connection(sa.conn)));
        };
        let identity = identity(idr);
        let credentials = self.settings.credentials.as_deref();
        let Some(inputs) = auth_inputs(self.connection(sa.conn), credentials, sa) else {
            return Fate::Remove(DownReason::Deleted);
        };
        let (settings, init, crypto) = (inputs.settings, inputs.init, inputs.crypto);
        if let Some(expected) = &settings.remote_id {
            if *expected != identity {
                let why = format!("peer identifies as {identity}, expected {expected}");
                return self.refuse_responder(sa, why);
            }
        }
        let peer_certificate = match verify_peer_auth(
            &inputs,
            self.unix_time(now),
            payloads,
            &identity,
            auth,
            (
                &init.response,
                &init.ni,
                &inputs.auth_keys.sk_pr,
                &idr.body_bytes(),
            ),
        ) {
            Ok(certificate) => certificate,
            Err(why) => return self.refuse_responder(sa, why),
        };
        let child = first_child_as_initiator(settings, init, crypto, &p);
        let conn = sa.conn;
        let child_spi = init.child_spi;
        sa.remote_id = Some(identity);
        sa.peer_certificate = peer_certificate.map(Box::new);
        if p.initial_contact {
            self.initial_contacts.push(sa.id);
        }
        self.establish(now, sa);
        match child {
            Ok(child) => self.install_child(now, sa, child),
            Err(why) => {
                debug!(sa = sa.id.0, "first CHILD_SA not created: {why}");
                self.inbound_spis.remove(&child_spi);
                self.emit_event(Event::ChildFailed {
                    conn,
                    sa: sa.id,
                    reason: DownReason::NegotiationFailed(why),
                });
            }
        }
        Fate::Keep
    }

    /// Initiator: we refuse the responder's IKE_AUTH answer for `why`. The responder has
    /// established its end (and installed the first CHILD_SA), so it hears AUTHENTICATION_FAILED
    /// in an INFORMATIONAL of its own (RFC 7296 2.21.2), sent once, before the SA goes.
    fn refuse_responder(&mut self, sa: &mut IkeSa, why: String) -> Fate {
        let refusal = Payload::Notify(notify(NotifyType::AuthenticationFailed, Vec::new()));
        self.send_once(sa, ExchangeType::Informational, &[refusal]);
        Fate::Remove(DownReason::AuthFailed(Failure::gave_up(
            ExchangeType::IkeAuth,
            why,
        )))
    }

    /// Both roles: IKE_AUTH succeeded.
    fn establish(&mut self, now: Instant, sa: &mut IkeSa) {
        sa.state = SaState::Established;
        sa.established_at = Some(now);
        sa.v2.handshake = None;
        if let Some(crypto) = sa.v2.crypto.as_mut() {
            crypto.auth_keys = None;
        }
        self.release_half_open(sa);
        TimerQueue::cancel(&mut sa.timers, Timer::Establish);
        self.retries.succeeded(sa.conn);
        self.arm_dpd(now, sa);
        self.arm_ike_lifetime(now, sa);
        self.emit_event(Event::IkeUp {
            conn: sa.conn,
            sa: sa.id,
            remote: sa.remote,
        });
    }
}
