//! Key Exchange payload (RFC 7296 3.4).
//!
//! ```text
//!  0..2   Diffie-Hellman Group Num
//!  2..4   RESERVED
//!  4..    Key Exchange Data
//! ```
//! Whether the data length fits the group is the engine's check (RFC 7296 3.4).

use crate::wire::codec::Reader;
use crate::wire::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KePayload {
    /// Transform ID of the Diffie-Hellman group (transform type 4).
    pub group: u16,
    pub data: Vec<u8>,
}

impl KePayload {
    pub(crate) fn parse_body(body: &[u8]) -> Result<KePayload> {
        const WHAT: &str = "KE payload";
        let mut r = Reader::new(body);
        let group = r.u16(WHAT)?;
        r.skip(2, WHAT)?;
        Ok(KePayload {
            group,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.group.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
    }
}
