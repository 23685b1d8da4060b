//! A link's ESP offload features over ethtool netlink (generic netlink family "ethtool",
//! ETHTOOL_MSG_FEATURES_GET; include/uapi/linux/ethtool_netlink.h), the netlink form of
//! `ethtool -k DEV`. Bits are asked for by name (verbose bitsets), so the answer does not
//! depend on the kernel's numbering of NETIF_F_* bits.

use std::io;
use std::path::Path;

use netlink_packet_core::{DefaultNla, Emitable, NLA_F_NESTED, NLM_F_ACK, NLM_F_REQUEST};
use netlink_sys::Socket;
use zeroize::Zeroizing;

use crate::kernel::error::{kernel_error, open_error};
use crate::kernel::netlink::{attributes, string, u16_at, NetlinkSocket, Request, RequestSocket};
use crate::kernel::{netns, KernelError};

/// `NETLINK_GENERIC` protocol number.
const NETLINK_GENERIC: isize = 16;
/// The generic netlink controller (GENL_ID_CTRL) and its commands and attributes.
const GENL_ID_CTRL: u16 = 16;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
/// sizeof(struct genlmsghdr): cmd, version, reserved.
const GENL_HDRLEN: usize = 4;

const ETHTOOL_FAMILY: &str = "ethtool";
const ETHTOOL_GENL_VERSION: u8 = 1;
const ETHTOOL_MSG_FEATURES_GET: u8 = 11;
const ETHTOOL_A_FEATURES_HEADER: u16 = 1;
const ETHTOOL_A_FEATURES_ACTIVE: u16 = 4;
const ETHTOOL_A_HEADER_DEV_INDEX: u16 = 1;
const ETHTOOL_A_BITSET_BITS: u16 = 3;
const ETHTOOL_A_BITSET_BITS_BIT: u16 = 1;
const ETHTOOL_A_BITSET_BIT_NAME: u16 = 2;
const ETHTOOL_A_BITSET_BIT_VALUE: u16 = 3;
const ETHTOOL_A_BITSET_NOMASK: u16 = 1;

/// NETIF_F_HW_ESP: the device can take ESP SAs (crypto offload).
pub const ESP_HW_OFFLOAD: &str = "esp-hw-offload";
/// NETIF_F_HW_ESP_TX_CSUM: the device also computes the inner checksum of offloaded ESP.
pub const ESP_TX_CSUM_HW_OFFLOAD: &str = "esp-tx-csum-hw-offload";

/// The ESP features a link has turned on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EspFeatures {
    pub esp_hw_offload: bool,
    pub esp_tx_csum_hw_offload: bool,
}

impl EspFeatures {
    /// The ESP features among the names of a link's active features.
    fn among(active: &[String]) -> Self {
        let on = |name: &str| active.iter().any(|feature| feature == name);
        EspFeatures {
            esp_hw_offload: on(ESP_HW_OFFLOAD),
            esp_tx_csum_hw_offload: on(ESP_TX_CSUM_HW_OFFLOAD),
        }
    }
}

/// Reads link features over ethtool netlink, in the network namespace it was opened in.
pub struct Ethtool {
    requests: RequestSocket,
    /// The "ethtool" family's id, resolved on first use.
    family: Option<u16>,
}

/// What [`open_error`] names when the socket cannot be opened.
const SOCKET: &str = "generic netlink socket";

fn generic_socket() -> io::Result<Socket> {
    Socket::new(NETLINK_GENERIC)
}

impl Ethtool {
    /// Opens the socket in the current network namespace (within a tokio runtime).
    pub fn open() -> Result<Self, KernelError> {
        Self::from_socket(generic_socket().map_err(open_error(SOCKET))?)
    }

    /// Opens the socket inside the network namespace at `path`.
    pub fn open_in_netns(path: &Path) -> Result<Self, KernelError> {
        Self::from_socket(netns::in_namespace(path, generic_socket).map_err(open_error(SOCKET))?)
    }

    fn from_socket(socket: Socket) -> Result<Self, KernelError> {
        NetlinkSocket::configure_for_requests(&socket).map_err(open_error(SOCKET))?;
        Ok(Ethtool {
            requests: RequestSocket::new(NetlinkSocket::new(socket).map_err(open_error(SOCKET))?),
            family: None,
        })
    }

    async fn one(&mut self, operation: &str, request: Request) -> Result<Vec<u8>, KernelError> {
        let outcome = self
            .requests
            .transact(&[&request])
            .await
            .map_err(|e| KernelError {
                errno: None,
                operation: operation.to_owned(),
                message: e.to_string(),
            })?
            .into_iter()
            .next()
            .unwrap_or(Ok(Vec::new()));
        let replies = outcome.map_err(|e| kernel_error(operation, &e))?;
        Ok(replies
            .into_iter()
            .map(|reply| reply.payload.to_vec())
            .next()
            .unwrap_or_default())
    }

    async fn family(&mut self) -> Result<u16, KernelError> {
        if let Some(id) = self.family {
            return Ok(id);
        }
        let operation = "resolve the ethtool netlink family";
        let reply = self.one(operation, get_family_request()).await?;
        let id = parse_family_id(&reply).ok_or_else(|| KernelError {
            errno: None,
            operation: operation.to_owned(),
            message: "the kernel's answer names no family id".to_owned(),
        })?;
        self.family = Some(id);
        Ok(id)
    }

    /// The ESP features active on the link with this ifindex (`ethtool -k`).
    pub async fn esp_features(&mut self, ifindex: u32) -> Result<EspFeatures, KernelError> {
        Ok(EspFeatures::among(&self.active_features(ifindex).await?))
    }

    /// The names of every feature active on the link with this ifindex.
    pub async fn active_features(&mut self, ifindex: u32) -> Result<Vec<String>, KernelError> {
        let family = self.family().await?;
        let reply = self
            .one(
                &format!("read the features of link #{ifindex}"),
                features_request(family, ifindex),
            )
            .await?;
        Ok(parse_active(&reply))
    }
}

/// The bytes of `attributes`, one after the other.
fn emit(attributes: &[DefaultNla]) -> Vec<u8> {
    let mut buf = vec![0; attributes.buffer_len()];
    attributes.emit(&mut buf);
    buf
}

/// A string attribute, NUL-terminated as the kernel's NLA_NUL_STRING policy wants it.
fn string_attribute(kind: u16, value: &str) -> DefaultNla {
    let mut bytes = value.as_bytes().to_vec();
    bytes.push(0);
    DefaultNla::new(kind, bytes)
}

fn genl_request(msg_type: u16, cmd: u8, version: u8, attributes: &[DefaultNla]) -> Request {
    let mut payload = vec![cmd, version, 0, 0];
    payload.extend_from_slice(&emit(attributes));
    Request {
        msg_type,
        flags: NLM_F_REQUEST | NLM_F_ACK,
        payload: Zeroizing::new(payload),
    }
}

fn get_family_request() -> Request {
    genl_request(
        GENL_ID_CTRL,
        CTRL_CMD_GETFAMILY,
        1,
        &[string_attribute(CTRL_ATTR_FAMILY_NAME, ETHTOOL_FAMILY)],
    )
}

fn parse_family_id(payload: &[u8]) -> Option<u16> {
    attributes(payload.get(GENL_HDRLEN..)?)
        .find(|(kind, _)| *kind == CTRL_ATTR_FAMILY_ID)
        .and_then(|(_, value)| u16_at(value, 0))
}

/// ETHTOOL_MSG_FEATURES_GET for one link; no header flags, so bitsets come verbose, with
/// names.
fn features_request(family: u16, ifindex: u32) -> Request {
    let device = DefaultNla::new(ETHTOOL_A_HEADER_DEV_INDEX, ifindex.to_ne_bytes().to_vec());
    // The kernel's strict parser wants NLA_F_NESTED on the header.
    let header = DefaultNla::new(ETHTOOL_A_FEATURES_HEADER | NLA_F_NESTED, emit(&[device]));
    genl_request(
        family,
        ETHTOOL_MSG_FEATURES_GET,
        ETHTOOL_GENL_VERSION,
        &[header],
    )
}

/// The names of the bits set in a verbose bitset. A bitset without a mask (NOMASK, as the
/// kernel sends `active`) lists only the bits that are set; with a mask, a bit is set when it
/// carries ETHTOOL_A_BITSET_BIT_VALUE.
fn bitset_names(bitset: &[u8]) -> Vec<String> {
    let list_only = attributes(bitset).any(|(kind, _)| kind == ETHTOOL_A_BITSET_NOMASK);
    attributes(bitset)
        .filter(|(kind, _)| *kind == ETHTOOL_A_BITSET_BITS)
        .flat_map(|(_, bits)| attributes(bits))
        .filter(|(kind, _)| *kind == ETHTOOL_A_BITSET_BITS_BIT)
        .filter(|(_, bit)| {
            list_only || attributes(bit).any(|(kind, _)| kind == ETHTOOL_A_BITSET_BIT_VALUE)
        })
        .filter_map(|(_, bit)| {
            attributes(bit)
                .find(|(kind, _)| *kind == ETHTOOL_A_BITSET_BIT_NAME)
                .map(|(_, value)| string(value))
        })
        .collect()
}

/// The active features of a FEATURES_GET reply.
fn parse_active(payload: &[u8]) -> Vec<String> {
    payload
        .get(GENL_HDRLEN..)
        .and_then(|attrs| attributes(attrs).find(|(kind, _)| *kind == ETHTOOL_A_FEATURES_ACTIVE))
        .map(|(_, active)| bitset_names(active))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::netlink::u32_at;

    fn parse_esp_features(payload: &[u8]) -> EspFeatures {
        EspFeatures::among(&parse_active(payload))
    }

    /// The ifindex in a request's header.
    fn header_ifindex(request: &Request) -> Option<u32> {
        let attrs = request.payload.get(GENL_HDRLEN..)?;
        let (_, header) = attributes(attrs).find(|(k, _)| *k == ETHTOOL_A_FEATURES_HEADER)?;
        let (_, index) = attributes(header).find(|(k, _)| *k == ETHTOOL_A_HEADER_DEV_INDEX)?;
        u32_at(index, 0)
    }

    fn nested(kind: u16, attributes: &[DefaultNla]) -> DefaultNla {
        DefaultNla::new(kind | NLA_F_NESTED, emit(attributes))
    }

    fn u32_attribute(kind: u16, value: u32) -> DefaultNla {
        DefaultNla::new(kind, value.to_ne_bytes().to_vec())
    }

    fn flag(kind: u16) -> DefaultNla {
        DefaultNla::new(kind, Vec::new())
    }

    fn bit(name: &str, value: bool) -> DefaultNla {
        let mut attributes = vec![
            u32_attribute(1, 0),
            string_attribute(ETHTOOL_A_BITSET_BIT_NAME, name),
        ];
        if value {
            attributes.push(flag(ETHTOOL_A_BITSET_BIT_VALUE));
        }
        nested(ETHTOOL_A_BITSET_BITS_BIT, &attributes)
    }

    fn reply(nomask: bool, bits: &[(&str, bool)]) -> Vec<u8> {
        let mut active = Vec::new();
        if nomask {
            active.push(flag(ETHTOOL_A_BITSET_NOMASK));
        }
        active.push(u32_attribute(2, 64));
        let bits: Vec<DefaultNla> = bits.iter().map(|(name, value)| bit(name, *value)).collect();
        active.push(nested(ETHTOOL_A_BITSET_BITS, &bits));
        let mut buf = vec![ETHTOOL_MSG_FEATURES_GET, 1, 0, 0];
        buf.extend_from_slice(&emit(&[nested(ETHTOOL_A_FEATURES_ACTIVE, &active)]));
        buf
    }

    #[test]
    fn features_request_names_the_link_in_a_nested_header() {
        let request = features_request(27, 5);
        assert_eq!(request.msg_type, 27);
        assert_eq!(&request.payload[..4], &[11, 1, 0, 0]);
        assert_eq!(header_ifindex(&request), Some(5));
        // The header is nested: the kernel's strict parser wants NLA_F_NESTED.
        assert_eq!(
            u16_at(&request.payload, 6),
            Some(ETHTOOL_A_FEATURES_HEADER | NLA_F_NESTED)
        );
    }

    #[test]
    fn family_lookup_by_name() {
        let request = get_family_request();
        assert_eq!(request.msg_type, 16);
        assert_eq!(request.payload[0], 3);
        assert_eq!(&request.payload[GENL_HDRLEN + 4..], b"ethtool\0");
        let mut reply = vec![1, 2, 0, 0];
        reply.extend_from_slice(&emit(&[
            string_attribute(CTRL_ATTR_FAMILY_NAME, "ethtool"),
            DefaultNla::new(CTRL_ATTR_FAMILY_ID, 27u16.to_ne_bytes().to_vec()),
        ]));
        assert_eq!(parse_family_id(&reply), Some(27));
        assert_eq!(parse_family_id(&reply[..4]), None);
    }

    #[test]
    fn active_list_without_mask_means_set() {
        let features = parse_esp_features(&reply(
            true,
            &[("rx-checksum", false), (ESP_HW_OFFLOAD, false)],
        ));
        assert!(features.esp_hw_offload);
        assert!(!features.esp_tx_csum_hw_offload);
    }

    #[test]
    fn with_a_mask_only_bits_carrying_a_value_are_set() {
        let features = parse_esp_features(&reply(
            false,
            &[(ESP_HW_OFFLOAD, false), (ESP_TX_CSUM_HW_OFFLOAD, true)],
        ));
        assert!(!features.esp_hw_offload);
        assert!(features.esp_tx_csum_hw_offload);
        assert_eq!(
            parse_esp_features(&reply(true, &[])),
            EspFeatures::default()
        );
    }

    #[test]
    fn parsing_never_panics() {
        let full = reply(true, &[(ESP_HW_OFFLOAD, true)]);
        for len in 0..full.len() {
            let _ = parse_esp_features(&full[..len]);
            let _ = parse_family_id(&full[..len]);
        }
    }
}
