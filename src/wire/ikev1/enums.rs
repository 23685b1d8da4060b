//! ISAKMP/IKEv1 protocol numbers: exchange types (RFC 2408 3.1, RFC 2409 5.5 and 5.6), payload
//! types (RFC 2408 3.1, RFC 3947 3 and its drafts) and notify message types (RFC 2408 3.14.1,
//! RFC 2407 4.6.3, RFC 3706). Unknown values are kept, as in `wire_enum!`.
//!
//! The names are spelled here rather than derived from the variant names: the registries
//! write `R-U-THERE`, and strongSwan's logs `ID_PROT`, which no variant name gives.

/// A field enum with named values plus `Unknown(raw)`, converting both ways, each value with
/// the name it is logged under.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident($repr:ty), unknown = $unknown:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value without a name here, kept as received.
            Unknown($repr),
        }

        impl $name {
            /// The value as sent on the wire.
            pub fn value(self) -> $repr {
                <$repr>::from(self)
            }

            /// The value's name (`NO_PROPOSAL_CHOSEN`); `None` for a value without one here.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($text), )+
                    $name::Unknown(_) => None,
                }
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }

        /// The name, or the number of a value without one here.
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, concat!($unknown, " {}"), self.value()),
                }
            }
        }
    };
}

named_enum! {
    /// Exchange Type (RFC 2408 3.1; Quick Mode and New Group Mode are RFC 2409 5.5 and 5.6,
    /// Transaction is the Mode Config draft's). Named as strongSwan logs them.
    pub enum ExchangeType(u8), unknown = "exchange type" {
        Base = 1 => "BASE",
        /// Main Mode.
        IdentityProtection = 2 => "ID_PROT",
        AuthenticationOnly = 3 => "AUTH_ONLY",
        Aggressive = 4 => "AGGRESSIVE",
        Informational = 5 => "INFORMATIONAL_V1",
        Transaction = 6 => "TRANSACTION",
        QuickMode = 32 => "QUICK_MODE",
        NewGroup = 33 => "NEW_GROUP_MODE",
    }
}

named_enum! {
    /// Next Payload / payload type (RFC 2408 3.1). NAT-D and NAT-OA are 20 and 21 in RFC 3947
    /// (section 3.2 and 5.2) and 130 and 131 in the drafts that peers implementing only those
    /// still send.
    pub enum PayloadType(u8), unknown = "payload type" {
        /// "NONE": no next payload.
        None = 0 => "NONE",
        Sa = 1 => "SA",
        /// Only inside an SA payload.
        Proposal = 2 => "P",
        /// Only inside a proposal.
        Transform = 3 => "T",
        KeyExchange = 4 => "KE",
        Identification = 5 => "ID",
        Certificate = 6 => "CERT",
        CertificateRequest = 7 => "CR",
        Hash = 8 => "HASH",
        Signature = 9 => "SIG",
        Nonce = 10 => "NONCE",
        Notification = 11 => "N",
        Delete = 12 => "D",
        VendorId = 13 => "VID",
        NatD = 20 => "NAT-D",
        NatOa = 21 => "NAT-OA",
        NatDDraft = 130 => "NAT-D (draft)",
        NatOaDraft = 131 => "NAT-OA (draft)",
    }
}

named_enum! {
    /// Notify Message Type: the errors of RFC 2408 3.14.1 (1 to 30, below 16384), its status
    /// CONNECTED, the IPsec DOI's status types (RFC 2407 4.6.3) and Dead Peer Detection's
    /// (RFC 3706 5). Named as the RFCs spell them, with underscores for hyphens.
    pub enum NotifyType(u16), unknown = "notify type" {
        InvalidPayloadType = 1 => "INVALID_PAYLOAD_TYPE",
        DoiNotSupported = 2 => "DOI_NOT_SUPPORTED",
        SituationNotSupported = 3 => "SITUATION_NOT_SUPPORTED",
        InvalidCookie = 4 => "INVALID_COOKIE",
        InvalidMajorVersion = 5 => "INVALID_MAJOR_VERSION",
        InvalidMinorVersion = 6 => "INVALID_MINOR_VERSION",
        InvalidExchangeType = 7 => "INVALID_EXCHANGE_TYPE",
        InvalidFlags = 8 => "INVALID_FLAGS",
        InvalidMessageId = 9 => "INVALID_MESSAGE_ID",
        InvalidProtocolId = 10 => "INVALID_PROTOCOL_ID",
        InvalidSpi = 11 => "INVALID_SPI",
        InvalidTransformId = 12 => "INVALID_TRANSFORM_ID",
        AttributesNotSupported = 13 => "ATTRIBUTES_NOT_SUPPORTED",
        NoProposalChosen = 14 => "NO_PROPOSAL_CHOSEN",
        BadProposalSyntax = 15 => "BAD_PROPOSAL_SYNTAX",
        PayloadMalformed = 16 => "PAYLOAD_MALFORMED",
        InvalidKeyInformation = 17 => "INVALID_KEY_INFORMATION",
        InvalidIdInformation = 18 => "INVALID_ID_INFORMATION",
        InvalidCertEncoding = 19 => "INVALID_CERT_ENCODING",
        InvalidCertificate = 20 => "INVALID_CERTIFICATE",
        CertTypeUnsupported = 21 => "CERT_TYPE_UNSUPPORTED",
        InvalidCertAuthority = 22 => "INVALID_CERT_AUTHORITY",
        InvalidHashInformation = 23 => "INVALID_HASH_INFORMATION",
        AuthenticationFailed = 24 => "AUTHENTICATION_FAILED",
        InvalidSignature = 25 => "INVALID_SIGNATURE",
        AddressNotification = 26 => "ADDRESS_NOTIFICATION",
        NotifySaLifetime = 27 => "NOTIFY_SA_LIFETIME",
        CertificateUnavailable = 28 => "CERTIFICATE_UNAVAILABLE",
        UnsupportedExchangeType = 29 => "UNSUPPORTED_EXCHANGE_TYPE",
        UnequalPayloadLengths = 30 => "UNEQUAL_PAYLOAD_LENGTHS",
        Connected = 16384 => "CONNECTED",
        ResponderLifetime = 24576 => "RESPONDER_LIFETIME",
        ReplayStatus = 24577 => "REPLAY_STATUS",
        InitialContact = 24578 => "INITIAL_CONTACT",
        RUThere = 36136 => "R_U_THERE",
        RUThereAck = 36137 => "R_U_THERE_ACK",
    }
}

impl NotifyType {
    /// Error types are 1..=16383 (RFC 2408 3.14.1), status types the rest.
    pub fn is_error(self) -> bool {
        self.value() < 16384
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names() {
        assert_eq!(u8::from(ExchangeType::IdentityProtection), 2);
        assert_eq!(ExchangeType::from(32), ExchangeType::QuickMode);
        assert_eq!(ExchangeType::IdentityProtection.to_string(), "ID_PROT");
        assert_eq!(ExchangeType::Aggressive.to_string(), "AGGRESSIVE");
        assert_eq!(ExchangeType::QuickMode.to_string(), "QUICK_MODE");
        assert_eq!(ExchangeType::from(77).to_string(), "exchange type 77");
        assert_eq!(PayloadType::from(20), PayloadType::NatD);
        assert_eq!(PayloadType::from(131), PayloadType::NatOaDraft);
        assert_eq!(PayloadType::from(14), PayloadType::Unknown(14));
        assert_eq!(NotifyType::from(14).to_string(), "NO_PROPOSAL_CHOSEN");
        assert_eq!(NotifyType::from(18).to_string(), "INVALID_ID_INFORMATION");
        assert_eq!(NotifyType::AuthenticationFailed.value(), 24);
        assert_eq!(NotifyType::from(36136).to_string(), "R_U_THERE");
        assert_eq!(NotifyType::RUThereAck.value(), 36137);
        assert_eq!(NotifyType::InitialContact.value(), 24578);
        assert_eq!(NotifyType::from(40501), NotifyType::Unknown(40501));
        assert_eq!(NotifyType::from(40501).to_string(), "notify type 40501");
        assert!(NotifyType::NoProposalChosen.is_error());
        assert!(!NotifyType::RUThere.is_error());
    }

    #[test]
    fn every_named_value_converts_back() {
        for v in 0..=u8::MAX {
            assert_eq!(u8::from(PayloadType::from(v)), v);
            assert_eq!(u8::from(ExchangeType::from(v)), v);
        }
        for v in 0..=u16::MAX {
            assert_eq!(u16::from(NotifyType::from(v)), v);
        }
    }
}
