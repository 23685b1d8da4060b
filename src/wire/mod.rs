//! Packet codecs: IKEv2 messages (RFC 7296 section 3, RFC 7383 for fragments), IKEv1 (ISAKMP)
//! messages (RFC 2408, RFC 2409, RFC 2407), and the framing of the NAT-T port that daemon and
//! load generator share (RFC 3948 2.2, 2.3).
//!
//! Each protocol lives in its own submodule and follows one contract, borrowed from smoltcp's
//! `wire` module and rustls' `msgs` codec:
//!
//! - Parsing takes untrusted bytes and never panics: every read goes through the `codec`
//!   module's `Reader`, which slices with `get` and adds with checked arithmetic, and every
//!   length field is checked against the bytes that are really there.
//! - Parsed values are plain owned structs; unknown protocol numbers are kept as `Unknown(x)`
//!   so that they can be reported and re-encoded.
//! - Emitting appends to a `Vec<u8>` and fills in every length and "next payload" field, so a
//!   caller cannot get them wrong. Whatever parses re-emits to the same bytes, with two kinds of
//!   exception: fields RFC 7296 says a receiver must ignore (RESERVED octets and bits, the
//!   header's V and X flags, the R bit of configuration attributes, the critical bit of payload
//!   types we understand) are emitted as zero; and a transform's Key Length attribute is
//!   emitted before its other attributes, wherever it was received. Re-parsing the re-emitted
//!   bytes always gives the same value back.
//! - Cryptography is not done here: the Encrypted (SK) and Encrypted Fragment (SKF) payloads
//!   are framed, their bodies stay opaque.

#[macro_use]
mod macros;
pub(crate) mod codec;
pub mod ikev1;
pub mod ikev2;

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The data ends before a field or structure it announces.
    #[error("truncated {what}")]
    Truncated { what: &'static str },
    /// A length field is inconsistent with the data or with the structure's fixed size.
    #[error("inconsistent length in {what}")]
    BadLength { what: &'static str },
    /// Data is left over after a structure that should have consumed all of it.
    #[error("trailing data after {what}")]
    TrailingData { what: &'static str },
    /// A field holds a value the format does not allow.
    #[error("invalid value in {what}")]
    BadValue { what: &'static str },
    /// The header's major version is not the codec's: 2 for `ikev2` (RFC 7296 3.1), 1 for
    /// `ikev1` (RFC 2408 3.1). Carries the major version; when IKEv2 sees one greater than 2
    /// the answer is an INVALID_MAJOR_VERSION notification (RFC 7296 2.5).
    #[error("unsupported IKE major version {0}")]
    UnsupportedVersion(u8),
    /// A payload type this implementation does not understand was sent with the critical bit
    /// set (RFC 7296 2.5). Parsing keeps such payloads; see
    /// [`ikev2::first_unsupported_critical`], whose result the engine turns into this error.
    #[error("unsupported critical payload type {0}")]
    UnknownCriticalPayload(u8),
    /// An Encrypted or Encrypted Fragment payload that is not the last payload of the message
    /// (RFC 7296 3.14, RFC 7383 2.5), or one inside an already decrypted chain.
    #[error("misplaced encrypted payload")]
    MisplacedEncrypted,
    /// A traffic selector type whose address format is not known (RFC 7296 3.13.1).
    #[error("unsupported traffic selector type {0}")]
    UnsupportedTsType(u8),
}

/// Result of decoding.
pub type Result<T> = std::result::Result<T, Error>;

/// Offset of the Version field in the ISAKMP header, which IKEv1 (RFC 2408 3.1) and IKEv2
/// (RFC 7296 3.1) share: two SPIs of 8 octets, then Next Payload, then the version.
const VERSION_OFFSET: usize = 17;
/// Length of that header.
const ISAKMP_HEADER_LEN: usize = 28;

/// The major version of an ISAKMP/IKE datagram (the high nibble of its Version field): 1 for
/// IKEv1, 2 for IKEv2. `None` when the datagram is shorter than the header: it is no message
/// of either version.
pub fn major_version(datagram: &[u8]) -> Option<u8> {
    if datagram.len() < ISAKMP_HEADER_LEN {
        return None;
    }
    datagram.get(VERSION_OFFSET).map(|version| version >> 4)
}

/// `NoProposalChosen` -> `NO_PROPOSAL_CHOSEN`: the registries' spelling of a variant name.
/// An underscore goes before each capital that follows a small letter or a digit.
pub(crate) fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    let mut previous: Option<char> = None;
    for c in camel.chars() {
        if c.is_ascii_uppercase()
            && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names() {
        assert_eq!(screaming_snake("NoProposalChosen"), "NO_PROPOSAL_CHOSEN");
        assert_eq!(
            screaming_snake("Ikev2FragmentationSupported"),
            "IKEV2_FRAGMENTATION_SUPPORTED"
        );
        assert_eq!(
            screaming_snake("AdditionalIp4Address"),
            "ADDITIONAL_IP4_ADDRESS"
        );
        assert_eq!(screaming_snake("Cookie2"), "COOKIE2");
        assert_eq!(
            ikev2::NotifyType::TsUnacceptable.registry_name().as_deref(),
            Some("TS_UNACCEPTABLE")
        );
        assert_eq!(
            ikev2::ExchangeType::CreateChildSa
                .registry_name()
                .as_deref(),
            Some("CREATE_CHILD_SA")
        );
        assert_eq!(ikev2::NotifyType::from(40000).registry_name(), None);
    }

    #[test]
    fn major_version_of_either_ike() {
        let mut header = [0u8; 28];
        header[17] = 0x10;
        assert_eq!(major_version(&header), Some(1));
        header[17] = 0x20;
        assert_eq!(major_version(&header), Some(2));
        assert_eq!(
            major_version(&header[..27]),
            None,
            "shorter than the header"
        );
    }
}
