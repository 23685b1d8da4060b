//! Nonce payload (RFC 7296 3.9).

use crate::wire::{Error, Result};

/// "The size of the Nonce Data MUST be between 16 and 256 octets, inclusive" (RFC 7296 3.9).
pub const NONCE_MIN_LEN: usize = 16;
pub const NONCE_MAX_LEN: usize = 256;

pub(crate) fn parse_body(body: &[u8]) -> Result<Vec<u8>> {
    if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&body.len()) {
        return Err(Error::BadLength { what: "nonce" });
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_length_bounds() {
        assert!(parse_body(&[0; 15]).is_err());
        assert_eq!(parse_body(&[1; 16]), Ok(vec![1; 16]));
        assert!(parse_body(&[0; 256]).is_ok());
        assert_eq!(
            parse_body(&[0; 257]),
            Err(Error::BadLength { what: "nonce" })
        );
    }
}
