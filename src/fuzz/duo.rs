//! Two engines on an instant, lossless network whose datagrams the caller can hold back: what
//! the engine target needs to bring an SA into a chosen state before it speaks for one side.
//! Unlike the integration tests' `Pair`, there is no virtual clock, loss or NAT: a fuzz input
//! must replay the same way each time, and cheaply.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::algorithm::{DhGroup, Encryption, Prf};
use crate::crypto::testing::DeterministicRandom;
use crate::ike::{
    AuthMethod, CloseAction, ConnectionSettings, Engine, EngineSettings, EspProposal, IkeIdentity,
    IkeProposal, KernelIntent, Offload, Pfs, PreSharedKey, SaId, SaState, Transmit,
};

/// One of the two engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The initiator of the connection.
    A,
    /// The responder.
    B,
}

impl Peer {
    pub fn other(self) -> Peer {
        match self {
            Peer::A => Peer::B,
            Peer::B => Peer::A,
        }
    }

    pub fn addr(self) -> SocketAddr {
        let last = match self {
            Peer::A => 1,
            Peer::B => 2,
        };
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)), 500)
    }
}

/// The connection from `local` to the other peer. Key exchanges use MODP group 2: ring draws
/// ECDH keys from the system's RNG, while MODP exponents come from the injected deterministic
/// one, so every run derives the same keys, an input replays the same way and a recorded AUTH
/// payload verifies again; group 2 is the cheapest MODP group. The ESP proposal has a key
/// exchange so that rekeys carry KE payloads.
fn connection(local: Peer, initiate: bool) -> ConnectionSettings {
    let subnet = |peer: Peer| match peer {
        Peer::A => "10.1.0.0/16".parse().expect("subnet"),
        Peer::B => "10.2.0.0/16".parse().expect("subnet"),
    };
    let remote = local.other();
    ConnectionSettings {
        name: format!("{remote:?}").to_lowercase(),
        local_addr: local.addr().ip(),
        remote_addr: Some(remote.addr().ip()),
        remote_name: None,
        local_id: IkeIdentity::from_address(local.addr().ip()),
        remote_id: Some(IkeIdentity::from_address(remote.addr().ip())),
        psk: PreSharedKey(Zeroizing::new(b"fuzzing is not a secret".to_vec())),
        local_auth: AuthMethod::Psk,
        remote_auth: AuthMethod::Psk,
        local_subnets: vec![subnet(local)],
        remote_subnets: vec![subnet(remote)],
        ike_proposals: vec![IkeProposal {
            encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
            integrity: vec![],
            prf: vec![Prf::HmacSha256],
            dh: vec![DhGroup::Modp1024],
        }],
        esp_proposals: vec![EspProposal {
            encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
            integrity: vec![],
            dh: vec![DhGroup::Modp1024],
            esn: false,
        }],
        ike_lifetime: Duration::from_secs(4 * 3600),
        child_lifetime: Duration::from_secs(3600),
        dpd_interval: Some(Duration::from_secs(30)),
        dpd_timeout: None,
        initiate,
        trap: false,
        if_id: None,
        offload: Offload::None,
        pfs: Pfs::Optional,
        version: crate::ike::IkeVersion::V2,
        aggressive: false,
        close_action: CloseAction::None,
    }
}

/// An engine with one connection to the other peer, its randomness fixed by `peer`.
pub fn engine(peer: Peer) -> Engine {
    engine_with(peer, |_| {})
}

/// As [`engine`], with the connection changed first.
pub fn engine_with(peer: Peer, change: impl FnOnce(&mut ConnectionSettings)) -> Engine {
    let seed = match peer {
        Peer::A => 1,
        Peer::B => 2,
    };
    let mut conn = connection(peer, peer == Peer::A);
    change(&mut conn);
    Engine::new(
        EngineSettings::new(vec![conn]),
        Box::new(DeterministicRandom::new(seed)),
    )
}

pub struct Duo {
    pub a: Engine,
    pub b: Engine,
    pub now: Instant,
    /// Datagrams sent and not delivered yet, with their receiver, in order.
    pub wire: VecDeque<(Peer, Transmit)>,
    /// Every datagram delivered, with its receiver.
    pub delivered: Vec<(Peer, Transmit)>,
    /// Kernel intents each engine issued (A, B).
    pub intents: (usize, usize),
}

impl Duo {
    pub fn new() -> Duo {
        Duo {
            a: engine(Peer::A),
            b: engine(Peer::B),
            now: Instant::now(),
            wire: VecDeque::new(),
            delivered: Vec::new(),
            intents: (0, 0),
        }
    }

    pub fn engine(&mut self, peer: Peer) -> &mut Engine {
        match peer {
            Peer::A => &mut self.a,
            Peer::B => &mut self.b,
        }
    }

    /// Drains both engines: every install succeeds at once, datagrams go onto the wire and
    /// events are dropped.
    pub fn collect(&mut self) {
        let now = self.now;
        for peer in [Peer::A, Peer::B] {
            let mut issued = 0;
            let engine = self.engine(peer);
            while let Some(intent) = engine.poll_kernel() {
                issued += 1;
                if let KernelIntent::InstallChild { id, .. }
                | KernelIntent::InstallOutbound { id, .. }
                | KernelIntent::InstallTrap { id, .. }
                | KernelIntent::RemoveTrap { id, .. } = intent
                {
                    engine.handle_kernel_result(now, id, Ok(()));
                }
            }
            while engine.poll_event().is_some() {}
            let mut sent = Vec::new();
            while let Some(t) = engine.poll_transmit() {
                sent.push((peer.other(), t));
            }
            match peer {
                Peer::A => self.intents.0 += issued,
                Peer::B => self.intents.1 += issued,
            }
            self.wire.extend(sent);
        }
    }

    /// Hands `datagram` to `to` as if its peer had sent it.
    pub fn deliver(&mut self, to: Peer, datagram: &[u8]) {
        let now = self.now;
        let (local, remote) = (to.addr(), to.other().addr());
        self.engine(to)
            .handle_datagram(now, local, remote, datagram);
        self.collect();
    }

    /// Delivers the wire in order until it is empty or `limit` datagrams went; true if empty.
    pub fn settle(&mut self, limit: usize) -> bool {
        self.collect();
        for _ in 0..limit {
            let Some((to, t)) = self.wire.pop_front() else {
                return true;
            };
            self.deliver(to, &t.payload);
            self.delivered.push((to, t));
        }
        self.wire.is_empty()
    }

    /// Delivers the wire until the next datagram satisfies `hold`, which is taken off the
    /// wire and returned instead.
    pub fn settle_until(
        &mut self,
        limit: usize,
        mut hold: impl FnMut(Peer, &[u8]) -> bool,
    ) -> Option<(Peer, Vec<u8>)> {
        self.collect();
        for _ in 0..limit {
            let (to, t) = self.wire.pop_front()?;
            if hold(to, &t.payload) {
                return Some((to, t.payload));
            }
            self.deliver(to, &t.payload);
            self.delivered.push((to, t));
        }
        None
    }

    /// A starts its connection; false unless both ends end up with an established IKE SA.
    pub fn establish(&mut self) -> bool {
        let now = self.now;
        self.a.start(now);
        self.settle(16);
        let up = |engine: &Engine| engine.sas().any(|sa| sa.state == SaState::Established);
        up(&self.a) && up(&self.b)
    }

    /// The first IKE SA of each side (A's, B's) that share SPIs: the one the handshake made.
    pub fn first_sas(&self) -> Option<(SaId, SaId)> {
        let a = self.a.sas().next()?;
        let b = self.b.sa_by_local_spi(a.spi_r)?;
        Some((a.id, b))
    }
}

impl Default for Duo {
    fn default() -> Duo {
        Duo::new()
    }
}
