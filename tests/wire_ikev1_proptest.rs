//! Property tests for the IKEv1 codec: generated payloads and messages survive emit -> parse
//! unchanged and emit back to the same bytes, with positions that point at each payload;
//! arbitrary and mutated bytes never make the parser panic, and whatever they parse to is a
//! fixed point of emit -> parse.

use ikehub::wire::ikev1::{
    emit_message, emit_payloads, parse_message, parse_payloads, Attribute, AttributeValue, Delete,
    ExchangeType, Header, Identification, Notification, NotifyType, Payload, PayloadType, Proposal,
    SaPayload, Transform,
};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    let value = prop_oneof![
        any::<u16>().prop_map(AttributeValue::Basic),
        bytes(12).prop_map(AttributeValue::Variable),
    ];
    (0u16..0x8000, value).prop_map(|(kind, value)| Attribute { kind, value })
}

fn transform() -> impl Strategy<Value = Transform> {
    (any::<u8>(), any::<u8>(), vec(attribute(), 0..8)).prop_map(|(number, id, attributes)| {
        Transform {
            number,
            id,
            attributes,
        }
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (any::<u8>(), any::<u8>(), bytes(16), vec(transform(), 1..5)).prop_map(
        |(number, protocol, spi, transforms)| Proposal {
            number,
            protocol,
            spi,
            transforms,
        },
    )
}

fn delete() -> impl Strategy<Value = Delete> {
    let empty =
        (any::<u32>(), any::<u8>(), any::<u8>()).prop_map(|(doi, protocol, spi_size)| Delete {
            doi,
            protocol,
            spi_size,
            spis: Vec::new(),
        });
    let some = (any::<u32>(), any::<u8>(), 1u8..=16, 1usize..4).prop_flat_map(
        |(doi, protocol, size, count)| {
            vec(vec(any::<u8>(), usize::from(size)), count).prop_map(move |spis| Delete {
                doi,
                protocol,
                spi_size: size,
                spis,
            })
        },
    );
    prop_oneof![empty, some]
}

/// Types that parse as `Payload::Unknown`: those without a decoder, and Proposal and
/// Transform outside an SA payload.
fn unknown_payload_type() -> impl Strategy<Value = u8> {
    any::<u8>().prop_filter("must not be a decoded payload type", |t| {
        matches!(
            PayloadType::from(*t),
            PayloadType::Unknown(_) | PayloadType::Proposal | PayloadType::Transform
        )
    })
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<u32>(), any::<u32>(), vec(proposal(), 1..4)).prop_map(
            |(doi, situation, proposals)| Payload::Sa(SaPayload {
                doi,
                situation,
                proposals
            })
        ),
        bytes(64).prop_map(Payload::KeyExchange),
        (any::<u8>(), any::<u8>(), any::<u16>(), bytes(32)).prop_map(
            |(id_type, protocol, port, data)| Payload::Identification(Identification {
                id_type,
                protocol,
                port,
                data
            })
        ),
        (any::<u8>(), bytes(40))
            .prop_map(|(encoding, data)| Payload::Certificate { encoding, data }),
        (any::<u8>(), bytes(40)).prop_map(|(encoding, authority)| {
            Payload::CertificateRequest {
                encoding,
                authority,
            }
        }),
        bytes(32).prop_map(Payload::Hash),
        bytes(40).prop_map(Payload::Signature),
        bytes(64).prop_map(Payload::Nonce),
        (
            any::<u32>(),
            any::<u8>(),
            any::<u16>(),
            bytes(16),
            bytes(24)
        )
            .prop_map(|(doi, protocol, notify, spi, data)| Payload::Notification(
                Notification {
                    doi,
                    protocol,
                    notify: NotifyType::from(notify),
                    spi,
                    data
                }
            )),
        delete().prop_map(Payload::Delete),
        bytes(20).prop_map(Payload::VendorId),
        (any::<bool>(), bytes(32)).prop_map(|(draft, hash)| Payload::NatD { draft, hash }),
        (any::<bool>(), any::<u8>(), bytes(16)).prop_map(|(draft, id_type, address)| {
            Payload::NatOa {
                draft,
                id_type,
                address,
            }
        }),
        (unknown_payload_type(), bytes(24))
            .prop_map(|(payload_type, body)| Payload::Unknown { payload_type, body }),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u8>(),
        0u8..8,
        any::<u32>(),
    )
        .prop_map(
            |(initiator_cookie, responder_cookie, exchange, flags, message_id)| Header {
                initiator_cookie,
                responder_cookie,
                next_payload: PayloadType::None,
                exchange: ExchangeType::from(exchange),
                flags,
                message_id,
                length: 0,
            },
        )
}

fn unencrypted_header() -> impl Strategy<Value = Header> {
    header().prop_map(|h| Header {
        flags: h.flags & !Header::FLAG_ENCRYPTION,
        ..h
    })
}

fn payloads_of(chain: &ikehub::wire::ikev1::Chain) -> Vec<Payload> {
    chain.payloads().cloned().collect()
}

/// Parses, and if that succeeds checks that the result is a fixed point of emit -> parse.
fn check_fixed_point(data: &[u8]) {
    if let Ok(msg) = parse_message(data) {
        let payloads = payloads_of(&msg.chain);
        let mut body = Vec::new();
        let first = emit_payloads(&payloads, &mut body);
        let again = emit_message(&msg.header, first, &body);
        let reparsed = parse_message(&again).expect("re-emitted message parses");
        assert_eq!(payloads_of(&reparsed.chain), payloads);
        assert_eq!(reparsed.header.length as usize, again.len());
        assert_eq!(reparsed.chain.payload_end, again.len());
    }
}

fn check_chain_fixed_point(first: u8, data: &[u8]) {
    if let Ok(chain) = parse_payloads(PayloadType::from(first), data) {
        assert!(chain.payload_end <= data.len());
        let payloads = payloads_of(&chain);
        let mut again = Vec::new();
        let first_again = emit_payloads(&payloads, &mut again);
        let reparsed = parse_payloads(first_again, &again).expect("re-emitted chain parses");
        assert_eq!(payloads_of(&reparsed), payloads);
    }
}

proptest! {
    #[test]
    fn message_round_trip(header in unencrypted_header(), payloads in vec(payload(), 0..6)) {
        let mut body = Vec::new();
        let first = emit_payloads(&payloads, &mut body);
        let bytes = emit_message(&header, first, &body);
        let msg = parse_message(&bytes).expect("emitted message parses");
        prop_assert_eq!(
            msg.header,
            Header { next_payload: first, length: bytes.len() as u32, ..header }
        );
        prop_assert_eq!(payloads_of(&msg.chain), payloads.clone());
        prop_assert_eq!(msg.chain.payload_end, bytes.len());
        // Each position holds exactly that payload, re-encoded alone.
        for span in &msg.chain.payloads {
            let mut alone = Vec::new();
            emit_payloads(std::slice::from_ref(&span.payload), &mut alone);
            prop_assert_eq!(&bytes[span.body_start()..span.end], &alone[4..]);
        }
        // Byte-for-byte: what parsed emits back identically.
        let mut body_again = Vec::new();
        let first_again = emit_payloads(&payloads_of(&msg.chain), &mut body_again);
        prop_assert_eq!(emit_message(&msg.header, first_again, &body_again), bytes);
    }

    #[test]
    fn padded_chain_round_trip(payloads in vec(payload(), 0..8), padding in bytes(16)) {
        let mut bytes = Vec::new();
        let first = emit_payloads(&payloads, &mut bytes);
        let end = bytes.len();
        bytes.extend_from_slice(&padding);
        let chain = parse_payloads(first, &bytes).expect("emitted chain parses");
        prop_assert_eq!(payloads_of(&chain), payloads);
        prop_assert_eq!(chain.payload_end, end);
    }

    #[test]
    fn header_round_trip(header in header(), next in any::<u8>(), length in any::<u32>()) {
        let header = Header { next_payload: PayloadType::from(next), length, ..header };
        let mut bytes = Vec::new();
        header.emit(&mut bytes);
        prop_assert_eq!(bytes.len(), Header::LEN);
        prop_assert_eq!(Header::parse(&bytes), Ok(header));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(600), first in any::<u8>()) {
        check_fixed_point(&data);
        check_chain_fixed_point(first, &data);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_header_never_panic(
        header in unencrypted_header(),
        next in any::<u8>(),
        body in bytes(400),
    ) {
        let data = emit_message(&header, PayloadType::from(next), &body);
        check_fixed_point(&data);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        header in unencrypted_header(),
        payloads in vec(payload(), 0..6),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut body = Vec::new();
        let first = emit_payloads(&payloads, &mut body);
        let mut data = emit_message(&header, first, &body);
        for (at, value) in edits {
            let i = at.index(data.len());
            data[i] = value;
        }
        if truncate {
            data.truncate(cut.index(data.len() + 1));
        }
        check_fixed_point(&data);
        // Also as a decrypted body.
        check_chain_fixed_point(data.get(16).copied().unwrap_or(0), data.get(Header::LEN..).unwrap_or_default());
    }
}
