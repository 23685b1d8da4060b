//! IKE and ESP proposals in strongSwan's compact syntax, e.g. `aes128gcm16-prfsha256-ecp256`.
//!
//! A proposal is a list of algorithm keywords joined by `-`; the order of keywords of one kind
//! is the order of preference, kinds may be mixed freely (RFC 7296 3.3: one proposal offers
//! alternatives per transform type). Keywords are case-insensitive.
//!
//! Rules (strongSwan's `check_proposal`, made stricter where it silently drops things):
//! - at least one encryption algorithm; AEAD and classic ciphers never share a proposal
//!   (RFC 7296 3.3: combined-mode ciphers take no integrity transform);
//! - AEAD: no integrity algorithm. Classic: at least one integrity algorithm;
//! - IKE: a PRF is mandatory. With a classic cipher and no `prf...` keyword, each integrity
//!   algorithm brings the PRF of the same hash ([`Prf::matching`]); with AEAD, name the PRF;
//! - IKE: at least one DH group (RFC 7296 3.3.2: transform type 4 is mandatory for IKE);
//! - ESP: no PRF; DH groups are optional (PFS for rekeyed and additional child SAs);
//!   `esn` / `noesn` choose extended sequence numbers (default `noesn`);
//! - a keyword may appear only once per proposal.

use std::fmt;

use crate::algorithm::{DhGroup, Encryption, Integrity, Prf};

/// One IKE SA proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IkeProposal {
    pub encryption: Vec<Encryption>,
    /// Empty exactly when the ciphers are AEAD.
    pub integrity: Vec<Integrity>,
    /// Never empty.
    pub prf: Vec<Prf>,
    /// Never empty.
    pub dh: Vec<DhGroup>,
}

/// One ESP (child SA) proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspProposal {
    pub encryption: Vec<Encryption>,
    /// Empty exactly when the ciphers are AEAD.
    pub integrity: Vec<Integrity>,
    /// PFS groups; empty: no PFS.
    pub dh: Vec<DhGroup>,
    /// Extended sequence numbers (RFC 4303 2.2.1).
    pub esn: bool,
}

/// One recognised keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Encryption(Encryption),
    Integrity(Integrity),
    Prf(Prf),
    Dh(DhGroup),
    Esn(bool),
}

/// Every keyword with its meaning; aliases follow their canonical name.
const KEYWORDS: &[(&str, Token)] = &[
    (
        "aes128",
        Token::Encryption(Encryption::AesCbc { key_bits: 128 }),
    ),
    (
        "aes192",
        Token::Encryption(Encryption::AesCbc { key_bits: 192 }),
    ),
    (
        "aes256",
        Token::Encryption(Encryption::AesCbc { key_bits: 256 }),
    ),
    (
        "aes128gcm16",
        Token::Encryption(Encryption::AesGcm16 { key_bits: 128 }),
    ),
    (
        "aes256gcm16",
        Token::Encryption(Encryption::AesGcm16 { key_bits: 256 }),
    ),
    (
        "chacha20poly1305",
        Token::Encryption(Encryption::ChaCha20Poly1305),
    ),
    ("3des", Token::Encryption(Encryption::TripleDes)),
    ("md5", Token::Integrity(Integrity::HmacMd5_96)),
    ("sha1", Token::Integrity(Integrity::HmacSha1_96)),
    ("sha256", Token::Integrity(Integrity::HmacSha256_128)),
    ("sha384", Token::Integrity(Integrity::HmacSha384_192)),
    ("sha512", Token::Integrity(Integrity::HmacSha512_256)),
    ("prfmd5", Token::Prf(Prf::HmacMd5)),
    ("prfsha1", Token::Prf(Prf::HmacSha1)),
    ("prfsha256", Token::Prf(Prf::HmacSha256)),
    ("prfsha384", Token::Prf(Prf::HmacSha384)),
    ("prfsha512", Token::Prf(Prf::HmacSha512)),
    ("modp1024", Token::Dh(DhGroup::Modp1024)),
    ("modp1536", Token::Dh(DhGroup::Modp1536)),
    ("modp2048", Token::Dh(DhGroup::Modp2048)),
    ("modp3072", Token::Dh(DhGroup::Modp3072)),
    ("modp4096", Token::Dh(DhGroup::Modp4096)),
    ("ecp256", Token::Dh(DhGroup::Ecp256)),
    ("ecp384", Token::Dh(DhGroup::Ecp384)),
    ("ecp521", Token::Dh(DhGroup::Ecp521)),
    ("curve25519", Token::Dh(DhGroup::Curve25519)),
    ("esn", Token::Esn(true)),
    ("noesn", Token::Esn(false)),
    // Aliases strongSwan also accepts.
    (
        "aes",
        Token::Encryption(Encryption::AesCbc { key_bits: 128 }),
    ),
    (
        "aes128gcm128",
        Token::Encryption(Encryption::AesGcm16 { key_bits: 128 }),
    ),
    (
        "aes256gcm128",
        Token::Encryption(Encryption::AesGcm16 { key_bits: 256 }),
    ),
    ("x25519", Token::Dh(DhGroup::Curve25519)),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Ike,
    Esp,
}

impl Protocol {
    fn accepts(self, token: Token) -> bool {
        !matches!(
            (self, token),
            (Protocol::Ike, Token::Esn(_)) | (Protocol::Esp, Token::Prf(_))
        )
    }

    fn name(self) -> &'static str {
        match self {
            Protocol::Ike => "IKE",
            Protocol::Esp => "ESP",
        }
    }
}

/// The keywords valid for a protocol, for "unknown algorithm" messages.
fn known_keywords(protocol: Protocol) -> String {
    KEYWORDS
        .iter()
        .filter(|(_, token)| protocol.accepts(*token))
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The algorithms of a proposal sorted by kind, duplicates rejected.
#[derive(Default)]
struct Parts {
    encryption: Vec<Encryption>,
    integrity: Vec<Integrity>,
    prf: Vec<Prf>,
    dh: Vec<DhGroup>,
    esn: Vec<bool>,
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T, keyword: &str) -> Result<(), String> {
    if list.contains(&item) {
        return Err(format!("\"{keyword}\" appears twice"));
    }
    list.push(item);
    Ok(())
}

fn split(text: &str, protocol: Protocol) -> Result<Parts, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty proposal".into());
    }
    let mut parts = Parts::default();
    for keyword in text.split('-') {
        let lower = keyword.trim().to_ascii_lowercase();
        let token = KEYWORDS
            .iter()
            .find(|(name, _)| *name == lower)
            .map(|(_, token)| *token)
            .filter(|token| protocol.accepts(*token))
            .ok_or_else(|| {
                format!(
                    "unknown {} algorithm \"{keyword}\"; known: {}",
                    protocol.name(),
                    known_keywords(protocol)
                )
            })?;
        match token {
            Token::Encryption(e) => push_unique(&mut parts.encryption, e, keyword)?,
            Token::Integrity(i) => push_unique(&mut parts.integrity, i, keyword)?,
            Token::Prf(p) => push_unique(&mut parts.prf, p, keyword)?,
            Token::Dh(g) => push_unique(&mut parts.dh, g, keyword)?,
            Token::Esn(e) => push_unique(&mut parts.esn, e, keyword)?,
        }
    }
    Ok(parts)
}

/// Checks the cipher/integrity combination shared by IKE and ESP.
fn check_ciphers(parts: &Parts, protocol: Protocol) -> Result<(), String> {
    let Some(first) = parts.encryption.first() else {
        return Err(format!(
            "an {} proposal needs an encryption algorithm",
            protocol.name()
        ));
    };
    let aead = first.is_aead();
    if let Some(other) = parts.encryption.iter().find(|e| e.is_aead() != aead) {
        let (aead_cipher, classic) = if aead { (first, other) } else { (other, first) };
        return Err(format!(
            "AEAD cipher {aead_cipher} and classic cipher {classic} cannot share a proposal; \
             write them as two proposals"
        ));
    }
    if aead {
        if let Some(integrity) = parts.integrity.first() {
            return Err(format!(
                "AEAD cipher {first} takes no integrity algorithm ({integrity}); remove it"
            ));
        }
    } else if parts.integrity.is_empty() {
        return Err(format!(
            "classic cipher {first} needs an integrity algorithm (e.g. sha256)"
        ));
    }
    Ok(())
}

impl IkeProposal {
    /// Parses one IKE proposal.
    pub fn parse(text: &str) -> Result<IkeProposal, String> {
        let parts = split(text, Protocol::Ike)?;
        check_ciphers(&parts, Protocol::Ike)?;
        let mut prf = parts.prf;
        if prf.is_empty() {
            if parts.integrity.is_empty() {
                return Err(
                    "an IKE proposal with an AEAD cipher needs a PRF (e.g. prfsha256)".into(),
                );
            }
            // strongSwan's convention: the PRF of each integrity algorithm's hash.
            for integrity in &parts.integrity {
                let matching = Prf::matching(*integrity);
                if !prf.contains(&matching) {
                    prf.push(matching);
                }
            }
        }
        if parts.dh.is_empty() {
            return Err("an IKE proposal needs a DH group (e.g. ecp256)".into());
        }
        Ok(IkeProposal {
            encryption: parts.encryption,
            integrity: parts.integrity,
            prf,
            dh: parts.dh,
        })
    }

    /// Whether the proposal offers a single algorithm of each kind, as IKEv1 requires.
    pub fn is_single_choice(&self) -> bool {
        self.encryption.len() == 1
            && self.integrity.len() <= 1
            && self.prf.len() == 1
            && self.dh.len() == 1
    }
}

impl EspProposal {
    /// Parses one ESP proposal.
    pub fn parse(text: &str) -> Result<EspProposal, String> {
        let parts = split(text, Protocol::Esp)?;
        check_ciphers(&parts, Protocol::Esp)?;
        if parts.esn.len() > 1 {
            return Err("give either esn or noesn, not both".into());
        }
        Ok(EspProposal {
            encryption: parts.encryption,
            integrity: parts.integrity,
            dh: parts.dh,
            esn: parts.esn.first().copied().unwrap_or(false),
        })
    }

    /// Whether the proposal offers a single algorithm of each kind, as IKEv1 requires.
    pub fn is_single_choice(&self) -> bool {
        self.encryption.len() == 1 && self.integrity.len() <= 1 && self.dh.len() <= 1
    }
}

/// Writes items joined by '-', after an optional leading '-'.
fn write_all<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    items: &[T],
    first: &mut bool,
) -> fmt::Result {
    for item in items {
        if !*first {
            f.write_str("-")?;
        }
        *first = false;
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for IkeProposal {
    /// The compact syntax; the PRF is always written out, so the text parses back to an equal
    /// proposal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        write_all(f, &self.encryption, &mut first)?;
        write_all(f, &self.integrity, &mut first)?;
        write_all(f, &self.prf, &mut first)?;
        write_all(f, &self.dh, &mut first)
    }
}

impl fmt::Display for EspProposal {
    /// The compact syntax; `esn` is written when on, `noesn` (the default) is left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        write_all(f, &self.encryption, &mut first)?;
        write_all(f, &self.integrity, &mut first)?;
        write_all(f, &self.dh, &mut first)?;
        if self.esn {
            f.write_str("-esn")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ike(text: &str) -> IkeProposal {
        IkeProposal::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn esp(text: &str) -> EspProposal {
        EspProposal::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn aead_ike_proposal() {
        let p = ike("aes128gcm16-prfsha256-ecp256");
        assert_eq!(p.encryption, vec![Encryption::AesGcm16 { key_bits: 128 }]);
        assert!(p.integrity.is_empty());
        assert_eq!(p.prf, vec![Prf::HmacSha256]);
        assert_eq!(p.dh, vec![DhGroup::Ecp256]);
    }

    #[test]
    fn classic_ike_proposal_gets_matching_prf() {
        let p = ike("aes256-sha256-sha384-modp2048");
        assert_eq!(p.prf, vec![Prf::HmacSha256, Prf::HmacSha384]);
        assert_eq!(
            p.to_string(),
            "aes256-sha256-sha384-prfsha256-prfsha384-modp2048"
        );
        // An explicit PRF wins over the matching one.
        assert_eq!(
            ike("aes128-sha1-prfsha256-modp2048").prf,
            vec![Prf::HmacSha256]
        );
    }

    #[test]
    fn aliases_and_case() {
        assert_eq!(
            ike("AES128GCM128-PRFSHA256-X25519"),
            ike("aes128gcm16-prfsha256-curve25519")
        );
        assert_eq!(esp("aes-sha1"), esp("aes128-sha1"));
    }

    #[test]
    fn order_of_kinds_does_not_matter_but_order_within_a_kind_does() {
        assert_eq!(
            ike("ecp256-prfsha256-aes128gcm16"),
            ike("aes128gcm16-prfsha256-ecp256")
        );
        assert_ne!(
            ike("aes128-aes256-sha256-ecp256"),
            ike("aes256-aes128-sha256-ecp256")
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "aes128gcm16-prfsha256-ecp256",
            "aes256-sha256-modp2048",
            "aes128-aes192-aes256-sha1-sha512-prfsha1-ecp384-curve25519-modp1024",
            "chacha20poly1305-prfsha512-curve25519",
            "3des-sha1-modp1024",
            "3des-md5-prfmd5-modp1536",
            "aes256-sha512-prfsha512-modp3072-modp4096-ecp521",
        ] {
            let p = ike(text);
            assert_eq!(ike(&p.to_string()), p, "{text}");
        }
        for text in [
            "aes128gcm16",
            "aes256-sha256",
            "aes128-sha1-modp1024",
            "aes256gcm16-ecp256-esn",
            "aes128gcm16-noesn",
        ] {
            let p = esp(text);
            assert_eq!(esp(&p.to_string()), p, "{text}");
        }
        assert_eq!(esp("aes128gcm16-noesn").to_string(), "aes128gcm16");
        assert_eq!(esp("esn-aes128gcm16").to_string(), "aes128gcm16-esn");
    }

    fn ike_error(text: &str) -> String {
        IkeProposal::parse(text).expect_err(text)
    }

    fn esp_error(text: &str) -> String {
        EspProposal::parse(text).expect_err(text)
    }

    #[test]
    fn unknown_keyword_lists_known_ones() {
        let e = ike_error("aes512-sha256-modp2048");
        assert!(e.contains("\"aes512\""), "{e}");
        assert!(
            e.contains("aes128gcm16") && e.contains("curve25519") && e.contains("prfsha256"),
            "{e}"
        );
        assert!(!e.contains("noesn"), "ESN is no IKE keyword: {e}");
        let e = esp_error("aes128-md4");
        assert!(e.contains("\"md4\"") && e.contains("esn"), "{e}");
        assert!(!e.contains("prfsha256"), "PRFs are no ESP keywords: {e}");
        // A keyword of the other protocol is unknown here.
        assert!(esp_error("aes128-sha256-prfsha256").contains("\"prfsha256\""));
        assert!(ike_error("aes128-sha256-ecp256-esn").contains("\"esn\""));
    }

    #[test]
    fn invalid_combinations() {
        let e = ike_error("aes128gcm16-aes128-sha256-prfsha256-ecp256");
        assert!(
            e.contains("aes128gcm16") && e.contains("aes128") && e.contains("cannot share"),
            "{e}"
        );
        let e = ike_error("aes128gcm16-ecp256");
        assert!(e.contains("needs a PRF"), "{e}");
        let e = ike_error("aes128gcm16-sha256-prfsha256-ecp256");
        assert!(
            e.contains("takes no integrity") && e.contains("sha256"),
            "{e}"
        );
        let e = ike_error("aes128-prfsha256-ecp256");
        assert!(e.contains("needs an integrity"), "{e}");
        let e = ike_error("aes128-sha256");
        assert!(e.contains("DH group"), "{e}");
        let e = ike_error("sha256-prfsha256-ecp256");
        assert!(e.contains("encryption"), "{e}");
        let e = ike_error("aes128-aes128-sha256-ecp256");
        assert!(e.contains("twice"), "{e}");
        assert!(ike_error("").contains("empty"));
        assert!(esp_error("aes128gcm16-esn-noesn").contains("esn or noesn"));
        assert!(esp_error("aes128").contains("needs an integrity"));
        assert!(esp_error("chacha20poly1305-sha256").contains("takes no integrity"));
    }

    #[test]
    fn esp_pfs_and_esn() {
        let p = esp("aes128gcm16-ecp256-esn");
        assert_eq!(p.dh, vec![DhGroup::Ecp256]);
        assert!(p.esn);
        assert!(esp("aes128gcm16").dh.is_empty());
        assert!(!esp("aes128gcm16").esn);
    }

    #[test]
    fn legacy_algorithms_and_larger_groups() {
        let p = ike("3des-md5-modp1536");
        assert_eq!(p.integrity, vec![Integrity::HmacMd5_96]);
        assert_eq!(p.prf, vec![Prf::HmacMd5], "md5 brings prfmd5");
        assert_eq!(p.dh, vec![DhGroup::Modp1536]);
        assert_eq!(
            ike("aes256-sha256-modp3072-MODP4096-ecp521").dh,
            vec![DhGroup::Modp3072, DhGroup::Modp4096, DhGroup::Ecp521]
        );
        assert_eq!(ike("aes128-sha256-prfmd5-ecp256").prf, vec![Prf::HmacMd5]);
        let p = esp("aes128-md5-modp4096");
        assert_eq!(p.integrity, vec![Integrity::HmacMd5_96]);
        assert_eq!(p.dh, vec![DhGroup::Modp4096]);
        assert!(esp_error("aes128-md5-prfmd5").contains("\"prfmd5\""));
        assert!(ike_error("aes128gcm16-md5-prfsha256-ecp521").contains("takes no integrity"));
    }

    #[test]
    fn single_choice_for_ikev1() {
        assert!(ike("aes128-sha256-modp2048").is_single_choice());
        assert!(!ike("aes128-aes256-sha256-modp2048").is_single_choice());
        assert!(!ike("aes128-sha256-sha1-modp2048").is_single_choice());
        assert!(esp("aes128-sha1-modp1024").is_single_choice());
        assert!(!esp("aes128-sha1-modp1024-modp2048").is_single_choice());
    }
}
