//! Cryptographic suite of the IKE engine: algorithms, PRFs, key derivation, DH, payload
//! protection.

pub mod alg;
