//! SA payload construction and proposal selection (RFC 7296 2.7, 3.3).
//!
//! The responder walks its own proposals in configured order and takes the first one the peer
//! also offers (strongSwan's `prefer_configured_proposals` default), choosing within each
//! transform type the first algorithm of ours the peer lists.

use crate::algorithm::{DhGroup, Encryption, Integrity, Prf};
use crate::crypto::keymat::IkeSuite;
use crate::wire::ikev2::transform::{
    encryption_from_transform, encryption_transform, TransformId, NONE,
};
use crate::wire::ikev2::{Proposal, ProtocolId, SaPayload, Transform, TransformType};

use super::super::sa::ChildSuite;
use super::super::settings::{EspProposal, IkeProposal};

/// IKE proposals for IKE_SA_INIT (no SPI) or an IKE rekey (our new 8-octet SPI).
pub fn ike_sa_payload(proposals: &[IkeProposal], spi: Option<u64>) -> SaPayload {
    let spi = spi.map(|s| s.to_be_bytes().to_vec()).unwrap_or_default();
    let proposals = proposals
        .iter()
        .zip(1u8..)
        .map(|(p, number)| {
            let mut transforms: Vec<Transform> = p
                .encryption
                .iter()
                .map(|e| encryption_transform(*e))
                .collect();
            transforms.extend(p.prf.iter().map(|f| f.to_transform()));
            transforms.extend(p.integrity.iter().map(|i| i.to_transform()));
            transforms.extend(p.dh.iter().map(|g| g.to_transform()));
            Proposal {
                number,
                protocol: ProtocolId::Ike,
                spi: spi.clone(),
                transforms,
            }
        })
        .collect();
    SaPayload { proposals }
}

/// ESP proposals with our inbound SPI. PFS groups are offered only where a KE payload
/// accompanies them (CREATE_CHILD_SA); in IKE_AUTH they are left out (RFC 7296 1.2).
pub fn esp_sa_payload(proposals: &[EspProposal], spi: u32, with_dh: bool) -> SaPayload {
    let proposals = proposals
        .iter()
        .zip(1u8..)
        .map(|(p, number)| {
            let mut transforms: Vec<Transform> = p
                .encryption
                .iter()
                .map(|e| encryption_transform(*e))
                .collect();
            transforms.extend(p.integrity.iter().map(|i| i.to_transform()));
            if with_dh {
                transforms.extend(p.dh.iter().map(|g| g.to_transform()));
            }
            if p.esn {
                transforms.push(Transform::new(TransformType::Esn, 1));
            }
            transforms.push(Transform::new(TransformType::Esn, 0));
            Proposal {
                number,
                protocol: ProtocolId::Esp,
                spi: spi.to_be_bytes().to_vec(),
                transforms,
            }
        })
        .collect();
    SaPayload { proposals }
}

fn offered(p: &Proposal, kind: TransformType) -> impl Iterator<Item = &Transform> {
    p.transforms.iter().filter(move |t| t.kind == kind)
}

/// Whether the peer's proposal lists this algorithm.
fn lists<T: TransformId>(p: &Proposal, algorithm: T) -> bool {
    offered(p, T::KIND).any(|t| t.id == algorithm.transform_id())
}

/// Our first algorithm of one kind that the peer's proposal also lists.
fn first_listed<T: TransformId>(ours: &[T], theirs: &Proposal) -> Option<T> {
    ours.iter().copied().find(|a| lists(theirs, *a))
}

/// Our first cipher that the peer's proposal also lists, with the same key length.
fn first_listed_cipher(ours: &[Encryption], theirs: &Proposal) -> Option<Encryption> {
    ours.iter().copied().find(|e| {
        offered(theirs, TransformType::Encr).any(|t| encryption_from_transform(t) == Some(*e))
    })
}

/// AEAD proposals may carry integrity "NONE" or nothing (RFC 5282 8).
fn integrity_ok_for_aead(p: &Proposal) -> bool {
    offered(p, TransformType::Integ).all(|t| t.id == NONE)
}

/// The integrity algorithm to go with the chosen cipher: none for AEAD (and the peer must not
/// ask for one), else our first one the peer lists. `None` when the proposal does not fit.
fn pick_integrity(
    encryption: Encryption,
    ours: &[Integrity],
    theirs: &Proposal,
) -> Option<Option<Integrity>> {
    if encryption.is_aead() {
        integrity_ok_for_aead(theirs).then_some(None)
    } else {
        first_listed(ours, theirs).map(Some)
    }
}

fn pick_ike(ours: &IkeProposal, theirs: &Proposal) -> Option<IkeSuite> {
    let encryption = first_listed_cipher(&ours.encryption, theirs)?;
    let prf = first_listed(&ours.prf, theirs)?;
    let dh = first_listed(&ours.dh, theirs)?;
    let integrity = pick_integrity(encryption, &ours.integrity, theirs)?;
    Some(IkeSuite {
        encryption,
        integrity,
        prf,
        dh,
    })
}

fn ike_suite_proposal(suite: &IkeSuite, number: u8, spi: Vec<u8>) -> Proposal {
    let mut transforms = vec![
        encryption_transform(suite.encryption),
        suite.prf.to_transform(),
    ];
    if let Some(i) = suite.integrity {
        transforms.push(i.to_transform());
    }
    transforms.push(suite.dh.to_transform());
    Proposal {
        number,
        protocol: ProtocolId::Ike,
        spi,
        transforms,
    }
}

/// Responder: choose an IKE suite from the peer's SA payload. Returns the suite and the
/// single proposal to answer with (the peer's proposal number, our SPI when rekeying), plus the
/// peer's SPI of that proposal.
pub fn select_ike(
    ours: &[IkeProposal],
    theirs: &SaPayload,
    our_spi: Option<u64>,
) -> Option<(IkeSuite, SaPayload, Vec<u8>)> {
    for mine in ours {
        for p in theirs
            .proposals
            .iter()
            .filter(|p| p.protocol == ProtocolId::Ike)
        {
            if let Some(suite) = pick_ike(mine, p) {
                let spi = our_spi
                    .map(|s| s.to_be_bytes().to_vec())
                    .unwrap_or_default();
                let answer = SaPayload {
                    proposals: vec![ike_suite_proposal(&suite, p.number, spi)],
                };
                return Some((suite, answer, p.spi.clone()));
            }
        }
    }
    None
}

/// Initiator: the responder must answer with exactly one proposal built from what we offered
/// (RFC 7296 2.7); anything else is a protocol error.
pub fn accept_ike(ours: &[IkeProposal], answer: &SaPayload) -> Option<(IkeSuite, Vec<u8>)> {
    let [p] = answer.proposals.as_slice() else {
        return None;
    };
    if p.protocol != ProtocolId::Ike
        || offered(p, TransformType::Encr).count() != 1
        || offered(p, TransformType::Prf).count() != 1
        || offered(p, TransformType::Dh).count() != 1
        || offered(p, TransformType::Integ).count() > 1
    {
        return None;
    }
    let suite = ours.iter().find_map(|mine| pick_ike(mine, p))?;
    Some((suite, p.spi.clone()))
}

fn pick_esp(ours: &EspProposal, theirs: &Proposal, want_dh: Option<DhGroup>) -> Option<ChildSuite> {
    let encryption = first_listed_cipher(&ours.encryption, theirs)?;
    let integrity = pick_integrity(encryption, &ours.integrity, theirs)?;
    let their_esn: Vec<u16> = offered(theirs, TransformType::Esn).map(|t| t.id).collect();
    let esn = if ours.esn && their_esn.contains(&1) {
        true
    } else if their_esn.is_empty() || their_esn.contains(&0) {
        false
    } else {
        return None;
    };
    let dh = match want_dh {
        // No key exchange: whether the connection requires one is for the caller to decide.
        None => {
            // Without a KE payload a DH transform cannot be honoured, unless NONE is offered.
            if offered(theirs, TransformType::Dh).any(|t| t.id != NONE)
                && !offered(theirs, TransformType::Dh).any(|t| t.id == NONE)
            {
                return None;
            }
            None
        }
        // RFC 7296 1.3: the chosen proposal names the group of the KE payload. Whether we
        // allow the group is for the caller to decide (see `pfs_groups`).
        Some(group) => {
            if !lists(theirs, group) {
                return None;
            }
            Some(group)
        }
    };
    Some(ChildSuite {
        encryption,
        integrity,
        esn,
        dh,
    })
}

fn esp_suite_proposal(suite: &ChildSuite, number: u8, spi: u32) -> Proposal {
    let mut transforms = vec![encryption_transform(suite.encryption)];
    if let Some(i) = suite.integrity {
        transforms.push(i.to_transform());
    }
    if let Some(g) = suite.dh {
        transforms.push(g.to_transform());
    }
    transforms.push(Transform::new(TransformType::Esn, u16::from(suite.esn)));
    Proposal {
        number,
        protocol: ProtocolId::Esp,
        spi: spi.to_be_bytes().to_vec(),
        transforms,
    }
}

/// Responder: choose an ESP suite. `ke_group` is the group of the KE payload when one came
/// with the request (PFS), already checked against `pfs_groups`. Returns the suite, the answer (with our inbound SPI) and the peer's
/// SPI (its inbound, our outbound).
pub fn select_esp(
    ours: &[EspProposal],
    theirs: &SaPayload,
    ke_group: Option<DhGroup>,
    our_spi: u32,
) -> Option<(ChildSuite, SaPayload, u32)> {
    for mine in ours {
        for p in theirs
            .proposals
            .iter()
            .filter(|p| p.protocol == ProtocolId::Esp)
        {
            let Ok(peer_spi) = <[u8; 4]>::try_from(p.spi.as_slice()) else {
                continue;
            };
            if let Some(suite) = pick_esp(mine, p, ke_group) {
                let answer = SaPayload {
                    proposals: vec![esp_suite_proposal(&suite, p.number, our_spi)],
                };
                return Some((suite, answer, u32::from_be_bytes(peer_spi)));
            }
        }
    }
    None
}

/// Initiator: check the responder's single ESP proposal against ours.
pub fn accept_esp(
    ours: &[EspProposal],
    answer: &SaPayload,
    ke_group: Option<DhGroup>,
) -> Option<(ChildSuite, u32)> {
    let [p] = answer.proposals.as_slice() else {
        return None;
    };
    if p.protocol != ProtocolId::Esp
        || offered(p, TransformType::Encr).count() != 1
        || offered(p, TransformType::Esn).count() > 1
    {
        return None;
    }
    let peer_spi = u32::from_be_bytes(<[u8; 4]>::try_from(p.spi.as_slice()).ok()?);
    let suite = ours.iter().find_map(|mine| pick_esp(mine, p, ke_group))?;
    Some((suite, peer_spi))
}

/// The PFS group the initiator of a CREATE_CHILD_SA offers first, if its proposals ask for one.
/// The peer's proposals in the configuration's notation, for logs: `aes128gcm16-prfsha256-ecp256,
/// aes256-sha256-prfsha256-modp2048`; a transform without a name here shows as its type and
/// number (`encr#23`, `type9#1` for a transform type without a name here).
pub fn describe(offer: &SaPayload) -> String {
    let name = |t: &Transform| -> Option<String> {
        Some(match t.kind {
            TransformType::Encr => encryption_from_transform(t)?.to_string(),
            TransformType::Integ => Integrity::from_transform_id(t.id)?.to_string(),
            TransformType::Prf => Prf::from_transform_id(t.id)?.to_string(),
            TransformType::Dh => DhGroup::from_transform_id(t.id)?.to_string(),
            TransformType::Esn => if t.id == 1 { "esn" } else { "noesn" }.to_string(),
            TransformType::Unknown(_) => return None,
        })
    };
    offer
        .proposals
        .iter()
        .map(|p| {
            p.transforms
                .iter()
                .map(|t| {
                    name(t).unwrap_or_else(|| match t.kind.registry_name() {
                        Some(kind) => format!("{}#{}", kind.to_lowercase(), t.id),
                        None => format!("type{}#{}", t.kind.value(), t.id),
                    })
                })
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn preferred_pfs_group(ours: &[EspProposal]) -> Option<DhGroup> {
    ours.first().and_then(|p| p.dh.first().copied())
}

/// The groups we accept for the key exchange of a CHILD_SA made by CREATE_CHILD_SA, in order of
/// preference: those our ESP proposals name, then those we allow for the IKE SA (the group a
/// Libreswan peer uses for PFS when its ESP proposals name none).
pub fn pfs_groups(esp: &[EspProposal], ike: &[IkeProposal]) -> Vec<DhGroup> {
    let mut groups: Vec<DhGroup> = Vec::new();
    let all = esp
        .iter()
        .flat_map(|p| &p.dh)
        .chain(ike.iter().flat_map(|p| &p.dh));
    for g in all {
        if !groups.contains(g) {
            groups.push(*g);
        }
    }
    groups
}

/// A PFS group of `allowed` (see `pfs_groups`) the offer lists, for an INVALID_KE_PAYLOAD
/// answer.
pub fn acceptable_pfs_group(allowed: &[DhGroup], theirs: &SaPayload) -> Option<DhGroup> {
    allowed.iter().copied().find(|g| {
        theirs
            .proposals
            .iter()
            .any(|p| p.protocol == ProtocolId::Esp && lists(p, *g))
    })
}

/// The DH group the initiator puts in its first KE payload: the first of its first proposal.
pub fn preferred_group(ours: &[IkeProposal]) -> Option<DhGroup> {
    ours.first().and_then(|p| p.dh.first().copied())
}

/// Whether a group is acceptable in any of our proposals (for INVALID_KE_PAYLOAD retries).
pub fn group_offered(ours: &[IkeProposal], group: DhGroup) -> bool {
    ours.iter().any(|p| p.dh.contains(&group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_described_in_the_configuration_notation() {
        let ours = ike_sa_payload(
            &[IkeProposal {
                encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
                integrity: vec![],
                prf: vec![Prf::HmacSha256],
                dh: vec![DhGroup::Ecp256],
            }],
            None,
        );
        assert_eq!(describe(&ours), "aes128gcm16-prfsha256-ecp256");
        let mut odd = ours.clone();
        if let Some(p) = odd.proposals.first_mut() {
            p.transforms.push(Transform {
                kind: TransformType::Dh,
                id: 4242,
                key_length: None,
                other_attributes: Vec::new(),
            });
            p.transforms.push(Transform {
                kind: TransformType::from(9),
                id: 1,
                key_length: None,
                other_attributes: Vec::new(),
            });
        }
        assert_eq!(
            describe(&odd),
            "aes128gcm16-prfsha256-ecp256-dh#4242-type9#1"
        );
    }
}
