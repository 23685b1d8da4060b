//! Certificate and Certificate Request payloads (RFC 2408 3.9, 3.10): an encoding octet and
//! opaque data (the certificate, or the acceptable certificate authority).

use crate::wire::codec::Reader;
use crate::wire::Result;

/// Encoding (or requested type) and the rest of the body.
pub(crate) fn parse_body(body: &[u8], what: &'static str) -> Result<(u8, Vec<u8>)> {
    let mut r = Reader::new(body);
    let encoding = r.u8(what)?;
    Ok((encoding, r.rest().to_vec()))
}

pub(crate) fn emit_body(encoding: u8, data: &[u8], out: &mut Vec<u8>) {
    out.push(encoding);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_then_data() {
        assert_eq!(parse_body(&[4, 0x30, 0x82], "x"), Ok((4, vec![0x30, 0x82])));
        assert_eq!(parse_body(&[4], "x"), Ok((4, vec![])));
        assert!(parse_body(&[], "x").is_err());
    }
}
