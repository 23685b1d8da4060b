//! A new CHILD_SA on an established IKE SA (RFC 7296 1.3.1): CREATE_CHILD_SA without
//! REKEY_SA. We ask for one when a CHILD_SA must be had and a rekey cannot give it: the
//! peer refuses every rekey of a child nearing its hard lifetime, the kernel ended a child,
//! or the peer deleted the connection's last one. What follows a refusal is decided in
//! `ike/recovery.rs`.

use std::time::Instant;

use tracing::{debug, info};

use crate::algorithm::DhGroup;
use crate::crypto::dh::KeyExchange;
use crate::wire::ikev2::transform::{InvalidKeData, TransformId};
use crate::wire::ikev2::{ExchangeType, KePayload, Notify, NotifyType, Payload};

use super::super::context::Context;
use super::super::error::Failure;
use super::super::sa::{IkeSa, RequestKind};
use super::super::selector::{self, Selector};
use super::super::settings::{ConnectionSettings, Pfs};
use super::create_child::{collect, rekeyed_child, same_selectors_reqid, RekeyResponse, Unusable};
use super::proposal::{esp_sa_payload, preferred_pfs_group};
use super::sa::{Expect, NewChildSent};
use super::ts;

/// The PFS key exchange of a CREATE_CHILD_SA we start: of the group the peer asked for, or
/// our first ESP group; none when our proposals have none or this IKE SA learned that the
/// peer takes none. `Err` when the key cannot be made.
pub(super) fn pfs_key_exchange(
    cx: &mut Context,
    sa: &mut IkeSa,
    settings: &ConnectionSettings,
) -> Result<Option<KeyExchange>, ()> {
    let hint = sa.v2.ke_group_hint.take();
    let group = hint
        .or_else(|| preferred_pfs_group(&settings.esp_proposals))
        .filter(|_| !sa.v2.rekey_without_pfs);
    match group.map(|g| KeyExchange::generate(g, cx.rng.as_mut())) {
        Some(Ok(dh)) => Ok(Some(dh)),
        Some(Err(e)) => {
            debug!(sa = sa.id.0, "cannot generate the PFS key exchange: {e}");
            Err(())
        }
        None => Ok(None),
    }
}

/// The payloads of a CREATE_CHILD_SA request for a CHILD_SA: our ESP proposals with the new
/// inbound SPI, our nonce, the PFS key exchange if any, and the selectors (RFC 7296 1.3.1).
/// A rekey puts its REKEY_SA notify in front.
pub(super) fn child_request(
    settings: &ConnectionSettings,
    (new_inbound_spi, ni): (u32, &[u8]),
    dh: Option<&KeyExchange>,
    (local_ts, remote_ts): (&[Selector], &[Selector]),
) -> Vec<Payload> {
    let mut payloads = vec![
        Payload::Sa(esp_sa_payload(
            &settings.esp_proposals,
            new_inbound_spi,
            dh.is_some(),
        )),
        Payload::Nonce(ni.to_vec()),
    ];
    if let Some(dh) = dh {
        payloads.push(Payload::Ke(KePayload {
            group: dh.group().transform_id(),
            data: dh.public_value().to_vec(),
        }));
    }
    payloads.push(Payload::TsI(ts::from_selectors(local_ts)));
    payloads.push(Payload::TsR(ts::from_selectors(remote_ts)));
    payloads
}

impl Context {
    /// The peer refused our CREATE_CHILD_SA for its key exchange in a way that says how to
    /// ask again: INVALID_KE_PAYLOAD names a group we also offer (RFC 7296 1.3), or
    /// NO_PROPOSAL_CHOSEN refused our key exchange (a peer without PFS in its ESP proposals,
    /// as strongSwan 5.9 at its defaults) and we do not require PFS. Then the next request
    /// goes as the answer says, and true is returned.
    pub(super) fn ask_again_with_other_pfs(
        &mut self,
        sa: &mut IkeSa,
        error: &Notify,
        ours: Option<DhGroup>,
    ) -> bool {
        let Some(settings) = self.connection(sa.conn) else {
            return false;
        };
        match error.notify_type {
            NotifyType::InvalidKePayload => {
                let wanted = DhGroup::from_notify_data(&error.data);
                let offered = wanted
                    .is_some_and(|g| settings.esp_proposals.iter().any(|p| p.dh.contains(&g)));
                if offered && ours != wanted {
                    sa.v2.ke_group_hint = wanted;
                    return true;
                }
                false
            }
            NotifyType::NoProposalChosen if ours.is_some() && settings.pfs == Pfs::Optional => {
                info!(
                    connection = settings.name.as_str(),
                    "CREATE_CHILD_SA: the peer refused PFS with NO_PROPOSAL_CHOSEN; \
                     asking again without a key exchange"
                );
                sa.v2.rekey_without_pfs = true;
                true
            }
            _ => false,
        }
    }

    /// The payloads of a new CHILD_SA for the selectors of the child it replaces (still
    /// installed), or for the connection's subnets.
    pub(in crate::ike) fn build_new_child(
        &mut self,
        sa: &mut IkeSa,
        replaces: Option<u32>,
    ) -> Option<(Vec<Payload>, Expect)> {
        let settings = self.shared_connection(sa.conn)?;
        let old = replaces.and_then(|spi| sa.children.iter().find(|c| c.inbound_spi == spi));
        let replaces = old.map(|c| c.inbound_spi);
        let (local_ts, remote_ts, reqid) = match old {
            Some(old) => (old.local_ts.clone(), old.remote_ts.clone(), Some(old.reqid)),
            None => {
                let local = selector::subnets(&settings.local_subnets);
                let remote = selector::subnets(&settings.remote_subnets);
                let reqid = same_selectors_reqid(sa, &local, &remote);
                (local, remote, reqid)
            }
        };
        let dh = pfs_key_exchange(self, sa, &settings).ok()?;
        let ni = self.new_nonce();
        let new_inbound_spi = self.new_esp_spi();
        let payloads = child_request(
            &settings,
            (new_inbound_spi, &ni),
            dh.as_ref(),
            (&local_ts, &remote_ts),
        );
        let sent = NewChildSent {
            ni,
            dh,
            new_inbound_spi,
            replaces,
            reqid,
            local_ts,
            remote_ts,
        };
        Some((payloads, Expect::NewChild(Box::new(sent))))
    }

    /// The peer's answer to our new CHILD_SA: install it (and retire the child it replaces),
    /// ask again where the answer says how, or hand the failure to the recovery.
    pub(in crate::ike) fn finish_new_child(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        payloads: &[Payload],
        sent: NewChildSent,
    ) {
        let p = collect(payloads);
        self.inbound_spis.remove(&sent.new_inbound_spi);
        let request = RequestKind::CreateChild {
            replaces: sent.replaces,
        };
        if let Some(error) = p.error {
            let ours = sent.dh.as_ref().map(|d| d.group());
            if self.ask_again_with_other_pfs(sa, error, ours) {
                sa.v2.exchanges.queued.push_front(request);
                return;
            }
            let failure = Failure::refused_by_peer(
                ExchangeType::CreateChildSa,
                error.notify_type,
                self.offered_esp(sa),
            );
            self.new_child_failed(now, sa, sent.replaces, failure);
            return;
        }
        let Some(settings) = self.shared_connection(sa.conn) else {
            return;
        };
        let (Some(answer), Some(nr), Some(tsi), Some(tsr)) = (p.sa, p.nonce, p.tsi, p.tsr) else {
            let failure = Failure::gave_up(ExchangeType::CreateChildSa, "incomplete response");
            self.new_child_failed(now, sa, sent.replaces, failure);
            return;
        };
        // The child to replace, or the one whose reqid we share, may have gone meanwhile
        // (and its policies with it): then the new child gets a reqid of its own.
        let replaced = sent
            .replaces
            .filter(|spi| sa.children.iter().any(|c| c.inbound_spi == *spi));
        let reqid = sent
            .reqid
            .filter(|r| sa.children.iter().any(|c| c.reqid == *r));
        let response = RekeyResponse {
            answer,
            nr,
            ke: p.ke,
            tsi,
            tsr,
        };
        let selectors = (&sent.local_ts[..], &sent.remote_ts[..], reqid);
        match rekeyed_child(
            sa,
            selectors,
            &settings,
            response,
            &sent.ni,
            sent.dh,
            sent.new_inbound_spi,
        ) {
            Ok(child) => {
                self.install_child(now, sa, child);
                if let Some(old) = replaced {
                    self.replaced_child(now, sa, old);
                }
            }
            Err(Unusable { why, delete_new }) => {
                if delete_new {
                    self.delete_child(now, sa, sent.new_inbound_spi);
                }
                let failure = Failure::gave_up(ExchangeType::CreateChildSa, why);
                self.new_child_failed(now, sa, sent.replaces, failure);
            }
        }
    }

    /// Our ESP proposals, for a failure's detail: what the peer refused.
    pub(super) fn offered_esp(&self, sa: &IkeSa) -> String {
        self.connection(sa.conn)
            .map(|c| {
                let offered: Vec<String> = c.esp_proposals.iter().map(|p| p.to_string()).collect();
                format!("we offered {}", offered.join(", "))
            })
            .unwrap_or_default()
    }
}
