//! The IKEv1 target: ISAKMP datagrams (major version 1) through `Engine::handle_datagram`,
//! to a responder with an IKEv1 connection for the sender. Whatever the bytes, the engine
//! must not panic, makes at most one (half-open) SA of a first message, and asks nothing of
//! the kernel: no IPsec SA comes without a completed phase 1 and Quick Mode.

use crate::ike::IkeVersion;

use super::duo::{engine_with, Peer};

/// Offset of the version octet in the ISAKMP header (after both cookies and next payload).
const VERSION_OFFSET: usize = 17;
/// Shorter datagrams are no message of either version.
const HEADER_LEN: usize = 28;

pub fn run(data: &[u8]) {
    let mut datagram = data.to_vec();
    // Keep every input on the IKEv1 path: its major version becomes 1, the minor stays.
    let ikev1 = datagram.len() >= HEADER_LEN;
    if let Some(version) = datagram.get_mut(VERSION_OFFSET).filter(|_| ikev1) {
        *version = 0x10 | (*version & 0x0f);
    }
    let mut responder = engine_with(Peer::B, |c| c.version = IkeVersion::V1);
    let now = std::time::Instant::now();
    let (local, remote) = (Peer::B.addr(), Peer::A.addr());
    responder.handle_datagram(now, local, remote, &datagram);
    let stats = responder.stats();
    if !ikev1 {
        // Too short for a header: the IKEv2 path drops it as malformed.
        assert_eq!(stats.dropped_malformed, 1);
        return;
    }
    assert!(responder.sas().count() <= 1, "one datagram, one SA at most");
    assert!(
        responder.poll_kernel().is_none(),
        "no IPsec SA from one datagram"
    );
    assert!(
        responder.poll_transmit().into_iter().count() <= 1,
        "one answer at most"
    );
}
