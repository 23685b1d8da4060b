//! Property tests for the IKEv2 codec: generated payloads and messages survive emit -> parse
//! unchanged and emit back to the same bytes; arbitrary and mutated bytes never make the
//! parser panic, and whatever they parse to is a fixed point of emit -> parse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ikehub::wire::ikev2::{
    emit_message, emit_payloads, parse_message, parse_payloads, AttributeValue, AuthMethod,
    AuthPayload, CertEncoding, CertPayload, CfgType, ConfigAttribute, ConfigAttributeType,
    Configuration, Delete, Encrypted, EncryptedFragment, ExchangeType, Flags, Header, IdType,
    Identification, KePayload, Message, Notify, NotifyType, Payload, PayloadType, Proposal,
    ProtocolId, SaPayload, TrafficSelector, Transform, TransformAttribute, TransformType, TsType,
    ATTRIBUTE_KEY_LENGTH,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn attribute() -> impl Strategy<Value = TransformAttribute> {
    let value = prop_oneof![
        any::<u16>().prop_map(AttributeValue::Short),
        bytes(12).prop_map(AttributeValue::Variable),
    ];
    (0u16..0x8000, value)
        .prop_filter("Key Length in TV form is the key_length field", |(t, v)| {
            !(*t == ATTRIBUTE_KEY_LENGTH && matches!(v, AttributeValue::Short(_)))
        })
        .prop_map(|(attr_type, value)| TransformAttribute { attr_type, value })
}

fn transform() -> impl Strategy<Value = Transform> {
    (
        any::<u8>(),
        any::<u16>(),
        any::<Option<u16>>(),
        vec(attribute(), 0..3),
    )
        .prop_map(|(kind, id, key_length, other_attributes)| Transform {
            kind: TransformType::from(kind),
            id,
            key_length,
            other_attributes,
        })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u8>(), any::<u8>(), bytes(8), vec(transform(), 0..6)).prop_map(
        |(number, protocol, spi, transforms)| Proposal {
            number,
            protocol: ProtocolId::from(protocol),
            spi,
            transforms,
        },
    )
}

fn traffic_selector() -> impl Strategy<Value = TrafficSelector> {
    let v4 = (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(a, b)| {
        (
            TsType::Ipv4AddrRange,
            IpAddr::V4(Ipv4Addr::from(a)),
            IpAddr::V4(Ipv4Addr::from(b)),
        )
    });
    let v6 = (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(a, b)| {
        (
            TsType::Ipv6AddrRange,
            IpAddr::V6(Ipv6Addr::from(a)),
            IpAddr::V6(Ipv6Addr::from(b)),
        )
    });
    (prop_oneof![v4, v6], any::<u8>(), any::<u16>(), any::<u16>()).prop_map(
        |((ts_type, start, end), ip_protocol, start_port, end_port)| TrafficSelector {
            ts_type,
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        },
    )
}

fn delete() -> impl Strategy<Value = Delete> {
    let ike = any::<u8>().prop_map(|protocol| Delete {
        protocol: ProtocolId::from(protocol),
        spi_size: 0,
        spis: Vec::new(),
    });
    let child = (any::<u8>(), 1u8..=8, 0usize..5).prop_flat_map(|(protocol, size, count)| {
        vec(vec(any::<u8>(), usize::from(size)), count).prop_map(move |spis| Delete {
            protocol: ProtocolId::from(protocol),
            spi_size: size,
            spis,
        })
    });
    prop_oneof![ike, child]
}

fn unknown_payload_type() -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("must not be a decoded payload type", |t| {
        matches!(PayloadType::from(*t), PayloadType::Unknown(_))
    })
}

/// Any payload that may appear anywhere in a chain (everything but SK/SKF).
fn plain_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        vec(proposal(), 1..4).prop_map(|proposals| Payload::Sa(SaPayload { proposals })),
        (any::<u16>(), bytes(64)).prop_map(|(group, data)| Payload::Ke(KePayload { group, data })),
        (any::<u8>(), bytes(32)).prop_map(|(t, data)| Payload::IdI(Identification {
            id_type: IdType::from(t),
            data
        })),
        (any::<u8>(), bytes(32)).prop_map(|(t, data)| Payload::IdR(Identification {
            id_type: IdType::from(t),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::Cert(CertPayload {
            encoding: CertEncoding::from(e),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::CertReq(CertPayload {
            encoding: CertEncoding::from(e),
            data
        })),
        (any::<u8>(), bytes(48)).prop_map(|(m, data)| Payload::Auth(AuthPayload {
            method: AuthMethod::from(m),
            data
        })),
        vec(any::<u8>(), 16..=256).prop_map(Payload::Nonce),
        (any::<u8>(), bytes(8), any::<u16>(), bytes(24)).prop_map(|(p, spi, t, data)| {
            Payload::Notify(Notify {
                protocol: ProtocolId::from(p),
                spi,
                notify_type: NotifyType::from(t),
                data,
            })
        }),
        delete().prop_map(Payload::Delete),
        bytes(32).prop_map(Payload::Vendor),
        vec(traffic_selector(), 0..4).prop_map(Payload::TsI),
        vec(traffic_selector(), 0..4).prop_map(Payload::TsR),
        (any::<u8>(), vec((0u16..0x8000, bytes(16)), 0..4)).prop_map(|(c, attrs)| Payload::Cp(
            Configuration {
                cfg_type: CfgType::from(c),
                attributes: attrs
                    .into_iter()
                    .map(|(t, value)| ConfigAttribute {
                        attr_type: ConfigAttributeType::from(t),
                        value
                    })
                    .collect(),
            }
        )),
        bytes(40).prop_map(Payload::Eap),
        (unknown_payload_type(), any::<bool>(), bytes(24)).prop_map(
            |(payload_type, critical, body)| Payload::Unknown {
                payload_type,
                critical,
                body
            }
        ),
    ]
}

fn encrypted_payload() -> impl Strategy<Value = Payload> {
    let sk = (any::<u8>(), bytes(96)).prop_map(|(first, body)| {
        Payload::Encrypted(Encrypted {
            first_inner: PayloadType::from(first),
            body,
        })
    });
    let skf = (any::<u8>(), 1u16..=u16::MAX, bytes(96)).prop_flat_map(|(first, total, body)| {
        (1u16..=total).prop_map(move |number| {
            Payload::EncryptedFragment(EncryptedFragment {
                first_inner: PayloadType::from(first),
                number,
                total,
                body: body.clone(),
            })
        })
    });
    prop_oneof![sk, skf]
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        0u8..16,
        any::<u8>(),
        any::<(bool, bool)>(),
        any::<u32>(),
    )
        .prop_map(
            |(spi_i, spi_r, minor, exchange, (initiator, response), message_id)| Header {
                spi_i,
                spi_r,
                next_payload: PayloadType::None,
                version: 0x20 | minor,
                exchange: ExchangeType::from(exchange),
                flags: Flags {
                    initiator,
                    response,
                },
                message_id,
                length: 0,
            },
        )
}

fn outer_payloads() -> impl Strategy<Value = Vec<Payload>> {
    (
        vec(plain_payload(), 0..6),
        proptest::option::of(encrypted_payload()),
    )
        .prop_map(|(mut payloads, encrypted)| {
            payloads.extend(encrypted);
            payloads
        })
}

/// Parses, and if that succeeds checks that the result is a fixed point of emit -> parse.
fn check_fixed_point(data: &[u8]) {
    if let Ok(msg) = parse_message(data) {
        let again = emit_message(&msg.header, &msg.payloads);
        let reparsed = parse_message(&again).expect("re-emitted message parses");
        assert_eq!(reparsed.payloads, msg.payloads);
        assert_eq!(reparsed.header.length as usize, again.len());
        assert_eq!(emit_message(&reparsed.header, &reparsed.payloads), again);
    }
}

proptest! {
    #[test]
    fn message_round_trip(header in header(), payloads in outer_payloads()) {
        let bytes = emit_message(&header, &payloads);
        let msg = parse_message(&bytes).expect("emitted message parses");
        let expected_first = payloads.first().map_or(PayloadType::None, Payload::payload_type);
        prop_assert_eq!(
            msg.header,
            Header { next_payload: expected_first, length: bytes.len() as u32, ..header }
        );
        prop_assert_eq!(&msg.payloads, &payloads);
        // Byte-for-byte: what parsed emits back identically.
        prop_assert_eq!(emit_message(&msg.header, &msg.payloads), bytes.clone());
        // The SK/SKF body starts where the split says.
        match (msg.encrypted_body_offset, payloads.last()) {
            (Some(offset), Some(Payload::Encrypted(sk))) => {
                prop_assert_eq!(&bytes[offset..], sk.body.as_slice());
            }
            (Some(offset), Some(Payload::EncryptedFragment(skf))) => {
                prop_assert_eq!(&bytes[offset..], skf.body.as_slice());
            }
            (None, last) => prop_assert!(!matches!(
                last,
                Some(Payload::Encrypted(_) | Payload::EncryptedFragment(_))
            )),
            (Some(_), _) => prop_assert!(false, "offset without SK/SKF"),
        }
    }

    #[test]
    fn inner_chain_round_trip(payloads in vec(plain_payload(), 0..8)) {
        let (first, bytes) = emit_payloads(&payloads);
        let parsed = parse_payloads(first, &bytes).expect("emitted chain parses");
        prop_assert_eq!(&parsed, &payloads);
        prop_assert_eq!(emit_payloads(&parsed), (first, bytes));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(600), first in any::<u8>()) {
        check_fixed_point(&data);
        if let Ok(payloads) = parse_payloads(PayloadType::from(first), &data) {
            let (first_again, again) = emit_payloads(&payloads);
            prop_assert_eq!(parse_payloads(first_again, &again), Ok(payloads));
        }
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(
        header in header(),
        next in any::<u8>(),
        body in bytes(400),
    ) {
        let mut data = Vec::new();
        Header {
            next_payload: PayloadType::from(next),
            length: (Header::LEN + body.len()) as u32,
            ..header
        }
        .emit(&mut data);
        data.extend_from_slice(&body);
        check_fixed_point(&data);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        header in header(),
        payloads in outer_payloads(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut data = emit_message(&header, &payloads);
        for (at, value) in edits {
            let i = at.index(data.len());
            data[i] = value;
        }
        if truncate {
            data.truncate(cut.index(data.len() + 1));
        }
        check_fixed_point(&data);
        // Also as an inner chain (what a decrypted SK body looks like).
        let first = PayloadType::from(data.get(16).copied().unwrap_or(0));
        if let Ok(inner) = parse_payloads(first, data.get(Header::LEN..).unwrap_or_default()) {
            let (first_again, again) = emit_payloads(&inner);
            prop_assert_eq!(parse_payloads(first_again, &again), Ok(inner));
        }
    }
}

#[test]
fn message_struct_is_what_parse_returns() {
    // Guards the public shape the engine relies on.
    let msg: Message = parse_message(&emit_message(
        &Header {
            spi_i: 9,
            spi_r: 0,
            next_payload: PayloadType::None,
            version: 0x20,
            exchange: ExchangeType::Informational,
            flags: Flags::default(),
            message_id: 0,
            length: 0,
        },
        &[],
    ))
    .expect("empty informational");
    assert!(msg.payloads.is_empty());
    assert_eq!(msg.header.length, 28);
    assert_eq!(msg.encrypted_body_offset, None);
}
