//! Whatever arrives, the engine does not panic and an established tunnel survives: random
//! datagrams, and real datagrams of a handshake with bytes flipped, cut or appended, fed to
//! both engines at every stage of an exchange.

mod support {
    pub mod pair;
}

use std::time::Duration;

use ikehub::ike::SaState;
use proptest::prelude::*;
use support::pair::{Pair, Which};

/// A pair that went through a full handshake and a CHILD_SA rekey; its datagrams are the
/// material for mutations.
fn recorded_pair() -> Pair {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(Duration::from_secs(60), Pair::established));
    let conn = pair.a.engine.connection_ids().next().expect("connection");
    let now = pair.now;
    pair.a.engine.rekey_children(now, conn);
    pair.drive_until(Duration::from_secs(5), |_| false);
    pair
}

/// A's established IKE SAs, by SPIs.
fn established_spis(pair: &Pair) -> Vec<(u64, u64)> {
    pair.a
        .engine
        .sas()
        .filter(|sa| sa.state == SaState::Established)
        .map(|sa| (sa.spi_i, sa.spi_r))
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Truncate { len: usize },
    Append { bytes: Vec<u8> },
    Random { bytes: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(|bytes| Mutation::Append { bytes }),
        proptest::collection::vec(any::<u8>(), 0..600).prop_map(|bytes| Mutation::Random { bytes }),
    ]
}

fn apply(original: &[u8], m: &Mutation) -> Vec<u8> {
    let mut d = original.to_vec();
    match m {
        Mutation::Flip { at, xor } => {
            if !d.is_empty() {
                let i = at % d.len();
                d[i] ^= xor;
            }
        }
        Mutation::Truncate { len } => d.truncate(len % (d.len() + 1)),
        Mutation::Append { bytes } => d.extend_from_slice(bytes),
        Mutation::Random { bytes } => d = bytes.clone(),
    }
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_datagrams_never_panic_and_the_tunnel_survives(
        picks in proptest::collection::vec((any::<usize>(), mutation()), 1..40)
    ) {
        let mut pair = recorded_pair();
        let recorded = pair.delivered.clone();
        let sas_before = established_spis(&pair);
        for (pick, m) in &picks {
            let (to, t) = &recorded[pick % recorded.len()];
            let datagram = apply(&t.payload, m);
            // Deliver to the intended receiver and, mirrored, to the other side too.
            pair.inject(*to, t.remote, t.local, datagram.clone());
            let other = if *to == Which::A { Which::B } else { Which::A };
            pair.inject(other, t.local, t.remote, datagram);
        }
        // Let whatever was provoked play out; the tunnel must still carry on.
        pair.drive_until(Duration::from_secs(5), |_| false);
        prop_assert!(pair.established());
        // A mutated IKE_SA_INIT that still parses is a new request like any other and may
        // leave a half-open SA (kept while its initiator could still retransmit); the
        // established SAs are what must not change.
        prop_assert_eq!(sas_before, established_spis(&pair));
    }
}
