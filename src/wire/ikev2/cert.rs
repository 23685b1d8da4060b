//! Certificate and Certificate Request payloads (RFC 7296 3.6, 3.7), kept undecoded: one
//! encoding octet followed by the certificate data or the certification authority hashes.

use super::enums::CertEncoding;
use crate::wire::codec::Reader;
use crate::wire::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPayload {
    pub encoding: CertEncoding,
    pub data: Vec<u8>,
}

impl CertPayload {
    pub(crate) fn parse_body(body: &[u8]) -> Result<CertPayload> {
        let mut r = Reader::new(body);
        let encoding = CertEncoding::from(r.u8("certificate encoding")?);
        Ok(CertPayload {
            encoding,
            data: r.rest().to_vec(),
        })
    }

    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) {
        out.push(self.encoding.value());
        out.extend_from_slice(&self.data);
    }
}
