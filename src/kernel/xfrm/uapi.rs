//! Numbers and structure layouts of the kernel's XFRM netlink interface
//! (include/uapi/linux/xfrm.h), and checked decoders for the structures ikehub reads back.
//!
//! Encoding goes through netlink-packet-xfrm's emitters; decoding is done here, because that
//! crate's parsers index without bounds checks and could panic on a short message.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netlink::{attributes, u16_at, u32_at, u64_at};

pub(super) const AF_INET: u16 = 2;
pub(super) const AF_INET6: u16 = 10;
pub(super) const IPPROTO_ESP: u8 = 50;

// Message types (XFRM_MSG_BASE = 0x10).
pub(super) const XFRM_MSG_NEWSA: u16 = 0x10;
pub(super) const XFRM_MSG_DELSA: u16 = 0x11;
pub(super) const XFRM_MSG_GETSA: u16 = 0x12;
pub(super) const XFRM_MSG_NEWPOLICY: u16 = 0x13;
pub(super) const XFRM_MSG_DELPOLICY: u16 = 0x14;
pub(super) const XFRM_MSG_GETPOLICY: u16 = 0x15;
pub(super) const XFRM_MSG_ACQUIRE: u16 = 0x17;
pub(super) const XFRM_MSG_EXPIRE: u16 = 0x18;
pub(super) const XFRM_MSG_UPDPOLICY: u16 = 0x19;

// Attribute types (enum xfrm_attr_type_t).
pub(super) const XFRMA_TMPL: u16 = 5;
/// The device an SA or policy is offloaded to (`struct xfrm_user_offload`).
pub(super) const XFRMA_OFFLOAD_DEV: u16 = 28;
/// The xfrm interface id of an SA or policy (`__u32`).
pub(super) const XFRMA_IF_ID: u16 = 31;

// Multicast groups (enum xfrm_nlgroups).
pub(super) const XFRMNLGRP_ACQUIRE: u32 = 1;
pub(super) const XFRMNLGRP_EXPIRE: u32 = 2;

// State flags (xfrm_usersa_info.flags).
pub(super) const XFRM_STATE_AF_UNSPEC: u8 = 32;
pub(super) const XFRM_STATE_ESN: u8 = 128;

pub(super) const XFRM_MODE_TUNNEL: u8 = 1;
/// `UDP_ENCAP_ESPINUDP` (linux/udp.h): ESP in UDP with the non-ESP marker for IKE (RFC 3948),
/// both as an SA's encapsulation (XFRMA_ENCAP) and as the NAT-T sockets' `UDP_ENCAP` option.
pub const UDP_ENCAP_ESPINUDP: u16 = 2;
/// "No limit" for byte and packet lifetimes.
pub(super) const XFRM_INF: u64 = u64::MAX;

pub(super) const XFRM_POLICY_IN: u8 = 0;
pub(super) const XFRM_POLICY_OUT: u8 = 1;
pub(super) const XFRM_POLICY_FWD: u8 = 2;

/// sizeof(struct xfrm_usersa_info).
pub(super) const USERSA_INFO_LEN: usize = 224;
/// sizeof(struct xfrm_userpolicy_info).
pub(super) const USERPOLICY_INFO_LEN: usize = 168;
/// sizeof(struct xfrm_user_tmpl).
pub(super) const USER_TMPL_LEN: usize = 64;
/// sizeof(struct xfrm_user_expire): a usersa_info, `hard`, padding.
pub(super) const USER_EXPIRE_LEN: usize = 232;
/// sizeof(struct xfrm_user_acquire).
pub(super) const USER_ACQUIRE_LEN: usize = 280;

/// Offsets in struct xfrm_usersa_info.
mod usersa_info {
    pub const ID_DADDR: usize = 56;
    pub const ID_SPI: usize = 72;
    pub const ID_PROTO: usize = 76;
    pub const SADDR: usize = 80;
    pub const LFT_SOFT_ADD_EXPIRES: usize = 96 + 32;
    pub const LFT_HARD_ADD_EXPIRES: usize = 96 + 40;
    pub const CURLFT_BYTES: usize = 160;
    pub const CURLFT_PACKETS: usize = 168;
    pub const REQID: usize = 208;
    pub const FAMILY: usize = 212;
    pub const MODE: usize = 214;
    pub const REPLAY_WINDOW: usize = 215;
    pub const FLAGS: usize = 216;
}

/// Offsets in struct xfrm_userpolicy_info.
mod userpolicy_info {
    pub const PRIORITY: usize = 152;
    pub const INDEX: usize = 156;
    pub const DIR: usize = 160;
    pub const ACTION: usize = 161;
}

/// Offsets in struct xfrm_user_tmpl.
mod user_tmpl {
    pub const ID_DADDR: usize = 0;
    pub const ID_PROTO: usize = 20;
    pub const FAMILY: usize = 24;
    pub const SADDR: usize = 28;
    pub const REQID: usize = 44;
    pub const MODE: usize = 48;
}

/// Offsets in struct xfrm_selector.
mod selector {
    pub const DADDR: usize = 0;
    pub const SADDR: usize = 16;
    pub const FAMILY: usize = 40;
    pub const PREFIXLEN_D: usize = 42;
    pub const PREFIXLEN_S: usize = 43;
}

/// An `xfrm_address_t` (16 bytes) read as the given address family.
pub(super) fn address(buf: &[u8], offset: usize, family: u16) -> Option<IpAddr> {
    match family {
        AF_INET => {
            let bytes: [u8; 4] = buf.get(offset..offset.checked_add(4)?)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(bytes)))
        }
        AF_INET6 => {
            let bytes: [u8; 16] = buf.get(offset..offset.checked_add(16)?)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

fn u8_at(buf: &[u8], offset: usize) -> Option<u8> {
    buf.get(offset).copied()
}

/// The fields of an SA (`struct xfrm_usersa_info`) that ikehub reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SaInfo {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub spi: u32,
    pub proto: u8,
    pub family: u16,
    pub reqid: u32,
    pub mode: u8,
    pub replay_window: u8,
    pub flags: u8,
    pub soft_add_expires: u64,
    pub hard_add_expires: u64,
    pub bytes: u64,
    pub packets: u64,
}

pub(super) fn parse_sa_info(buf: &[u8]) -> Option<SaInfo> {
    use usersa_info as o;
    if buf.len() < USERSA_INFO_LEN {
        return None;
    }
    let family = u16_at(buf, o::FAMILY)?;
    Some(SaInfo {
        src: address(buf, o::SADDR, family)?,
        dst: address(buf, o::ID_DADDR, family)?,
        spi: u32::from_be(u32_at(buf, o::ID_SPI)?),
        proto: u8_at(buf, o::ID_PROTO)?,
        family,
        reqid: u32_at(buf, o::REQID)?,
        mode: u8_at(buf, o::MODE)?,
        replay_window: u8_at(buf, o::REPLAY_WINDOW)?,
        flags: u8_at(buf, o::FLAGS)?,
        soft_add_expires: u64_at(buf, o::LFT_SOFT_ADD_EXPIRES)?,
        hard_add_expires: u64_at(buf, o::LFT_HARD_ADD_EXPIRES)?,
        bytes: u64_at(buf, o::CURLFT_BYTES)?,
        packets: u64_at(buf, o::CURLFT_PACKETS)?,
    })
}

/// The XFRMA_OFFLOAD_DEV value of an SA message (a NEWSA reply), raw; `None` when the SA
/// runs in software.
pub(super) fn sa_offload_value(buf: &[u8]) -> Option<&[u8]> {
    attributes(buf.get(USERSA_INFO_LEN..)?)
        .find(|(kind, _)| *kind == XFRMA_OFFLOAD_DEV)
        .map(|(_, value)| value)
}

/// A policy template (`struct xfrm_user_tmpl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TemplateInfo {
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub proto: u8,
    pub family: u16,
    pub reqid: u32,
    pub mode: u8,
}

/// The templates of an XFRMA_TMPL attribute (an array of `struct xfrm_user_tmpl`).
pub(super) fn parse_templates(value: &[u8]) -> Vec<TemplateInfo> {
    use user_tmpl as o;
    value
        .chunks_exact(USER_TMPL_LEN)
        .filter_map(|t| {
            let family = u16_at(t, o::FAMILY)?;
            Some(TemplateInfo {
                src: address(t, o::SADDR, family),
                dst: address(t, o::ID_DADDR, family),
                proto: u8_at(t, o::ID_PROTO)?,
                family,
                reqid: u32_at(t, o::REQID)?,
                mode: u8_at(t, o::MODE)?,
            })
        })
        .collect()
}

/// A selector (`struct xfrm_selector`): addresses with prefix lengths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SelectorInfo {
    pub family: u16,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub prefixlen_s: u8,
    pub prefixlen_d: u8,
}

pub(super) fn parse_selector(buf: &[u8]) -> Option<SelectorInfo> {
    use selector as o;
    let family = u16_at(buf, o::FAMILY)?;
    Some(SelectorInfo {
        family,
        src: address(buf, o::SADDR, family),
        dst: address(buf, o::DADDR, family),
        prefixlen_s: u8_at(buf, o::PREFIXLEN_S)?,
        prefixlen_d: u8_at(buf, o::PREFIXLEN_D)?,
    })
}

/// A policy (`struct xfrm_userpolicy_info` plus its XFRMA_TMPL attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PolicyInfo {
    pub selector: SelectorInfo,
    pub priority: u32,
    pub index: u32,
    pub dir: u8,
    pub action: u8,
    pub templates: Vec<TemplateInfo>,
    /// XFRMA_IF_ID: the kernel finds the policy by index only together with it.
    pub if_id: Option<u32>,
}

/// Parses a policy message payload (NEWPOLICY / UPDPOLICY / a policy dump entry).
pub(super) fn parse_policy(buf: &[u8]) -> Option<PolicyInfo> {
    use userpolicy_info as o;
    if buf.len() < USERPOLICY_INFO_LEN {
        return None;
    }
    let templates = attributes(buf.get(USERPOLICY_INFO_LEN..)?)
        .filter(|(kind, _)| *kind == XFRMA_TMPL)
        .flat_map(|(_, value)| parse_templates(value))
        .collect();
    let if_id = attributes(buf.get(USERPOLICY_INFO_LEN..)?)
        .find(|(kind, _)| *kind == XFRMA_IF_ID)
        .and_then(|(_, value)| u32_at(value, 0));
    Some(PolicyInfo {
        selector: parse_selector(buf)?,
        priority: u32_at(buf, o::PRIORITY)?,
        index: u32_at(buf, o::INDEX)?,
        dir: u8_at(buf, o::DIR)?,
        action: u8_at(buf, o::ACTION)?,
        templates,
        if_id,
    })
}

/// An XFRM_MSG_EXPIRE payload: the SA and whether the hard limit was hit.
pub(super) fn parse_expire(buf: &[u8]) -> Option<(SaInfo, bool)> {
    if buf.len() < USER_EXPIRE_LEN {
        return None;
    }
    Some((parse_sa_info(buf)?, u8_at(buf, USERSA_INFO_LEN)? != 0))
}

/// The reqid of an XFRM_MSG_ACQUIRE: taken from the policy template it carries.
pub(super) fn parse_acquire_reqid(buf: &[u8]) -> Option<u32> {
    let attrs = buf.get(USER_ACQUIRE_LEN..)?;
    attributes(attrs)
        .filter(|(kind, _)| *kind == XFRMA_TMPL)
        .flat_map(|(_, value)| parse_templates(value))
        .map(|t| t.reqid)
        .next()
}

/// Attributes after a fixed-size structure, as (type, value).
#[cfg(test)]
pub(super) fn trailing_attributes(buf: &[u8], fixed_len: usize) -> Vec<(u16, Vec<u8>)> {
    buf.get(fixed_len..)
        .map(|rest| attributes(rest).map(|(k, v)| (k, v.to_vec())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_never_panic_on_short_or_random_input() {
        for len in 0..300 {
            let buf: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31)).collect();
            let _ = parse_sa_info(&buf);
            let _ = sa_offload_value(&buf);
            let _ = parse_policy(&buf);
            let _ = parse_expire(&buf);
            let _ = parse_acquire_reqid(&buf);
            let _ = parse_templates(&buf);
            let _ = parse_selector(&buf);
        }
        assert_eq!(parse_sa_info(&[0; USERSA_INFO_LEN - 1]), None);
        // Family 0 has no address.
        assert_eq!(parse_sa_info(&[0; USERSA_INFO_LEN]), None);
    }
}
