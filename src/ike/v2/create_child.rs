//! CREATE_CHILD_SA (RFC 7296 1.3): CHILD_SA rekeys with optional PFS, new CHILD_SAs from the
//! peer, IKE SA rekeys, and the collisions of simultaneous rekeys (2.8.1, 2.8.2).
//!
//! Make-before-break: the new CHILD_SA is installed before the old one is deleted, and both
//! carry the same reqid, so the kernel policies stay in place throughout.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use tracing::{debug, info};

use crate::algorithm::DhGroup;
use crate::crypto::dh::{KeyExchange, SharedSecret};
use crate::crypto::error::CryptoError;
use crate::crypto::keymat::{derive_child_keys, derive_rekeyed_ike_keys};
use crate::wire::ikev2::transform::{InvalidKeData, TransformId};
use crate::wire::ikev2::{
    ExchangeType, KePayload, Notify, NotifyType, Payload, ProtocolId, SaPayload, TrafficSelector,
};

use super::super::child::{jittered, NewChild};
use super::super::context::Context;
use super::super::engine::Fate;
use super::super::error::Failure;
use super::super::output::{DownReason, Event};
use super::super::sa::{ChildState, ChildSuite, Collision, IkeSa, RequestKind, SaOrigin, SaState};
use super::super::selector::{self, Selector};
use super::super::settings::{ConnectionSettings, Pfs};
use super::super::timer::{Timer, TimerQueue};
use super::informational::notify;
use super::init::sa_crypto;
use super::new_child::{child_request, pfs_key_exchange};
use super::proposal::{
    accept_esp, accept_ike, acceptable_pfs_group, describe, ike_sa_payload, pfs_groups, select_esp,
    select_ike,
};
use super::sa::{ChildRekeySent, Expect, IkeRekeySent, SaCrypto};
use super::ts;

const NONCE_LEN: usize = 32;
/// How long a responder keeps an IKE SA that was rekeyed, waiting for the initiator's Delete.
const REKEYED_LINGER: Duration = Duration::from_secs(60);
/// Back-off before retrying a refused rekey (RFC 7296 2.25: TEMPORARY_FAILURE).
const REKEY_RETRY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct CreatePayloads<'a> {
    pub sa: Option<&'a SaPayload>,
    pub nonce: Option<&'a [u8]>,
    pub ke: Option<&'a KePayload>,
    pub rekey: Option<&'a Notify>,
    pub tsi: Option<&'a [TrafficSelector]>,
    pub tsr: Option<&'a [TrafficSelector]>,
    pub error: Option<&'a Notify>,
}

pub(super) fn collect(payloads: &[Payload]) -> CreatePayloads<'_> {
    let mut p = CreatePayloads::default();
    for payload in payloads {
        match payload {
            Payload::Sa(s) => p.sa = Some(s),
            Payload::Nonce(n) => p.nonce = Some(n),
            Payload::Ke(k) => p.ke = Some(k),
            Payload::TsI(t) => p.tsi = Some(t),
            Payload::TsR(t) => p.tsr = Some(t),
            Payload::Notify(n) if n.notify_type == NotifyType::RekeySa => p.rekey = Some(n),
            Payload::Notify(n) if n.notify_type.is_error() && p.error.is_none() => {
                p.error = Some(n)
            }
            _ => {}
        }
    }
    p
}

/// A response and what becomes of the SA.
type Answer = (Vec<Payload>, Fate);

fn refuse(kind: NotifyType, data: Vec<u8>) -> Answer {
    (vec![Payload::Notify(notify(kind, data))], Fate::Keep)
}

/// The child a CREATE_CHILD_SA request replaces, named by its REKEY_SA notify: our inbound
/// SPI and its reqid; `None` for a new child. A refusal when it cannot be rekeyed.
fn child_to_replace(sa: &IkeSa, rekey: Option<&Notify>) -> Result<Option<(u32, u32)>, Answer> {
    let Some(n) = rekey else {
        return Ok(None);
    };
    let Ok(spi) = <[u8; 4]>::try_from(n.spi.as_slice()).map(u32::from_be_bytes) else {
        return Err(refuse(NotifyType::InvalidSyntax, Vec::new()));
    };
    match sa.children.iter().find(|c| c.outbound_spi == spi) {
        None => {
            // RFC 7296 2.25: the SA to rekey does not exist.
            let mut n = notify(NotifyType::ChildSaNotFound, Vec::new());
            n.protocol = ProtocolId::Esp;
            n.spi = spi.to_be_bytes().to_vec();
            Err((vec![Payload::Notify(n)], Fate::Keep))
        }
        // RFC 7296 2.25.1: a rekey of a Child SA we are closing.
        Some(c) if c.state == ChildState::Rekeyed => {
            Err(refuse(NotifyType::TemporaryFailure, Vec::new()))
        }
        Some(c) => Ok(Some((c.inbound_spi, c.reqid))),
    }
}

/// The reqid of a child of `sa` with exactly these selectors. A new CHILD_SA the peer makes
/// for them (one replacing a child it could not rekey, as Libreswan does) shares its reqid:
/// the kernel policies are the same, and deleting the old child must leave them in place.
pub(super) fn same_selectors_reqid(
    sa: &IkeSa,
    local: &[Selector],
    remote: &[Selector],
) -> Option<u32> {
    sa.children
        .iter()
        .find(|c| c.local_ts == local && c.remote_ts == remote)
        .map(|c| c.reqid)
}

/// The peer's TSi and TSr narrowed to our subnets (ours first); refused when either is
/// missing or nothing of it is ours (TS_UNACCEPTABLE, RFC 7296 2.9).
fn narrowed_selectors(
    settings: &ConnectionSettings,
    tsi: Option<&[TrafficSelector]>,
    tsr: Option<&[TrafficSelector]>,
) -> Result<(Vec<TrafficSelector>, Vec<TrafficSelector>), Answer> {
    let (Some(tsi), Some(tsr)) = (tsi, tsr) else {
        return Err(refuse(NotifyType::InvalidSyntax, Vec::new()));
    };
    let remote_ts = ts::narrow(tsi, &settings.remote_subnets);
    let local_ts = ts::narrow(tsr, &settings.local_subnets);
    if remote_ts.is_empty() || local_ts.is_empty() {
        return Err(refuse(NotifyType::TsUnacceptable, Vec::new()));
    }
    Ok((local_ts, remote_ts))
}

/// Why we refuse a CREATE_CHILD_SA request: the error notify, its data, and for the log what
/// did not match.
struct Refusal {
    notify: NotifyType,
    data: Vec<u8>,
    detail: &'static str,
}

impl Refusal {
    fn new(notify: NotifyType, detail: &'static str) -> Refusal {
        Refusal {
            notify,
            data: Vec::new(),
            detail,
        }
    }
}

/// Our ESP proposal for the peer's offer and KE: the suite, our SA payload and the peer's
/// SPI. A KE must be of a group we allow (`pfs_groups`: our ESP proposals' groups, then our
/// IKE proposals') that the chosen proposal names; a request without one is taken unless the
/// connection requires PFS. Refused with NO_PROPOSAL_CHOSEN, or INVALID_KE_PAYLOAD naming
/// the group we want when the KE is of another group (RFC 7296 1.3).
fn choose_child_proposal(
    settings: &ConnectionSettings,
    offer: &SaPayload,
    ke: Option<&KePayload>,
    our_spi: u32,
) -> Result<(ChildSuite, SaPayload, u32), Refusal> {
    let allowed = pfs_groups(&settings.esp_proposals, &settings.ike_proposals);
    let wrong_group = |ke_group: Option<DhGroup>| match acceptable_pfs_group(&allowed, offer)
        .filter(|g| Some(*g) != ke_group)
    {
        Some(g) => Refusal {
            notify: NotifyType::InvalidKePayload,
            data: g.transform_id().to_be_bytes().to_vec(),
            detail: "the key exchange is not of a group we accept with this proposal",
        },
        None => Refusal::new(
            NotifyType::NoProposalChosen,
            "no ESP proposal and key exchange group of the peer match ours",
        ),
    };
    let ke_group = match ke {
        None if settings.pfs == Pfs::Required => {
            return Err(Refusal::new(
                NotifyType::NoProposalChosen,
                "no key exchange, and the connection requires PFS (pfs = \"required\")",
            ))
        }
        None => None,
        Some(ke) => match DhGroup::from_transform_id(ke.group).filter(|g| allowed.contains(g)) {
            Some(g) => Some(g),
            None => return Err(wrong_group(None)),
        },
    };
    select_esp(&settings.esp_proposals, offer, ke_group, our_spi)
        .ok_or_else(|| wrong_group(ke_group))
}

/// The payloads of the peer's answer to our CHILD_SA rekey or new CHILD_SA.
pub(super) struct RekeyResponse<'a> {
    pub answer: &'a SaPayload,
    pub nr: &'a [u8],
    pub ke: Option<&'a KePayload>,
    pub tsi: &'a [TrafficSelector],
    pub tsr: &'a [TrafficSelector],
}

/// Why an answer to our CHILD_SA rekey cannot be used, and whether the peer already holds
/// the new child (then we delete it).
pub(super) struct Unusable {
    pub why: &'static str,
    pub delete_new: bool,
}

/// The child our CHILD_SA rekey of `old` created: one of our proposals, the old child's
/// selectors or narrower, and the PFS key exchange we asked for (RFC 7296 1.3.3, 2.17).
pub(super) fn rekeyed_child(
    sa: &IkeSa,
    (local_ts, remote_ts, reqid): (&[Selector], &[Selector], Option<u32>),
    settings: &ConnectionSettings,
    response: RekeyResponse,
    ni: &[u8],
    dh: Option<KeyExchange>,
    new_inbound_spi: u32,
) -> Result<NewChild, Unusable> {
    let group = dh.as_ref().map(|d| d.group());
    let accepted = accept_esp(&settings.esp_proposals, response.answer, group).filter(|_| {
        ts::within(response.tsi, &ts::from_selectors(local_ts))
            && ts::within(response.tsr, &ts::from_selectors(remote_ts))
    });
    let secret = match (dh, response.ke) {
        (Some(dh), Some(ke)) if ke.group == dh.group().transform_id() => dh.agree(&ke.data).ok(),
        (None, None) => None,
        _ => {
            return Err(Unusable {
                why: "key exchange missing or of the wrong group",
                delete_new: false,
            })
        }
    };
    let (Some((suite, peer_spi)), Some(crypto)) = (accepted, sa.v2.crypto.as_ref()) else {
        return Err(Unusable {
            why: "unacceptable proposal or selectors",
            delete_new: true,
        });
    };
    if group.is_some() && secret.is_none() {
        return Err(Unusable {
            why: "unusable PFS key exchange data",
            delete_new: true,
        });
    }
    let keys = derive_child_keys(
        crypto.suite.prf,
        &crypto.sk_d,
        suite.encryption,
        suite.integrity,
        secret.as_ref().map(|s| s.as_bytes()),
        ni,
        response.nr,
    );
    Ok(NewChild {
        suite,
        keys,
        inbound_spi: new_inbound_spi,
        outbound_spi: peer_spi,
        local_ts: ts::to_selectors(response.tsi),
        remote_ts: ts::to_selectors(response.tsr),
        initiator: true,
        reqid,
        defer_outbound: false,
        byte_limit: None,
        agreed_lifetime: None,
    })
}

/// Our rekey of `old` completed with `new`: the old child is replaced, and if the peer
/// rekeyed it at the same time, the nonces decide which of the two new children goes
/// (RFC 7296 2.8.1). Returns the inbound SPI of the child we delete.
fn settle_rekey_collision(
    sa: &mut IkeSa,
    ni: &[u8],
    nr: &[u8],
    (new_inbound_spi, old_inbound_spi): (u32, u32),
) -> u32 {
    let collision = sa
        .children
        .iter_mut()
        .find(|c| c.inbound_spi == old_inbound_spi)
        .and_then(|c| {
            c.state = ChildState::Rekeyed;
            c.collision.take()
        });
    let Some(c) = collision else {
        return old_inbound_spi;
    };
    // Of the two new SAs, the one created by the exchange holding the lowest of the four
    // nonces is deleted by its initiator; the other end (the winner) deletes the old SA.
    let ours = lower(ni, nr);
    let theirs = lower(&c.ni, &c.nr);
    if compare_nonces(ours, theirs) == Ordering::Less {
        debug!(
            sa = sa.id.0,
            "rekey collision lost: deleting the child we created"
        );
        if let Some(mine) = sa
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == new_inbound_spi)
        {
            mine.state = ChildState::Rekeyed;
        }
        new_inbound_spi
    } else {
        debug!(sa = sa.id.0, "rekey collision won: deleting the old child");
        old_inbound_spi
    }
}

/// The lowest nonce of an exchange, compared as unsigned big-endian numbers.
fn lower<'a>(a: &'a [u8], b: &'a [u8]) -> &'a [u8] {
    if compare_nonces(a, b) == Ordering::Less {
        a
    } else {
        b
    }
}

fn compare_nonces(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Context {
    /// IKE SA deadlines: a rekey before the lifetime (with jitter) and a hard end 10% after.
    pub(in crate::ike) fn arm_ike_lifetime(&mut self, now: Instant, sa: &mut IkeSa) {
        self.arm_ike_lifetime_since(now, now, sa);
    }

    /// The deadlines of [`Self::arm_ike_lifetime`] counted from `since` (the SA's
    /// establishment, when a reload changed the lifetime). A rekey deadline already past
    /// moves to `now`, and the hard end then stays as far behind it as it would have been,
    /// so that the rekey has its usual time to complete.
    pub(in crate::ike) fn arm_ike_lifetime_since(
        &mut self,
        since: Instant,
        now: Instant,
        sa: &mut IkeSa,
    ) {
        let Some(lifetime) = self.connection(sa.conn).map(|c| c.ike_lifetime) else {
            return;
        };
        let random = self.random_u32();
        let (rekey, hard) = (jittered(lifetime, random), lifetime + lifetime / 10);
        let rekey_at = (since + rekey).max(now);
        let expire_at = (since + hard).max(rekey_at + hard.saturating_sub(rekey));
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::IkeRekey, rekey_at);
        self.timers
            .arm(&mut sa.timers, sa.id, Timer::IkeExpire, expire_at);
    }

    pub(super) fn new_nonce(&mut self) -> Vec<u8> {
        let mut n = vec![0u8; NONCE_LEN];
        self.rng.fill(&mut n);
        n
    }

    /// Build the payloads of our CREATE_CHILD_SA request and remember what we need to finish
    /// it. `None` when the request has become pointless (the child is gone).
    pub(in crate::ike) fn build_create_child(
        &mut self,
        sa: &mut IkeSa,
        kind: &RequestKind,
    ) -> Option<(Vec<Payload>, Expect)> {
        let settings = self.shared_connection(sa.conn)?;
        let ni = self.new_nonce();
        match kind {
            RequestKind::RekeyChild { old_inbound_spi } => {
                self.build_child_rekey(sa, &settings, ni, *old_inbound_spi)
            }
            RequestKind::RekeyIke => self.build_ike_rekey(sa, &settings, ni),
            _ => None,
        }
    }

    /// A CHILD_SA rekey (RFC 7296 1.3.3): the old child's selectors, our ESP proposals and,
    /// with PFS, a KE of the group the peer asked for or our first.
    fn build_child_rekey(
        &mut self,
        sa: &mut IkeSa,
        settings: &ConnectionSettings,
        ni: Vec<u8>,
        old_inbound_spi: u32,
    ) -> Option<(Vec<Payload>, Expect)> {
        let old = sa
            .children
            .iter()
            .find(|c| c.inbound_spi == old_inbound_spi)?;
        let (local_ts, remote_ts) = (old.local_ts.clone(), old.remote_ts.clone());
        let dh = pfs_key_exchange(self, sa, settings).ok()?;
        let new_inbound_spi = self.new_esp_spi();
        // RFC 7296 1.3.3: REKEY_SA names the SA being replaced by the SPI we expect on
        // its inbound packets.
        let mut rekey = notify(NotifyType::RekeySa, Vec::new());
        rekey.protocol = ProtocolId::Esp;
        rekey.spi = old_inbound_spi.to_be_bytes().to_vec();
        let mut payloads = vec![Payload::Notify(rekey)];
        payloads.extend(child_request(
            settings,
            (new_inbound_spi, &ni),
            dh.as_ref(),
            (&local_ts, &remote_ts),
        ));
        let sent = ChildRekeySent {
            ni,
            dh,
            new_inbound_spi,
            old_inbound_spi,
        };
        Some((payloads, Expect::ChildRekey(Box::new(sent))))
    }

    /// An IKE SA rekey (RFC 7296 1.3.2): a new SPI of ours, reserved until the exchange ends,
    /// and a KE of the group the peer asked for or the current one.
    fn build_ike_rekey(
        &mut self,
        sa: &mut IkeSa,
        settings: &ConnectionSettings,
        ni: Vec<u8>,
    ) -> Option<(Vec<Payload>, Expect)> {
        let group = sa
            .v2
            .ke_group_hint
            .take()
            .or_else(|| sa.v2.crypto.as_ref().map(|c| c.suite.dh))?;
        let dh = KeyExchange::generate(group, self.rng.as_mut()).ok()?;
        let new_spi = self.new_ike_spi();
        // Reserve the SPI until the exchange ends.
        self.by_spi.insert(new_spi, sa.id);
        let payloads = vec![
            Payload::Sa(ike_sa_payload(&settings.ike_proposals, Some(new_spi))),
            Payload::Nonce(ni.clone()),
            Payload::Ke(KePayload {
                group: dh.group().transform_id(),
                data: dh.public_value().to_vec(),
            }),
        ];
        let sent = IkeRekeySent { ni, dh, new_spi };
        Some((payloads, Expect::IkeRekey(Box::new(sent))))
    }

    /// Responder side of CREATE_CHILD_SA.
    pub(in crate::ike) fn respond_create_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        payloads: &[Payload],
    ) -> (Vec<Payload>, Fate) {
        let p = collect(payloads);
        let (Some(offer), Some(ni)) = (p.sa, p.nonce) else {
            return refuse(NotifyType::InvalidSyntax, Vec::new());
        };
        if offer
            .proposals
            .iter()
            .any(|pr| pr.protocol == ProtocolId::Ike)
        {
            return self.respond_rekey_ike(now, sa, offer, ni, p.ke);
        }
        let Some(settings) = self.shared_connection(sa.conn) else {
            return refuse(NotifyType::NoProposalChosen, Vec::new());
        };
        let old = match child_to_replace(sa, p.rekey) {
            Ok(old) => old,
            Err(refusal) => return refusal,
        };
        let (local_ts, remote_ts) = match narrowed_selectors(&settings, p.tsi, p.tsr) {
            Ok(selectors) => selectors,
            Err(refusal) => {
                if let (Some(tsi), Some(tsr)) = (p.tsi, p.tsr) {
                    let detail = format!(
                        "traffic selectors do not fit ours (local {}, remote {}): offered TSi {}, \
                         TSr {}",
                        selector::list(&selector::subnets(&settings.local_subnets)),
                        selector::list(&selector::subnets(&settings.remote_subnets)),
                        selector::list(&ts::to_selectors(tsi)),
                        selector::list(&ts::to_selectors(tsr))
                    );
                    self.report_child_refusal(sa, NotifyType::TsUnacceptable, detail);
                }
                return refusal;
            }
        };
        let our_spi = self.new_esp_spi();
        let (suite, answer, peer_spi) = match choose_child_proposal(&settings, offer, p.ke, our_spi)
        {
            Ok(chosen) => chosen,
            Err(refusal) => {
                self.inbound_spis.remove(&our_spi);
                return self.refuse_child(sa, refusal, offer);
            }
        };
        let (secret, our_ke) = match self.respond_pfs(suite.dh, p.ke) {
            Ok(pfs) => pfs,
            Err(e) => {
                self.inbound_spis.remove(&our_spi);
                debug!(sa = sa.id.0, "unusable PFS key exchange data: {e}");
                return refuse(NotifyType::InvalidSyntax, Vec::new());
            }
        };
        let Some(crypto) = sa.v2.crypto.as_ref() else {
            return refuse(NotifyType::TemporaryFailure, Vec::new());
        };
        let nr = self.new_nonce();
        let keys = derive_child_keys(
            crypto.suite.prf,
            &crypto.sk_d,
            suite.encryption,
            suite.integrity,
            secret.as_ref().map(|s| s.as_bytes()),
            ni,
            &nr,
        );
        let mut response = vec![Payload::Sa(answer), Payload::Nonce(nr.clone())];
        response.extend(our_ke.map(Payload::Ke));
        response.push(Payload::TsI(remote_ts.clone()));
        response.push(Payload::TsR(local_ts.clone()));
        let (child_local, child_remote) =
            (ts::to_selectors(&local_ts), ts::to_selectors(&remote_ts));
        let child = NewChild {
            suite,
            keys,
            inbound_spi: our_spi,
            outbound_spi: peer_spi,
            local_ts: child_local.clone(),
            remote_ts: child_remote.clone(),
            initiator: false,
            reqid: old
                .map(|(_, reqid)| reqid)
                .or_else(|| same_selectors_reqid(sa, &child_local, &child_remote)),
            defer_outbound: old.is_some(),
            byte_limit: None,
            agreed_lifetime: None,
        };
        self.install_child(now, sa, child);
        if let Some((old_inbound, _)) = old {
            let nonces = (ni.to_vec(), nr);
            self.mark_rekeyed_by_peer(sa, old_inbound, our_spi, nonces);
        }
        (response, Fate::Keep)
    }

    /// Refuse the peer's CREATE_CHILD_SA request, visibly on our end: INVALID_KE_PAYLOAD (a
    /// step of the negotiation) in an info line, anything else as a `ChildFailed` event.
    /// Both proposal lists go with it, as strongSwan's "received proposals ... configured
    /// proposals" lines.
    fn refuse_child(&mut self, sa: &IkeSa, refusal: Refusal, offer: &SaPayload) -> Answer {
        let Refusal {
            notify,
            data,
            detail,
        } = refusal;
        let ours: Vec<String> = self
            .connection(sa.conn)
            .map(|c| c.esp_proposals.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default();
        let detail = format!(
            "{detail}: ours {}; offered {}",
            ours.join(", "),
            describe(offer)
        );
        if notify == NotifyType::InvalidKePayload {
            let name = self.connection(sa.conn).map(|c| c.name.as_str());
            info!(
                connection = name.unwrap_or("?"),
                "CREATE_CHILD_SA: refused with {notify}: {detail}"
            );
        } else {
            self.report_child_refusal(sa, notify, detail);
        }
        refuse(notify, data)
    }

    /// A CREATE_CHILD_SA request of the peer we refuse: a warn line and `last_error`.
    fn report_child_refusal(&mut self, sa: &IkeSa, notify: NotifyType, detail: String) {
        let failure = Failure::refused(ExchangeType::CreateChildSa, notify, detail);
        self.emit_event(Event::ChildFailed {
            conn: sa.conn,
            sa: sa.id,
            reason: DownReason::NegotiationFailed(failure),
        });
    }

    /// Our half of the PFS key exchange the chosen proposal asks for: the shared secret and
    /// our KE payload; nothing without PFS.
    fn respond_pfs(
        &mut self,
        group: Option<DhGroup>,
        ke: Option<&KePayload>,
    ) -> Result<(Option<SharedSecret>, Option<KePayload>), CryptoError> {
        let (Some(group), Some(ke)) = (group, ke) else {
            return Ok((None, None));
        };
        let (secret, public) = KeyExchange::respond(group, &ke.data, self.rng.as_mut())?;
        let ours = KePayload {
            group: group.transform_id(),
            data: public,
        };
        Ok((Some(secret), Some(ours)))
    }

    /// The peer replaced our child `old_inbound` by the one we answered with `our_spi`. If we
    /// are rekeying it too, the collision is settled when our own exchange ends (RFC 7296
    /// 2.8.1); otherwise the initiator deletes the old child once it installed the new one.
    fn mark_rekeyed_by_peer(
        &mut self,
        sa: &mut IkeSa,
        old_inbound: u32,
        our_spi: u32,
        (ni, nr): (Vec<u8>, Vec<u8>),
    ) {
        if let Some(c) = sa
            .children
            .iter_mut()
            .find(|c| c.inbound_spi == old_inbound)
        {
            if c.state == ChildState::Rekeying {
                c.collision = Some(Collision {
                    peer_child_inbound_spi: our_spi,
                    ni,
                    nr,
                });
            } else {
                c.state = ChildState::Rekeyed;
            }
        }
        self.arm_child_rekey(sa);
    }

    /// A refused or failed child rekey: release what we reserved, report it (unless `why`
    /// is `None`: a passing condition such as TEMPORARY_FAILURE), and let the recovery decide
    /// on a retry or a replacement.
    fn abandon_child_rekey(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        (new_inbound_spi, old_inbound_spi): (u32, u32),
        why: Option<Failure>,
    ) {
        debug!(
            sa = sa.id.0,
            old = format_args!("{old_inbound_spi:08x}"),
            "CHILD_SA rekey failed: {}",
            why.as_ref()
                .map_or("the peer is busy".to_owned(), |f| f.to_string())
        );
        self.inbound_spis.remove(&new_inbound_spi);
        self.child_rekey_failed(now, sa, old_inbound_spi, why);
    }

    #[allow(clippy::too_many_arguments)]
    pub(in crate::ike) fn finish_child_rekey(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        payloads: &[Payload],
        sent: ChildRekeySent,
    ) {
        let ChildRekeySent {
            ni,
            dh,
            new_inbound_spi,
            old_inbound_spi,
        } = sent;
        let p = collect(payloads);
        let spis = (new_inbound_spi, old_inbound_spi);
        if let Some(error) = p.error {
            let group = dh.as_ref().map(|d| d.group());
            self.child_rekey_refused(now, sa, error, group, spis);
            return;
        }
        let Some(settings) = self.shared_connection(sa.conn) else {
            return;
        };
        let (Some(answer), Some(nr), Some(tsi), Some(tsr)) = (p.sa, p.nonce, p.tsi, p.tsr) else {
            let failure = Failure::gave_up(ExchangeType::CreateChildSa, "incomplete response");
            self.abandon_child_rekey(now, sa, spis, Some(failure));
            return;
        };
        let Some(old) = sa
            .children
            .iter()
            .find(|c| c.inbound_spi == old_inbound_spi)
        else {
            // The old child went away meanwhile: the peer created a new one we do not want.
            self.inbound_spis.remove(&new_inbound_spi);
            self.delete_child(now, sa, new_inbound_spi);
            return;
        };
        let response = RekeyResponse {
            answer,
            nr,
            ke: p.ke,
            tsi,
            tsr,
        };
        let selectors = (&old.local_ts[..], &old.remote_ts[..], Some(old.reqid));
        let child =
            match rekeyed_child(sa, selectors, &settings, response, &ni, dh, new_inbound_spi) {
                Ok(child) => child,
                Err(Unusable { why, delete_new }) => {
                    let failure = Failure::gave_up(ExchangeType::CreateChildSa, why);
                    self.abandon_child_rekey(now, sa, spis, Some(failure));
                    if delete_new {
                        // The peer installed something we cannot use: delete it, keep the old.
                        self.delete_child(now, sa, new_inbound_spi);
                    }
                    return;
                }
            };
        self.install_child(now, sa, child);
        let redundant = settle_rekey_collision(sa, &ni, nr, spis);
        self.arm_child_rekey(sa);
        self.delete_child(now, sa, redundant);
    }

    /// The peer answered our CHILD_SA rekey with an error notify: try again with the PFS
    /// group it names, forget a child it no longer has, or keep the old child for now.
    fn child_rekey_refused(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        error: &Notify,
        our_group: Option<DhGroup>,
        (new_inbound_spi, old_inbound_spi): (u32, u32),
    ) {
        // The peer rekeyed this child while our request was out, and refused ours: its rekey
        // stands alone, and asking again would make a second successor that the peer, which
        // saw no collision, does not expect.
        if self.peer_rekey_stands(sa, old_inbound_spi) {
            self.inbound_spis.remove(&new_inbound_spi);
            return;
        }
        if self.ask_again_with_other_pfs(sa, error, our_group) {
            self.inbound_spis.remove(&new_inbound_spi);
            sa.v2
                .exchanges
                .queued
                .push_front(RequestKind::RekeyChild { old_inbound_spi });
            return;
        }
        match error.notify_type {
            NotifyType::InvalidKePayload => {
                self.inbound_spis.remove(&new_inbound_spi);
                let failure = Failure::refused_by_peer(
                    ExchangeType::CreateChildSa,
                    error.notify_type,
                    "the peer wants a PFS group we do not offer",
                );
                let spis = (new_inbound_spi, old_inbound_spi);
                self.abandon_child_rekey(now, sa, spis, Some(failure));
            }
            // The peer lost the child: ours is useless; ask for a new one.
            NotifyType::ChildSaNotFound => {
                self.inbound_spis.remove(&new_inbound_spi);
                let reason = DownReason::NegotiationFailed(Failure::refused_by_peer(
                    ExchangeType::CreateChildSa,
                    NotifyType::ChildSaNotFound,
                    "the peer no longer has this CHILD_SA",
                ));
                self.drop_child(sa, old_inbound_spi, reason);
                self.restore_child(now, sa, false);
            }
            // RFC 7296 2.25: the peer is busy with another exchange on this SA; try again.
            NotifyType::TemporaryFailure => {
                let spis = (new_inbound_spi, old_inbound_spi);
                self.abandon_child_rekey(now, sa, spis, None);
            }
            other => {
                let failure = Failure::refused_by_peer(
                    ExchangeType::CreateChildSa,
                    other,
                    format!("rekeying the CHILD_SA; {}", self.offered_esp(sa)),
                );
                let spis = (new_inbound_spi, old_inbound_spi);
                self.abandon_child_rekey(now, sa, spis, Some(failure));
            }
        }
    }

    /// Responder side of an IKE SA rekey (RFC 7296 1.3.2, 2.18).
    fn respond_rekey_ike(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        offer: &SaPayload,
        ni: &[u8],
        ke: Option<&KePayload>,
    ) -> (Vec<Payload>, Fate) {
        if sa.replaced_by.is_some() {
            return refuse(NotifyType::TemporaryFailure, Vec::new());
        }
        match sa.v2.exchanges.outstanding.as_ref().map(|o| &o.expect) {
            // Simultaneous IKE rekeys (2.8.2): the exchange with the higher initiator nonce
            // proceeds, the other is refused, so exactly one new IKE SA results.
            Some(Expect::IkeRekey(ours)) if compare_nonces(&ours.ni, ni) == Ordering::Greater => {
                return refuse(NotifyType::TemporaryFailure, Vec::new());
            }
            Some(Expect::ChildRekey(_)) => return refuse(NotifyType::TemporaryFailure, Vec::new()),
            _ => {}
        }
        let Some(settings) = self.shared_connection(sa.conn) else {
            return refuse(NotifyType::NoProposalChosen, Vec::new());
        };
        let our_spi = self.new_ike_spi();
        let Some((suite, answer, peer_spi)) =
            select_ike(&settings.ike_proposals, offer, Some(our_spi))
        else {
            return refuse(NotifyType::NoProposalChosen, Vec::new());
        };
        let Some(ke) = ke.filter(|k| k.group == suite.dh.transform_id()) else {
            return refuse(
                NotifyType::InvalidKePayload,
                suite.dh.transform_id().to_be_bytes().to_vec(),
            );
        };
        let Ok(peer_spi) = <[u8; 8]>::try_from(peer_spi.as_slice()).map(u64::from_be_bytes) else {
            return refuse(NotifyType::InvalidSyntax, Vec::new());
        };
        let agreed = KeyExchange::respond(suite.dh, &ke.data, self.rng.as_mut());
        let Ok((secret, public)) = agreed else {
            return refuse(NotifyType::InvalidSyntax, Vec::new());
        };
        let Some(old) = sa.v2.crypto.as_ref() else {
            return refuse(NotifyType::TemporaryFailure, Vec::new());
        };
        let nr = self.new_nonce();
        let keys = derive_rekeyed_ike_keys(
            &suite,
            &old.sk_d,
            old.suite.prf,
            secret.as_bytes(),
            ni,
            &nr,
            peer_spi,
            our_spi,
        );
        let Ok(crypto) = sa_crypto(suite, keys, false) else {
            return refuse(NotifyType::NoProposalChosen, Vec::new());
        };
        self.replace_ike_sa(now, sa, crypto, false, peer_spi, our_spi);
        // The initiator deletes the old SA; if it never does, it goes after a while.
        self.timers.arm(
            &mut sa.timers,
            sa.id,
            Timer::IkeExpire,
            now + REKEYED_LINGER,
        );
        let response = vec![
            Payload::Sa(answer),
            Payload::Nonce(nr),
            Payload::Ke(KePayload {
                group: suite.dh.transform_id(),
                data: public,
            }),
        ];
        (response, Fate::Keep)
    }

    pub(in crate::ike) fn finish_ike_rekey(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        payloads: &[Payload],
        sent: IkeRekeySent,
    ) -> Fate {
        let IkeRekeySent { ni, dh, new_spi } = sent;
        self.by_spi.remove(&new_spi);
        let retry = |engine: &mut Context, sa: &mut IkeSa, why: String| {
            debug!(sa = sa.id.0, "IKE SA rekey failed: {why}");
            engine
                .timers
                .arm(&mut sa.timers, sa.id, Timer::IkeRekey, now + REKEY_RETRY);
            Fate::Keep
        };
        let p = collect(payloads);
        if let Some(error) = p.error {
            if error.notify_type == NotifyType::InvalidKePayload {
                let wanted = DhGroup::from_notify_data(&error.data);
                if let Some(g) = wanted.filter(|g| {
                    self.connection(sa.conn)
                        .is_some_and(|c| c.ike_proposals.iter().any(|p| p.dh.contains(g)))
                }) {
                    sa.v2.ke_group_hint = Some(g);
                    sa.v2.exchanges.queued.push_front(RequestKind::RekeyIke);
                    return Fate::Keep;
                }
            }
            // Including TEMPORARY_FAILURE after a collision the peer won: its rekey proceeds.
            return retry(
                self,
                sa,
                format!("the peer refused with {}", error.notify_type),
            );
        }
        let Some(settings) = self.shared_connection(sa.conn) else {
            return Fate::Keep;
        };
        let (Some(answer), Some(nr), Some(ke)) = (p.sa, p.nonce, p.ke) else {
            return retry(self, sa, "incomplete response".into());
        };
        let Some((suite, peer_spi)) = accept_ike(&settings.ike_proposals, answer) else {
            return retry(self, sa, "unacceptable proposal".into());
        };
        let Ok(peer_spi) = <[u8; 8]>::try_from(peer_spi.as_slice()).map(u64::from_be_bytes) else {
            return retry(self, sa, "bad SPI in the proposal".into());
        };
        if ke.group != suite.dh.transform_id() || dh.group() != suite.dh || peer_spi == 0 {
            return retry(self, sa, "key exchange group mismatch".into());
        }
        let Ok(secret) = dh.agree(&ke.data) else {
            return retry(self, sa, "unusable key exchange data".into());
        };
        let Some(old) = sa.v2.crypto.as_ref() else {
            return Fate::Keep;
        };
        let keys = derive_rekeyed_ike_keys(
            &suite,
            &old.sk_d,
            old.suite.prf,
            secret.as_bytes(),
            &ni,
            nr,
            new_spi,
            peer_spi,
        );
        let Ok(crypto) = sa_crypto(suite, keys, true) else {
            return retry(self, sa, "cannot set up protection".into());
        };
        self.replace_ike_sa(now, sa, crypto, true, new_spi, peer_spi);
        sa.v2.exchanges.queued.clear();
        self.request(now, sa, RequestKind::DeleteIke);
        Fate::Keep
    }

    /// Move everything of `old` to a new IKE SA with fresh keys; `old` then only waits for
    /// its deletion.
    fn replace_ike_sa(
        &mut self,
        now: Instant,
        old: &mut IkeSa,
        mut crypto: SaCrypto,
        initiator: bool,
        spi_i: u64,
        spi_r: u64,
    ) {
        let id = self.new_sa_id();
        let mut new = IkeSa::new(
            SaOrigin {
                id,
                conn: old.conn,
                initiator,
                spi_i,
                spi_r,
                local: old.local,
                remote: old.remote,
                state: SaState::Established,
            },
            now,
        );
        new.nat = old.nat;
        // A rekeyed IKE SA is never authenticated again (RFC 7296 1.3.2): no SK_pi/SK_pr.
        crypto.auth_keys = None;
        new.v2.crypto = Some(crypto);
        new.v2.fragmentation = old.v2.fragmentation;
        new.v2.rekey_without_pfs = old.v2.rekey_without_pfs;
        new.children = std::mem::take(&mut old.children);
        new.remote_id = old.remote_id.clone();
        new.established_at = Some(now);
        // Children that were being rekeyed on the old SA start over on the new one.
        for c in &mut new.children {
            self.inbound_spis.insert(c.inbound_spi, Some(id));
            self.reqid_owners.insert(c.reqid, id);
            if c.state == ChildState::Rekeying {
                c.state = ChildState::Installed;
                c.collision = None;
            }
        }
        self.by_spi.insert(new.local_spi(), id);
        self.arm_dpd(now, &mut new);
        self.arm_ike_lifetime(now, &mut new);
        self.arm_child_rekey(&mut new);
        old.replaced_by = Some(id);
        old.state = SaState::Deleting;
        for kind in [
            Timer::Dpd,
            Timer::IkeRekey,
            Timer::ChildRekey,
            Timer::IkeExpire,
        ] {
            TimerQueue::cancel(&mut old.timers, kind);
        }
        self.emit_event(Event::IkeRekeyed {
            conn: old.conn,
            old: old.id,
            new: id,
        });
        self.adopt(new);
    }
}
