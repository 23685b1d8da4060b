//! Framing of the Encrypted payload SK (RFC 7296 3.14) and the Encrypted Fragment payload SKF
//! (RFC 7383 2.5). Encryption and integrity are the crypto module's job; here the body
//! (IV, ciphertext with padding, ICV) is opaque.
//!
//! ```text
//! SK:  generic header (Next Payload = first inner payload) | IV | ciphertext | ICV
//! SKF: generic header (Next Payload = first inner payload in fragment 1, else 0)
//!      | 0..2 Fragment Number | 2..4 Total Fragments | IV | ciphertext | ICV
//! ```

use super::enums::PayloadType;
use crate::wire::codec::Reader;
use crate::wire::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encrypted {
    /// Type of the first payload inside, from the SK generic header.
    pub first_inner: PayloadType,
    /// IV || ciphertext || ICV.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFragment {
    /// Type of the first inner payload; only meaningful in fragment 1, where it MUST be set,
    /// and MUST be 0 in the others (RFC 7383 2.5).
    pub first_inner: PayloadType,
    /// 1-based fragment number.
    pub number: u16,
    pub total: u16,
    /// IV || ciphertext || ICV.
    pub body: Vec<u8>,
}

impl Encrypted {
    pub(crate) fn parse_body(first_inner: PayloadType, body: &[u8]) -> Encrypted {
        Encrypted {
            first_inner,
            body: body.to_vec(),
        }
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.body);
    }
}

impl EncryptedFragment {
    /// Fragment Number and Total Fragments, between the generic header and the IV.
    pub const FIELDS_LEN: usize = 4;

    pub(crate) fn parse_body(first_inner: PayloadType, body: &[u8]) -> Result<EncryptedFragment> {
        const WHAT: &str = "Encrypted Fragment payload";
        let mut r = Reader::new(body);
        let number = r.u16(WHAT)?;
        let total = r.u16(WHAT)?;
        // RFC 7383 2.5: numbering starts at 1 and never exceeds Total Fragments.
        if number == 0 || number > total {
            return Err(Error::BadValue {
                what: "Fragment Number",
            });
        }
        Ok(EncryptedFragment {
            first_inner,
            number,
            total,
            body: r.rest().to_vec(),
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.total.to_be_bytes());
        out.extend_from_slice(&self.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_numbering_is_checked() {
        let ok = EncryptedFragment::parse_body(PayloadType::IdI, &[0, 1, 0, 3, 9, 9]);
        assert_eq!(
            ok,
            Ok(EncryptedFragment {
                first_inner: PayloadType::IdI,
                number: 1,
                total: 3,
                body: vec![9, 9],
            })
        );
        assert!(EncryptedFragment::parse_body(PayloadType::None, &[0, 0, 0, 3]).is_err());
        assert!(EncryptedFragment::parse_body(PayloadType::None, &[0, 4, 0, 3]).is_err());
        assert!(EncryptedFragment::parse_body(PayloadType::None, &[0, 1, 0]).is_err());
    }
}
