//! Vendor ID payload (RFC 7296 3.12): an opaque identifier, typically a hash, of any length.

/// The whole body is the Vendor ID.
pub(crate) fn parse_body(body: &[u8]) -> Vec<u8> {
    body.to_vec()
}
