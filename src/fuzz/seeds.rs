//! The starting corpora, recorded from exchanges between two engines (and, for IKEv1, which
//! nothing here speaks, built by hand after RFC 2408 and RFC 2409). Deterministic: the same
//! engines produce the same datagrams, so the files in `fuzz/corpus/` can be made again. The
//! engine's seeds are the very messages each scenario's state expects, decrypted: the fuzzer
//! starts from inputs that pass every check and mutates from there.

use crate::wire::ikev1;
use crate::wire::ikev2::{self, ExchangeType, Payload};

use super::engine::{stage, Command, Setup, SCENARIOS};

/// One corpus file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub data: Vec<u8>,
}

/// Every target's seeds.
pub fn all() -> Vec<Seed> {
    let mut datagrams = Vec::new();
    let mut seeds = engine_seeds(&mut datagrams);
    seeds.extend(message_seeds(&datagrams, &seeds));
    seeds.extend(isakmp_seeds());
    seeds.extend(ikev1_message_seeds());
    seeds
}

/// A decrypted message as the engine target reads it: scenario, first payload type, chain.
fn engine_input(scenario: usize, payloads: &[Payload]) -> Vec<u8> {
    let (first, chain) = ikev2::emit_payloads(payloads);
    let mut data = vec![u8::try_from(scenario).unwrap_or_default(), first.into()];
    data.extend_from_slice(&chain);
    data
}

fn exchange_of(datagram: &[u8]) -> Option<(ExchangeType, bool)> {
    let header = ikev2::parse_message(datagram).ok()?.header;
    Some((header.exchange, header.flags.response))
}

/// Per scenario, the messages that fit its state: the answer to the request held back, or
/// the requests A sends for each command.
fn engine_seeds(datagrams: &mut Vec<Vec<u8>>) -> Vec<Seed> {
    let mut seeds = Vec::new();
    for (index, scenario) in SCENARIOS.iter().enumerate() {
        let mut inputs: Vec<Vec<Payload>> = Vec::new();
        let to = scenario.to;
        if scenario.response || scenario.setup == Setup::AuthPending {
            let Some(mut staged) = stage(scenario.setup) else {
                continue;
            };
            let Some((receiver, held)) = staged.held.take() else {
                continue;
            };
            datagrams.extend(staged.duo.delivered.iter().map(|(_, t)| t.payload.clone()));
            datagrams.push(held.clone());
            let message = if receiver == to {
                Some(held)
            } else {
                staged.duo.deliver(receiver, &held);
                staged
                    .duo
                    .wire
                    .iter()
                    .find(|(peer, _)| *peer == to)
                    .map(|(_, t)| t.payload.clone())
            };
            let sa = staged.sa(to);
            if let Some(payloads) = message.and_then(|m| {
                datagrams.push(m.clone());
                staged.duo.engine(to).open_as_sa(sa, &m)
            }) {
                inputs.push(payloads);
            }
        } else {
            for command in Command::ALL {
                let Some(mut staged) = stage(scenario.setup) else {
                    continue;
                };
                command.run(&mut staged.duo, to.other());
                // Deliver by hand, opening what reaches `to` while its SA still has the keys.
                for _ in 0..32 {
                    let Some((peer, t)) = staged.duo.wire.pop_front() else {
                        break;
                    };
                    datagrams.push(t.payload.clone());
                    let fits = exchange_of(&t.payload) == Some((scenario.exchange, false));
                    if peer == to && fits && staged.holds_original(to) {
                        let sa = staged.sa(to);
                        inputs.extend(staged.duo.engine(to).open_as_sa(sa, &t.payload));
                    }
                    staged.duo.deliver(peer, &t.payload);
                }
            }
        }
        let mut unique: Vec<Vec<u8>> = Vec::new();
        for payloads in inputs {
            let data = engine_input(index, &payloads);
            if !unique.contains(&data) {
                unique.push(data);
            }
        }
        seeds.extend(unique.into_iter().enumerate().map(|(n, data)| Seed {
            target: "ikev2_engine",
            name: format!("{}-{n}", scenario.name),
            data,
        }));
    }
    seeds
}

/// Datagrams of one exchange and direction kept for the codec: encrypted ones differ in
/// their ciphertext, which the codec does not read.
const DATAGRAMS_PER_KIND: usize = 3;

/// The distinct datagrams recorded, whole (a few of each exchange and direction), and the
/// engine seeds' inner chains as the codec target's second reading takes them (first payload
/// type, then the chain).
fn message_seeds(datagrams: &[Vec<u8>], engine: &[Seed]) -> Vec<Seed> {
    let mut seeds: Vec<Seed> = Vec::new();
    let mut kinds: Vec<String> = Vec::new();
    for d in datagrams {
        if seeds.iter().any(|s| s.data == *d) {
            continue;
        }
        let kind = match exchange_of(d) {
            Some((exchange, response)) => format!(
                "{}-{}",
                format!("{exchange:?}").to_lowercase(),
                if response { "response" } else { "request" }
            ),
            None => "datagram".to_string(),
        };
        let same = kinds.iter().filter(|k| **k == kind).count();
        if same == DATAGRAMS_PER_KIND {
            continue;
        }
        let name = format!("{kind}-{same}");
        kinds.push(kind);
        seeds.push(Seed {
            target: "ikev2_message",
            name,
            data: d.clone(),
        });
    }
    for seed in engine {
        let chain = seed.data.get(1..).unwrap_or_default();
        if !seeds.iter().any(|s| s.data == chain) {
            seeds.push(Seed {
                target: "ikev2_message",
                name: format!("inner-{}", seed.name),
                data: chain.to_vec(),
            });
        }
    }
    seeds
}

/// ISAKMP payload types (RFC 2408 3.1) and exchange types (RFC 2408 4.1, RFC 2409 5.5).
mod isakmp {
    pub const SA: u8 = 1;
    pub const TRANSFORM: u8 = 3;
    pub const KE: u8 = 4;
    pub const ID: u8 = 5;
    pub const HASH: u8 = 8;
    pub const NONCE: u8 = 10;
    pub const NOTIFY: u8 = 11;
    pub const DELETE: u8 = 12;
    pub const VENDOR_ID: u8 = 13;
    pub const NAT_D: u8 = 20;
    pub const MAIN_MODE: u8 = 2;
    pub const AGGRESSIVE: u8 = 4;
    pub const INFORMATIONAL: u8 = 5;
    pub const QUICK_MODE: u8 = 32;
    pub const FLAG_ENCRYPTED: u8 = 1;
}

/// An ISAKMP message: header (RFC 2408 3.1) and a chain of `(type, body)` payloads, each
/// behind a generic payload header naming the next.
fn isakmp_message(exchange: u8, flags: u8, responder: bool, payloads: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
    let rcookie: u64 = if responder { 0x99aa_bbcc_ddee_ff00 } else { 0 };
    out.extend_from_slice(&rcookie.to_be_bytes());
    out.push(payloads.first().map_or(0, |(t, _)| *t));
    out.push(0x10);
    out.extend_from_slice(&[exchange, flags]);
    let message_id: u32 = if exchange == isakmp::QUICK_MODE {
        0x0bad_cafe
    } else {
        0
    };
    out.extend_from_slice(&message_id.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    for (i, (_, body)) in payloads.iter().enumerate() {
        out.push(payloads.get(i + 1).map_or(0, |(t, _)| *t));
        out.push(0);
        let len = u16::try_from(body.len() + 4).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(body);
    }
    let total = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[24..28].copy_from_slice(&total.to_be_bytes());
    out
}

/// An SA payload body (DOI IPsec, SIT_IDENTITY_ONLY) with one ISAKMP proposal of the given
/// transforms, each a list of basic (TV) attributes (RFC 2409 appendix A).
fn isakmp_sa(transforms: &[&[(u16, u16)]]) -> Vec<u8> {
    let mut proposal = vec![1, 1, 0, u8::try_from(transforms.len()).unwrap_or(u8::MAX)];
    for (i, attributes) in transforms.iter().enumerate() {
        let last = i + 1 == transforms.len();
        let mut transform = vec![u8::try_from(i + 1).unwrap_or(u8::MAX), 1, 0, 0];
        for (kind, value) in attributes.iter() {
            transform.extend_from_slice(&(0x8000 | kind).to_be_bytes());
            transform.extend_from_slice(&value.to_be_bytes());
        }
        proposal.push(if last { 0 } else { isakmp::TRANSFORM });
        proposal.push(0);
        let len = u16::try_from(transform.len() + 4).unwrap_or(u16::MAX);
        proposal.extend_from_slice(&len.to_be_bytes());
        proposal.extend_from_slice(&transform);
    }
    let mut body = vec![0, 0, 0, 1, 0, 0, 0, 1];
    body.extend_from_slice(&[0, 0]);
    let len = u16::try_from(proposal.len() + 4).unwrap_or(u16::MAX);
    body.extend_from_slice(&len.to_be_bytes());
    body.extend_from_slice(&proposal);
    body
}

/// The first messages of Main, Aggressive and Quick Mode and Informational exchanges.
fn isakmp_messages() -> Vec<(&'static str, Vec<u8>)> {
    use isakmp::*;
    // encryption AES (7), key length 128 (14), hash SHA (2), PSK (3 = 1), group 14 (4),
    // life type seconds (11 = 1), duration (12); then 3DES-MD5-group 2.
    let aes: &[(u16, u16)] = &[
        (1, 7),
        (14, 128),
        (2, 2),
        (3, 1),
        (4, 14),
        (11, 1),
        (12, 28800),
    ];
    let des: &[(u16, u16)] = &[(1, 5), (2, 1), (3, 1), (4, 2), (11, 1), (12, 3600)];
    let vendor = |id: &[u8]| (VENDOR_ID, id.to_vec());
    let nat_t_rfc3947 = [
        0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45,
        0x2f,
    ];
    let id_ipv4 = vec![1, 17, 0x01, 0xf4, 192, 0, 2, 1];
    let notify = |kind: u16| {
        let mut body = vec![0, 0, 0, 1, 1, 16];
        body.extend_from_slice(&kind.to_be_bytes());
        body.extend_from_slice(&[0x55; 16]);
        body
    };
    let messages: Vec<(&str, Vec<u8>)> = vec![
        (
            "main-mode-1",
            isakmp_message(
                MAIN_MODE,
                0,
                false,
                &[(SA, isakmp_sa(&[aes])), vendor(&nat_t_rfc3947)],
            ),
        ),
        (
            "main-mode-1-two-transforms",
            isakmp_message(MAIN_MODE, 0, false, &[(SA, isakmp_sa(&[aes, des]))]),
        ),
        (
            "main-mode-3",
            isakmp_message(
                MAIN_MODE,
                0,
                true,
                &[
                    (KE, vec![0x42; 256]),
                    (NONCE, vec![0x17; 32]),
                    (NAT_D, vec![0x01; 20]),
                    (NAT_D, vec![0x02; 20]),
                ],
            ),
        ),
        (
            "main-mode-5-encrypted",
            isakmp_message(MAIN_MODE, FLAG_ENCRYPTED, true, &[(ID, vec![0xe5; 60])]),
        ),
        (
            "aggressive-1",
            isakmp_message(
                AGGRESSIVE,
                0,
                false,
                &[
                    (SA, isakmp_sa(&[des])),
                    (KE, vec![0x42; 128]),
                    (NONCE, vec![0x17; 16]),
                    (ID, id_ipv4),
                ],
            ),
        ),
        (
            "quick-mode-1-encrypted",
            isakmp_message(QUICK_MODE, FLAG_ENCRYPTED, true, &[(HASH, vec![0xa1; 76])]),
        ),
        (
            "informational-notify",
            isakmp_message(INFORMATIONAL, 0, true, &[(NOTIFY, notify(14))]),
        ),
        (
            "informational-delete",
            isakmp_message(
                INFORMATIONAL,
                0,
                true,
                &[(
                    DELETE,
                    [0, 0, 0, 1, 1, 16, 0, 1]
                        .into_iter()
                        .chain([0x55; 16])
                        .collect(),
                )],
            ),
        ),
        ("header-only", isakmp_message(MAIN_MODE, 0, false, &[])),
    ];
    messages
}

fn isakmp_seeds() -> Vec<Seed> {
    isakmp_messages()
        .into_iter()
        .map(|(name, data)| Seed {
            target: "isakmp_datagram",
            name: name.to_string(),
            data,
        })
        .collect()
}

/// Decrypted IKEv1 bodies as the codec target's second reading takes them: the first payload
/// type, then the chain and the zero padding of a 16-octet block cipher whose last octet
/// counts the others (RFC 2409 5.3).
fn ikev1_body(payloads: &[ikev1::Payload]) -> Vec<u8> {
    let mut chain = Vec::new();
    let first = ikev1::emit_payloads(payloads, &mut chain);
    let pad = 16 - chain.len() % 16;
    chain.resize(chain.len() + pad - 1, 0);
    chain.push(u8::try_from(pad - 1).unwrap_or_default());
    let mut data = vec![u8::from(first)];
    data.extend_from_slice(&chain);
    data
}

/// The IKEv1 codec's seeds: the ISAKMP datagrams of `isakmp_messages`, and the decrypted
/// bodies of Main Mode's fifth message, a Quick Mode request and Informational notifies and
/// deletes.
fn ikev1_message_seeds() -> Vec<Seed> {
    use ikev1::{phase2, Attribute, Identification, Notification, NotifyType, Payload};
    let hash = || Payload::Hash(vec![0xa1; 20]);
    let esp_sa = Payload::Sa(ikev1::SaPayload {
        doi: ikev1::DOI_IPSEC,
        situation: ikev1::SIT_IDENTITY_ONLY,
        proposals: vec![ikev1::Proposal {
            number: 1,
            protocol: ikev1::PROTO_IPSEC_ESP,
            spi: vec![0xc0, 0x01, 0x02, 0x03],
            transforms: vec![ikev1::Transform {
                number: 1,
                id: ikev1::ESP_AES,
                attributes: vec![
                    Attribute::basic(phase2::SA_LIFE_TYPE, phase2::LIFE_SECONDS),
                    Attribute::basic(phase2::SA_LIFE_DURATION, 3600),
                    Attribute::basic(phase2::ENCAPSULATION_MODE, phase2::ENCAP_UDP_TUNNEL),
                    Attribute::basic(phase2::AUTHENTICATION_ALGORITHM, phase2::AUTH_HMAC_SHA),
                    Attribute::basic(phase2::KEY_LENGTH, 128),
                ],
            }],
        }],
    });
    let subnet = |net: [u8; 4]| {
        Payload::Identification(Identification {
            id_type: ikev1::ID_IPV4_ADDR_SUBNET,
            protocol: 0,
            port: 0,
            data: net.into_iter().chain([255, 255, 255, 0]).collect(),
        })
    };
    let notify = |notify: NotifyType, data: Vec<u8>| {
        Payload::Notification(Notification {
            doi: ikev1::DOI_IPSEC,
            protocol: ikev1::PROTO_ISAKMP,
            notify,
            spi: vec![0x55; 16],
            data,
        })
    };
    let bodies: Vec<(&str, Vec<Payload>)> = vec![
        (
            "main-mode-5",
            vec![
                Payload::Identification(Identification {
                    id_type: ikev1::ID_IPV4_ADDR,
                    protocol: 17,
                    port: 500,
                    data: vec![192, 0, 2, 1],
                }),
                hash(),
            ],
        ),
        (
            "quick-mode-1",
            vec![
                hash(),
                esp_sa,
                Payload::Nonce(vec![0x17; 16]),
                subnet([10, 1, 0, 0]),
                subnet([10, 2, 0, 0]),
                Payload::NatOa {
                    draft: false,
                    id_type: ikev1::ID_IPV4_ADDR,
                    address: vec![192, 168, 1, 10],
                },
            ],
        ),
        (
            "r-u-there",
            vec![
                hash(),
                notify(NotifyType::RUThere, 7u32.to_be_bytes().to_vec()),
            ],
        ),
        (
            "initial-contact",
            vec![hash(), notify(NotifyType::InitialContact, Vec::new())],
        ),
        (
            "delete-esp",
            vec![
                hash(),
                Payload::Delete(ikev1::Delete {
                    doi: ikev1::DOI_IPSEC,
                    protocol: ikev1::PROTO_IPSEC_ESP,
                    spi_size: 4,
                    spis: vec![vec![0xc0, 0x01, 0x02, 0x03]],
                }),
            ],
        ),
    ];
    let datagrams = isakmp_messages()
        .into_iter()
        .map(|(name, data)| (name.to_string(), data));
    let decrypted = bodies
        .into_iter()
        .map(|(name, payloads)| (format!("decrypted-{name}"), ikev1_body(&payloads)));
    datagrams
        .chain(decrypted)
        .map(|(name, data)| Seed {
            target: "ikev1_message",
            name,
            data,
        })
        .collect()
}
