//! The IKEv1 target: ISAKMP datagrams (major version 1) through `Engine::handle_datagram`.
//! IKEv1 is not implemented, so the engine must count each one in `dropped_ikev1` and do
//! nothing else: no answer, no SA, no kernel intent, at most the one `Refused` event per peer.
//! The IKEv1 codec, when it comes, gets its own target; this one guards the dispatch.

use crate::ike::Event;

use super::duo::{engine, Peer};

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
    let mut responder = engine(Peer::B);
    let now = std::time::Instant::now();
    let (local, remote) = (Peer::B.addr(), Peer::A.addr());
    responder.handle_datagram(now, local, remote, &datagram);
    let stats = responder.stats();
    if !ikev1 {
        // Too short for a header: the IKEv2 path drops it as malformed.
        assert_eq!(stats.dropped_malformed, 1);
        return;
    }
    assert_eq!(stats.dropped_ikev1, 1, "an IKEv1 datagram is counted once");
    assert!(
        responder.poll_transmit().is_none(),
        "IKEv1 is never answered"
    );
    assert!(
        responder.poll_kernel().is_none(),
        "IKEv1 never reaches the kernel"
    );
    assert_eq!(responder.sas().count(), 0, "IKEv1 creates no SA");
    while let Some(event) = responder.poll_event() {
        assert!(
            matches!(event, Event::Refused { .. }),
            "unexpected {event:?}"
        );
    }
}
