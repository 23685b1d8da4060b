//! IKEv1 SA payloads from the configured proposals, and the choice among a peer's (RFC 2409 5
//! and appendix A for phase 1, RFC 2407 4.5 for phase 2).
//!
//! IKEv1 transforms are whole suites: a phase 1 transform (KEY_IKE) names cipher, hash, group
//! and authentication method in its attributes; a phase 2 ESP transform names its cipher in
//! its Transform-Id and the rest in attributes. A configured proposal thus becomes one
//! transform per combination of its algorithms (one, as the configuration requires IKEv1
//! proposals to be written). Algorithms without an IKEv1 number are left out.
//!
//! The responder walks its own suites in configured order and takes the first that the peer
//! offers (strongSwan's `prefer_configured_proposals` default, as in IKEv2), and answers with
//! the peer's transform unchanged, under the peer's proposal number.

// Nothing in the engine calls these yet: the IKEv1 exchanges will.
#![allow(dead_code)]

use std::fmt;

use crate::algorithm::{DhGroup, Encryption, Integrity, Prf};
use crate::wire::ikev1::{
    phase1, phase2, Attribute, AttributeValue, Proposal, SaPayload, Transform, DOI_IPSEC, ESP_3DES,
    ESP_AES, ESP_AES_GCM_16, KEY_IKE, PROTO_IPSEC_ESP, PROTO_ISAKMP, SIT_IDENTITY_ONLY,
};

use super::super::settings::{EspProposal, IkeProposal};

/// Diffie-Hellman group numbers, the same in phase 1's and phase 2's Group Description (RFC
/// 2409 6; IANA "IPSEC Group Description" / "Group Description" registries). A table rather
/// than a `match`, so that a group added to `DhGroup` is simply not offered until it is
/// listed here: MODP 768 is 1, MODP 1536 5, MODP 3072 15, MODP 4096 16, ECP 521 21.
const GROUPS: &[(DhGroup, u16)] = &[
    (DhGroup::Modp1024, 2),
    (DhGroup::Modp2048, 14),
    (DhGroup::Ecp256, 19),
    (DhGroup::Ecp384, 20),
    (DhGroup::Curve25519, 31),
];

/// Phase 1 Hash Algorithm of each integrity algorithm of the same hash (RFC 2409 appendix A);
/// the PRF is its HMAC (RFC 2409 4). HMAC-MD5 would be `HASH_MD5`.
const HASHES: &[(Integrity, u16)] = &[
    (Integrity::HmacSha1_96, phase1::HASH_SHA),
    (Integrity::HmacSha256_128, phase1::HASH_SHA2_256),
    (Integrity::HmacSha384_192, phase1::HASH_SHA2_384),
    (Integrity::HmacSha512_256, phase1::HASH_SHA2_512),
];

/// Phase 2 Authentication Algorithm (RFC 2407 4.5; the SHA-2 ones with RFC 4868's
/// truncation, which `Integrity` names). HMAC-MD5 would be `AUTH_HMAC_MD5`.
const AUTH_ALGORITHMS: &[(Integrity, u16)] = &[
    (Integrity::HmacSha1_96, phase2::AUTH_HMAC_SHA),
    (Integrity::HmacSha256_128, phase2::AUTH_HMAC_SHA2_256),
    (Integrity::HmacSha384_192, phase2::AUTH_HMAC_SHA2_384),
    (Integrity::HmacSha512_256, phase2::AUTH_HMAC_SHA2_512),
];

fn number_of<T: Copy + PartialEq>(table: &[(T, u16)], algorithm: T) -> Option<u16> {
    table.iter().find(|(a, _)| *a == algorithm).map(|(_, n)| *n)
}

fn algorithm_of<T: Copy>(table: &[(T, u16)], number: u16) -> Option<T> {
    table.iter().find(|(_, n)| *n == number).map(|(a, _)| *a)
}

/// Phase 1 Encryption Algorithm and Key Length of a cipher. IKEv1 has no AEAD cipher for
/// the ISAKMP SA.
fn phase1_cipher(encryption: Encryption) -> Option<(u16, Option<u16>)> {
    match encryption {
        Encryption::TripleDes => Some((phase1::ENC_3DES_CBC, None)),
        Encryption::AesCbc { key_bits } => Some((phase1::ENC_AES_CBC, Some(key_bits))),
        _ => None,
    }
}

/// ESP Transform-Id and Key Length of a cipher (RFC 2407 4.4.4, RFC 3602 5, RFC 4106 8.2).
fn esp_cipher(encryption: Encryption) -> Option<(u8, Option<u16>)> {
    match encryption {
        Encryption::TripleDes => Some((ESP_3DES, None)),
        Encryption::AesCbc { key_bits } => Some((ESP_AES, Some(key_bits))),
        Encryption::AesGcm16 { key_bits } => Some((ESP_AES_GCM_16, Some(key_bits))),
        _ => None,
    }
}

fn aes_key_bits(key_length: Option<u16>) -> Option<u16> {
    key_length.filter(|bits| matches!(bits, 128 | 192 | 256))
}

/// The cipher a phase 1 transform names. AES needs its Key Length (RFC 3602 5), 3DES has a
/// fixed key and takes none.
fn phase1_cipher_of(algorithm: u16, key_length: Option<u16>) -> Option<Encryption> {
    match algorithm {
        phase1::ENC_3DES_CBC if key_length.is_none() => Some(Encryption::TripleDes),
        phase1::ENC_AES_CBC => Some(Encryption::AesCbc {
            key_bits: aes_key_bits(key_length)?,
        }),
        _ => None,
    }
}

fn esp_cipher_of(transform_id: u8, key_length: Option<u16>) -> Option<Encryption> {
    match transform_id {
        ESP_3DES if key_length.is_none() => Some(Encryption::TripleDes),
        ESP_AES => Some(Encryption::AesCbc {
            key_bits: aes_key_bits(key_length)?,
        }),
        ESP_AES_GCM_16 => Some(Encryption::AesGcm16 {
            key_bits: aes_key_bits(key_length)?,
        }),
        _ => None,
    }
}

/// Neither side's proposals fit the other's; both lists, in the configuration's notation
/// (`aes128-sha1-modp1024`), for the log of a NO_PROPOSAL_CHOSEN. What has no name here shows
/// as its number (`encr#8`, `group#21`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoMatch {
    pub ours: String,
    pub theirs: String,
}

impl fmt::Display for NoMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ours: {}; theirs: {}", self.ours, self.theirs)
    }
}

/// The attributes of a transform, each kind at most once, in a form that says what was
/// there. Life types and durations come in pairs (RFC 2409 appendix A, RFC 2407 4.5).
#[derive(Debug, Default)]
struct Attributes {
    numbers: Vec<(u16, u64)>,
    life_seconds: Option<u64>,
    life_kilobytes: Option<u64>,
}

impl Attributes {
    /// `None` when an attribute repeats, a duration comes without its type or does not fit
    /// in 64 bits, or a kind outside `known` appears: a transform is accepted with all its
    /// attributes, and one we do not know cannot be honoured.
    fn read(
        attributes: &[Attribute],
        known: &[u16],
        life_type: u16,
        life_duration: u16,
    ) -> Option<Attributes> {
        let mut out = Attributes::default();
        let mut pending_type = None;
        for attribute in attributes {
            let value = attribute.value.as_u64()?;
            if attribute.kind == life_type {
                pending_type = Some(value);
            } else if attribute.kind == life_duration {
                let slot = match pending_type.take()? {
                    1 => &mut out.life_seconds,
                    2 => &mut out.life_kilobytes,
                    _ => return None,
                };
                if slot.replace(value).is_some() {
                    return None;
                }
            } else if known.contains(&attribute.kind)
                && out.get(attribute.kind).is_none()
                && matches!(attribute.value, AttributeValue::Basic(_))
            {
                out.numbers.push((attribute.kind, value));
            } else {
                return None;
            }
        }
        Some(out)
    }

    fn get(&self, kind: u16) -> Option<u64> {
        self.numbers
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| *v)
    }

    fn get16(&self, kind: u16) -> Option<u16> {
        self.get(kind).and_then(|v| u16::try_from(v).ok())
    }
}

/// What a phase 1 transform of ours and the peer's agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Phase1Choice {
    pub encryption: Encryption,
    /// The negotiated hash, named by the integrity algorithm of the same hash
    /// (`HmacSha1_96` for SHA); [`Phase1Choice::prf`] is its HMAC.
    pub hash: Integrity,
    pub dh: DhGroup,
    /// The life in seconds the chosen transform names, if it names one; the engine uses the
    /// smaller of it and its own.
    pub lifetime_s: Option<u64>,
}

impl Phase1Choice {
    /// The PRF: the HMAC of the negotiated hash (RFC 2409 4).
    pub fn prf(&self) -> Prf {
        Prf::matching(self.hash)
    }

    fn suite(&self) -> (Encryption, Integrity, DhGroup) {
        (self.encryption, self.hash, self.dh)
    }
}

/// Our phase 1 suites in configured order, without duplicates.
fn phase1_suites(ours: &[IkeProposal]) -> Vec<(Encryption, Integrity, DhGroup)> {
    let mut suites = Vec::new();
    for p in ours {
        for &e in p.encryption.iter().filter(|e| phase1_cipher(**e).is_some()) {
            for &i in p
                .integrity
                .iter()
                .filter(|i| number_of(HASHES, **i).is_some())
            {
                for &g in p.dh.iter().filter(|g| number_of(GROUPS, **g).is_some()) {
                    if !suites.contains(&(e, i, g)) {
                        suites.push((e, i, g));
                    }
                }
            }
        }
    }
    suites
}

fn describe_suites<I: fmt::Display>(suites: impl Iterator<Item = I>) -> String {
    let names: Vec<String> = suites.map(|s| s.to_string()).collect();
    if names.is_empty() {
        "nothing".to_string()
    } else {
        names.join(", ")
    }
}

fn describe_phase1_suites(ours: &[IkeProposal]) -> String {
    describe_suites(
        phase1_suites(ours)
            .into_iter()
            .map(|(e, i, g)| format!("{e}-{i}-{g}")),
    )
}

const PHASE1_KNOWN: &[u16] = &[
    phase1::ENCRYPTION_ALGORITHM,
    phase1::KEY_LENGTH,
    phase1::HASH_ALGORITHM,
    phase1::AUTHENTICATION_METHOD,
    phase1::GROUP_DESCRIPTION,
];

fn read_phase1(t: &Transform) -> Option<Attributes> {
    if t.id != KEY_IKE {
        return None;
    }
    Attributes::read(
        &t.attributes,
        PHASE1_KNOWN,
        phase1::LIFE_TYPE,
        phase1::LIFE_DURATION,
    )
}

/// A peer's phase 1 transform as a choice: `None` unless we can honour all of it (pre-shared
/// key authentication, known cipher, hash and group, no unknown attribute).
fn decode_phase1(t: &Transform) -> Option<Phase1Choice> {
    let a = read_phase1(t)?;
    if a.get16(phase1::AUTHENTICATION_METHOD)? != phase1::AUTH_PRE_SHARED_KEY {
        return None;
    }
    Some(Phase1Choice {
        encryption: phase1_cipher_of(
            a.get16(phase1::ENCRYPTION_ALGORITHM)?,
            a.get16(phase1::KEY_LENGTH),
        )?,
        hash: algorithm_of(HASHES, a.get16(phase1::HASH_ALGORITHM)?)?,
        dh: algorithm_of(GROUPS, a.get16(phase1::GROUP_DESCRIPTION)?)?,
        lifetime_s: a.life_seconds,
    })
}

fn describe_phase1_transform(t: &Transform) -> String {
    if t.id != KEY_IKE {
        return format!("transform#{}", t.id);
    }
    let get = |kind| t.attribute(kind).and_then(|a| a.value.as_u64());
    let get16 = |kind| get(kind).and_then(|v| u16::try_from(v).ok());
    let mut parts = Vec::new();
    if let Some(e) = get16(phase1::ENCRYPTION_ALGORITHM) {
        let key = get16(phase1::KEY_LENGTH);
        parts.push(match phase1_cipher_of(e, key) {
            Some(cipher) => cipher.to_string(),
            None => format!(
                "encr#{e}{}",
                key.map(|k| format!("/{k}")).unwrap_or_default()
            ),
        });
    }
    if let Some(h) = get16(phase1::HASH_ALGORITHM) {
        parts.push(algorithm_of(HASHES, h).map_or(format!("hash#{h}"), |i| i.to_string()));
    }
    if let Some(g) = get16(phase1::GROUP_DESCRIPTION) {
        parts.push(algorithm_of(GROUPS, g).map_or(format!("group#{g}"), |g| g.to_string()));
    }
    match get16(phase1::AUTHENTICATION_METHOD) {
        Some(phase1::AUTH_PRE_SHARED_KEY) | None => {}
        Some(phase1::AUTH_RSA_SIGNATURES) => parts.push("rsasig".to_string()),
        Some(other) => parts.push(format!("auth#{other}")),
    }
    parts.join("-")
}

/// Every transform of every ISAKMP proposal of a peer's phase 1 SA payload.
fn describe_phase1_offer(offer: &SaPayload) -> String {
    describe_suites(
        offer
            .proposals
            .iter()
            .filter(|p| p.protocol == PROTO_ISAKMP)
            .flat_map(|p| &p.transforms)
            .map(describe_phase1_transform),
    )
}

/// Our phase 1 SA payload: one ISAKMP proposal (RFC 2409 5: phase 1 allows no more than
/// one), without SPI, with one KEY_IKE transform per suite of `proposals`, each with
/// pre-shared key authentication and a life of `lifetime_s` seconds. At most 255 transforms;
/// with none (no suite has IKEv1 numbers) the payload is not worth sending.
pub(crate) fn phase1_sa(proposals: &[IkeProposal], lifetime_s: u64) -> SaPayload {
    let transforms = phase1_suites(proposals)
        .into_iter()
        .zip(1..=u8::MAX)
        .filter_map(|((e, i, g), number)| {
            let (cipher, key_bits) = phase1_cipher(e)?;
            let mut attributes = vec![Attribute::basic(phase1::ENCRYPTION_ALGORITHM, cipher)];
            if let Some(bits) = key_bits {
                attributes.push(Attribute::basic(phase1::KEY_LENGTH, bits));
            }
            attributes.extend([
                Attribute::basic(phase1::HASH_ALGORITHM, number_of(HASHES, i)?),
                Attribute::basic(phase1::AUTHENTICATION_METHOD, phase1::AUTH_PRE_SHARED_KEY),
                Attribute::basic(phase1::GROUP_DESCRIPTION, number_of(GROUPS, g)?),
                Attribute::basic(phase1::LIFE_TYPE, phase1::LIFE_SECONDS),
                Attribute {
                    kind: phase1::LIFE_DURATION,
                    value: AttributeValue::from_u64(lifetime_s),
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

fn ipsec_doi(sa: &SaPayload) -> bool {
    sa.doi == DOI_IPSEC && sa.situation == SIT_IDENTITY_ONLY
}

/// Responder: the first of our suites that the peer's phase 1 SA payload offers, and the SA
/// payload to answer with: the peer's transform as received, alone in its proposal.
pub(crate) fn select_phase1(
    offered: &SaPayload,
    ours: &[IkeProposal],
) -> Result<(Phase1Choice, SaPayload), NoMatch> {
    let no_match = || NoMatch {
        ours: describe_phase1_suites(ours),
        theirs: describe_phase1_offer(offered),
    };
    if !ipsec_doi(offered) {
        return Err(no_match());
    }
    let candidates: Vec<(&Proposal, &Transform, Phase1Choice)> = offered
        .proposals
        .iter()
        .filter(|p| p.protocol == PROTO_ISAKMP)
        .flat_map(|p| p.transforms.iter().map(move |t| (p, t)))
        .filter_map(|(p, t)| Some((p, t, decode_phase1(t)?)))
        .collect();
    for suite in phase1_suites(ours) {
        if let Some((p, t, choice)) = candidates.iter().find(|(_, _, c)| c.suite() == suite) {
            let answer = SaPayload {
                doi: offered.doi,
                situation: offered.situation,
                proposals: vec![Proposal {
                    number: p.number,
                    protocol: p.protocol,
                    spi: p.spi.clone(),
                    transforms: vec![(*t).clone()],
                }],
            };
            return Ok((*choice, answer));
        }
    }
    Err(no_match())
}

/// Initiator: the responder must answer with one ISAKMP proposal holding one transform, one
/// of the suites we offered. Its life may differ from ours; the engine takes the smaller.
pub(crate) fn phase1_of_answer(
    answer: &SaPayload,
    offered: &[IkeProposal],
) -> Result<Phase1Choice, NoMatch> {
    let no_match = || NoMatch {
        ours: describe_phase1_suites(offered),
        theirs: describe_phase1_offer(answer),
    };
    let [p] = answer.proposals.as_slice() else {
        return Err(no_match());
    };
    let [t] = p.transforms.as_slice() else {
        return Err(no_match());
    };
    if !ipsec_doi(answer) || p.protocol != PROTO_ISAKMP {
        return Err(no_match());
    }
    let choice = decode_phase1(t).ok_or_else(no_match)?;
    if !phase1_suites(offered).contains(&choice.suite()) {
        return Err(no_match());
    }
    Ok(choice)
}

/// What a phase 2 (Quick Mode) ESP transform of ours and the peer's agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Phase2Choice {
    pub encryption: Encryption,
    /// `None` with an AEAD cipher.
    pub integrity: Option<Integrity>,
    /// The PFS group, which the Quick Mode KE payload's group must be.
    pub dh: Option<DhGroup>,
    /// The lives the chosen transform names; the engine uses the smaller of each and its own
    /// (and a responder announces a smaller one with RESPONDER_LIFETIME, RFC 2407 4.6.3.1).
    pub lifetime_s: Option<u64>,
    pub lifetime_kb: Option<u64>,
    /// UDP-encapsulated tunnel mode (RFC 3947 5.1, or its draft's value), rather than tunnel.
    pub udp_encapsulated: bool,
}

impl Phase2Choice {
    fn suite(&self) -> (Encryption, Option<Integrity>) {
        (self.encryption, self.integrity)
    }
}

/// Our phase 2 suites of one configured proposal, in order: each cipher with each integrity
/// algorithm, an AEAD cipher alone.
fn phase2_suites_of(p: &EspProposal) -> Vec<(Encryption, Option<Integrity>)> {
    let mut suites = Vec::new();
    for &e in p.encryption.iter().filter(|e| esp_cipher(**e).is_some()) {
        if e.is_aead() {
            suites.push((e, None));
        } else {
            for &i in p
                .integrity
                .iter()
                .filter(|i| number_of(AUTH_ALGORITHMS, **i).is_some())
            {
                suites.push((e, Some(i)));
            }
        }
    }
    suites
}

fn phase2_suites(ours: &[EspProposal]) -> Vec<(Encryption, Option<Integrity>)> {
    let mut suites = Vec::new();
    for suite in ours.iter().flat_map(phase2_suites_of) {
        if !suites.contains(&suite) {
            suites.push(suite);
        }
    }
    suites
}

fn describe_phase2_suites(ours: &[EspProposal], pfs: Option<DhGroup>) -> String {
    describe_suites(phase2_suites(ours).into_iter().map(|(e, i)| {
        let mut name = e.to_string();
        if let Some(i) = i {
            name.push_str(&format!("-{i}"));
        }
        if let Some(g) = pfs {
            name.push_str(&format!("-{g}"));
        }
        name
    }))
}

const PHASE2_KNOWN: &[u16] = &[
    phase2::GROUP_DESCRIPTION,
    phase2::ENCAPSULATION_MODE,
    phase2::AUTHENTICATION_ALGORITHM,
    phase2::KEY_LENGTH,
];

fn read_phase2(t: &Transform) -> Option<Attributes> {
    Attributes::read(
        &t.attributes,
        PHASE2_KNOWN,
        phase2::SA_LIFE_TYPE,
        phase2::SA_LIFE_DURATION,
    )
}

/// A peer's ESP transform as a choice: `None` unless we can honour all of it (a known
/// cipher, an integrity algorithm exactly when the cipher is not AEAD, a known group, tunnel
/// mode plain or UDP-encapsulated, no unknown attribute).
fn decode_phase2(t: &Transform) -> Option<Phase2Choice> {
    let a = read_phase2(t)?;
    let encryption = esp_cipher_of(t.id, a.get16(phase2::KEY_LENGTH))?;
    let integrity = match a.get16(phase2::AUTHENTICATION_ALGORITHM) {
        // AES-GCM authenticates by itself: a transform that also names an authentication
        // algorithm asks for something else than RFC 4106 ESP.
        Some(_) if encryption.is_aead() => return None,
        Some(n) => Some(algorithm_of(AUTH_ALGORITHMS, n)?),
        None if encryption.is_aead() => None,
        None => return None,
    };
    let dh = match a.get16(phase2::GROUP_DESCRIPTION) {
        Some(n) => Some(algorithm_of(GROUPS, n)?),
        None => None,
    };
    let udp_encapsulated = match a.get16(phase2::ENCAPSULATION_MODE) {
        // Unspecified is host-dependent (RFC 2407 4.5); ours is tunnel.
        None | Some(phase2::ENCAP_TUNNEL) => false,
        Some(phase2::ENCAP_UDP_TUNNEL | phase2::ENCAP_UDP_TUNNEL_DRAFT) => true,
        Some(_) => return None,
    };
    Some(Phase2Choice {
        encryption,
        integrity,
        dh,
        lifetime_s: a.life_seconds,
        lifetime_kb: a.life_kilobytes,
        udp_encapsulated,
    })
}

fn describe_phase2_transform(t: &Transform) -> String {
    let get16 = |kind| {
        t.attribute(kind)
            .and_then(|a| a.value.as_u64())
            .and_then(|v| u16::try_from(v).ok())
    };
    let key = get16(phase2::KEY_LENGTH);
    let mut parts = vec![match esp_cipher_of(t.id, key) {
        Some(cipher) => cipher.to_string(),
        None => format!(
            "esp#{}{}",
            t.id,
            key.map(|k| format!("/{k}")).unwrap_or_default()
        ),
    }];
    if let Some(n) = get16(phase2::AUTHENTICATION_ALGORITHM) {
        parts.push(algorithm_of(AUTH_ALGORITHMS, n).map_or(format!("auth#{n}"), |i| i.to_string()));
    }
    if let Some(g) = get16(phase2::GROUP_DESCRIPTION) {
        parts.push(algorithm_of(GROUPS, g).map_or(format!("group#{g}"), |g| g.to_string()));
    }
    match get16(phase2::ENCAPSULATION_MODE) {
        None
        | Some(phase2::ENCAP_TUNNEL | phase2::ENCAP_UDP_TUNNEL | phase2::ENCAP_UDP_TUNNEL_DRAFT) => {
        }
        Some(
            phase2::ENCAP_TRANSPORT
            | phase2::ENCAP_UDP_TRANSPORT
            | phase2::ENCAP_UDP_TRANSPORT_DRAFT,
        ) => parts.push("transport".to_string()),
        Some(other) => parts.push(format!("mode#{other}")),
    }
    parts.join("-")
}

fn describe_phase2_offer(offer: &SaPayload) -> String {
    describe_suites(offer.proposals.iter().flat_map(|p| {
        p.transforms.iter().map(move |t| {
            if p.protocol == PROTO_IPSEC_ESP {
                describe_phase2_transform(t)
            } else {
                format!("protocol#{}", p.protocol)
            }
        })
    }))
}

/// Our Quick Mode SA payload: one ESP proposal per configured proposal that has a suite with
/// IKEv1 numbers, numbered from 1, each with our inbound SPI and one transform per suite.
/// Every transform names the PFS group when there is one (the KE payload that goes with it
/// has one group), tunnel mode, UDP-encapsulated (RFC 3947 5.1) when `udp_encapsulated`, and
/// a life of `lifetime_s` seconds. A PFS group without an IKEv1 number cannot be offered: the
/// payload then has no proposal.
pub(crate) fn phase2_sa(
    proposals: &[EspProposal],
    spi: u32,
    pfs: Option<DhGroup>,
    lifetime_s: u64,
    udp_encapsulated: bool,
) -> SaPayload {
    let group = match pfs {
        Some(g) => match number_of(GROUPS, g) {
            Some(n) => Some(n),
            None => {
                return SaPayload {
                    doi: DOI_IPSEC,
                    situation: SIT_IDENTITY_ONLY,
                    proposals: Vec::new(),
                }
            }
        },
        None => None,
    };
    let mode = if udp_encapsulated {
        phase2::ENCAP_UDP_TUNNEL
    } else {
        phase2::ENCAP_TUNNEL
    };
    let transform = |(e, i): (Encryption, Option<Integrity>), number: u8| {
        let (id, key_bits) = esp_cipher(e)?;
        let mut attributes = vec![
            Attribute::basic(phase2::SA_LIFE_TYPE, phase2::LIFE_SECONDS),
            Attribute {
                kind: phase2::SA_LIFE_DURATION,
                value: AttributeValue::from_u64(lifetime_s),
            },
        ];
        if let Some(n) = group {
            attributes.push(Attribute::basic(phase2::GROUP_DESCRIPTION, n));
        }
        attributes.push(Attribute::basic(phase2::ENCAPSULATION_MODE, mode));
        if let Some(i) = i {
            attributes.push(Attribute::basic(
                phase2::AUTHENTICATION_ALGORITHM,
                number_of(AUTH_ALGORITHMS, i)?,
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
    };
    let proposals = proposals
        .iter()
        .map(|p| {
            phase2_suites_of(p)
                .into_iter()
                .zip(1..=u8::MAX)
                .filter_map(|(suite, number)| transform(suite, number))
                .collect::<Vec<_>>()
        })
        .filter(|transforms| !transforms.is_empty())
        .zip(1..=u8::MAX)
        .map(|(transforms, number)| Proposal {
            number,
            protocol: PROTO_IPSEC_ESP,
            spi: spi.to_be_bytes().to_vec(),
            transforms,
        })
        .collect();
    SaPayload {
        doi: DOI_IPSEC,
        situation: SIT_IDENTITY_ONLY,
        proposals,
    }
}

/// The peer's SPI of an ESP proposal.
fn esp_spi(p: &Proposal) -> Option<u32> {
    (p.protocol == PROTO_IPSEC_ESP)
        .then(|| <[u8; 4]>::try_from(p.spi.as_slice()).ok())
        .flatten()
        .map(u32::from_be_bytes)
}

/// Responder: the first of our suites that the peer's Quick Mode SA payload offers. `pfs` is
/// the group of the KE payload that came with it, if one did: a transform naming a group is
/// chosen only with a KE payload of that group, one naming none only without a KE payload
/// (RFC 2409 5.5). Whether PFS is required, and the group allowed, is for the caller to
/// decide. Proposals sharing a number (bundles such as ESP with IPComp, RFC 2408 3.5) are
/// not taken. Returns the choice, the peer's SPI and the SA payload to answer with: the
/// peer's transform as received, under its proposal number, with our SPI `our_spi`.
pub(crate) fn select_phase2(
    offered: &SaPayload,
    ours: &[EspProposal],
    pfs: Option<DhGroup>,
    our_spi: u32,
) -> Result<(Phase2Choice, u32, SaPayload), NoMatch> {
    let no_match = || NoMatch {
        ours: describe_phase2_suites(ours, pfs),
        theirs: describe_phase2_offer(offered),
    };
    if !ipsec_doi(offered) {
        return Err(no_match());
    }
    let alone = |p: &Proposal| {
        offered
            .proposals
            .iter()
            .filter(|q| q.number == p.number)
            .count()
            == 1
    };
    let candidates: Vec<(&Proposal, u32, &Transform, Phase2Choice)> = offered
        .proposals
        .iter()
        .filter(|p| alone(p))
        .filter_map(|p| Some((p, esp_spi(p)?)))
        .flat_map(|(p, spi)| p.transforms.iter().map(move |t| (p, spi, t)))
        .filter_map(|(p, spi, t)| Some((p, spi, t, decode_phase2(t)?)))
        .filter(|(_, _, _, c)| c.dh == pfs)
        .collect();
    for suite in phase2_suites(ours) {
        if let Some((p, peer_spi, t, choice)) =
            candidates.iter().find(|(_, _, _, c)| c.suite() == suite)
        {
            let answer = SaPayload {
                doi: offered.doi,
                situation: offered.situation,
                proposals: vec![Proposal {
                    number: p.number,
                    protocol: PROTO_IPSEC_ESP,
                    spi: our_spi.to_be_bytes().to_vec(),
                    transforms: vec![(*t).clone()],
                }],
            };
            return Ok((*choice, *peer_spi, answer));
        }
    }
    Err(no_match())
}

/// Initiator: the responder must answer with one ESP proposal holding one transform, one of
/// the suites we offered with the PFS group we offered (`pfs`). Its lives may be smaller than
/// ours. Returns the choice and the responder's SPI.
pub(crate) fn phase2_of_answer(
    answer: &SaPayload,
    offered: &[EspProposal],
    pfs: Option<DhGroup>,
) -> Result<(Phase2Choice, u32), NoMatch> {
    let no_match = || NoMatch {
        ours: describe_phase2_suites(offered, pfs),
        theirs: describe_phase2_offer(answer),
    };
    let [p] = answer.proposals.as_slice() else {
        return Err(no_match());
    };
    let [t] = p.transforms.as_slice() else {
        return Err(no_match());
    };
    let peer_spi = esp_spi(p)
        .filter(|_| ipsec_doi(answer))
        .ok_or_else(no_match)?;
    let choice = decode_phase2(t)
        .filter(|c| c.dh == pfs && phase2_suites(offered).contains(&c.suite()))
        .ok_or_else(no_match)?;
    Ok((choice, peer_spi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ikev1::{emit_payloads, parse_payloads, Payload, PayloadType};

    fn ike(e: Encryption, i: Integrity, g: DhGroup) -> IkeProposal {
        IkeProposal {
            encryption: vec![e],
            integrity: vec![i],
            prf: vec![Prf::matching(i)],
            dh: vec![g],
        }
    }

    fn esp(e: Encryption, i: Option<Integrity>) -> EspProposal {
        EspProposal {
            encryption: vec![e],
            integrity: i.into_iter().collect(),
            dh: Vec::new(),
            esn: false,
        }
    }

    const AES128: Encryption = Encryption::AesCbc { key_bits: 128 };
    const AES256: Encryption = Encryption::AesCbc { key_bits: 256 };
    const GCM128: Encryption = Encryption::AesGcm16 { key_bits: 128 };

    /// Through the codec and back, as the peer would receive it.
    fn over_the_wire(sa: &SaPayload) -> SaPayload {
        let mut bytes = Vec::new();
        let first = emit_payloads(&[Payload::Sa(sa.clone())], &mut bytes);
        assert_eq!(first, PayloadType::Sa);
        let chain = parse_payloads(first, &bytes).expect("valid SA payload");
        let sa = match chain.payloads.first().map(|span| &span.payload) {
            Some(Payload::Sa(sa)) => sa.clone(),
            other => panic!("not an SA payload: {other:?}"),
        };
        sa
    }

    /// The cloud gateway's aes128-sha1-modp1024 transform with a pre-shared key, a life type
    /// and no duration (as in the engine's IKEv1 test message).
    fn gateway_offer() -> SaPayload {
        SaPayload {
            doi: DOI_IPSEC,
            situation: SIT_IDENTITY_ONLY,
            proposals: vec![Proposal {
                number: 1,
                protocol: PROTO_ISAKMP,
                spi: Vec::new(),
                transforms: vec![Transform {
                    number: 1,
                    id: KEY_IKE,
                    attributes: vec![
                        Attribute::basic(1, 7),
                        Attribute::basic(14, 128),
                        Attribute::basic(2, 2),
                        Attribute::basic(3, 1),
                        Attribute::basic(4, 2),
                        Attribute::basic(11, 1),
                    ],
                }],
            }],
        }
    }

    #[test]
    fn phase1_offer_has_one_transform_per_suite() {
        let sa = phase1_sa(
            &[
                ike(AES128, Integrity::HmacSha256_128, DhGroup::Ecp256),
                ike(
                    Encryption::TripleDes,
                    Integrity::HmacSha1_96,
                    DhGroup::Modp1024,
                ),
                // No IKEv1 AEAD: left out.
                ike(GCM128, Integrity::HmacSha256_128, DhGroup::Ecp256),
            ],
            86_400,
        );
        assert_eq!((sa.doi, sa.situation), (DOI_IPSEC, SIT_IDENTITY_ONLY));
        let [p] = sa.proposals.as_slice() else {
            panic!("one proposal")
        };
        assert_eq!((p.number, p.protocol, p.spi.len()), (1, PROTO_ISAKMP, 0));
        assert_eq!(p.transforms.len(), 2);
        assert_eq!(
            p.transforms[0],
            Transform {
                number: 1,
                id: KEY_IKE,
                attributes: vec![
                    Attribute::basic(phase1::ENCRYPTION_ALGORITHM, phase1::ENC_AES_CBC),
                    Attribute::basic(phase1::KEY_LENGTH, 128),
                    Attribute::basic(phase1::HASH_ALGORITHM, phase1::HASH_SHA2_256),
                    Attribute::basic(phase1::AUTHENTICATION_METHOD, phase1::AUTH_PRE_SHARED_KEY),
                    Attribute::basic(phase1::GROUP_DESCRIPTION, 19),
                    Attribute::basic(phase1::LIFE_TYPE, phase1::LIFE_SECONDS),
                    Attribute {
                        kind: phase1::LIFE_DURATION,
                        value: AttributeValue::Variable(vec![0, 1, 0x51, 0x80]),
                    },
                ],
            }
        );
        assert_eq!(p.transforms[1].number, 2);
        assert_eq!(
            p.transforms[1].attribute(phase1::ENCRYPTION_ALGORITHM),
            Some(&Attribute::basic(1, phase1::ENC_3DES_CBC))
        );
        assert_eq!(p.transforms[1].attribute(phase1::KEY_LENGTH), None);
    }

    #[test]
    fn responder_answers_with_the_transform_as_received() {
        let ours = [
            ike(AES256, Integrity::HmacSha256_128, DhGroup::Modp2048),
            ike(AES128, Integrity::HmacSha1_96, DhGroup::Modp1024),
        ];
        let offer = over_the_wire(&gateway_offer());
        let (choice, answer) = select_phase1(&offer, &ours).expect("a match");
        assert_eq!(
            choice,
            Phase1Choice {
                encryption: AES128,
                hash: Integrity::HmacSha1_96,
                dh: DhGroup::Modp1024,
                lifetime_s: None,
            }
        );
        assert_eq!(choice.prf(), Prf::HmacSha1);
        assert_eq!(answer, offer);
        // The initiator accepts that answer.
        let ours_initiator = [ike(AES128, Integrity::HmacSha1_96, DhGroup::Modp1024)];
        assert_eq!(
            phase1_of_answer(&over_the_wire(&answer), &ours_initiator),
            Ok(choice)
        );
    }

    #[test]
    fn responder_prefers_its_own_order_and_reads_lifetimes() {
        let ours = [
            ike(AES256, Integrity::HmacSha256_128, DhGroup::Ecp256),
            ike(AES128, Integrity::HmacSha256_128, DhGroup::Modp2048),
        ];
        // The peer lists our second suite first; its life is a variable 4-octet value.
        let mut peer = phase1_sa(&[ours[1].clone(), ours[0].clone()], 86_400);
        peer.proposals[0].transforms[0].number = 7;
        let (choice, answer) = select_phase1(&over_the_wire(&peer), &ours).expect("a match");
        assert_eq!((choice.encryption, choice.dh), (AES256, DhGroup::Ecp256));
        assert_eq!(choice.lifetime_s, Some(86_400));
        assert_eq!(
            answer.proposals[0].transforms,
            vec![peer.proposals[0].transforms[1].clone()]
        );
        // The initiator's check of that answer.
        let initiator = phase1_of_answer(&answer, &[ours[1].clone(), ours[0].clone()]);
        assert_eq!(initiator, Ok(choice));
    }

    #[test]
    fn unacceptable_phase1_transforms() {
        let ours = [ike(AES128, Integrity::HmacSha1_96, DhGroup::Modp1024)];
        let with = |edit: &dyn Fn(&mut Vec<Attribute>)| {
            let mut offer = gateway_offer();
            edit(&mut offer.proposals[0].transforms[0].attributes);
            select_phase1(&offer, &ours).map(|(c, _)| c)
        };
        assert!(with(&|_| {}).is_ok());
        // RSA signatures.
        assert!(with(&|a| a[3] = Attribute::basic(3, 3)).is_err());
        // An attribute we do not know cannot be honoured.
        assert!(with(&|a| a.push(Attribute::basic(5, 1))).is_err());
        // The same attribute twice.
        assert!(with(&|a| a.push(Attribute::basic(2, 2))).is_err());
        // AES without a key length (RFC 3602 5).
        assert!(with(&|a| {
            a.remove(1);
        })
        .is_err());
        // A duration without its type.
        assert!(with(&|a| {
            a.pop();
            a.push(Attribute::basic(12, 3600));
        })
        .is_err());
        // A life in kilobytes is read but not a life in seconds.
        assert_eq!(
            with(&|a| {
                a.push(Attribute::basic(12, 1000));
                a.push(Attribute::basic(11, 2));
                a.push(Attribute::basic(12, 4000));
            })
            .map(|c| c.lifetime_s),
            Ok(Some(1000))
        );
        let mut offer = gateway_offer();
        offer.doi = 0;
        assert!(select_phase1(&offer, &ours).is_err());
    }

    #[test]
    fn no_match_names_both_sides() {
        let ours = [
            ike(AES128, Integrity::HmacSha256_128, DhGroup::Ecp256),
            ike(AES128, Integrity::HmacSha256_128, DhGroup::Modp2048),
        ];
        let mut offer = gateway_offer();
        offer.proposals[0].transforms.push(Transform {
            number: 2,
            id: KEY_IKE,
            attributes: vec![
                Attribute::basic(1, 8),
                Attribute::basic(2, 1),
                Attribute::basic(3, 3),
                Attribute::basic(4, 21),
            ],
        });
        let err = select_phase1(&offer, &ours).expect_err("no common suite");
        assert_eq!(err.ours, "aes128-sha256-ecp256, aes128-sha256-modp2048");
        assert_eq!(
            err.theirs,
            "aes128-sha1-modp1024, encr#8-hash#1-group#21-rsasig"
        );
        assert_eq!(
            err.to_string(),
            "ours: aes128-sha256-ecp256, aes128-sha256-modp2048; \
             theirs: aes128-sha1-modp1024, encr#8-hash#1-group#21-rsasig"
        );
    }

    #[test]
    fn initiator_refuses_answers_it_did_not_offer() {
        let ours = [ike(AES128, Integrity::HmacSha1_96, DhGroup::Modp1024)];
        let mut two = gateway_offer();
        let t = two.proposals[0].transforms[0].clone();
        two.proposals[0].transforms.push(t);
        assert!(phase1_of_answer(&two, &ours).is_err());
        let other = [ike(AES256, Integrity::HmacSha1_96, DhGroup::Modp1024)];
        let err = phase1_of_answer(&gateway_offer(), &other).expect_err("not ours");
        assert_eq!(err.ours, "aes256-sha1-modp1024");
        assert_eq!(err.theirs, "aes128-sha1-modp1024");
        assert!(phase1_of_answer(
            &SaPayload {
                proposals: Vec::new(),
                ..gateway_offer()
            },
            &ours
        )
        .is_err());
    }

    #[test]
    fn quick_mode_round_trip_with_pfs_and_udp_encapsulation() {
        let initiator = [
            esp(GCM128, None),
            esp(AES128, Some(Integrity::HmacSha256_128)),
        ];
        let offer = phase2_sa(&initiator, 0xc001_0203, Some(DhGroup::Modp2048), 3600, true);
        assert_eq!(offer.proposals.len(), 2);
        assert_eq!(offer.proposals[1].number, 2);
        assert_eq!(offer.proposals[1].spi, vec![0xc0, 0x01, 0x02, 0x03]);
        let gcm = &offer.proposals[0].transforms[0];
        assert_eq!(gcm.id, ESP_AES_GCM_16);
        assert_eq!(gcm.attribute(phase2::AUTHENTICATION_ALGORITHM), None);
        assert_eq!(
            gcm.attribute(phase2::ENCAPSULATION_MODE),
            Some(&Attribute::basic(4, 3))
        );
        assert_eq!(
            gcm.attribute(phase2::GROUP_DESCRIPTION),
            Some(&Attribute::basic(3, 14))
        );
        // The responder prefers AES-CBC.
        let responder = [
            esp(AES128, Some(Integrity::HmacSha256_128)),
            esp(GCM128, None),
        ];
        let (choice, peer_spi, answer) = select_phase2(
            &over_the_wire(&offer),
            &responder,
            Some(DhGroup::Modp2048),
            0xd00d_0001,
        )
        .expect("a match");
        let expected = Phase2Choice {
            encryption: AES128,
            integrity: Some(Integrity::HmacSha256_128),
            dh: Some(DhGroup::Modp2048),
            lifetime_s: Some(3600),
            lifetime_kb: None,
            udp_encapsulated: true,
        };
        assert_eq!((choice, peer_spi), (expected, 0xc001_0203));
        assert_eq!(answer.proposals[0].number, 2);
        assert_eq!(answer.proposals[0].spi, 0xd00d_0001u32.to_be_bytes());
        assert_eq!(
            answer.proposals[0].transforms,
            offer.proposals[1].transforms
        );
        assert_eq!(
            phase2_of_answer(&over_the_wire(&answer), &initiator, Some(DhGroup::Modp2048)),
            Ok((expected, 0xd00d_0001))
        );
        // Without the KE payload, or with another group, the transforms do not fit.
        assert!(select_phase2(&offer, &responder, None, 1).is_err());
        assert!(select_phase2(&offer, &responder, Some(DhGroup::Ecp256), 1).is_err());
        assert!(phase2_of_answer(&answer, &initiator, None).is_err());
    }

    #[test]
    fn encapsulation_modes_and_lifetimes() {
        let ours = [esp(AES256, Some(Integrity::HmacSha1_96))];
        let offer_with = |mode: u16, extra: Vec<Attribute>| {
            let mut offer = phase2_sa(&ours, 1, None, 28_800, false);
            let t = &mut offer.proposals[0].transforms[0];
            for a in &mut t.attributes {
                if a.kind == phase2::ENCAPSULATION_MODE {
                    *a = Attribute::basic(phase2::ENCAPSULATION_MODE, mode);
                }
            }
            t.attributes.extend(extra);
            select_phase2(&offer, &ours, None, 2).map(|(c, _, _)| c)
        };
        assert_eq!(offer_with(1, vec![]).map(|c| c.udp_encapsulated), Ok(false));
        assert_eq!(offer_with(3, vec![]).map(|c| c.udp_encapsulated), Ok(true));
        assert_eq!(
            offer_with(61443, vec![]).map(|c| c.udp_encapsulated),
            Ok(true)
        );
        assert!(offer_with(2, vec![]).is_err(), "transport mode");
        assert!(offer_with(61444, vec![]).is_err(), "UDP transport mode");
        let kb = vec![
            Attribute::basic(phase2::SA_LIFE_TYPE, phase2::LIFE_KILOBYTES),
            Attribute {
                kind: phase2::SA_LIFE_DURATION,
                value: AttributeValue::Variable(vec![0, 0x46, 0x50, 0x00]),
            },
        ];
        assert_eq!(
            offer_with(1, kb).map(|c| (c.lifetime_s, c.lifetime_kb)),
            Ok((Some(28_800), Some(4_608_000)))
        );
        // A responder that answers with a lower life.
        let offer = phase2_sa(&ours, 1, None, 28_800, false);
        let mut answer = offer.clone();
        answer.proposals[0].spi = vec![0, 0, 0, 9];
        answer.proposals[0].transforms[0].attributes[1] = Attribute::basic(2, 3600);
        assert_eq!(
            phase2_of_answer(&answer, &ours, None).map(|(c, spi)| (c.lifetime_s, spi)),
            Ok((Some(3600), 9))
        );
    }

    #[test]
    fn aead_takes_no_authentication_algorithm_and_cbc_needs_one() {
        let ours = [esp(GCM128, None), esp(AES128, Some(Integrity::HmacSha1_96))];
        let mut offer = phase2_sa(&ours, 1, None, 3600, false);
        offer.proposals[0].transforms[0]
            .attributes
            .push(Attribute::basic(phase2::AUTHENTICATION_ALGORITHM, 2));
        offer.proposals[1].transforms[0]
            .attributes
            .retain(|a| a.kind != phase2::AUTHENTICATION_ALGORITHM);
        let err = select_phase2(&offer, &ours, None, 2).expect_err("neither fits");
        assert_eq!(err.ours, "aes128gcm16, aes128-sha1");
        assert_eq!(err.theirs, "aes128gcm16-sha1, aes128");
    }

    #[test]
    fn bundles_and_other_protocols_are_not_taken() {
        let ours = [esp(AES128, Some(Integrity::HmacSha1_96))];
        let mut offer = phase2_sa(&ours, 1, None, 3600, false);
        let mut ipcomp = offer.proposals[0].clone();
        ipcomp.protocol = crate::wire::ikev1::PROTO_IPCOMP;
        ipcomp.spi = vec![0, 1];
        offer.proposals.push(ipcomp);
        let err = select_phase2(&offer, &ours, None, 2).expect_err("a bundle");
        assert_eq!(err.theirs, "aes128-sha1, protocol#4");
        offer.proposals[1].number = 2;
        assert!(select_phase2(&offer, &ours, None, 2).is_ok());
        // An ESP proposal whose SPI is not 4 octets.
        let mut offer = phase2_sa(&ours, 1, None, 3600, false);
        offer.proposals[0].spi = vec![1, 2, 3];
        assert!(select_phase2(&offer, &ours, None, 2).is_err());
    }

    #[test]
    fn algorithms_without_ikev1_numbers_are_left_out() {
        let chacha = EspProposal {
            encryption: vec![Encryption::ChaCha20Poly1305],
            integrity: Vec::new(),
            dh: Vec::new(),
            esn: false,
        };
        let sa = phase2_sa(
            &[chacha.clone(), esp(AES128, Some(Integrity::HmacSha1_96))],
            5,
            None,
            60,
            false,
        );
        assert_eq!(sa.proposals.len(), 1);
        assert_eq!(sa.proposals[0].number, 1);
        assert!(phase2_sa(&[chacha], 5, None, 60, false)
            .proposals
            .is_empty());
        let aead_only = phase1_sa(
            &[ike(GCM128, Integrity::HmacSha256_128, DhGroup::Ecp256)],
            60,
        );
        assert!(aead_only.proposals[0].transforms.is_empty());
        for (group, number) in GROUPS {
            assert_eq!(algorithm_of(GROUPS, *number), Some(*group));
        }
        assert_eq!(number_of(GROUPS, DhGroup::Modp1024), Some(2));
        assert_eq!(number_of(GROUPS, DhGroup::Curve25519), Some(31));
    }
}
