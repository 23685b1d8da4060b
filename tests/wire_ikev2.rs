//! IKEv2 codec tests on whole messages built byte by byte from the RFC 7296 section 3 formats.

use std::net::{IpAddr, Ipv4Addr};

use ikehub::wire::ikev2::{
    emit_encrypted_prefix, emit_fragment_prefix, emit_message, emit_payloads,
    first_unsupported_critical, parse_message, parse_payloads, AuthMethod, AuthPayload, Encrypted,
    ExchangeType, Flags, Header, IdType, Identification, Notify, NotifyType, Payload, PayloadType,
    ProtocolId, TrafficSelector, Transform, TransformType, TsType,
};
use ikehub::wire::Error;

const SPI_I: [u8; 8] = [0x5f, 0x24, 0x8e, 0x3a, 0x91, 0x0c, 0x77, 0xd2];
const NONCE: [u8; 32] = [0xa5; 32];
const KE_DATA: [u8; 32] = [0x3c; 32];
const NATD_SRC: [u8; 20] = [0x11; 20];
const NATD_DST: [u8; 20] = [0x22; 20];
const VENDOR_ID: [u8; 16] = [
    0x88, 0x2f, 0xe5, 0x6d, 0x6f, 0xd2, 0x0d, 0xbc, 0x22, 0x86, 0x61, 0x2b, 0x41, 0xd8, 0x86, 0x77,
];

/// An IKE_SA_INIT request as an initiator offering AES-CBC-256 / SHA2-256 / Curve25519 sends
/// it, with NAT detection, fragmentation and RFC 7427 signature hash notifications and a
/// Vendor ID.
fn ike_sa_init_request() -> Vec<u8> {
    let mut m = Vec::new();
    // IKE header (RFC 7296 3.1).
    m.extend_from_slice(&SPI_I);
    m.extend_from_slice(&[0; 8]); // responder SPI: zero in the first message
    m.extend_from_slice(&[33, 0x20, 34, 0x08]); // next SA, v2.0, IKE_SA_INIT, Initiator flag
    m.extend_from_slice(&[0, 0, 0, 0]); // message ID 0
    m.extend_from_slice(&[0, 0, 0, 250]); // length
                                          // SA payload (3.3): next KE, length 48.
    m.extend_from_slice(&[34, 0, 0, 48]);
    m.extend_from_slice(&[0, 0, 0, 44, 1, 1, 0, 4]); // last proposal, len 44, #1, IKE, no SPI, 4 transforms
    m.extend_from_slice(&[3, 0, 0, 12, 1, 0, 0, 12, 0x80, 0x0e, 0x01, 0x00]); // ENCR_AES_CBC, key 256
    m.extend_from_slice(&[3, 0, 0, 8, 2, 0, 0, 5]); // PRF_HMAC_SHA2_256
    m.extend_from_slice(&[3, 0, 0, 8, 3, 0, 0, 12]); // AUTH_HMAC_SHA2_256_128
    m.extend_from_slice(&[0, 0, 0, 8, 4, 0, 0, 31]); // Curve25519, last transform
                                                     // KE payload (3.4): next Nonce, length 40, group 31.
    m.extend_from_slice(&[40, 0, 0, 40, 0, 31, 0, 0]);
    m.extend_from_slice(&KE_DATA);
    // Nonce payload (3.9): next Notify, length 36.
    m.extend_from_slice(&[41, 0, 0, 36]);
    m.extend_from_slice(&NONCE);
    // Notify NAT_DETECTION_SOURCE_IP (3.10): next Notify, length 28.
    m.extend_from_slice(&[41, 0, 0, 28, 0, 0, 0x40, 0x04]);
    m.extend_from_slice(&NATD_SRC);
    // Notify NAT_DETECTION_DESTINATION_IP.
    m.extend_from_slice(&[41, 0, 0, 28, 0, 0, 0x40, 0x05]);
    m.extend_from_slice(&NATD_DST);
    // Notify IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.3), no data.
    m.extend_from_slice(&[41, 0, 0, 8, 0, 0, 0x40, 0x2e]);
    // Notify SIGNATURE_HASH_ALGORITHMS (RFC 7427 4): SHA2-256, SHA2-384, SHA2-512. Next VID.
    m.extend_from_slice(&[43, 0, 0, 14, 0, 0, 0x40, 0x2f, 0, 2, 0, 3, 0, 4]);
    // Vendor ID payload (3.12): last payload.
    m.extend_from_slice(&[0, 0, 0, 20]);
    m.extend_from_slice(&VENDOR_ID);
    assert_eq!(m.len(), 250);
    m
}

#[test]
fn ike_sa_init_request_every_field() {
    let bytes = ike_sa_init_request();
    let msg = parse_message(&bytes).expect("valid IKE_SA_INIT");

    let h = msg.header;
    assert_eq!(h.spi_i, u64::from_be_bytes(SPI_I));
    assert_eq!(h.spi_r, 0);
    assert_eq!(h.next_payload, PayloadType::Sa);
    assert_eq!(h.version, 0x20);
    assert_eq!(h.exchange, ExchangeType::IkeSaInit);
    assert_eq!(
        h.flags,
        Flags {
            initiator: true,
            response: false
        }
    );
    assert_eq!(h.message_id, 0);
    assert_eq!(h.length, 250);
    assert_eq!(msg.encrypted_body_offset, None);
    assert_eq!(msg.payloads.len(), 8);

    let Payload::Sa(sa) = &msg.payloads[0] else {
        panic!("SA expected, got {:?}", msg.payloads[0])
    };
    assert_eq!(sa.proposals.len(), 1);
    let p = &sa.proposals[0];
    assert_eq!((p.number, p.protocol, p.spi.len()), (1, ProtocolId::Ike, 0));
    let encr = Transform {
        key_length: Some(256),
        ..Transform::new(TransformType::Encr, 12)
    };
    assert_eq!(
        p.transforms,
        vec![
            encr,
            Transform::new(TransformType::Prf, 5),
            Transform::new(TransformType::Integ, 12),
            Transform::new(TransformType::Dh, 31),
        ]
    );

    let Payload::Ke(ke) = &msg.payloads[1] else {
        panic!("KE expected")
    };
    assert_eq!((ke.group, ke.data.as_slice()), (31, &KE_DATA[..]));
    assert_eq!(msg.payloads[2], Payload::Nonce(NONCE.to_vec()));
    assert_eq!(
        msg.payloads[3],
        Payload::Notify(Notify::new(
            NotifyType::NatDetectionSourceIp,
            NATD_SRC.to_vec()
        ))
    );
    assert_eq!(
        msg.payloads[4],
        Payload::Notify(Notify::new(
            NotifyType::NatDetectionDestinationIp,
            NATD_DST.to_vec()
        ))
    );
    assert_eq!(
        msg.payloads[5],
        Payload::Notify(Notify::new(
            NotifyType::Ikev2FragmentationSupported,
            Vec::new()
        ))
    );
    assert_eq!(
        msg.payloads[6],
        Payload::Notify(Notify::new(
            NotifyType::SignatureHashAlgorithms,
            vec![0, 2, 0, 3, 0, 4]
        ))
    );
    assert_eq!(msg.payloads[7], Payload::Vendor(VENDOR_ID.to_vec()));
    assert_eq!(first_unsupported_critical(&msg.payloads), None);

    // Byte-for-byte round trip, with next_payload and length recomputed by the emitter.
    let zeroed = Header {
        next_payload: PayloadType::None,
        length: 0,
        ..msg.header
    };
    assert_eq!(emit_message(&zeroed, &msg.payloads), bytes);
}

#[test]
fn every_truncation_and_length_change_is_an_error() {
    let bytes = ike_sa_init_request();
    for len in 0..bytes.len() {
        assert!(
            parse_message(&bytes[..len]).is_err(),
            "prefix of {len} octets parsed"
        );
    }
    // The header length must match the datagram.
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        parse_message(&longer),
        Err(Error::BadLength {
            what: "IKE header Length"
        })
    );
    longer[27] = 251;
    assert_eq!(
        parse_message(&longer),
        Err(Error::TrailingData {
            what: "last payload"
        })
    );
    // A payload length pointing past the end.
    let mut bad = bytes.clone();
    bad[28 + 2] = 0x10;
    assert_eq!(
        parse_message(&bad),
        Err(Error::BadLength {
            what: "payload length"
        })
    );
    // A payload length within the message but longer than the SA content.
    let mut bad = bytes.clone();
    bad[28 + 3] = 200;
    assert_eq!(
        parse_message(&bad),
        Err(Error::TrailingData {
            what: "last proposal"
        })
    );
    // A payload length below the generic header size.
    let mut bad = bytes;
    bad[28 + 3] = 3;
    assert_eq!(
        parse_message(&bad),
        Err(Error::BadLength {
            what: "payload length"
        })
    );
}

#[test]
fn higher_major_version_is_typed() {
    let mut bytes = ike_sa_init_request();
    bytes[17] = 0x30;
    assert_eq!(parse_message(&bytes), Err(Error::UnsupportedVersion(3)));
    assert_eq!(
        Header::parse_any_version(&bytes).map(|h| h.spi_i),
        Ok(u64::from_be_bytes(SPI_I))
    );
}

#[test]
fn unknown_payloads_are_kept_with_their_critical_bit() {
    let header = Header {
        spi_i: 1,
        spi_r: 2,
        next_payload: PayloadType::None,
        version: 0x20,
        exchange: ExchangeType::Informational,
        flags: Flags {
            initiator: true,
            response: false,
        },
        message_id: 3,
        length: 0,
    };
    let payloads = vec![
        Payload::Unknown {
            payload_type: 200,
            critical: false,
            body: vec![1, 2, 3],
        },
        Payload::Nonce(vec![7; 16]),
        Payload::Unknown {
            payload_type: 201,
            critical: true,
            body: vec![],
        },
    ];
    let bytes = emit_message(&header, &payloads);
    assert_eq!(bytes[16], 200); // the header announces the first payload
    assert_eq!(&bytes[28..32], &[40, 0, 0, 7]); // next is the nonce; not critical
    let critical_at = 28 + 7 + 20;
    assert_eq!(&bytes[critical_at..critical_at + 4], &[0, 0x80, 0, 4]);
    let msg = parse_message(&bytes).expect("unknown payloads parse");
    assert_eq!(msg.payloads, payloads);
    assert_eq!(first_unsupported_critical(&msg.payloads), Some(201));
    assert_eq!(first_unsupported_critical(&payloads[..2]), None);
}

fn auth_header() -> Header {
    Header {
        spi_i: 0x0102_0304_0506_0708,
        spi_r: 0x1112_1314_1516_1718,
        next_payload: PayloadType::None,
        version: 0x20,
        exchange: ExchangeType::IkeAuth,
        flags: Flags {
            initiator: true,
            response: false,
        },
        message_id: 1,
        length: 0,
    }
}

fn inner_auth_payloads() -> Vec<Payload> {
    let ts = TrafficSelector {
        ts_type: TsType::Ipv4AddrRange,
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 0)),
        end: IpAddr::V4(Ipv4Addr::new(192, 168, 1, 255)),
    };
    vec![
        Payload::IdI(Identification {
            id_type: IdType::Fqdn,
            data: b"branch.example".to_vec(),
        }),
        Payload::Auth(AuthPayload {
            method: AuthMethod::SharedKeyMic,
            data: vec![0xab; 32],
        }),
        Payload::TsI(vec![ts.clone()]),
        Payload::TsR(vec![ts]),
    ]
}

#[test]
fn encrypted_message_prefix_and_body_split() {
    let (first_inner, plaintext) = emit_payloads(&inner_auth_payloads());
    assert_eq!(first_inner, PayloadType::IdI);
    assert_eq!(
        parse_payloads(first_inner, &plaintext),
        Ok(inner_auth_payloads())
    );

    // Stand-in for IV || ciphertext || ICV: the codec never looks inside.
    let body: Vec<u8> = (0..80u8).collect();
    let mut datagram = emit_encrypted_prefix(&auth_header(), first_inner, body.len());
    assert_eq!(datagram.len(), 28 + 4);
    datagram.extend_from_slice(&body);

    let msg = parse_message(&datagram).expect("valid encrypted message");
    assert_eq!(msg.header.next_payload, PayloadType::Sk);
    assert_eq!(msg.header.length as usize, datagram.len());
    assert_eq!(msg.encrypted_body_offset, Some(32));
    assert_eq!(
        msg.encrypted(),
        Some(&Encrypted {
            first_inner,
            body: body.clone()
        })
    );
    let (prefix, split_body) = msg.split_encrypted(&datagram).expect("split");
    assert_eq!(prefix, &datagram[..32]);
    assert_eq!(split_body, body.as_slice());
    // The generic emitter produces the same bytes.
    assert_eq!(emit_message(&auth_header(), &msg.payloads), datagram);
}

#[test]
fn fragment_prefix_and_body_split() {
    let body = vec![0x5a; 40];
    for (number, expected_next) in [(1u16, 35u8), (2, 0)] {
        let mut datagram =
            emit_fragment_prefix(&auth_header(), PayloadType::IdI, number, 2, body.len());
        assert_eq!(datagram.len(), 28 + 8);
        assert_eq!(datagram[16], 53); // SKF
        assert_eq!(datagram[28], expected_next); // RFC 7383 2.5
        datagram.extend_from_slice(&body);
        let msg = parse_message(&datagram).expect("valid fragment");
        let skf = msg.encrypted_fragment().expect("SKF payload");
        assert_eq!(
            (skf.number, skf.total, skf.body.as_slice()),
            (number, 2, body.as_slice())
        );
        assert_eq!(msg.encrypted_body_offset, Some(36));
        assert_eq!(emit_message(&auth_header(), &msg.payloads), datagram);
    }
}

#[test]
fn encrypted_payload_must_be_last() {
    // Hand-built: header, SK (next = IDi, body 4 octets), then trailing bytes that would be
    // another payload. The SK length ends before the datagram does.
    let mut m = Vec::new();
    auth_header().emit(&mut m);
    m[16] = 46;
    m.extend_from_slice(&[35, 0, 0, 8, 1, 2, 3, 4]);
    m.extend_from_slice(&[0, 0, 0, 4]);
    let len = m.len() as u32;
    m[24..28].copy_from_slice(&len.to_be_bytes());
    assert_eq!(parse_message(&m), Err(Error::MisplacedEncrypted));
    // SK inside a decrypted chain is refused too.
    assert_eq!(
        parse_payloads(PayloadType::Sk, &[0, 0, 0, 8, 1, 2, 3, 4]),
        Err(Error::MisplacedEncrypted)
    );
}

#[test]
fn responder_reply_with_error_notify() {
    let header = Header {
        flags: Flags {
            initiator: false,
            response: true,
        },
        exchange: ExchangeType::IkeSaInit,
        message_id: 0,
        ..auth_header()
    };
    let payloads = vec![Payload::Notify(Notify::new(
        NotifyType::InvalidKePayload,
        vec![0, 19],
    ))];
    let bytes = emit_message(&header, &payloads);
    assert_eq!(bytes.len(), 28 + 10);
    assert_eq!(bytes[19], 0x20);
    assert_eq!(&bytes[28..], &[0, 0, 0, 10, 0, 0, 0, 17, 0, 19]);
    assert_eq!(parse_message(&bytes).map(|m| m.payloads), Ok(payloads));
}

#[test]
fn ignored_fields_are_accepted_and_emitted_as_zero() {
    let canonical = ike_sa_init_request();
    let mut noisy = canonical.clone();
    noisy[19] |= 0x10 | 0x01; // V flag and an X bit (RFC 7296 3.1)
    noisy[28 + 1] = 0x7f; // SA generic header RESERVED bits
    noisy[28 + 48 + 6] = 0xff; // KE RESERVED octets
    noisy[28 + 48 + 40 + 1] = 0x80; // critical bit on a Nonce, a type we understand
    noisy[28 + 4 + 1] = 0xee; // proposal RESERVED octet
    let canonical_msg = parse_message(&canonical).expect("canonical");
    let noisy_msg = parse_message(&noisy).expect("RESERVED fields are ignored on receipt");
    assert_eq!(noisy_msg, canonical_msg);
    assert_eq!(
        emit_message(&noisy_msg.header, &noisy_msg.payloads),
        canonical
    );
}
