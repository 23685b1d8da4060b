//! Vendor IDs (RFC 2408 3.16) that announce the extensions this implementation knows. Each
//! is the MD5 hash of a string, or a fixed value where the extension defines one.

/// NAT traversal as in RFC 3947 (section 3.1): MD5("RFC 3947").
pub const NAT_T_RFC3947: [u8; 16] = [
    0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
];

/// draft-ietf-ipsec-nat-t-ike-02: MD5("draft-ietf-ipsec-nat-t-ike-02").
pub const NAT_T_DRAFT_02: [u8; 16] = [
    0xcd, 0x60, 0x46, 0x43, 0x35, 0xdf, 0x21, 0xf8, 0x7c, 0xfd, 0xb2, 0xfc, 0x68, 0xb6, 0xa4, 0x48,
];

/// The same draft as many implementations hash it, with a trailing newline:
/// MD5("draft-ietf-ipsec-nat-t-ike-02\n").
pub const NAT_T_DRAFT_02_N: [u8; 16] = [
    0x90, 0xcb, 0x80, 0x91, 0x3e, 0xbb, 0x69, 0x6e, 0x08, 0x63, 0x81, 0xb5, 0xec, 0x42, 0x7b, 0x1f,
];

/// draft-ietf-ipsec-nat-t-ike-03: MD5("draft-ietf-ipsec-nat-t-ike-03").
pub const NAT_T_DRAFT_03: [u8; 16] = [
    0x7d, 0x94, 0x19, 0xa6, 0x53, 0x10, 0xca, 0x6f, 0x2c, 0x17, 0x9d, 0x92, 0x15, 0x52, 0x9d, 0x56,
];

/// Dead Peer Detection version 1.0 (RFC 3706 4): the fixed value of section 4, whose last two
/// octets are the major and minor version.
pub const DPD: [u8; 16] = [
    0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
];

/// Whether a Vendor ID announces NAT traversal as RFC 3947 or one of the drafts before it.
pub fn is_nat_t(vendor_id: &[u8]) -> bool {
    [
        NAT_T_RFC3947,
        NAT_T_DRAFT_02,
        NAT_T_DRAFT_02_N,
        NAT_T_DRAFT_03,
    ]
    .iter()
    .any(|id| id.as_slice() == vendor_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn values_as_published() {
        assert_eq!(hex(&NAT_T_RFC3947), "4a131c81070358455c5728f20e95452f");
        assert_eq!(hex(&NAT_T_DRAFT_02), "cd60464335df21f87cfdb2fc68b6a448");
        assert_eq!(hex(&NAT_T_DRAFT_02_N), "90cb80913ebb696e086381b5ec427b1f");
        assert_eq!(hex(&NAT_T_DRAFT_03), "7d9419a65310ca6f2c179d9215529d56");
        assert_eq!(hex(&DPD), "afcad71368a1f1c96b8696fc77570100");
        assert!(is_nat_t(&NAT_T_DRAFT_02_N));
        assert!(!is_nat_t(&DPD));
        assert!(!is_nat_t(&NAT_T_RFC3947[..15]));
    }
}
