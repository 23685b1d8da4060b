//! Two IKE engines joined by a simulated network: virtual time, latency, seeded random loss,
//! an optional NAT in front of side A, and per side a kernel held in the library's in-memory SA
//! table (the one `ikehub daemon --dataplane recording` keeps its SAs in). Modelled on
//! quinn-proto's test `Pair`: `step` drives both sides, then jumps time to the earliest
//! wakeup; `drive_until` runs until a condition holds or a virtual deadline passes.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ikehub::algorithm::{DhGroup, Encryption, Prf};
use ikehub::crypto::testing::DeterministicRandom;
use ikehub::ike::{
    AuthMethod, ConnectionSettings, Engine, EngineSettings, EspProposal, Event, IkeIdentity,
    IkeProposal, IntentId, KernelFailure, KernelIntent, PreSharedKey, Transmit,
};
use ikehub::kernel::mock::{InstalledSa, SaTable};
use ipnet::IpNet;
use zeroize::Zeroizing;

pub const A_ADDR: &str = "192.0.2.1";
pub const B_ADDR: &str = "192.0.2.2";
/// The public address of the NAT in front of A, when enabled.
pub const NAT_ADDR: &str = "203.0.113.7";

/// One side's kernel: the library's model of the kernel's SA database, and what the engine
/// asked of it.
#[derive(Default)]
pub struct Kernel {
    /// The SAs installed, whole (keys included), by (destination, SPI).
    pub sas: SaTable<InstalledSa>,
    /// Every intent the engine issued, in order.
    pub log: Vec<KernelIntent>,
    /// Refuse every install with this message (to test the failure path).
    pub refuse: Option<String>,
    /// The `out` policies installed, with their reqid (policies without SAs included).
    pub policies: HashMap<PolicyKey, u32>,
}

/// The `out` policy of one selector pair, as the kernel finds it: (local, remote).
pub type PolicyKey = (IpNet, IpNet);

impl Kernel {
    /// The `out` policies the intents leave (in and fwd follow them), with their reqid.
    fn apply_policies(&mut self, intent: &KernelIntent) {
        let pairs = |local: &[IpNet], remote: &[IpNet]| -> Vec<PolicyKey> {
            local
                .iter()
                .flat_map(|l| remote.iter().map(move |r| (l.trunc(), r.trunc())))
                .collect()
        };
        match intent {
            KernelIntent::InstallChild { child, .. } => {
                for key in pairs(&child.local_selectors, &child.remote_selectors) {
                    self.policies.insert(key, child.reqid);
                }
            }
            KernelIntent::DeleteChild {
                remove_policies: true,
                local_selectors,
                remote_selectors,
                ..
            } => {
                for key in pairs(local_selectors, remote_selectors) {
                    self.policies.remove(&key);
                }
            }
            KernelIntent::InstallTrap { trap, .. } => {
                for key in pairs(&trap.local_selectors, &trap.remote_selectors) {
                    self.policies.insert(key, trap.reqid);
                }
            }
            KernelIntent::RemoveTrap { trap, .. } => {
                for key in pairs(&trap.local_selectors, &trap.remote_selectors) {
                    self.policies.remove(&key);
                }
            }
            KernelIntent::DeleteChild { .. } | KernelIntent::InstallOutbound { .. } => {}
        }
    }

    /// Carries out `intent` as the kernel would; returns the result the engine waits for, if
    /// it waits for one (installs).
    fn carry_out(&mut self, intent: KernelIntent) -> Option<(IntentId, Result<(), KernelFailure>)> {
        let awaited = match &intent {
            KernelIntent::InstallChild { id, .. } => match &self.refuse {
                Some(message) => Some((
                    *id,
                    Err(KernelFailure {
                        errno: None,
                        message: message.clone(),
                    }),
                )),
                None => Some((*id, Ok(()))),
            },
            KernelIntent::InstallOutbound { id, .. }
            | KernelIntent::InstallTrap { id, .. }
            | KernelIntent::RemoveTrap { id, .. } => Some((*id, Ok(()))),
            KernelIntent::DeleteChild { .. } => None,
        };
        if !matches!(awaited, Some((_, Err(_)))) {
            self.sas.apply(&intent);
            self.apply_policies(&intent);
        }
        self.log.push(intent);
        awaited
    }
}

pub struct Side {
    pub engine: Engine,
    pub addr: IpAddr,
    pub kernel: Kernel,
    pub events: Vec<Event>,
}

impl Side {
    pub fn new(settings: EngineSettings, seed: u64, addr: IpAddr) -> Side {
        Side {
            engine: Engine::new(settings, Box::new(DeterministicRandom::new(seed))),
            addr,
            kernel: Kernel::default(),
            events: Vec::new(),
        }
    }

    pub fn ike_up(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::IkeUp { .. }))
            .count()
    }

    pub fn child_up(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::ChildUp { .. }))
            .count()
    }

    pub fn ike_down(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::IkeDown { .. }))
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Which {
    A,
    B,
}

struct InFlight {
    at: Instant,
    to: Which,
    transmit: Transmit,
}

pub struct Pair {
    pub a: Side,
    pub b: Side,
    pub now: Instant,
    pub start: Instant,
    pub latency: Duration,
    /// Probability in percent that a datagram is lost.
    pub loss_percent: u32,
    /// Drop everything in both directions (a cut link).
    pub cut: bool,
    /// Put a NAT in front of A: its packets leave from NAT_ADDR with the port +
    /// `nat_port_offset`, and what comes to NAT_ADDR goes to A.
    pub nat_a: bool,
    /// 10000 by default; 0 makes the NAT keep the ports, as one that forwards UDP 500 and
    /// 4500 to a responder behind it does.
    pub nat_port_offset: u16,
    /// Every datagram that was delivered, in order: (to, transmit as received).
    pub delivered: Vec<(Which, Transmit)>,
    /// A receiver's socket buffer: at most this many datagrams arriving at one side in one
    /// step are delivered, the rest are dropped (counted in `overflowed`). `None`: no limit.
    pub receive_buffer: Option<usize>,
    /// Datagrams dropped by `receive_buffer`.
    pub overflowed: usize,
    in_flight: Vec<InFlight>,
    rng_state: u64,
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A connection between A and B with the given proposals; A protects 10.1.0.0/16, B 10.2.0.0/16.
pub fn connection(local: &str, remote: &str, initiate: bool) -> ConnectionSettings {
    let (local_net, remote_net) = if local == A_ADDR {
        ("10.1.0.0/16", "10.2.0.0/16")
    } else {
        ("10.2.0.0/16", "10.1.0.0/16")
    };
    ConnectionSettings {
        name: format!("to-{remote}"),
        local_addr: ip(local),
        remote_addr: Some(ip(remote)),
        remote_name: None,
        local_id: IkeIdentity::from_address(ip(local)),
        remote_id: Some(IkeIdentity::from_address(ip(remote))),
        psk: PreSharedKey(Zeroizing::new(b"correct horse battery staple".to_vec())),
        local_auth: AuthMethod::Psk,
        remote_auth: AuthMethod::Psk,
        local_subnets: vec![local_net.parse().expect("net")],
        remote_subnets: vec![remote_net.parse().expect("net")],
        ike_proposals: vec![IkeProposal {
            encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
            integrity: vec![],
            prf: vec![Prf::HmacSha256],
            dh: vec![DhGroup::Ecp256],
        }],
        esp_proposals: vec![EspProposal {
            encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
            integrity: vec![],
            dh: vec![],
            esn: false,
        }],
        ike_lifetime: Duration::from_secs(4 * 3600),
        child_lifetime: Duration::from_secs(3600),
        dpd_interval: Some(Duration::from_secs(30)),
        dpd_timeout: None,
        initiate,
        trap: false,
        if_id: None,
        offload: ikehub::ike::Offload::None,
        pfs: ikehub::ike::Pfs::Optional,
        version: ikehub::ike::IkeVersion::V2,
        aggressive: false,
        close_action: if initiate {
            ikehub::ike::CloseAction::Restart
        } else {
            ikehub::ike::CloseAction::None
        },
    }
}

/// An IKEv1 connection: [`connection`] with proposals both versions share (AES-CBC,
/// SHA-256, ECP-256; no PFS).
pub fn v1_connection(local: &str, remote: &str, initiate: bool) -> ConnectionSettings {
    let mut c = connection(local, remote, initiate);
    c.version = ikehub::ike::IkeVersion::V1;
    c.ike_proposals = vec![IkeProposal {
        encryption: vec![Encryption::AesCbc { key_bits: 128 }],
        integrity: vec![ikehub::algorithm::Integrity::HmacSha256_128],
        prf: vec![Prf::HmacSha256],
        dh: vec![DhGroup::Ecp256],
    }];
    c.esp_proposals = vec![EspProposal {
        encryption: vec![Encryption::AesCbc { key_bits: 128 }],
        integrity: vec![ikehub::algorithm::Integrity::HmacSha256_128],
        dh: vec![],
        esn: false,
    }];
    c
}

impl Pair {
    pub fn new(a: EngineSettings, b: EngineSettings) -> Pair {
        Pair::seeded(a, b, 0)
    }

    /// A pair whose engines draw SPIs and nonces from random sources fixed by `seed`.
    pub fn seeded(a: EngineSettings, b: EngineSettings, seed: u64) -> Pair {
        let now = Instant::now();
        Pair {
            a: Side::new(a, 2 * seed + 1, ip(A_ADDR)),
            b: Side::new(b, 2 * seed + 2, ip(B_ADDR)),
            now,
            start: now,
            latency: Duration::from_millis(5),
            loss_percent: 0,
            cut: false,
            nat_a: false,
            nat_port_offset: 10000,
            delivered: Vec::new(),
            receive_buffer: None,
            overflowed: 0,
            in_flight: Vec::new(),
            rng_state: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// A initiates to B, B listens: the default site-to-site pair.
    pub fn default_pair() -> Pair {
        Pair::new(
            EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]),
            EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false)]),
        )
    }

    /// Lose `percent` of all datagrams, in a pattern fixed by `seed`.
    pub fn set_loss(&mut self, percent: u32, seed: u64) {
        self.loss_percent = percent;
        self.rng_state = 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
        if self.rng_state == 0 {
            self.rng_state = 1;
        }
    }

    pub fn side(&mut self, which: Which) -> &mut Side {
        match which {
            Which::A => &mut self.a,
            Which::B => &mut self.b,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn chance(&mut self, percent: u32) -> bool {
        // xorshift64*: reproducible loss patterns.
        self.rng_state ^= self.rng_state >> 12;
        self.rng_state ^= self.rng_state << 25;
        self.rng_state ^= self.rng_state >> 27;
        let r = self.rng_state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (r % 100) < u64::from(percent)
    }

    /// Collect what a side produced: datagrams onto the wire, intents into its kernel, events.
    fn collect(&mut self, which: Which) -> bool {
        let mut progressed = false;
        let now = self.now;
        let latency = self.latency;
        let mut outgoing = Vec::new();
        {
            let side = self.side(which);
            while let Some(t) = side.engine.poll_transmit() {
                outgoing.push(t);
            }
            while let Some(intent) = side.engine.poll_kernel() {
                progressed = true;
                if let Some((id, result)) = side.kernel.carry_out(intent) {
                    side.engine.handle_kernel_result(now, id, result);
                }
            }
            while let Some(e) = side.engine.poll_event() {
                progressed = true;
                side.events.push(e);
            }
        }
        for mut t in outgoing {
            progressed = true;
            if self.cut || (self.loss_percent > 0 && self.chance(self.loss_percent)) {
                continue;
            }
            let to = if which == Which::A {
                if self.nat_a {
                    t.local = SocketAddr::new(ip(NAT_ADDR), t.local.port() + self.nat_port_offset);
                }
                Which::B
            } else {
                if self.nat_a && t.remote.ip() == ip(NAT_ADDR) {
                    t.remote = SocketAddr::new(ip(A_ADDR), t.remote.port() - self.nat_port_offset);
                }
                Which::A
            };
            self.in_flight.push(InFlight {
                at: now + latency,
                to,
                transmit: t,
            });
        }
        progressed
    }

    /// Inject a datagram as if `from`'s peer had sent it now.
    pub fn inject(&mut self, to: Which, local: SocketAddr, remote: SocketAddr, payload: Vec<u8>) {
        let now = self.now;
        let side = self.side(to);
        side.engine.handle_datagram(now, local, remote, &payload);
    }

    /// One round: collect outputs, deliver due datagrams, else advance time to the next
    /// wakeup. Returns false when nothing is pending at all.
    pub fn step(&mut self) -> bool {
        assert!(
            self.a.engine.sas_by_connection_consistent(),
            "A's SAs by connection"
        );
        assert!(
            self.b.engine.sas_by_connection_consistent(),
            "B's SAs by connection"
        );
        let mut progressed = self.collect(Which::A) | self.collect(Which::B);
        let now = self.now;
        let due: Vec<InFlight> = {
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
                .into_iter()
                .partition(|f| f.at <= now);
            self.in_flight = later;
            due
        };
        let mut arrived = [0usize; 2];
        for f in due {
            progressed = true;
            let count = &mut arrived[usize::from(f.to == Which::B)];
            *count += 1;
            if self.receive_buffer.is_some_and(|room| *count > room) {
                self.overflowed += 1;
                continue;
            }
            // The receiver sees its own address as local, the sender's (possibly NATed) as remote.
            let (local, remote) = (f.transmit.remote, f.transmit.local);
            self.delivered.push((f.to, f.transmit.clone()));
            let side = self.side(f.to);
            side.engine
                .handle_datagram(now, local, remote, &f.transmit.payload);
        }
        if progressed {
            return true;
        }
        let next = [
            self.in_flight.iter().map(|f| f.at).min(),
            self.a.engine.poll_timeout(),
            self.b.engine.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            Some(at) => {
                if at > self.now {
                    self.now = at;
                }
                let now = self.now;
                self.a.engine.handle_timeout(now);
                self.b.engine.handle_timeout(now);
                true
            }
            None => false,
        }
    }

    /// Drive until `done` holds; false if `limit` of virtual time passed first or everything
    /// went idle.
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let deadline = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if self.now > deadline || !self.step() {
                return done(self);
            }
        }
    }

    /// Like `drive_until`, calling `check` after every step (for invariants that must hold at
    /// every moment).
    pub fn drive_checked(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Pair) -> bool,
        mut check: impl FnMut(&Pair),
    ) -> bool {
        let deadline = self.now + limit;
        loop {
            check(self);
            if done(self) {
                return true;
            }
            if self.now > deadline || !self.step() {
                return done(self);
            }
        }
    }

    pub fn established(&self) -> bool {
        self.a.ike_up() >= 1
            && self.b.ike_up() >= 1
            && self.a.kernel.sas.len() >= 2
            && self.b.kernel.sas.len() >= 2
    }
}
