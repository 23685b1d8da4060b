//! Identification payload for the IPsec DOI (RFC 2407 4.6.2).
//!
//! ```text
//!  0      ID Type
//!  1      Protocol ID (0: ignored)
//!  2..4   Port (0: ignored)
//!  4..    Identification Data
//! ```
//!
//! In phase 1 the body from ID Type on is IDii_b/IDir_b, which the HASH_I/HASH_R computation
//! covers (RFC 2409 5); the engine takes those bytes from [`super::PayloadSpan`].

use crate::wire::codec::Reader;
use crate::wire::Result;

/// ID types (RFC 2407 4.6.2.1).
pub const ID_IPV4_ADDR: u8 = 1;
pub const ID_FQDN: u8 = 2;
pub const ID_USER_FQDN: u8 = 3;
pub const ID_IPV4_ADDR_SUBNET: u8 = 4;
pub const ID_IPV6_ADDR: u8 = 5;
pub const ID_IPV6_ADDR_SUBNET: u8 = 6;
pub const ID_IPV4_ADDR_RANGE: u8 = 7;
pub const ID_IPV6_ADDR_RANGE: u8 = 8;
pub const ID_DER_ASN1_DN: u8 = 9;
pub const ID_DER_ASN1_GN: u8 = 10;
pub const ID_KEY_ID: u8 = 11;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identification {
    pub id_type: u8,
    /// IP protocol number, 0 for any.
    pub protocol: u8,
    /// Port, 0 for any.
    pub port: u16,
    pub data: Vec<u8>,
}

impl Identification {
    pub(crate) fn parse_body(body: &[u8]) -> Result<Identification> {
        const WHAT: &str = "ID payload";
        let mut r = Reader::new(body);
        Ok(Identification {
            id_type: r.u8(WHAT)?,
            protocol: r.u8(WHAT)?,
            port: r.u16(WHAT)?,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.push(self.id_type);
        out.push(self.protocol);
        out.extend_from_slice(&self.port.to_be_bytes());
        out.extend_from_slice(&self.data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_subnet_with_protocol_and_port() {
        let body = [4, 17, 0x06, 0xa5, 10, 1, 0, 0, 255, 255, 0, 0];
        let id = Identification::parse_body(&body).expect("valid");
        assert_eq!(
            id,
            Identification {
                id_type: ID_IPV4_ADDR_SUBNET,
                protocol: 17,
                port: 1701,
                data: vec![10, 1, 0, 0, 255, 255, 0, 0],
            }
        );
        let mut out = Vec::new();
        id.emit_body(&mut out);
        assert_eq!(out, body);
        assert!(Identification::parse_body(&[1, 0, 0]).is_err());
    }
}
