//! The engine target: the input is a decrypted message, sealed with a real SA's keys and handed
//! to an engine in a chosen exchange state, so it reaches the exchange handlers behind the
//! integrity check that random datagrams never pass.
//!
//! Input: octet 0 picks the [`Scenario`] (and, above the number of scenarios, another
//! exchange type for the same state), octet 1 is the first inner payload type, the rest the
//! inner payload chain. A chain the codec refuses is not sealed: the codec's own target covers
//! that path.
//!
//! After each input the engines must not have panicked, must hold a bounded number of SAs,
//! CHILD_SAs and kernel intents, and an established SA that the input left in place must still
//! answer a liveness check sealed with its peer's keys.

use crate::ike::{Engine, SaId, SaState};
use crate::wire::ikev2::{self, ExchangeType, PayloadType};

use super::duo::{Duo, Peer};

/// Where the SAs stand when the input arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// IKE_SA_INIT done, A's IKE_AUTH request held back: B is half-open, A waits.
    AuthPending,
    /// The SA is established, nothing in flight.
    Established,
    /// Established, and B's request for this command held back (its response outstanding).
    BRequested(Command),
}

/// What B is asked to start on the established SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    RekeyChild,
    NewChild,
    RekeyIke,
    DeleteIke,
}

impl Command {
    pub const ALL: [Command; 4] = [
        Command::RekeyChild,
        Command::NewChild,
        Command::RekeyIke,
        Command::DeleteIke,
    ];

    pub fn run(self, duo: &mut Duo, on: Peer) {
        let now = duo.now;
        let engine = duo.engine(on);
        let Some(conn) = engine.connection_ids().next() else {
            return;
        };
        match self {
            Command::RekeyChild => engine.rekey_children(now, conn),
            Command::NewChild => {
                engine.create_child(now, conn);
            }
            Command::RekeyIke => engine.rekey_ike(now, conn),
            Command::DeleteIke => engine.terminate(now, conn),
        }
        duo.collect();
    }
}

/// One state and the message the input becomes in it.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub setup: Setup,
    /// The engine the sealed input goes to; its peer's SA seals it.
    pub to: Peer,
    pub response: bool,
    pub exchange: ExchangeType,
}

const fn scenario(
    name: &'static str,
    setup: Setup,
    to: Peer,
    response: bool,
    exchange: ExchangeType,
) -> Scenario {
    Scenario {
        name,
        setup,
        to,
        response,
        exchange,
    }
}

pub const SCENARIOS: [Scenario; 10] = [
    scenario(
        "auth-request",
        Setup::AuthPending,
        Peer::B,
        false,
        ExchangeType::IkeAuth,
    ),
    scenario(
        "auth-response",
        Setup::AuthPending,
        Peer::A,
        true,
        ExchangeType::IkeAuth,
    ),
    scenario(
        "informational",
        Setup::Established,
        Peer::B,
        false,
        ExchangeType::Informational,
    ),
    scenario(
        "create-child",
        Setup::Established,
        Peer::B,
        false,
        ExchangeType::CreateChildSa,
    ),
    scenario(
        "child-rekey-response",
        Setup::BRequested(Command::RekeyChild),
        Peer::B,
        true,
        ExchangeType::CreateChildSa,
    ),
    scenario(
        "new-child-response",
        Setup::BRequested(Command::NewChild),
        Peer::B,
        true,
        ExchangeType::CreateChildSa,
    ),
    scenario(
        "ike-rekey-response",
        Setup::BRequested(Command::RekeyIke),
        Peer::B,
        true,
        ExchangeType::CreateChildSa,
    ),
    scenario(
        "delete-response",
        Setup::BRequested(Command::DeleteIke),
        Peer::B,
        true,
        ExchangeType::Informational,
    ),
    // The peer's request while B's own rekey is in flight: the collisions of RFC 7296 2.8.1.
    scenario(
        "request-during-child-rekey",
        Setup::BRequested(Command::RekeyChild),
        Peer::B,
        false,
        ExchangeType::CreateChildSa,
    ),
    scenario(
        "request-during-ike-rekey",
        Setup::BRequested(Command::RekeyIke),
        Peer::B,
        false,
        ExchangeType::CreateChildSa,
    ),
];

/// Exchange types an input may ask for instead of its scenario's (octet 0 above the count).
const OTHER_EXCHANGES: [ExchangeType; 3] = [
    ExchangeType::IkeAuth,
    ExchangeType::CreateChildSa,
    ExchangeType::Informational,
];

/// Most datagrams delivered after the input: bounds a ping-pong the input might start.
const SETTLE_LIMIT: usize = 64;
/// Bounds on what one input may leave: SAs per engine, CHILD_SAs per SA, intents per engine.
const MAX_SAS: usize = 4;
const MAX_CHILDREN: usize = 8;
const MAX_INTENTS: usize = 64;

/// A state reached: the engines, the original SA on each side, and the datagram held back.
pub struct Staged {
    pub duo: Duo,
    pub a_sa: SaId,
    pub b_sa: SaId,
    /// The original SA's SPIs (initiator's, responder's): SA ids are reused once an SA goes.
    pub spis: (u64, u64),
    pub held: Option<(Peer, Vec<u8>)>,
}

impl Staged {
    /// The SA of `peer` the handshake made.
    pub fn sa(&self, peer: Peer) -> SaId {
        match peer {
            Peer::A => self.a_sa,
            Peer::B => self.b_sa,
        }
    }

    /// `peer` still holds the original SA under its id.
    pub fn holds_original(&self, peer: Peer) -> bool {
        let engine = match peer {
            Peer::A => &self.duo.a,
            Peer::B => &self.duo.b,
        };
        engine
            .sa(self.sa(peer))
            .is_some_and(|sa| (sa.spi_i, sa.spi_r) == self.spis)
    }
}

fn is_exchange(datagram: &[u8], exchange: ExchangeType) -> bool {
    ikev2::parse_message(datagram).is_ok_and(|m| m.header.exchange == exchange)
}

/// Brings two fresh engines into `setup`. Deterministic: the same engines, SPIs and keys
/// each time.
pub fn stage(setup: Setup) -> Option<Staged> {
    let mut duo = Duo::new();
    let held = match setup {
        Setup::AuthPending => {
            let now = duo.now;
            duo.a.start(now);
            let held = duo.settle_until(8, |_, d| is_exchange(d, ExchangeType::IkeAuth))?;
            Some(held)
        }
        Setup::Established => {
            if !duo.establish() {
                return None;
            }
            None
        }
        Setup::BRequested(command) => {
            if !duo.establish() {
                return None;
            }
            command.run(&mut duo, Peer::B);
            duo.wire.pop_front().map(|(to, t)| (to, t.payload))
        }
    };
    let (a_sa, b_sa) = duo.first_sas()?;
    let spis = duo.a.sa(a_sa).map(|sa| (sa.spi_i, sa.spi_r))?;
    Some(Staged {
        duo,
        a_sa,
        b_sa,
        spis,
        held,
    })
}

/// The message ID the input carries in `scenario`'s state.
pub fn message_id(staged: &Staged, scenario: &Scenario) -> Option<u32> {
    let to = scenario.to;
    let ids = match to {
        Peer::A => staged.duo.a.message_ids(staged.a_sa)?,
        Peer::B => staged.duo.b.message_ids(staged.b_sa)?,
    };
    if scenario.response {
        ids.outstanding
    } else {
        Some(ids.expected_request)
    }
}

/// Runs one input (see the module's comment for its layout).
pub fn run(data: &[u8]) {
    let [pick, first, chain @ ..] = data else {
        return;
    };
    let Ok(payloads) = ikev2::parse_payloads(PayloadType::from(*first), chain) else {
        return;
    };
    let count = SCENARIOS.len();
    let scenario = SCENARIOS[usize::from(*pick) % count];
    let exchange = match usize::from(*pick) / count % (OTHER_EXCHANGES.len() + 1) {
        0 => scenario.exchange,
        other => OTHER_EXCHANGES[other - 1],
    };
    let Some(mut staged) = stage(scenario.setup) else {
        panic!(
            "{}: the engines did not reach {:?}",
            scenario.name, scenario.setup
        );
    };
    let Some(message_id) = message_id(&staged, &scenario) else {
        panic!("{}: no message ID to answer", scenario.name);
    };
    let (to, from) = (scenario.to, scenario.to.other());
    let sealer = staged.sa(from);
    let datagram = staged
        .duo
        .engine(from)
        .seal_as_sa(sealer, exchange, scenario.response, message_id, &payloads)
        .expect("the peer's SA has keys");
    staged.duo.deliver(to, &datagram);
    staged.duo.settle(SETTLE_LIMIT);
    check_invariants(&mut staged);
}

fn check_invariants(staged: &mut Staged) {
    let duo = &staged.duo;
    for (peer, engine, intents) in [
        (Peer::A, &duo.a, duo.intents.0),
        (Peer::B, &duo.b, duo.intents.1),
    ] {
        let sas = engine.sas().count();
        assert!(sas <= MAX_SAS, "{peer:?} holds {sas} IKE SAs");
        for sa in engine.sas() {
            let children = sa.children.len();
            assert!(
                children <= MAX_CHILDREN,
                "{peer:?} SA holds {children} CHILD_SAs"
            );
        }
        assert!(
            intents <= MAX_INTENTS,
            "{peer:?} issued {intents} kernel intents"
        );
    }
    for peer in [Peer::A, Peer::B] {
        assert!(
            answers_liveness(staged, peer),
            "{peer:?}'s established SA no longer answers a liveness check"
        );
    }
}

/// True unless `peer`'s original SA is still established and current but leaves an empty
/// INFORMATIONAL request (RFC 7296 2.4), sealed with the other side's keys, unanswered.
fn answers_liveness(staged: &mut Staged, peer: Peer) -> bool {
    let (sa, sealer) = (staged.sa(peer), staged.sa(peer.other()));
    if !staged.holds_original(peer) || !staged.holds_original(peer.other()) {
        // One side let the SA go (the input deleted or replaced it): nothing to ask.
        return true;
    }
    let current = |engine: &Engine| {
        engine
            .sa(sa)
            .is_some_and(|s| s.state == SaState::Established && s.replaced_by.is_none())
    };
    let duo = &mut staged.duo;
    if !current(duo.engine(peer)) {
        return true;
    }
    let Some(ids) = duo.engine(peer).message_ids(sa) else {
        return true;
    };
    let Some(request) = duo.engine(peer.other()).seal_as_sa(
        sealer,
        ExchangeType::Informational,
        false,
        ids.expected_request,
        &[],
    ) else {
        return true;
    };
    duo.wire.clear();
    duo.deliver(peer, &request);
    duo.wire.iter().any(|(to, _)| *to == peer.other())
}
