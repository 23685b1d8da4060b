//! Defaults for settings a connection leaves out, chosen so that a stock strongSwan 5.9 or 6.0
//! peer and a stock Libreswan 4/5 peer (no proposals configured) accept them, through every
//! rekey.
//!
//! strongSwan 5.9's default IKE proposals (libstrongswan `proposal_create_default` and
//! `proposal_create_default_aead`) offer, among others, AES-CBC 128/192/256 with
//! HMAC-SHA2-256/384/512 and SHA-1, AES-GCM-16 128/192/256 and ChaCha20-Poly1305 with PRF
//! HMAC-SHA2-256/384/512, and the DH groups ecp256, ecp384, curve25519 and modp2048 (modp1024
//! is left out as weak). Its default ESP proposal is classic only (AES-CBC 128/192/256 with
//! HMAC-SHA2-256/384/512 or SHA-1, no ESN, no DH group): it includes no AEAD for ESP because it
//! cannot know whether the kernel supports it.
//!
//! So:
//! - IKEv2: `aes128gcm16-prfsha256-ecp256` first (modern, cheap, in strongSwan's AEAD default),
//!   then `aes128-sha256-ecp256-modp2048` for peers that only take classic ciphers. Both
//!   proposals contain ecp256, the group of the key exchange payload sent with IKE_SA_INIT, so
//!   whichever proposal the responder selects can match it; a responder that still picks
//!   another group costs one INVALID_KE_PAYLOAD round trip (RFC 7296 1.2). modp2048 is there for
//!   peers without elliptic curves.
//! - IKEv1 has no AEAD ciphers for the IKE SA and one algorithm of each kind per proposal:
//!   `aes128-sha256-ecp256`, then `aes128-sha256-modp2048`.
//! - ESP: `aes128gcm16` first (offloaded by most NICs and preferred when the peer allows it),
//!   then `aes128-sha256`, which is in strongSwan's default ESP proposal. Both carry the groups
//!   of the default IKE proposals, ecp256 and modp2048, for PFS on CHILD_SA rekeys, as
//!   strongSwan 6.0's default ESP proposals (the IKE groups) and Libreswan's (the IKE SA's
//!   group) do. In IKE_AUTH the groups are left out (RFC 7296 1.2).
//! - PFS (`pfs`) is `optional`: as responder, a CHILD_SA with a key exchange is accepted when
//!   its group is one of the IKE or ESP proposals' groups, and one without is accepted too
//!   (Libreswan proposes PFS on every CHILD_SA rekey; strongSwan 5.9's defaults never do). As
//!   initiator of a CHILD_SA rekey we send a key exchange of the first ESP proposal's group;
//!   a peer that answers NO_PROPOSAL_CHOSEN (strongSwan 5.9 at its defaults) is asked again
//!   at once without one, and later rekeys on that IKE SA go without. `pfs = "required"`
//!   refuses CHILD_SAs without a key exchange and never retries without.
//! - Lifetimes follow strongSwan's `rekey_time` defaults: 4h for the IKE SA, 1h for child SAs.
//! - DPD every 30s (strongSwan leaves DPD off by default; a gateway that fails over between
//!   active and standby routes must notice a dead peer).
//! - Connections wait for the peer (`listen`) unless told to initiate.

use std::time::Duration;

use super::model::{IkeVersion, StartAction};
use super::proposal::{EspProposal, IkeProposal};

/// Default IKE proposals for a connection of the given version, most preferred first.
pub const IKEV2_PROPOSALS: &[&str] = &[
    "aes128gcm16-prfsha256-ecp256",
    "aes128-sha256-ecp256-modp2048",
];
/// Default IKEv1 (ISAKMP SA) proposals.
pub const IKEV1_PROPOSALS: &[&str] = &["aes128-sha256-ecp256", "aes128-sha256-modp2048"];
/// Default ESP proposals.
pub const ESP_PROPOSALS: &[&str] = &[
    "aes128gcm16-ecp256-modp2048",
    "aes128-sha256-ecp256-modp2048",
];

pub const IKE_LIFETIME: Duration = Duration::from_secs(4 * 60 * 60);
pub const CHILD_LIFETIME: Duration = Duration::from_secs(60 * 60);
pub const DPD_INTERVAL: Duration = Duration::from_secs(30);
pub const START_ACTION: StartAction = StartAction::Listen;
pub const VERSION: IkeVersion = IkeVersion::V2;

/// Shortest lifetime accepted. Short enough for rekey tests, long enough that a rekey (one
/// round trip plus retransmissions) fits well inside it.
pub const MIN_LIFETIME: Duration = Duration::from_secs(10);
/// Shortest DPD interval accepted.
pub const MIN_DPD_INTERVAL: Duration = Duration::from_secs(1);
/// Shortest `dpd_timeout`: below this a busy peer on a slow path would be declared dead.
pub const MIN_DPD_TIMEOUT: Duration = Duration::from_secs(2);

/// The default IKE proposals, parsed.
pub fn ike_proposals(version: IkeVersion) -> Vec<IkeProposal> {
    let texts = match version {
        IkeVersion::V2 => IKEV2_PROPOSALS,
        IkeVersion::V1 => IKEV1_PROPOSALS,
    };
    // The texts are constants checked by the tests below; a failure would drop a proposal,
    // never panic.
    texts
        .iter()
        .filter_map(|t| IkeProposal::parse(t).ok())
        .collect()
}

/// The default ESP proposals, parsed.
pub fn esp_proposals() -> Vec<EspProposal> {
    ESP_PROPOSALS
        .iter()
        .filter_map(|t| EspProposal::parse(t).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_proposals_all_parse() {
        assert_eq!(ike_proposals(IkeVersion::V2).len(), IKEV2_PROPOSALS.len());
        assert_eq!(ike_proposals(IkeVersion::V1).len(), IKEV1_PROPOSALS.len());
        assert_eq!(esp_proposals().len(), ESP_PROPOSALS.len());
        assert!(ike_proposals(IkeVersion::V1)
            .iter()
            .all(IkeProposal::is_single_choice));
        assert!(ike_proposals(IkeVersion::V1)
            .iter()
            .all(|p| p.encryption.iter().all(|e| !e.is_aead())));
    }

    #[test]
    fn default_esp_proposals_offer_pfs_with_the_ike_groups() {
        let ike_groups: Vec<_> = ike_proposals(IkeVersion::V2)
            .iter()
            .flat_map(|p| p.dh.clone())
            .collect();
        let esp = esp_proposals();
        assert!(esp.iter().all(|p| !p.dh.is_empty()));
        assert!(esp
            .iter()
            .flat_map(|p| &p.dh)
            .all(|g| ike_groups.contains(g)));
        assert_eq!(
            esp.first().and_then(|p| p.dh.first()),
            ike_groups.first(),
            "a rekey's key exchange uses the IKE SA's default group"
        );
    }

    #[test]
    fn every_default_ike_proposal_shares_the_first_dh_group() {
        let proposals = ike_proposals(IkeVersion::V2);
        let first = proposals.first().and_then(|p| p.dh.first()).copied();
        assert!(first.is_some());
        assert!(proposals.iter().all(|p| p.dh.first().copied() == first));
    }
}
