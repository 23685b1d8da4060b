//! Identification payloads IDi and IDr (RFC 7296 3.5).
//!
//! ```text
//!  0      ID Type
//!  1..4   RESERVED
//!  4..    Identification Data
//! ```

use super::enums::IdType;
use crate::wire::codec::Reader;
use crate::wire::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identification {
    pub id_type: IdType,
    pub data: Vec<u8>,
}

impl Identification {
    pub(crate) fn parse_body(body: &[u8]) -> Result<Identification> {
        const WHAT: &str = "ID payload";
        let mut r = Reader::new(body);
        let id_type = IdType::from(r.u8(WHAT)?);
        r.skip(3, WHAT)?;
        Ok(Identification {
            id_type,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.push(self.id_type.value());
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
    }

    /// The payload body without the generic header: ID Type, three RESERVED octets and the
    /// data. This is "RestOfInitIDPayload"/"RestOfRespIDPayload", which the AUTH computation
    /// hashes into MACedIDForI/MACedIDForR (RFC 7296 2.15). Reserved octets are zero, as sent.
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4usize.saturating_add(self.data.len()));
        self.emit_body(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_bytes_is_type_reserved_data() {
        let id = Identification {
            id_type: IdType::Fqdn,
            data: b"gw.example".to_vec(),
        };
        let body = id.body_bytes();
        assert_eq!(&body[..4], &[2, 0, 0, 0]);
        assert_eq!(&body[4..], b"gw.example");
        assert_eq!(Identification::parse_body(&body), Ok(id));
        assert!(Identification::parse_body(&[2, 0, 0]).is_err());
    }
}
