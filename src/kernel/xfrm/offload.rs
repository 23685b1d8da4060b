//! ESP hardware offload on the XFRM side: the XFRMA_OFFLOAD_DEV attribute (`struct
//! xfrm_user_offload`, include/uapi/linux/xfrm.h) of SAs and policies, the order in which
//! `auto` tries the modes, and reading back what the kernel really installed.
//!
//! netlink-packet-xfrm has no XFRM_OFFLOAD_PACKET flag, so the attribute is written here as
//! raw bytes: `int ifindex; __u8 flags;` padded to 8 bytes.

use netlink_packet_core::DefaultNla;
use netlink_packet_xfrm::XfrmAttrs;

use super::state::SaDirection;
use super::uapi::XFRMA_OFFLOAD_DEV;
use crate::ike::Offload;
use crate::kernel::OffloadMode;

/// `XFRM_OFFLOAD_INBOUND`: the SA decrypts (state path only).
pub(super) const XFRM_OFFLOAD_INBOUND: u8 = 2;
/// `XFRM_OFFLOAD_PACKET`: the device runs all of ESP (kernel >= 6.2); on policies it is the
/// only valid flag (xfrm_dev_policy_add).
pub(super) const XFRM_OFFLOAD_PACKET: u8 = 4;
/// sizeof(struct xfrm_user_offload).
pub(super) const USER_OFFLOAD_LEN: usize = 8;

/// A hardware mode an SA is offered to a device with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HwMode {
    Crypto,
    Packet,
}

impl HwMode {
    pub fn installed(self) -> OffloadMode {
        match self {
            HwMode::Crypto => OffloadMode::Crypto,
            HwMode::Packet => OffloadMode::Packet,
        }
    }
}

impl std::fmt::Display for HwMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HwMode::Crypto => "crypto",
            HwMode::Packet => "packet",
        })
    }
}

/// One SA's offload request: the device (ifindex and name, for messages) and the mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DeviceOffload {
    pub ifindex: u32,
    pub device: String,
    pub mode: HwMode,
}

/// The modes to try, in order, for a configured setting; `None` is software ESP. Strict
/// modes have one entry, so a refusal is final.
pub(super) fn attempts(setting: Offload) -> &'static [Option<HwMode>] {
    match setting {
        Offload::None => &[None],
        Offload::Crypto => &[Some(HwMode::Crypto)],
        Offload::Packet => &[Some(HwMode::Packet)],
        Offload::Auto => &[Some(HwMode::Packet), Some(HwMode::Crypto), None],
    }
}

/// The mode `auto` tries after `mode` was refused; `None` for strict settings (no fallback)
/// or when software ESP was already tried.
pub(super) fn next_attempt(setting: Offload, mode: Option<HwMode>) -> Option<Option<HwMode>> {
    let list = attempts(setting);
    let at = list.iter().position(|m| *m == mode)?;
    list.get(at.checked_add(1)?).copied()
}

fn attribute(ifindex: u32, flags: u8) -> XfrmAttrs {
    let mut value = Vec::with_capacity(USER_OFFLOAD_LEN);
    // `int ifindex`: ifindexes are positive and fit an int; larger values are refused by the
    // kernel as "no such device", which is the right answer for them.
    value.extend_from_slice(&ifindex.to_ne_bytes());
    value.push(flags);
    value.extend_from_slice(&[0; 3]);
    XfrmAttrs::Other(DefaultNla::new(XFRMA_OFFLOAD_DEV, value))
}

/// XFRMA_OFFLOAD_DEV of an SA: INBOUND on inbound SAs (the kernel programs the device's
/// receive side), PACKET for packet offload.
pub(super) fn sa_attribute(offload: &DeviceOffload, direction: SaDirection) -> XfrmAttrs {
    let mut flags = 0;
    if direction == SaDirection::Inbound {
        flags |= XFRM_OFFLOAD_INBOUND;
    }
    if offload.mode == HwMode::Packet {
        flags |= XFRM_OFFLOAD_PACKET;
    }
    attribute(offload.ifindex, flags)
}

/// XFRMA_OFFLOAD_DEV of a policy: packet offload only, and PACKET is its only flag (the
/// kernel refuses INBOUND there: the policy's direction says it).
pub(super) fn policy_attribute(ifindex: u32) -> XfrmAttrs {
    attribute(ifindex, XFRM_OFFLOAD_PACKET)
}

/// What the kernel reports in an SA's XFRMA_OFFLOAD_DEV: the device's ifindex and the mode
/// (copy_user_offload sets PACKET for packet offload). `None` for a short value.
pub(super) fn parse_attribute(value: &[u8]) -> Option<(u32, OffloadMode)> {
    let ifindex = u32::from_ne_bytes(value.get(..4)?.try_into().ok()?);
    let flags = *value.get(4)?;
    let mode = if flags & XFRM_OFFLOAD_PACKET != 0 {
        OffloadMode::Packet
    } else {
        OffloadMode::Crypto
    };
    Some((ifindex, mode))
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{Emitable, Nla};

    use super::*;

    fn emitted(attr: &XfrmAttrs) -> (u16, Vec<u8>) {
        let mut buf = vec![0u8; attr.buffer_len()];
        attr.emit(&mut buf);
        let len = u16::from_ne_bytes([buf[0], buf[1]]);
        let kind = u16::from_ne_bytes([buf[2], buf[3]]);
        assert_eq!(usize::from(len), 4 + USER_OFFLOAD_LEN);
        (kind, buf[4..usize::from(len)].to_vec())
    }

    fn offload(mode: HwMode) -> DeviceOffload {
        DeviceOffload {
            ifindex: 7,
            device: "eth1".into(),
            mode,
        }
    }

    #[test]
    fn packet_offload_of_an_outbound_sa() {
        let (kind, value) = emitted(&sa_attribute(
            &offload(HwMode::Packet),
            SaDirection::Outbound,
        ));
        assert_eq!(kind, 28);
        assert_eq!(&value[..4], &7i32.to_ne_bytes());
        assert_eq!(value[4], 4);
        assert_eq!(&value[5..], &[0, 0, 0]);
    }

    #[test]
    fn packet_offload_of_an_inbound_sa_has_both_flags() {
        let (kind, value) = emitted(&sa_attribute(
            &offload(HwMode::Packet),
            SaDirection::Inbound,
        ));
        assert_eq!(kind, 28);
        assert_eq!(&value[..4], &7i32.to_ne_bytes());
        assert_eq!(value[4], 2 | 4);
    }

    #[test]
    fn crypto_offload_flags() {
        let (_, outbound) = emitted(&sa_attribute(
            &offload(HwMode::Crypto),
            SaDirection::Outbound,
        ));
        assert_eq!(outbound[4], 0);
        let (_, inbound) = emitted(&sa_attribute(
            &offload(HwMode::Crypto),
            SaDirection::Inbound,
        ));
        assert_eq!(inbound[4], 2);
    }

    #[test]
    fn policy_offload_is_packet_only() {
        let attr = policy_attribute(0x0102_0304);
        assert_eq!(attr.kind(), 28);
        let (_, value) = emitted(&attr);
        assert_eq!(&value[..4], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(value[4], 4);
    }

    #[test]
    fn auto_falls_back_packet_then_crypto_then_none() {
        use HwMode::{Crypto, Packet};
        assert_eq!(attempts(Offload::Auto), &[Some(Packet), Some(Crypto), None]);
        assert_eq!(
            next_attempt(Offload::Auto, Some(Packet)),
            Some(Some(Crypto))
        );
        assert_eq!(next_attempt(Offload::Auto, Some(Crypto)), Some(None));
        assert_eq!(next_attempt(Offload::Auto, None), None);
        // Strict modes never fall back.
        assert_eq!(next_attempt(Offload::Crypto, Some(Crypto)), None);
        assert_eq!(next_attempt(Offload::Packet, Some(Packet)), None);
        assert_eq!(attempts(Offload::None), &[None]);
    }

    #[test]
    fn reading_back_the_kernels_attribute() {
        let mut value = 9u32.to_ne_bytes().to_vec();
        value.extend_from_slice(&[2, 0, 0, 0]);
        assert_eq!(parse_attribute(&value), Some((9, OffloadMode::Crypto)));
        value[4] = 2 | 4;
        assert_eq!(parse_attribute(&value), Some((9, OffloadMode::Packet)));
        for len in 0..5 {
            assert_eq!(parse_attribute(&value[..len]), None);
        }
    }
}
