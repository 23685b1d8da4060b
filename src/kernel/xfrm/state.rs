//! SA messages: XFRM_MSG_NEWSA for one direction of a CHILD_SA (tunnel mode ESP), and the
//! DELSA / GETSA messages addressed by (destination, SPI).

use std::net::IpAddr;
use std::time::Duration;

use netlink_packet_core::Emitable;
use netlink_packet_xfrm::state::{DelGetMessage, ModifyMessage};
use netlink_packet_xfrm::{
    Address, Alg, AlgAead, AlgAuth, EncapTmpl, Id, LifetimeConfig, ReplayEsn, UserSaId, UserSaInfo,
    XfrmAttrs,
};
use zeroize::{Zeroize, Zeroizing};

use super::algorithms::{self, CipherAttribute};
use super::netlink::Request;
use super::offload::DeviceOffload;
use super::uapi::{
    AF_INET, AF_INET6, IPPROTO_ESP, UDP_ENCAP_ESPINUDP, XFRM_INF, XFRM_MODE_TUNNEL, XFRM_MSG_DELSA,
    XFRM_MSG_GETSA, XFRM_MSG_NEWSA, XFRM_STATE_AF_UNSPEC, XFRM_STATE_ESN,
};
use crate::ike::EspSa;

/// Anti-replay window of inbound SAs, in packets (RFC 4303 3.4.3).
pub(super) const INBOUND_REPLAY_WINDOW: u32 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SaDirection {
    Inbound,
    Outbound,
}

pub(super) fn family(addr: &IpAddr) -> u16 {
    match addr {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// Serialises a message whose emitter may see keys into a buffer wiped on drop.
pub(super) fn emit<E: Emitable>(message: &E) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(vec![0u8; message.buffer_len()]);
    message.emit(&mut buf);
    buf
}

fn key_bits(key: &[u8]) -> Result<u32, String> {
    u32::try_from(key.len())
        .ok()
        .and_then(|len| len.checked_mul(8))
        .ok_or_else(|| format!("key of {} bytes is too long", key.len()))
}

/// When the kernel expires an SA: soft (it tells us, we replace the SA) and hard (it deletes
/// the SA), by age and, when the peer negotiated one (IKEv1 lifetimes in kilobytes, RFC 2407
/// 4.5), by the bytes it protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub soft: Duration,
    pub hard: Duration,
    /// The hard byte limit; the soft one is 90% of it.
    pub bytes: Option<u64>,
}

impl Limits {
    #[cfg(test)]
    pub(crate) fn time(soft: Duration, hard: Duration) -> Limits {
        Limits {
            soft,
            hard,
            bytes: None,
        }
    }
}

/// XFRM_MSG_NEWSA for one direction of a CHILD_SA.
pub(super) fn add_sa(
    sa: &EspSa,
    reqid: u32,
    direction: SaDirection,
    limits: &Limits,
    if_id: Option<u32>,
    offload: Option<&DeviceOffload>,
) -> Result<Request, String> {
    if family(&sa.src) != family(&sa.dst) {
        return Err(format!(
            "SA addresses {} and {} differ in family",
            sa.src, sa.dst
        ));
    }
    let mut info = UserSaInfo::default();
    info.source(&sa.src);
    info.destination(&sa.dst);
    info.id = Id {
        daddr: Address::from_ip(&sa.dst),
        spi: sa.spi,
        proto: IPPROTO_ESP,
    };
    info.reqid = reqid;
    info.mode = XFRM_MODE_TUNNEL;
    // Tunnel mode: the inner family may differ from the outer one.
    info.flags = XFRM_STATE_AF_UNSPEC;
    info.lifetime_cfg = LifetimeConfig {
        soft_byte_limit: limits.bytes.map_or(XFRM_INF, |b| b - b / 10),
        hard_byte_limit: limits.bytes.unwrap_or(XFRM_INF),
        soft_packet_limit: XFRM_INF,
        hard_packet_limit: XFRM_INF,
        soft_add_expires_seconds: limits.soft.as_secs(),
        hard_add_expires_seconds: limits.hard.as_secs(),
        soft_use_expires_seconds: 0,
        hard_use_expires_seconds: 0,
    };

    let encryption_key_bits = key_bits(&sa.encryption_key)?;
    let integrity_key_bits = key_bits(&sa.integrity_key)?;
    let mut nlas = Vec::new();
    match algorithms::cipher(sa.encryption) {
        CipherAttribute::Aead { name, icv_bits } => {
            nlas.push(XfrmAttrs::EncryptionAlgAead(AlgAead {
                alg_name: algorithms::name_field(name),
                alg_key_len: encryption_key_bits,
                alg_icv_len: icv_bits,
                alg_key: sa.encryption_key.to_vec(),
            }));
        }
        CipherAttribute::Crypt { name } => {
            nlas.push(XfrmAttrs::EncryptionAlg(Alg {
                alg_name: algorithms::name_field(name),
                alg_key_len: encryption_key_bits,
                alg_key: sa.encryption_key.to_vec(),
            }));
        }
    }
    if let Some(integrity) = sa.integrity {
        let (name, trunc_bits) = algorithms::integrity(integrity);
        nlas.push(XfrmAttrs::AuthenticationAlgTrunc(AlgAuth {
            alg_name: algorithms::name_field(name),
            alg_key_len: integrity_key_bits,
            alg_trunc_len: trunc_bits,
            alg_key: sa.integrity_key.to_vec(),
        }));
    }
    if let Some((sport, dport)) = sa.encap {
        // RFC 3948: ESP in UDP; the original address is unused in tunnel mode.
        nlas.push(XfrmAttrs::EncapsulationTemplate(EncapTmpl {
            encap_type: UDP_ENCAP_ESPINUDP,
            encap_sport: sport,
            encap_dport: dport,
            encap_oa: Address::default(),
        }));
    }
    // Outbound SAs need no replay window, but the kernel refuses an ESN SA with window 0.
    let window = match (direction, sa.esn) {
        (SaDirection::Inbound, _) => INBOUND_REPLAY_WINDOW,
        (SaDirection::Outbound, true) => 1,
        (SaDirection::Outbound, false) => 0,
    };
    if sa.esn {
        // RFC 4303 2.2.1: 64-bit sequence numbers need the ESN replay state (a bitmap of
        // `bmp_len` 32-bit words).
        info.flags |= XFRM_STATE_ESN;
        let bmp_len = window.div_ceil(32);
        nlas.push(XfrmAttrs::ReplayStateEsn(ReplayEsn {
            bmp_len,
            oseq: 0,
            seq: 0,
            oseq_hi: 0,
            seq_hi: 0,
            replay_window: window,
            bmp: vec![0; bmp_len as usize],
        }));
    } else {
        info.replay_window = window as u8;
    }

    nlas.extend(super::policy::if_id_attribute(if_id));
    nlas.extend(offload.map(|offload| super::offload::sa_attribute(offload, direction)));
    let mut message = ModifyMessage {
        user_sa_info: info,
        nlas,
    };
    let payload = emit(&message);
    wipe_keys(&mut message.nlas);
    Ok(Request::acked(XFRM_MSG_NEWSA, payload))
}

/// Clears key copies held by attribute values once they have been serialised.
fn wipe_keys(nlas: &mut [XfrmAttrs]) {
    for nla in nlas {
        match nla {
            XfrmAttrs::EncryptionAlgAead(alg) => alg.alg_key.zeroize(),
            XfrmAttrs::EncryptionAlg(alg) => alg.alg_key.zeroize(),
            XfrmAttrs::AuthenticationAlgTrunc(alg) => alg.alg_key.zeroize(),
            _ => {}
        }
    }
}

fn sa_id(dst: IpAddr, spi: u32) -> UserSaId {
    UserSaId {
        daddr: Address::from_ip(&dst),
        spi,
        family: family(&dst),
        proto: IPPROTO_ESP,
    }
}

/// XFRM_MSG_DELSA for the ESP SA (dst, spi).
pub(super) fn delete_sa(dst: IpAddr, spi: u32) -> Request {
    let message = DelGetMessage {
        user_sa_id: sa_id(dst, spi),
        nlas: Vec::new(),
    };
    Request::acked(XFRM_MSG_DELSA, emit(&message))
}

/// XFRM_MSG_GETSA for the ESP SA (dst, spi); answered by an XFRM_MSG_NEWSA.
pub(super) fn get_sa(dst: IpAddr, spi: u32) -> Request {
    let message = DelGetMessage {
        user_sa_id: sa_id(dst, spi),
        nlas: Vec::new(),
    };
    Request::acked(XFRM_MSG_GETSA, emit(&message))
}

/// Dump of every SA.
pub(super) fn dump_sas() -> Request {
    Request::dump(XFRM_MSG_GETSA)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::netlink::{u16_at, u32_at, NLM_F_ACK, NLM_F_REQUEST};
    use super::super::uapi::{
        parse_sa_info, trailing_attributes, USERSA_INFO_LEN, XFRMA_IF_ID, XFRMA_OFFLOAD_DEV,
    };
    use super::*;
    use crate::algorithm::{Encryption, Integrity};

    // Attribute types (enum xfrm_attr_type_t) that only these tests read back.
    const XFRMA_ALG_CRYPT: u16 = 2;
    const XFRMA_ENCAP: u16 = 4;
    const XFRMA_ALG_AEAD: u16 = 18;
    const XFRMA_ALG_AUTH_TRUNC: u16 = 20;
    const XFRMA_REPLAY_ESN_VAL: u16 = 23;
    /// sizeof(struct xfrm_usersa_id).
    const USERSA_ID_LEN: usize = 24;

    fn esp(encryption: Encryption, integrity: Option<Integrity>) -> EspSa {
        EspSa {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            spi: 0xc0de_0001,
            encryption,
            integrity,
            encryption_key: Zeroizing::new((0..encryption.keymat_len() as u8).collect()),
            integrity_key: Zeroizing::new(
                integrity.map_or(Vec::new(), |i| vec![0x5a; i.key_len()]),
            ),
            esn: false,
            encap: None,
        }
    }

    fn attrs(request: &Request) -> HashMap<u16, Vec<u8>> {
        trailing_attributes(&request.payload, USERSA_INFO_LEN)
            .into_iter()
            .collect()
    }

    fn name(value: &[u8]) -> &str {
        let end = value[..64].iter().position(|&b| b == 0).unwrap();
        std::str::from_utf8(&value[..end]).unwrap()
    }

    #[test]
    fn aes_gcm_sa_fields() {
        let sa = esp(Encryption::AesGcm16 { key_bits: 256 }, None);
        let request = add_sa(
            &sa,
            0x4000_0007,
            SaDirection::Inbound,
            &Limits::time(Duration::from_secs(3000), Duration::from_secs(3600)),
            None,
            None,
        )
        .unwrap();
        assert_eq!(request.msg_type, 16);
        assert_eq!(request.flags, NLM_F_REQUEST | NLM_F_ACK);
        let info = parse_sa_info(&request.payload).unwrap();
        assert_eq!(info.src, sa.src);
        assert_eq!(info.dst, sa.dst);
        assert_eq!(info.spi, 0xc0de_0001);
        // The SPI is in network byte order inside xfrm_id.
        assert_eq!(&request.payload[72..76], &[0xc0, 0xde, 0x00, 0x01]);
        assert_eq!(info.proto, 50);
        assert_eq!(info.family, 2);
        assert_eq!(info.reqid, 0x4000_0007);
        assert_eq!(info.mode, 1);
        assert_eq!(info.replay_window, 32);
        assert_eq!(info.flags, XFRM_STATE_AF_UNSPEC);
        assert_eq!(info.soft_add_expires, 3000);
        assert_eq!(info.hard_add_expires, 3600);
        // Byte and packet limits: XFRM_INF (lifetime_cfg starts at offset 96).
        for field in 0..4 {
            let at = 96 + field * 8;
            assert_eq!(&request.payload[at..at + 8], &[0xff; 8]);
        }

        let attrs = attrs(&request);
        assert_eq!(attrs.len(), 1);
        let aead = &attrs[&XFRMA_ALG_AEAD];
        assert_eq!(name(aead), "rfc4106(gcm(aes))");
        // Key length in bits includes the 4-byte salt: (32 + 4) * 8.
        assert_eq!(u32_at(aead, 64), Some(288));
        assert_eq!(u32_at(aead, 68), Some(128));
        assert_eq!(&aead[72..], &sa.encryption_key[..]);
    }

    #[test]
    fn a_byte_limit_sets_the_soft_and_hard_byte_limits() {
        let sa = esp(Encryption::AesGcm16 { key_bits: 128 }, None);
        let limits = Limits {
            soft: Duration::from_secs(3000),
            hard: Duration::from_secs(3600),
            bytes: Some(4_608_000 * 1024),
        };
        let request = add_sa(&sa, 1, SaDirection::Outbound, &limits, None, None).unwrap();
        // lifetime_cfg at offset 96: soft bytes, hard bytes, soft packets, hard packets.
        let at = |offset: usize| {
            u64::from_ne_bytes(request.payload[offset..offset + 8].try_into().unwrap())
        };
        assert_eq!(at(96), 4_608_000 * 1024 - 4_608_000 * 1024 / 10);
        assert_eq!(at(104), 4_608_000 * 1024);
        assert_eq!(at(112), u64::MAX);
        assert_eq!(at(120), u64::MAX);
    }

    #[test]
    fn chacha20_poly1305_sa() {
        let sa = esp(Encryption::ChaCha20Poly1305, None);
        let request = add_sa(
            &sa,
            1,
            SaDirection::Outbound,
            &Limits::time(Duration::ZERO, Duration::ZERO),
            None,
            None,
        )
        .unwrap();
        let aead = &attrs(&request)[&XFRMA_ALG_AEAD];
        assert_eq!(name(aead), "rfc7539esp(chacha20,poly1305)");
        assert_eq!(u32_at(aead, 64), Some(288));
        assert_eq!(u32_at(aead, 68), Some(128));
        // Outbound without ESN: no replay window.
        assert_eq!(parse_sa_info(&request.payload).unwrap().replay_window, 0);
    }

    #[test]
    fn cbc_with_hmac_sa() {
        for (encryption, cipher_name, key_bits) in [
            (Encryption::AesCbc { key_bits: 128 }, "cbc(aes)", 128),
            (Encryption::TripleDes, "cbc(des3_ede)", 192),
        ] {
            for (integrity, auth_name, trunc, auth_key_bits) in [
                (Integrity::HmacMd5_96, "hmac(md5)", 96, 128),
                (Integrity::HmacSha1_96, "hmac(sha1)", 96, 160),
                (Integrity::HmacSha256_128, "hmac(sha256)", 128, 256),
                (Integrity::HmacSha384_192, "hmac(sha384)", 192, 384),
                (Integrity::HmacSha512_256, "hmac(sha512)", 256, 512),
            ] {
                let sa = esp(encryption, Some(integrity));
                let request = add_sa(
                    &sa,
                    9,
                    SaDirection::Inbound,
                    &Limits::time(Duration::ZERO, Duration::ZERO),
                    None,
                    None,
                )
                .unwrap();
                let attrs = attrs(&request);
                assert_eq!(attrs.len(), 2);
                let crypt = &attrs[&XFRMA_ALG_CRYPT];
                assert_eq!(name(crypt), cipher_name);
                assert_eq!(u32_at(crypt, 64), Some(key_bits));
                assert_eq!(&crypt[68..], &sa.encryption_key[..]);
                let auth = &attrs[&XFRMA_ALG_AUTH_TRUNC];
                assert_eq!(name(auth), auth_name);
                assert_eq!(u32_at(auth, 64), Some(auth_key_bits));
                assert_eq!(u32_at(auth, 68), Some(trunc));
                assert_eq!(&auth[72..], &sa.integrity_key[..]);
            }
        }
    }

    #[test]
    fn nat_traversal_encapsulation() {
        let mut sa = esp(Encryption::AesGcm16 { key_bits: 128 }, None);
        sa.encap = Some((4500, 31337));
        let request = add_sa(
            &sa,
            1,
            SaDirection::Inbound,
            &Limits::time(Duration::ZERO, Duration::ZERO),
            None,
            None,
        )
        .unwrap();
        let encap = &attrs(&request)[&XFRMA_ENCAP];
        // struct xfrm_encap_tmpl: type, sport (network order), dport (network order), pad, oa.
        assert_eq!(encap.len(), 24);
        assert_eq!(u16_at(encap, 0), Some(2));
        assert_eq!(&encap[2..4], &4500u16.to_be_bytes());
        assert_eq!(&encap[4..6], &31337u16.to_be_bytes());
        assert!(encap[8..].iter().all(|&b| b == 0));
    }

    #[test]
    fn esn_replay_state() {
        let mut sa = esp(Encryption::AesGcm16 { key_bits: 128 }, None);
        sa.esn = true;
        for (direction, window) in [(SaDirection::Inbound, 32), (SaDirection::Outbound, 1)] {
            let request = add_sa(
                &sa,
                1,
                direction,
                &Limits::time(Duration::ZERO, Duration::ZERO),
                None,
                None,
            )
            .unwrap();
            let info = parse_sa_info(&request.payload).unwrap();
            assert_eq!(info.flags, XFRM_STATE_AF_UNSPEC | XFRM_STATE_ESN);
            // The window lives in the ESN attribute; the legacy field stays 0.
            assert_eq!(info.replay_window, 0);
            let esn = &attrs(&request)[&XFRMA_REPLAY_ESN_VAL];
            // struct xfrm_replay_state_esn: bmp_len, oseq, seq, oseq_hi, seq_hi,
            // replay_window, then bmp_len words of bitmap.
            assert_eq!(esn.len(), 24 + 4);
            assert_eq!(u32_at(esn, 0), Some(1));
            assert_eq!(u32_at(esn, 20), Some(window));
            assert!(esn[4..20].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn ipv6_sa_family() {
        let mut sa = esp(Encryption::AesGcm16 { key_bits: 128 }, None);
        sa.src = "2001:db8::1".parse().unwrap();
        sa.dst = "2001:db8::2".parse().unwrap();
        let request = add_sa(
            &sa,
            1,
            SaDirection::Inbound,
            &Limits::time(Duration::ZERO, Duration::ZERO),
            None,
            None,
        )
        .unwrap();
        let info = parse_sa_info(&request.payload).unwrap();
        assert_eq!(info.family, 10);
        assert_eq!(info.dst, sa.dst);
        assert_eq!(info.src, sa.src);
        sa.dst = "192.0.2.2".parse().unwrap();
        assert!(add_sa(
            &sa,
            1,
            SaDirection::Inbound,
            &Limits::time(Duration::ZERO, Duration::ZERO),
            None,
            None
        )
        .is_err());
    }

    #[test]
    fn delete_and_get_address_the_sa() {
        let dst: IpAddr = "198.51.100.7".parse().unwrap();
        for (request, kind) in [
            (delete_sa(dst, 0x1234_5678), 17),
            (get_sa(dst, 0x1234_5678), 18),
        ] {
            assert_eq!(request.msg_type, kind);
            // struct xfrm_usersa_id: daddr, spi (network order), family, proto.
            assert_eq!(request.payload.len(), USERSA_ID_LEN);
            assert_eq!(&request.payload[..4], &[198, 51, 100, 7]);
            assert_eq!(&request.payload[16..20], &[0x12, 0x34, 0x56, 0x78]);
            assert_eq!(u16_at(&request.payload, 20), Some(2));
            assert_eq!(request.payload[22], 50);
        }
        assert_eq!(dump_sas().msg_type, 18);
    }

    #[test]
    fn if_id_is_carried_only_when_set() {
        let sa = esp(Encryption::AesGcm16 { key_bits: 128 }, None);
        let with = add_sa(
            &sa,
            1,
            SaDirection::Inbound,
            &Limits::time(Duration::ZERO, Duration::ZERO),
            Some(42),
            None,
        )
        .unwrap();
        assert_eq!(attrs(&with)[&XFRMA_IF_ID], 42u32.to_ne_bytes().to_vec());
        let without = add_sa(
            &sa,
            1,
            SaDirection::Inbound,
            &Limits::time(Duration::ZERO, Duration::ZERO),
            None,
            None,
        )
        .unwrap();
        assert!(!attrs(&without).contains_key(&XFRMA_IF_ID));
    }

    #[test]
    fn offload_attribute_flags_and_ifindex_per_direction_and_mode() {
        use super::super::offload::{DeviceOffload, HwMode};
        let sa = esp(Encryption::AesGcm16 { key_bits: 128 }, None);
        for (mode, direction, flags) in [
            (HwMode::Crypto, SaDirection::Outbound, 0u8),
            (HwMode::Crypto, SaDirection::Inbound, 2),
            (HwMode::Packet, SaDirection::Outbound, 4),
            (HwMode::Packet, SaDirection::Inbound, 2 | 4),
        ] {
            let offload = DeviceOffload {
                ifindex: 3,
                device: "eni0np1".into(),
                mode,
            };
            let request = add_sa(
                &sa,
                1,
                direction,
                &Limits::time(Duration::ZERO, Duration::ZERO),
                None,
                Some(&offload),
            )
            .unwrap();
            let attrs = attrs(&request);
            let value = &attrs[&XFRMA_OFFLOAD_DEV];
            assert_eq!(value.len(), 8);
            assert_eq!(&value[..4], &3i32.to_ne_bytes(), "{mode} {direction:?}");
            assert_eq!(value[4], flags, "{mode} {direction:?}");
            // The algorithm is still there next to it.
            assert!(attrs.contains_key(&XFRMA_ALG_AEAD));
        }
        let software = add_sa(
            &sa,
            1,
            SaDirection::Inbound,
            &Limits::time(Duration::ZERO, Duration::ZERO),
            None,
            None,
        )
        .unwrap();
        assert!(!attrs(&software).contains_key(&XFRMA_OFFLOAD_DEV));
    }
}
