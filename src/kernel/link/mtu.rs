//! The MTU of an xfrm interface: the physical MTU minus the worst-case ESP tunnel-mode
//! overhead of every suite ikehub negotiates, so that no inner packet that fits the interface
//! has to be fragmented after encryption.
//!
//! Per packet (RFC 4303 2, RFC 3948 2.1):
//!
//! | part                         | bytes | why the worst case                                |
//! |------------------------------|-------|---------------------------------------------------|
//! | outer IPv4 / IPv6 header     | 20/40 | no options / no extension headers                 |
//! | UDP encapsulation (NAT-T)    | 8     | present after NAT detection                        |
//! | ESP header (SPI, sequence)   | 8     |                                                   |
//! | IV                           | 16    | AES-CBC (AES-GCM and ChaCha20-Poly1305 use 8)     |
//! | padding                      | 15    | AES-CBC pads to 16-byte blocks (AEADs to 4 bytes) |
//! | pad length, next header      | 2     |                                                   |
//! | ICV                          | 32    | HMAC-SHA-512/256 (AES-GCM-16 uses 16)             |
//!
//! Total 101 bytes over IPv4, 121 over IPv6: 1500 -> 1399 and 1379. (AES-GCM-16 without
//! NAT-T alone needs 20 + 8 + 8 + 3 + 2 + 16 = 57.)

/// The outer (tunnel) address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OuterFamily {
    V4,
    V6,
}

const UDP_ENCAPSULATION: u32 = 8;
const ESP_HEADER: u32 = 8;
const MAX_IV: u32 = 16;
const MAX_PADDING: u32 = 15;
const ESP_TRAILER: u32 = 2;
const MAX_ICV: u32 = 32;

/// Smallest MTU an IPv6 link may have (RFC 8200 5); the interface must carry IPv6 too.
pub const MIN_INNER_MTU: u32 = 1280;

/// Worst-case bytes ESP tunnel mode adds to an inner packet.
pub const fn esp_overhead(outer: OuterFamily) -> u32 {
    let ip_header = match outer {
        OuterFamily::V4 => 20,
        OuterFamily::V6 => 40,
    };
    ip_header + UDP_ENCAPSULATION + ESP_HEADER + MAX_IV + MAX_PADDING + ESP_TRAILER + MAX_ICV
}

/// The xfrm interface MTU for a physical link of `physical_mtu`; `None` when what is left is
/// below [`MIN_INNER_MTU`].
pub fn xfrm_interface_mtu(physical_mtu: u32, outer: OuterFamily) -> Option<u32> {
    physical_mtu
        .checked_sub(esp_overhead(outer))
        .filter(|&mtu| mtu >= MIN_INNER_MTU)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_case_overheads() {
        assert_eq!(esp_overhead(OuterFamily::V4), 101);
        assert_eq!(esp_overhead(OuterFamily::V6), 121);
        assert_eq!(xfrm_interface_mtu(1500, OuterFamily::V4), Some(1399));
        assert_eq!(xfrm_interface_mtu(1500, OuterFamily::V6), Some(1379));
        assert_eq!(xfrm_interface_mtu(9000, OuterFamily::V4), Some(8899));
        assert_eq!(xfrm_interface_mtu(1380, OuterFamily::V4), None);
        assert_eq!(xfrm_interface_mtu(1401, OuterFamily::V6), Some(1280));
        assert_eq!(xfrm_interface_mtu(50, OuterFamily::V4), None);
    }
}
