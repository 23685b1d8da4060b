//! IKEv2 protocol numbers (IANA "Internet Key Exchange Version 2 (IKEv2) Parameters", created by
//! RFC 7296 section 3 and extended by later RFCs). Unknown values are kept, see `wire_enum!`.

wire_enum! {
    /// Exchange Type (RFC 7296 3.1).
    pub enum ExchangeType(u8) {
        IkeSaInit = 34,
        IkeAuth = 35,
        CreateChildSa = 36,
        Informational = 37,
        /// RFC 5723.
        IkeSessionResume = 38,
        /// RFC 9242.
        IkeIntermediate = 43,
        /// RFC 9370.
        IkeFollowupKe = 44,
    }
}

wire_enum! {
    /// Next Payload / payload type (RFC 7296 3.2, RFC 7383 2.5).
    pub enum PayloadType(u8) {
        /// "No Next Payload".
        None = 0,
        Sa = 33,
        Ke = 34,
        IdI = 35,
        IdR = 36,
        Cert = 37,
        CertReq = 38,
        Auth = 39,
        Nonce = 40,
        Notify = 41,
        Delete = 42,
        Vendor = 43,
        TsI = 44,
        TsR = 45,
        Sk = 46,
        Cp = 47,
        Eap = 48,
        Skf = 53,
    }
}

wire_enum! {
    /// Notify Message Type (RFC 7296 3.10.1 and the IANA registry). Values below 16384 are
    /// errors, the rest status notifications.
    pub enum NotifyType(u16) {
        UnsupportedCriticalPayload = 1,
        InvalidIkeSpi = 4,
        InvalidMajorVersion = 5,
        InvalidSyntax = 7,
        InvalidMessageId = 9,
        InvalidSpi = 11,
        NoProposalChosen = 14,
        InvalidKePayload = 17,
        AuthenticationFailed = 24,
        SinglePairRequired = 34,
        NoAdditionalSas = 35,
        InternalAddressFailure = 36,
        FailedCpRequired = 37,
        TsUnacceptable = 38,
        InvalidSelectors = 39,
        /// RFC 4555.
        UnacceptableAddresses = 40,
        /// RFC 4555.
        UnexpectedNatDetected = 41,
        /// RFC 5026.
        UseAssignedHoa = 42,
        TemporaryFailure = 43,
        ChildSaNotFound = 44,
        /// G-IKEv2.
        InvalidGroupId = 45,
        /// G-IKEv2.
        AuthorizationFailed = 46,
        InitialContact = 16384,
        SetWindowSize = 16385,
        AdditionalTsPossible = 16386,
        IpcompSupported = 16387,
        NatDetectionSourceIp = 16388,
        NatDetectionDestinationIp = 16389,
        Cookie = 16390,
        UseTransportMode = 16391,
        HttpCertLookupSupported = 16392,
        RekeySa = 16393,
        EspTfcPaddingNotSupported = 16394,
        NonFirstFragmentsAlso = 16395,
        /// RFC 4555 (MOBIKE), 16396..=16402.
        MobikeSupported = 16396,
        AdditionalIp4Address = 16397,
        AdditionalIp6Address = 16398,
        NoAdditionalAddresses = 16399,
        UpdateSaAddresses = 16400,
        Cookie2 = 16401,
        NoNatsAllowed = 16402,
        /// RFC 4478.
        AuthLifetime = 16403,
        /// RFC 4739.
        MultipleAuthSupported = 16404,
        AnotherAuthFollows = 16405,
        /// RFC 5685.
        RedirectSupported = 16406,
        Redirect = 16407,
        RedirectedFrom = 16408,
        /// RFC 5723.
        TicketLtOpaque = 16409,
        TicketRequest = 16410,
        TicketAck = 16411,
        TicketNack = 16412,
        TicketOpaque = 16413,
        /// RFC 5739.
        LinkId = 16414,
        /// RFC 5840.
        UseWespMode = 16415,
        /// RFC 5857.
        RohcSupported = 16416,
        /// RFC 5998.
        EapOnlyAuthentication = 16417,
        /// RFC 6023.
        ChildlessIkev2Supported = 16418,
        /// RFC 6290.
        QuickCrashDetection = 16419,
        /// RFC 6311.
        Ikev2MessageIdSyncSupported = 16420,
        IpsecReplayCounterSyncSupported = 16421,
        Ikev2MessageIdSync = 16422,
        IpsecReplayCounterSync = 16423,
        /// RFC 6467.
        SecurePasswordMethods = 16424,
        /// RFC 6631.
        PskPersist = 16425,
        PskConfirm = 16426,
        /// RFC 6867.
        ErxSupported = 16427,
        IfomCapability = 16428,
        SenderRequestId = 16429,
        /// RFC 7383.
        Ikev2FragmentationSupported = 16430,
        /// RFC 7427.
        SignatureHashAlgorithms = 16431,
        /// RFC 7791.
        CloneIkeSaSupported = 16432,
        CloneIkeSa = 16433,
        /// RFC 8019.
        Puzzle = 16434,
        /// RFC 8784.
        UsePpk = 16435,
        PpkIdentity = 16436,
        NoPpkAuth = 16437,
        /// RFC 9242.
        IntermediateExchangeSupported = 16438,
        /// RFC 8983.
        Ip4Allowed = 16439,
        Ip6Allowed = 16440,
        /// RFC 9370.
        AdditionalKeyExchange = 16441,
        /// RFC 9347.
        UseAggfrag = 16442,
    }
}

impl NotifyType {
    /// Error types are 0..=16383 (RFC 7296 3.10.1).
    pub fn is_error(self) -> bool {
        self.value() < 16384
    }
}

/// The RFC name (`TS_UNACCEPTABLE`), or the number of a type without one here.
impl std::fmt::Display for NotifyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.registry_name() {
            Some(name) => f.write_str(&name),
            None => write!(f, "notify type {}", self.value()),
        }
    }
}

/// The RFC name (`IKE_SA_INIT`), or the number of a type without one here.
impl std::fmt::Display for ExchangeType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.registry_name() {
            Some(name) => f.write_str(&name),
            None => write!(f, "exchange type {}", self.value()),
        }
    }
}

wire_enum! {
    /// Security Protocol ID (RFC 7296 3.3.1, 3.10, 3.11). `None` (0) is what a Notify about no
    /// SA carries.
    pub enum ProtocolId(u8) {
        None = 0,
        Ike = 1,
        Ah = 2,
        Esp = 3,
    }
}

wire_enum! {
    /// Transform Type (RFC 7296 3.3.2).
    pub enum TransformType(u8) {
        Encr = 1,
        Prf = 2,
        Integ = 3,
        /// Diffie-Hellman group ("Key Exchange Method" since RFC 9370).
        Dh = 4,
        Esn = 5,
    }
}

wire_enum! {
    /// ID Type (RFC 7296 3.5).
    pub enum IdType(u8) {
        Ipv4Addr = 1,
        Fqdn = 2,
        Rfc822Addr = 3,
        Ipv6Addr = 5,
        DerAsn1Dn = 9,
        DerAsn1Gn = 10,
        KeyId = 11,
        /// RFC 4595.
        FcName = 12,
        /// RFC 7619.
        Null = 13,
    }
}

wire_enum! {
    /// Auth Method (RFC 7296 3.8 and the IANA registry).
    pub enum AuthMethod(u8) {
        RsaDigitalSignature = 1,
        SharedKeyMic = 2,
        DssDigitalSignature = 3,
        /// RFC 4754.
        EcdsaSha256P256 = 9,
        EcdsaSha384P384 = 10,
        EcdsaSha512P521 = 11,
        /// RFC 6467.
        GenericSecurePassword = 12,
        /// RFC 7619.
        NullAuthentication = 13,
        /// RFC 7427.
        DigitalSignature = 14,
    }
}

wire_enum! {
    /// Certificate Encoding (RFC 7296 3.6).
    pub enum CertEncoding(u8) {
        Pkcs7WrappedX509 = 1,
        Pgp = 2,
        DnsSignedKey = 3,
        X509Signature = 4,
        KerberosToken = 6,
        Crl = 7,
        Arl = 8,
        Spki = 9,
        X509Attribute = 10,
        RawRsaKey = 11,
        HashAndUrlX509 = 12,
        HashAndUrlX509Bundle = 13,
        /// RFC 4806.
        OcspContent = 14,
        /// RFC 7670.
        RawPublicKey = 15,
    }
}

wire_enum! {
    /// TS Type (RFC 7296 3.13.1).
    pub enum TsType(u8) {
        Ipv4AddrRange = 7,
        Ipv6AddrRange = 8,
    }
}

wire_enum! {
    /// CFG Type (RFC 7296 3.15).
    pub enum CfgType(u8) {
        Request = 1,
        Reply = 2,
        Set = 3,
        Ack = 4,
    }
}

wire_enum! {
    /// Configuration Attribute Type (RFC 7296 3.15.1, 15 bits).
    pub enum ConfigAttributeType(u16) {
        InternalIp4Address = 1,
        InternalIp4Netmask = 2,
        InternalIp4Dns = 3,
        InternalIp4Nbns = 4,
        InternalIp4Dhcp = 6,
        ApplicationVersion = 7,
        InternalIp6Address = 8,
        InternalIp6Dns = 10,
        InternalIp6Dhcp = 12,
        InternalIp4Subnet = 13,
        SupportedAttributes = 14,
        InternalIp6Subnet = 15,
        /// RFC 8598.
        InternalDnsDomain = 25,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_registry() {
        assert_eq!(u8::from(ExchangeType::IkeSaInit), 34);
        assert_eq!(ExchangeType::from(37), ExchangeType::Informational);
        assert_eq!(PayloadType::from(53), PayloadType::Skf);
        assert_eq!(
            NotifyType::from(16430),
            NotifyType::Ikev2FragmentationSupported
        );
        assert_eq!(NotifyType::ChildlessIkev2Supported.value(), 16418);
        assert_eq!(NotifyType::SignatureHashAlgorithms.value(), 16431);
        assert_eq!(NotifyType::NatDetectionDestinationIp.value(), 16389);
        assert_eq!(NotifyType::ChildSaNotFound.value(), 44);
        assert_eq!(AuthMethod::SharedKeyMic.value(), 2);
        assert_eq!(TsType::Ipv6AddrRange.value(), 8);
    }

    #[test]
    fn unknown_values_survive() {
        assert_eq!(PayloadType::from(200), PayloadType::Unknown(200));
        assert_eq!(u8::from(PayloadType::Unknown(200)), 200);
        assert_eq!(NotifyType::from(40000).value(), 40000);
        assert!(NotifyType::from(8000).is_error());
        assert!(!NotifyType::Cookie.is_error());
    }
}
