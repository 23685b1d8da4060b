//! Our private key, and signing with it (ring).

use std::fmt;

use der::asn1::ObjectIdentifier;
use der::{Decode, Reader, SliceReader};
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use sec1::EcPrivateKey;
use x509_cert::spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use super::certificate::rsa_modulus_bits;
use super::error::PkiError;
use super::hash::SignatureHash;
use super::oid;
use super::pem::{pem_blocks, PemBlock};
use super::scheme::SignatureScheme;

/// The kind and size of a public or private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa { bits: usize },
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

impl fmt::Display for KeyType {
    /// "RSA-3072", "ECDSA P-256", "Ed25519".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyType::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyType::EcdsaP384 => f.write_str("ECDSA P-384"),
            KeyType::Ed25519 => f.write_str("Ed25519"),
        }
    }
}

/// RSA keys shorter than this are refused (RFC 8247 3.2; ring signs with nothing less).
const RSA_MIN_BITS: usize = 2048;

/// A private key loaded from PEM. Its secret octets are held only by ring's key pair; the
/// PEM and DER buffers it was read from are zeroized.
pub struct SigningKey {
    pair: KeyPair,
    key_type: KeyType,
}

/// ring's key pairs. ECDSA needs two over the same key: ring fixes the signature encoding in
/// the signing algorithm, and IKE wants DER (RFC 7427, method 14) as well as the fixed-width
/// `r | s` of RFC 4754 (methods 9 and 10). Boxed: a key is made once and used in place.
enum KeyPair {
    Rsa(Box<RsaKeyPair>),
    Ecdsa {
        der_signing: Box<EcdsaKeyPair>,
        fixed_signing: Box<EcdsaKeyPair>,
    },
    Ed25519(Ed25519KeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// From PEM text: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`); RSA (2048 bits or more), ECDSA P-256 or P-384, or Ed25519.
    ///
    /// Other blocks in the text are skipped ("EC PARAMETERS", which `openssl ecparam
    /// -genkey` writes before the key; a certificate kept in the same file).
    pub fn from_pem(pem: &[u8]) -> Result<SigningKey, PkiError> {
        let blocks = pem_blocks(pem).map_err(PkiError)?;
        let key_block = blocks
            .iter()
            .find(|block| is_key_label(&block.label))
            .ok_or_else(|| PkiError(no_key_block_text(&blocks)))?;
        SigningKey::from_block(key_block)
            .map_err(|error| PkiError(format!("unsupported key: {error}")))
    }

    fn from_block(block: &PemBlock) -> Result<SigningKey, String> {
        match block.label.as_str() {
            "PRIVATE KEY" => from_pkcs8(&block.der),
            "EC PRIVATE KEY" => from_sec1(&block.der),
            "RSA PRIVATE KEY" => rsa(RsaKeyPair::from_der(&block.der)),
            "ENCRYPTED PRIVATE KEY" => Err(
                "the PKCS#8 key is encrypted with a passphrase: decrypt it with openssl pkey"
                    .to_string(),
            ),
            other => Err(format!("{other} blocks are not supported")),
        }
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The public key as a certificate's subjectPublicKey BIT STRING holds it (RSAPublicKey
    /// DER, an uncompressed EC point, or 32 Ed25519 octets): compared with the certificate's.
    pub fn public_key(&self) -> &[u8] {
        match &self.pair {
            KeyPair::Rsa(pair) => pair.public_key().as_ref(),
            KeyPair::Ecdsa { der_signing, .. } => der_signing.public_key().as_ref(),
            KeyPair::Ed25519(pair) => pair.public_key().as_ref(),
        }
    }

    /// The scheme to sign with in a Digital Signature (14) AUTH payload, given the hashes the
    /// peer announced in SIGNATURE_HASH_ALGORITHMS: RSA-PSS (RFC 8247 recommends it over
    /// PKCS#1 v1.5) with SHA-256, SHA-384 or SHA-512; ECDSA with its curve's hash; Ed25519
    /// with the identity hash. `None` if the peer announced none of ours.
    ///
    /// For RSA the first of SHA-256, SHA-384, SHA-512 the peer announced wins: all three are
    /// strong enough for any RSA size we accept, and SHA-256 is what every peer verifies and
    /// what strongSwan itself prefers.
    pub fn scheme_for(&self, peer_hashes: &[SignatureHash]) -> Option<SignatureScheme> {
        let announced = |hash| peer_hashes.contains(&hash);
        match self.key_type {
            KeyType::Rsa { .. } => [
                (SignatureHash::Sha256, SignatureScheme::RsaPssSha256),
                (SignatureHash::Sha384, SignatureScheme::RsaPssSha384),
                (SignatureHash::Sha512, SignatureScheme::RsaPssSha512),
            ]
            .into_iter()
            .find(|(hash, _)| announced(*hash))
            .map(|(_, scheme)| scheme),
            KeyType::EcdsaP256 => {
                announced(SignatureHash::Sha256).then_some(SignatureScheme::EcdsaP256Sha256)
            }
            KeyType::EcdsaP384 => {
                announced(SignatureHash::Sha384).then_some(SignatureScheme::EcdsaP384Sha384)
            }
            KeyType::Ed25519 => {
                announced(SignatureHash::Identity).then_some(SignatureScheme::Ed25519)
            }
        }
    }

    /// Signs `message` (ECDSA signatures DER-encoded, as RFC 7427 carries them). An error
    /// if the scheme does not fit the key or ring cannot sign it (RSA with SHA-1).
    ///
    /// Randomness (PSS salts, ECDSA nonces) comes from ring's `SystemRandom`, not the
    /// engine's `Random`: ring's `SecureRandom` trait is sealed, so no other source can be
    /// handed to it. Signatures are the one place the engine's random source does not reach,
    /// which costs deterministic tests nothing since they verify signatures, not compare them.
    pub fn sign(&self, scheme: SignatureScheme, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let rng = SystemRandom::new();
        let unfit = || {
            PkiError(format!(
                "cannot sign with {} using a {} key",
                scheme.name(),
                self.key_type
            ))
        };
        let failed = || PkiError(format!("signing with {} failed", scheme.name()));
        match &self.pair {
            KeyPair::Rsa(pair) => {
                let encoding: &'static dyn ring::signature::RsaEncoding =
                    match scheme {
                        SignatureScheme::RsaPkcs1Sha1 => return Err(PkiError(
                            "cannot sign with rsa-sha1: ring signs PKCS#1 v1.5 with SHA-2 only \
                             (the peer must support RFC 7427 signatures)"
                                .to_string(),
                        )),
                        SignatureScheme::RsaPkcs1Sha256 => &ring::signature::RSA_PKCS1_SHA256,
                        SignatureScheme::RsaPkcs1Sha384 => &ring::signature::RSA_PKCS1_SHA384,
                        SignatureScheme::RsaPkcs1Sha512 => &ring::signature::RSA_PKCS1_SHA512,
                        SignatureScheme::RsaPssSha256 => &ring::signature::RSA_PSS_SHA256,
                        SignatureScheme::RsaPssSha384 => &ring::signature::RSA_PSS_SHA384,
                        SignatureScheme::RsaPssSha512 => &ring::signature::RSA_PSS_SHA512,
                        _ => return Err(unfit()),
                    };
                let mut signature = vec![0u8; pair.public().modulus_len()];
                pair.sign(encoding, &rng, message, &mut signature)
                    .map_err(|_| failed())?;
                Ok(signature)
            }
            KeyPair::Ecdsa { der_signing, .. } => {
                let fits = matches!(
                    (scheme, self.key_type),
                    (SignatureScheme::EcdsaP256Sha256, KeyType::EcdsaP256)
                        | (SignatureScheme::EcdsaP384Sha384, KeyType::EcdsaP384)
                );
                if !fits {
                    return Err(unfit());
                }
                let signature = der_signing.sign(&rng, message).map_err(|_| failed())?;
                Ok(signature.as_ref().to_vec())
            }
            KeyPair::Ed25519(pair) => {
                if scheme != SignatureScheme::Ed25519 {
                    return Err(unfit());
                }
                Ok(pair.sign(message).as_ref().to_vec())
            }
        }
    }

    /// ECDSA only: the fixed-width `r | s` signature of the ECDSA AUTH methods 9 and 10
    /// (RFC 4754 7), with the curve's own hash.
    pub fn sign_ecdsa_fixed(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let KeyPair::Ecdsa { fixed_signing, .. } = &self.pair else {
            return Err(PkiError(format!(
                "ECDSA signatures (RFC 4754) need an ECDSA key, not a {} key",
                self.key_type
            )));
        };
        let signature = fixed_signing
            .sign(&SystemRandom::new(), message)
            .map_err(|_| PkiError("ECDSA signing failed".to_string()))?;
        Ok(signature.as_ref().to_vec())
    }
}

/// "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY", and the
/// kinds we do not support ("DSA PRIVATE KEY"), to refuse them by name.
fn is_key_label(label: &str) -> bool {
    label.ends_with("PRIVATE KEY")
}

fn no_key_block_text(blocks: &[PemBlock]) -> String {
    if blocks.is_empty() {
        return "no PEM block (expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)"
            .to_string();
    }
    let labels: Vec<&str> = blocks.iter().map(|block| block.label.as_str()).collect();
    format!(
        "no private key block (found {}; expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)",
        labels.join(", ")
    )
}

/// PKCS#8 (RFC 5208 / 5958): the algorithm names the key type; ring reads the rest.
fn from_pkcs8(der: &[u8]) -> Result<SigningKey, String> {
    let (algorithm, curve) =
        pkcs8_algorithm(der).map_err(|error| format!("not a PKCS#8 private key ({error})"))?;
    match algorithm {
        oid::RSA_ENCRYPTION => rsa(RsaKeyPair::from_pkcs8(der)),
        oid::ID_EC_PUBLIC_KEY => {
            let (key_type, der_alg, fixed_alg) = ecdsa_algorithms(curve)?;
            let rng = SystemRandom::new();
            let der_signing = EcdsaKeyPair::from_pkcs8(der_alg, der, &rng)
                .map_err(|error| format!("{key_type} key refused by ring: {error}"))?;
            let fixed_signing = EcdsaKeyPair::from_pkcs8(fixed_alg, der, &rng)
                .map_err(|error| format!("{key_type} key refused by ring: {error}"))?;
            Ok(SigningKey {
                pair: KeyPair::Ecdsa {
                    der_signing: Box::new(der_signing),
                    fixed_signing: Box::new(fixed_signing),
                },
                key_type,
            })
        }
        oid::ID_ED25519 => {
            // "maybe_unchecked": OpenSSL writes PKCS#8 v1, without the public key to check.
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|error| format!("Ed25519 key refused by ring: {error}"))?;
            Ok(SigningKey {
                pair: KeyPair::Ed25519(pair),
                key_type: KeyType::Ed25519,
            })
        }
        oid::ID_RSASSA_PSS => Err(
            "RSASSA-PSS-only keys (id-RSASSA-PSS) are not supported: use rsaEncryption".to_string(),
        ),
        other => Err(format!("key algorithm {other} is not supported")),
    }
}

/// The privateKeyAlgorithm of a PrivateKeyInfo / OneAsymmetricKey, and for EC keys the named
/// curve in its parameters. The rest (the key itself) is ring's to read.
fn pkcs8_algorithm(der: &[u8]) -> der::Result<(ObjectIdentifier, Option<ObjectIdentifier>)> {
    let mut reader = SliceReader::new(der)?;
    let (algorithm, curve) = reader.sequence(|body| {
        let _version = u8::decode(body)?;
        let algorithm = AlgorithmIdentifierRef::decode(body)?;
        let curve = algorithm
            .parameters
            .and_then(|parameters| parameters.decode_as::<ObjectIdentifier>().ok());
        // privateKey, attributes and publicKey: not ours to read.
        body.read_slice(body.remaining_len())?;
        Ok::<_, der::Error>((algorithm.oid, curve))
    })?;
    reader.finish()?;
    Ok((algorithm, curve))
}

/// SEC1 / RFC 5915 ECPrivateKey: the curve from its parameters, the public key from its
/// publicKey field. ring cannot compute a public key from a private one, so a key without it
/// is refused with the command that adds it.
fn from_sec1(der: &[u8]) -> Result<SigningKey, String> {
    let key = EcPrivateKey::from_der(der)
        .map_err(|error| format!("not a SEC1 EC private key ({error})"))?;
    let curve = key
        .parameters
        .and_then(|parameters| parameters.named_curve());
    let (key_type, der_alg, fixed_alg) = ecdsa_algorithms(curve)?;
    let public_key = key.public_key.ok_or_else(|| {
        format!(
            "the SEC1 {key_type} key lacks its public key; write it with the public key \
             (openssl pkey -in key.pem -out key-full.pem)"
        )
    })?;
    // RFC 5915 3: the private key is ceiling(log2(n)/8) octets; some writers drop leading
    // zeros, ring wants the full width.
    let width = match key_type {
        KeyType::EcdsaP384 => 48,
        _ => 32,
    };
    if key.private_key.len() > width {
        return Err(format!("the {key_type} private key is too long"));
    }
    let mut private_key = Zeroizing::new(vec![0u8; width]);
    private_key[width - key.private_key.len()..].copy_from_slice(key.private_key);
    let rng = SystemRandom::new();
    let pair = |alg| {
        EcdsaKeyPair::from_private_key_and_public_key(alg, &private_key, public_key, &rng)
            .map_err(|error| format!("{key_type} key refused by ring: {error}"))
    };
    Ok(SigningKey {
        pair: KeyPair::Ecdsa {
            der_signing: Box::new(pair(der_alg)?),
            fixed_signing: Box::new(pair(fixed_alg)?),
        },
        key_type,
    })
}

type EcdsaAlgorithms = (
    KeyType,
    &'static EcdsaSigningAlgorithm,
    &'static EcdsaSigningAlgorithm,
);

fn ecdsa_algorithms(curve: Option<ObjectIdentifier>) -> Result<EcdsaAlgorithms, String> {
    match curve {
        Some(oid::SECP256R1) => Ok((
            KeyType::EcdsaP256,
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        )),
        Some(oid::SECP384R1) => Ok((
            KeyType::EcdsaP384,
            &ring::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            &ring::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        )),
        Some(other) => Err(format!(
            "EC curve {other} is not supported (P-256 and P-384 are)"
        )),
        None => Err("the EC key does not name its curve".to_string()),
    }
}

fn rsa(pair: Result<RsaKeyPair, ring::error::KeyRejected>) -> Result<SigningKey, String> {
    let pair = pair.map_err(|error| match error.to_string().as_str() {
        "TooSmall" => format!("RSA keys shorter than {RSA_MIN_BITS} bits are refused"),
        other => format!("RSA key refused by ring: {other}"),
    })?;
    let bits = rsa_modulus_bits(pair.public().as_ref())
        .map_err(|error| format!("RSA public key does not encode: {error}"))?;
    if bits < RSA_MIN_BITS {
        return Err(format!(
            "RSA-{bits} is too short: RSA keys need {RSA_MIN_BITS} bits or more"
        ));
    }
    Ok(SigningKey {
        pair: KeyPair::Rsa(Box::new(pair)),
        key_type: KeyType::Rsa { bits },
    })
}
