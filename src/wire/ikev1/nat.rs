//! NAT-D and NAT-OA payloads (RFC 3947 3.2 and 5.2). The drafts that came before the RFC use
//! the same bodies under payload types 130 and 131.
//!
//! ```text
//! NAT-D:   HASH of the address and port, the negotiated hash's output length
//! NAT-OA:  0 ID Type (ID_IPV4_ADDR or ID_IPV6_ADDR) | 1..4 RESERVED | 4.. address
//! ```

use crate::wire::codec::Reader;
use crate::wire::Result;

/// NAT-OA body: ID Type, RESERVED, address (4 or 16 octets; not checked here).
pub(crate) fn parse_nat_oa(body: &[u8]) -> Result<(u8, Vec<u8>)> {
    const WHAT: &str = "NAT-OA payload";
    let mut r = Reader::new(body);
    let id_type = r.u8(WHAT)?;
    r.skip(3, WHAT)?;
    Ok((id_type, r.rest().to_vec()))
}

pub(crate) fn emit_nat_oa(id_type: u8, address: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&[id_type, 0, 0, 0]);
    out.extend_from_slice(address);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_oa_ipv4() {
        let body = [1, 0, 0, 0, 192, 0, 2, 7];
        assert_eq!(parse_nat_oa(&body), Ok((1, vec![192, 0, 2, 7])));
        let mut out = Vec::new();
        emit_nat_oa(1, &[192, 0, 2, 7], &mut out);
        assert_eq!(out, body);
        assert!(parse_nat_oa(&[1, 0, 0]).is_err());
    }
}
