//! NAT traversal for IKEv1 (RFC 3947, and the drafts older peers still speak): which dialect
//! both ends announced in their vendor IDs, and the NAT-D hashes of phase 1.

use std::net::{IpAddr, SocketAddr};

use crate::algorithm::Integrity;
use crate::crypto::ikev1;
use crate::ike::NatState;
use crate::wire::ikev1::{vendor, Payload};

/// The draft dialects' vendor IDs, which older peers send (and newer ones besides RFC 3947's).
const NAT_T_DRAFTS: [[u8; 16]; 3] = [
    vendor::NAT_T_DRAFT_02,
    vendor::NAT_T_DRAFT_02_N,
    vendor::NAT_T_DRAFT_03,
];

/// The NAT-T dialect of an SA: RFC 3947 or one of the drafts before it. They differ in the
/// payload type numbers of NAT-D/NAT-OA and in the encapsulation mode values of Quick Mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NatTVariant {
    /// draft-ietf-ipsec-nat-t-ike-02 or -03: NAT-D is payload 130, UDP-encapsulated tunnel
    /// mode is 61443.
    Draft,
    Rfc3947,
}

impl NatTVariant {
    /// The dialect a peer's vendor IDs announce (the newest one it knows).
    pub fn announced(payloads: &[Payload]) -> Option<NatTVariant> {
        let mut best = None;
        for p in payloads {
            let Payload::VendorId(id) = p else { continue };
            let variant = if id.as_slice() == vendor::NAT_T_RFC3947 {
                Some(NatTVariant::Rfc3947)
            } else if NAT_T_DRAFTS.iter().any(|d| d.as_slice() == id.as_slice()) {
                Some(NatTVariant::Draft)
            } else {
                None
            };
            best = best.max(variant);
        }
        best
    }

    /// The vendor IDs we send: every dialect we speak.
    pub fn vendor_ids() -> Vec<Payload> {
        let mut ids = vec![Payload::VendorId(vendor::NAT_T_RFC3947.to_vec())];
        ids.extend(NAT_T_DRAFTS.iter().map(|d| Payload::VendorId(d.to_vec())));
        ids
    }

    /// The vendor ID announcing this dialect (in a responder's answer).
    pub fn vendor_id(self) -> Payload {
        match self {
            NatTVariant::Rfc3947 => Payload::VendorId(vendor::NAT_T_RFC3947.to_vec()),
            NatTVariant::Draft => Payload::VendorId(vendor::NAT_T_DRAFT_02_N.to_vec()),
        }
    }

    fn draft(self) -> bool {
        self == NatTVariant::Draft
    }

    pub fn nat_d(self, hash: Vec<u8>) -> Payload {
        Payload::NatD {
            draft: self.draft(),
            hash,
        }
    }
}

/// HASH(CKY-I | CKY-R | IP | Port) with the negotiated hash (RFC 3947 3.2).
pub fn nat_d_hash(hash: Integrity, cky_i: u64, cky_r: u64, addr: SocketAddr) -> Vec<u8> {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    ikev1::hash(
        hash,
        &[
            &cky_i.to_be_bytes(),
            &cky_r.to_be_bytes(),
            &ip,
            &addr.port().to_be_bytes(),
        ],
    )
}

/// Our NAT-D payloads: the peer's address first, then ours (RFC 3947 3.2).
pub fn nat_d_payloads(
    variant: NatTVariant,
    hash: Integrity,
    (cky_i, cky_r): (u64, u64),
    local: SocketAddr,
    remote: SocketAddr,
) -> [Payload; 2] {
    [
        variant.nat_d(nat_d_hash(hash, cky_i, cky_r, remote)),
        variant.nat_d(nat_d_hash(hash, cky_i, cky_r, local)),
    ]
}

/// NAT detection from the peer's NAT-D payloads: the first is what it sent to (our address
/// as it saw it), the others its own addresses. `None` when the peer sent none.
pub fn detect(
    hash: Integrity,
    (cky_i, cky_r): (u64, u64),
    local: SocketAddr,
    remote: SocketAddr,
    payloads: &[Payload],
) -> Option<NatState> {
    let mut hashes = payloads.iter().filter_map(|p| match p {
        Payload::NatD { hash, .. } => Some(hash.as_slice()),
        _ => None,
    });
    let to_us = hashes.next()?;
    let ours = nat_d_hash(hash, cky_i, cky_r, local);
    let theirs = nat_d_hash(hash, cky_i, cky_r, remote);
    Some(NatState {
        local_behind: to_us != ours.as_slice(),
        remote_behind: !hashes.any(|h| h == theirs.as_slice()),
    })
}

/// The peer's NAT-D payloads read into `nat` (left as it was when the peer sent none), and
/// ours in answer: the step both phase 1 modes take once the cookies are known.
pub fn detect_and_answer(
    nat: &mut NatState,
    variant: NatTVariant,
    hash: Integrity,
    cookies: (u64, u64),
    (local, remote): (SocketAddr, SocketAddr),
    payloads: &[Payload],
) -> [Payload; 2] {
    if let Some(found) = detect(hash, cookies, local, remote, payloads) {
        *nat = found;
    }
    nat_d_payloads(variant, hash, cookies, local, remote)
}
