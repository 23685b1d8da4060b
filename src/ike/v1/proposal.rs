//! Proposals of IKEv1 SA payloads and the configured proposals they come from (RFC 2409
//! appendix A for phase 1, RFC 2407 4.4.4 and 4.5 for phase 2). IKEv1 offers every
//! combination of algorithms as a transform of its own, and the responder answers with the
//! one transform it chose, as it was received.

use std::fmt;

use crate::algorithm::{DhGroup, Encryption, Integrity};
use crate::ike::{EspProposal, IkeProposal};
use crate::wire::ikev1::{
    phase1, phase2, Attribute, AttributeValue, Proposal, SaPayload, Transform, DOI_IPSEC, ESP_3DES,
    ESP_AES, ESP_AES_GCM_16, KEY_IKE, PROTO_IPSEC_ESP, PROTO_ISAKMP, SIT_IDENTITY_ONLY,
};
// IKEv1's Group Description values and IKEv2's Transform Type 4 IDs are one IANA registry.
use crate::wire::ikev2::transform::TransformId;

use super::nat::NatTVariant;

/// What the two ends agreed on for the ISAKMP SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase1Choice {
    pub encryption: Encryption,
    /// The hash algorithm, named by the HMAC of it (the prf is its HMAC: RFC 2409 4).
    pub hash: Integrity,
    pub dh: DhGroup,
    pub lifetime_s: Option<u64>,
}

/// What the two ends agreed on for an IPsec SA pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase2Choice {
    pub encryption: Encryption,
    pub integrity: Option<Integrity>,
    pub dh: Option<DhGroup>,
    pub lifetime_s: Option<u64>,
    pub lifetime_kb: Option<u64>,
    pub udp_encapsulated: bool,
}

/// No transform both ends accept: both lists, for the log line of a NO_PROPOSAL_CHOSEN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoMatch {
    pub what: &'static str,
    pub ours: String,
    pub offered: String,
}

impl fmt::Display for NoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no {} proposal matches: ours {}; offered {}",
            self.what, self.ours, self.offered
        )
    }
}

fn phase1_cipher(e: Encryption) -> Option<(u16, Option<u16>)> {
    match e {
        Encryption::AesCbc { key_bits } => Some((phase1::ENC_AES_CBC, Some(key_bits))),
        Encryption::TripleDes => Some((phase1::ENC_3DES_CBC, None)),
        Encryption::AesGcm16 { .. } | Encryption::ChaCha20Poly1305 => None,
    }
}

fn phase1_hash(i: Integrity) -> u16 {
    match i {
        Integrity::HmacMd5_96 => phase1::HASH_MD5,
        Integrity::HmacSha1_96 => phase1::HASH_SHA,
        Integrity::HmacSha256_128 => phase1::HASH_SHA2_256,
        Integrity::HmacSha384_192 => phase1::HASH_SHA2_384,
        Integrity::HmacSha512_256 => phase1::HASH_SHA2_512,
    }
}

fn esp_cipher(e: Encryption) -> Option<(u8, Option<u16>)> {
    match e {
        Encryption::AesCbc { key_bits } => Some((ESP_AES, Some(key_bits))),
        Encryption::AesGcm16 { key_bits } => Some((ESP_AES_GCM_16, Some(key_bits))),
        Encryption::TripleDes => Some((ESP_3DES, None)),
        Encryption::ChaCha20Poly1305 => None,
    }
}

fn esp_auth(i: Integrity) -> u16 {
    match i {
        Integrity::HmacMd5_96 => phase2::AUTH_HMAC_MD5,
        Integrity::HmacSha1_96 => phase2::AUTH_HMAC_SHA,
        Integrity::HmacSha256_128 => phase2::AUTH_HMAC_SHA2_256,
        Integrity::HmacSha384_192 => phase2::AUTH_HMAC_SHA2_384,
        Integrity::HmacSha512_256 => phase2::AUTH_HMAC_SHA2_512,
    }
}

fn value(t: &Transform, kind: u16) -> Option<u64> {
    t.attribute(kind).and_then(|a| a.value.as_u64())
}

fn group_of(t: &Transform, kind: u16) -> Option<DhGroup> {
    value(t, kind)
        .and_then(|g| u16::try_from(g).ok())
        .and_then(DhGroup::from_transform_id)
}

fn life(value: u64) -> AttributeValue {
    AttributeValue::from_u64(value)
}

/// The combinations a list of configured IKE proposals offers, in order.
fn phase1_combinations(ours: &[IkeProposal]) -> Vec<(Encryption, Integrity, DhGroup)> {
    let mut out = Vec::new();
    for p in ours {
        for e in &p.encryption {
            for i in &p.integrity {
                for g in &p.dh {
                    if phase1_cipher(*e).is_some() && !out.contains(&(*e, *i, *g)) {
                        out.push((*e, *i, *g));
                    }
                }
            }
        }
    }
    out
}

fn combination_text(e: Encryption, i: Option<Integrity>, g: Option<DhGroup>) -> String {
    let mut text = e.to_string();
    if let Some(i) = i {
        text.push('-');
        text.push_str(&i.to_string());
    }
    if let Some(g) = g {
        text.push('-');
        text.push_str(&g.to_string());
    }
    text
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The transforms an SA payload offers or answers with, by our names (`aes128-sha256-ecp256`
/// for phase 1, `aes128-sha256` or `aes128-sha256-modp2048` for ESP): public on the wire, so
/// fit for the debug line of each message.
pub fn describe(sa: &SaPayload) -> String {
    let phase1 = isakmp_transforms(sa).map(|(_, t)| phase1_text(t));
    let esp = esp_transforms(sa).map(|(_, t)| phase2_text(t));
    list(phase1.chain(esp))
}

/// Our phase 1 offer: one ISAKMP proposal, one transform per combination, pre-shared key
/// authentication, the lifetime in seconds.
pub fn phase1_sa(ours: &[IkeProposal], lifetime_s: u64) -> SaPayload {
    let transforms = phase1_combinations(ours)
        .into_iter()
        .zip(1u8..)
        .filter_map(|((e, i, g), number)| {
            let (cipher, key_bits) = phase1_cipher(e)?;
            let mut attributes = vec![Attribute::basic(phase1::ENCRYPTION_ALGORITHM, cipher)];
            if let Some(bits) = key_bits {
                attributes.push(Attribute::basic(phase1::KEY_LENGTH, bits));
            }
            attributes.extend([
                Attribute::basic(phase1::HASH_ALGORITHM, phase1_hash(i)),
                Attribute::basic(phase1::AUTHENTICATION_METHOD, phase1::AUTH_PRE_SHARED_KEY),
                Attribute::basic(phase1::GROUP_DESCRIPTION, g.transform_id()),
                Attribute::basic(phase1::LIFE_TYPE, phase1::LIFE_SECONDS),
                Attribute {
                    kind: phase1::LIFE_DURATION,
                    value: life(lifetime_s),
                },
            ]);
            Some(Transform {
                number,
                id: KEY_IKE,
                attributes,
            })
        })
        .collect();
    SaPayload {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![Proposal {
            number: 1,
            protocol: PROTO_ISAKMP,
            spi: Vec::new(),
            transforms,
        }],
    }
}

/// What one phase 1 transform offers, if we know all of it: (cipher, hash, group, life in
/// seconds, pre-shared key authentication).
fn read_phase1(t: &Transform) -> Option<(Encryption, Integrity, DhGroup, Option<u64>, bool)> {
    let key_bits = value(t, phase1::KEY_LENGTH).and_then(|k| u16::try_from(k).ok());
    let encryption = match value(t, phase1::ENCRYPTION_ALGORITHM)? {
        v if v == u64::from(phase1::ENC_AES_CBC) => Encryption::AesCbc {
            // RFC 3602 4.5 leaves no default; strongSwan and Libreswan send it.
            key_bits: key_bits.unwrap_or(128),
        },
        v if v == u64::from(phase1::ENC_3DES_CBC) => Encryption::TripleDes,
        _ => return None,
    };
    let hash = match u16::try_from(value(t, phase1::HASH_ALGORITHM)?).ok()? {
        phase1::HASH_MD5 => Integrity::HmacMd5_96,
        phase1::HASH_SHA => Integrity::HmacSha1_96,
        phase1::HASH_SHA2_256 => Integrity::HmacSha256_128,
        phase1::HASH_SHA2_384 => Integrity::HmacSha384_192,
        phase1::HASH_SHA2_512 => Integrity::HmacSha512_256,
        _ => return None,
    };
    let group = group_of(t, phase1::GROUP_DESCRIPTION)?;
    let seconds = (value(t, phase1::LIFE_TYPE) == Some(u64::from(phase1::LIFE_SECONDS)))
        .then(|| value(t, phase1::LIFE_DURATION))
        .flatten();
    let psk =
        value(t, phase1::AUTHENTICATION_METHOD) == Some(u64::from(phase1::AUTH_PRE_SHARED_KEY));
    Some((encryption, hash, group, seconds, psk))
}

fn phase1_text(t: &Transform) -> String {
    match read_phase1(t) {
        Some((e, i, g, _, true)) => combination_text(e, Some(i), Some(g)),
        Some((e, i, g, _, false)) => format!("{} (not PSK)", combination_text(e, Some(i), Some(g))),
        None => format!("transform {} with unknown algorithms", t.number),
    }
}

/// Our phase 1 combinations as IKEv1 offers them (`aes128-sha256-ecp256`, ...).
pub fn ours_text_phase1(ours: &[IkeProposal]) -> String {
    list(
        phase1_combinations(ours)
            .into_iter()
            .map(|(e, i, g)| combination_text(e, Some(i), Some(g))),
    )
}

fn isakmp_transforms(sa: &SaPayload) -> impl Iterator<Item = (&Proposal, &Transform)> {
    sa.proposals
        .iter()
        .filter(|p| p.protocol == PROTO_ISAKMP)
        .flat_map(|p| p.transforms.iter().map(move |t| (p, t)))
}

/// Responder: the first transform of the initiator's offer that we accept, and the answer
/// naming it.
pub fn select_phase1(
    offered: &SaPayload,
    ours: &[IkeProposal],
) -> Result<(Phase1Choice, SaPayload), NoMatch> {
    let combos = phase1_combinations(ours);
    for (proposal, t) in isakmp_transforms(offered) {
        let Some((encryption, hash, dh, lifetime_s, true)) = read_phase1(t) else {
            continue;
        };
        if combos.contains(&(encryption, hash, dh)) {
            let answer = SaPayload {
                doi: offered.doi,
                situation: offered.situation,
                proposals: vec![Proposal {
                    number: proposal.number,
                    protocol: proposal.protocol,
                    spi: proposal.spi.clone(),
                    transforms: vec![t.clone()],
                }],
            };
            let choice = Phase1Choice {
                encryption,
                hash,
                dh,
                lifetime_s,
            };
            return Ok((choice, answer));
        }
    }
    Err(NoMatch {
        what: "IKE",
        ours: ours_text_phase1(ours),
        offered: list(isakmp_transforms(offered).map(|(_, t)| phase1_text(t))),
    })
}

/// Initiator: the responder's answer must name one of the transforms we offered.
pub fn phase1_of_answer(answer: &SaPayload, ours: &[IkeProposal]) -> Result<Phase1Choice, NoMatch> {
    let combos = phase1_combinations(ours);
    let mut transforms = isakmp_transforms(answer);
    let chosen = match (transforms.next(), transforms.next()) {
        (Some((_, t)), None) => read_phase1(t),
        _ => None,
    };
    match chosen {
        Some((encryption, hash, dh, lifetime_s, true))
            if combos.contains(&(encryption, hash, dh)) =>
        {
            Ok(Phase1Choice {
                encryption,
                hash,
                dh,
                lifetime_s,
            })
        }
        _ => Err(NoMatch {
            what: "IKE",
            ours: ours_text_phase1(ours),
            offered: list(isakmp_transforms(answer).map(|(_, t)| phase1_text(t))),
        }),
    }
}

/// The ESP combinations of our proposals: (cipher, integrity, the proposal's groups).
fn esp_combinations(ours: &[EspProposal]) -> Vec<(Encryption, Option<Integrity>, &[DhGroup])> {
    let mut out = Vec::new();
    for p in ours {
        for e in &p.encryption {
            if esp_cipher(*e).is_none() {
                continue;
            }
            if e.is_aead() {
                out.push((*e, None, p.dh.as_slice()));
            } else {
                for i in &p.integrity {
                    out.push((*e, Some(*i), p.dh.as_slice()));
                }
            }
        }
    }
    out
}

fn encapsulation_value(encapsulation: Option<NatTVariant>) -> u16 {
    match encapsulation {
        None => phase2::ENCAP_TUNNEL,
        Some(NatTVariant::Rfc3947) => phase2::ENCAP_UDP_TUNNEL,
        Some(NatTVariant::Draft) => phase2::ENCAP_UDP_TUNNEL_DRAFT,
    }
}

/// Our Quick Mode offer: one ESP proposal with our SPI, one transform per combination, each
/// with the PFS group when there is one (RFC 2407 4.5: Group Description), tunnel mode (UDP
/// encapsulated behind a NAT, in the NAT-T dialect of the SA) and the lifetime in seconds.
pub fn phase2_sa(
    ours: &[EspProposal],
    spi: u32,
    pfs: Option<DhGroup>,
    lifetime_s: u64,
    encapsulation: Option<NatTVariant>,
) -> SaPayload {
    let transforms = esp_combinations(ours)
        .into_iter()
        .filter(|(_, _, groups)| pfs.is_none_or(|g| groups.is_empty() || groups.contains(&g)))
        .zip(1u8..)
        .filter_map(|((e, i, _), number)| {
            let (id, key_bits) = esp_cipher(e)?;
            let mut attributes = vec![
                Attribute::basic(phase2::SA_LIFE_TYPE, phase2::LIFE_SECONDS),
                Attribute {
                    kind: phase2::SA_LIFE_DURATION,
                    value: life(lifetime_s),
                },
            ];
            if let Some(g) = pfs {
                attributes.push(Attribute::basic(
                    phase2::GROUP_DESCRIPTION,
                    g.transform_id(),
                ));
            }
            attributes.push(Attribute::basic(
                phase2::ENCAPSULATION_MODE,
                encapsulation_value(encapsulation),
            ));
            if let Some(i) = i {
                attributes.push(Attribute::basic(
                    phase2::AUTHENTICATION_ALGORITHM,
                    esp_auth(i),
                ));
            }
            if let Some(bits) = key_bits {
                attributes.push(Attribute::basic(phase2::KEY_LENGTH, bits));
            }
            Some(Transform {
                number,
                id,
                attributes,
            })
        })
        .collect();
    SaPayload {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals: vec![Proposal {
            number: 1,
            protocol: PROTO_IPSEC_ESP,
            spi: spi.to_be_bytes().to_vec(),
            transforms,
        }],
    }
}

/// What one ESP transform offers, if we know all of it.
fn read_phase2(t: &Transform) -> Option<Phase2Choice> {
    let key_bits = value(t, phase2::KEY_LENGTH).and_then(|k| u16::try_from(k).ok());
    let encryption = match t.id {
        ESP_AES => Encryption::AesCbc {
            key_bits: key_bits.unwrap_or(128),
        },
        ESP_AES_GCM_16 => Encryption::AesGcm16 {
            key_bits: key_bits.unwrap_or(128),
        },
        ESP_3DES => Encryption::TripleDes,
        _ => return None,
    };
    let integrity = match value(t, phase2::AUTHENTICATION_ALGORITHM).map(u16::try_from) {
        None => None,
        Some(Ok(phase2::AUTH_HMAC_MD5)) => Some(Integrity::HmacMd5_96),
        Some(Ok(phase2::AUTH_HMAC_SHA)) => Some(Integrity::HmacSha1_96),
        Some(Ok(phase2::AUTH_HMAC_SHA2_256)) => Some(Integrity::HmacSha256_128),
        Some(Ok(phase2::AUTH_HMAC_SHA2_384)) => Some(Integrity::HmacSha384_192),
        Some(Ok(phase2::AUTH_HMAC_SHA2_512)) => Some(Integrity::HmacSha512_256),
        Some(_) => return None,
    };
    if encryption.is_aead() != integrity.is_none() {
        return None;
    }
    let dh = match value(t, phase2::GROUP_DESCRIPTION) {
        None => None,
        Some(_) => Some(group_of(t, phase2::GROUP_DESCRIPTION)?),
    };
    let udp_encapsulated = match value(t, phase2::ENCAPSULATION_MODE).map(u16::try_from) {
        None | Some(Ok(phase2::ENCAP_TUNNEL)) => false,
        Some(Ok(phase2::ENCAP_UDP_TUNNEL | phase2::ENCAP_UDP_TUNNEL_DRAFT)) => true,
        // Transport mode and anything else: we make tunnels only.
        Some(_) => return None,
    };
    // RFC 2407 4.5: life types and durations come in pairs, several pairs allowed.
    let mut lifetime_s = None;
    let mut lifetime_kb = None;
    let mut kind = None;
    for a in &t.attributes {
        match a.kind {
            phase2::SA_LIFE_TYPE => kind = a.value.as_u64(),
            phase2::SA_LIFE_DURATION => match kind.and_then(|k| u16::try_from(k).ok()) {
                Some(phase2::LIFE_SECONDS) => lifetime_s = a.value.as_u64(),
                Some(phase2::LIFE_KILOBYTES) => lifetime_kb = a.value.as_u64(),
                _ => {}
            },
            _ => {}
        }
    }
    Some(Phase2Choice {
        encryption,
        integrity,
        dh,
        lifetime_s,
        lifetime_kb,
        udp_encapsulated,
    })
}

fn phase2_text(t: &Transform) -> String {
    match read_phase2(t) {
        Some(c) => combination_text(c.encryption, c.integrity, c.dh),
        None => format!(
            "ESP transform {} (id {}) with unknown algorithms or mode",
            t.number, t.id
        ),
    }
}

/// Our ESP combinations as Quick Mode offers them (`aes128-sha256`, `aes128-sha256-modp2048`).
pub fn ours_text_phase2(ours: &[EspProposal]) -> String {
    let mut texts = Vec::new();
    for (e, i, groups) in esp_combinations(ours) {
        if groups.is_empty() {
            texts.push(combination_text(e, i, None));
        }
        for g in groups {
            texts.push(combination_text(e, i, Some(*g)));
        }
    }
    list(texts.into_iter())
}

fn esp_transforms(sa: &SaPayload) -> impl Iterator<Item = (&Proposal, &Transform)> {
    sa.proposals
        .iter()
        .filter(|p| p.protocol == PROTO_IPSEC_ESP && p.spi.len() == 4)
        .flat_map(|p| p.transforms.iter().map(move |t| (p, t)))
}

fn accepts(
    combos: &[(Encryption, Option<Integrity>, &[DhGroup])],
    c: &Phase2Choice,
    pfs_required: bool,
) -> bool {
    combos.iter().any(|(e, i, groups)| {
        *e == c.encryption
            && *i == c.integrity
            && match c.dh {
                Some(g) => groups.contains(&g),
                None => !pfs_required,
            }
    })
}

fn spi_of(p: &Proposal) -> Option<u32> {
    <[u8; 4]>::try_from(p.spi.as_slice())
        .ok()
        .map(u32::from_be_bytes)
}

/// Responder: the first ESP transform of the initiator's offer we accept: the choice, the
/// initiator's SPI and the answer (whose SPI the caller sets to ours, [`set_answer_spi`]).
/// A transform without a group is accepted unless PFS is required; one with a group needs
/// that group in the same proposal of ours.
pub fn select_phase2(
    offered: &SaPayload,
    ours: &[EspProposal],
    pfs_required: bool,
    _encapsulation: Option<NatTVariant>,
) -> Result<(Phase2Choice, u32, SaPayload), NoMatch> {
    let combos = esp_combinations(ours);
    for (proposal, t) in esp_transforms(offered) {
        let (Some(choice), Some(spi)) = (read_phase2(t), spi_of(proposal)) else {
            continue;
        };
        if accepts(&combos, &choice, pfs_required) {
            let answer = SaPayload {
                doi: offered.doi,
                situation: offered.situation,
                proposals: vec![Proposal {
                    number: proposal.number,
                    protocol: proposal.protocol,
                    spi: proposal.spi.clone(),
                    transforms: vec![t.clone()],
                }],
            };
            return Ok((choice, spi, answer));
        }
    }
    Err(NoMatch {
        what: "ESP",
        ours: ours_text_phase2(ours),
        offered: list(esp_transforms(offered).map(|(_, t)| phase2_text(t))),
    })
}

/// Put our inbound SPI into the responder's answer.
pub fn set_answer_spi(answer: &mut SaPayload, spi: u32) {
    for p in &mut answer.proposals {
        p.spi = spi.to_be_bytes().to_vec();
    }
}

/// Initiator: the responder's answer must name one transform we offered, with the PFS
/// group we sent a KE payload for; returns it and the responder's SPI.
pub fn phase2_of_answer(
    answer: &SaPayload,
    ours: &[EspProposal],
    group: Option<DhGroup>,
) -> Result<(Phase2Choice, u32), NoMatch> {
    let combos = esp_combinations(ours);
    let mut transforms = esp_transforms(answer);
    let chosen = match (transforms.next(), transforms.next()) {
        (Some((p, t)), None) => read_phase2(t).zip(spi_of(p)),
        _ => None,
    };
    match chosen {
        Some((c, spi)) if c.dh == group && accepts(&combos, &c, false) => Ok((c, spi)),
        _ => Err(NoMatch {
            what: "ESP",
            ours: ours_text_phase2(ours),
            offered: list(esp_transforms(answer).map(|(_, t)| phase2_text(t))),
        }),
    }
}

/// The seconds of a RESPONDER-LIFETIME notify's attributes (RFC 2407 4.6.3.1).
pub fn responder_lifetime_seconds(data: &[u8]) -> Option<u64> {
    let mut reader = crate::wire::codec::Reader::new(data);
    let attributes = Attribute::parse_all(&mut reader).ok()?;
    let mut kind = None;
    for a in attributes {
        match a.kind {
            phase2::SA_LIFE_TYPE => kind = a.value.as_u64(),
            phase2::SA_LIFE_DURATION if kind == Some(u64::from(phase2::LIFE_SECONDS)) => {
                return a.value.as_u64()
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike(text: &str) -> IkeProposal {
        IkeProposal::parse(text).expect("proposal")
    }

    fn esp(text: &str) -> EspProposal {
        EspProposal::parse(text).expect("proposal")
    }

    #[test]
    fn the_responder_answers_with_the_transform_it_chose() {
        let offer = phase1_sa(
            &[ike("aes256-sha256-modp2048"), ike("aes128-sha1-modp1024")],
            86400,
        );
        let (choice, answer) =
            select_phase1(&offer, &[ike("aes128-sha1-modp1024")]).expect("a match");
        assert_eq!(choice.encryption, Encryption::AesCbc { key_bits: 128 });
        assert_eq!(choice.hash, Integrity::HmacSha1_96);
        assert_eq!(choice.dh, DhGroup::Modp1024);
        assert_eq!(choice.lifetime_s, Some(86400));
        assert_eq!(answer.proposals[0].transforms.len(), 1);
        assert_eq!(answer.proposals[0].transforms[0].number, 2);
        let back = phase1_of_answer(
            &answer,
            &[ike("aes256-sha256-modp2048"), ike("aes128-sha1-modp1024")],
        );
        assert_eq!(back, Ok(choice));
    }

    #[test]
    fn no_match_names_both_lists() {
        let offer = phase1_sa(&[ike("aes128-sha1-modp1024")], 3600);
        let e = select_phase1(&offer, &[ike("aes256-sha256-ecp256")]).expect_err("no match");
        assert_eq!(
            e.to_string(),
            "no IKE proposal matches: ours aes256-sha256-ecp256; offered aes128-sha1-modp1024"
        );
    }

    #[test]
    fn esp_with_and_without_pfs() {
        let ours = [esp("aes128-sha1-modp1024")];
        let offer = phase2_sa(&ours, 0x1234_5678, Some(DhGroup::Modp1024), 3600, None);
        let (c, spi, mut answer) = select_phase2(&offer, &ours, false, None).expect("match");
        assert_eq!(spi, 0x1234_5678);
        assert_eq!(c.dh, Some(DhGroup::Modp1024));
        set_answer_spi(&mut answer, 0xaabb_ccdd);
        let (back, peer_spi) =
            phase2_of_answer(&answer, &ours, Some(DhGroup::Modp1024)).expect("ours");
        assert_eq!((back, peer_spi), (c, 0xaabb_ccdd));
        // Without a group: accepted unless PFS is required.
        let plain = phase2_sa(&ours, 1000, None, 3600, None);
        assert!(select_phase2(&plain, &ours, false, None).is_ok());
        let e = select_phase2(&plain, &ours, true, None).expect_err("PFS required");
        assert!(e.to_string().contains("offered aes128-sha1"), "{e}");
        // The answer must carry the group we sent a KE for.
        assert!(phase2_of_answer(&answer, &ours, None).is_err());
    }

    #[test]
    fn nat_t_encapsulation_is_offered_in_the_dialect_of_the_sa() {
        let ours = [esp("aes256-sha256")];
        for (variant, mode) in [
            (NatTVariant::Rfc3947, phase2::ENCAP_UDP_TUNNEL),
            (NatTVariant::Draft, phase2::ENCAP_UDP_TUNNEL_DRAFT),
        ] {
            let offer = phase2_sa(&ours, 999, None, 3600, Some(variant));
            let t = &offer.proposals[0].transforms[0];
            assert_eq!(value(t, phase2::ENCAPSULATION_MODE), Some(u64::from(mode)));
            let (c, _, _) = select_phase2(&offer, &ours, false, None).expect("match");
            assert!(c.udp_encapsulated);
        }
    }

    #[test]
    fn kilobyte_and_second_lifetimes_are_read() {
        let mut offer = phase2_sa(&[esp("aes128-sha256")], 999, None, 28800, None);
        offer.proposals[0].transforms[0].attributes.extend([
            Attribute::basic(phase2::SA_LIFE_TYPE, phase2::LIFE_KILOBYTES),
            Attribute {
                kind: phase2::SA_LIFE_DURATION,
                value: AttributeValue::Variable(4_608_000u32.to_be_bytes().to_vec()),
            },
        ]);
        let (c, _, _) = select_phase2(&offer, &[esp("aes128-sha256")], false, None).expect("match");
        assert_eq!(
            (c.lifetime_s, c.lifetime_kb),
            (Some(28800), Some(4_608_000))
        );
    }

    #[test]
    fn responder_lifetime_notify() {
        let mut data = Vec::new();
        Attribute::basic(phase2::SA_LIFE_TYPE, phase2::LIFE_SECONDS).emit(&mut data);
        Attribute {
            kind: phase2::SA_LIFE_DURATION,
            value: AttributeValue::Variable(vec![0, 0, 0x0e, 0x10]),
        }
        .emit(&mut data);
        assert_eq!(responder_lifetime_seconds(&data), Some(3600));
        assert_eq!(responder_lifetime_seconds(&[0x80]), None);
    }
}
