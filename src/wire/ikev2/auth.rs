//! Authentication payload (RFC 7296 3.8).
//!
//! ```text
//!  0      Auth Method
//!  1..4   RESERVED
//!  4..    Authentication Data
//! ```

use super::enums::AuthMethod;
use crate::wire::codec::Reader;
use crate::wire::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPayload {
    pub method: AuthMethod,
    pub data: Vec<u8>,
}

impl AuthPayload {
    pub(crate) fn parse_body(body: &[u8]) -> Result<AuthPayload> {
        const WHAT: &str = "AUTH payload";
        let mut r = Reader::new(body);
        let method = AuthMethod::from(r.u8(WHAT)?);
        r.skip(3, WHAT)?;
        Ok(AuthPayload {
            method,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.push(self.method.value());
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
    }
}
