//! `ikehub-loadgen`: an IKE load generator for benchmarks, not part of the gateway.
//!
//! It drives one ikehub engine holding N initiator connections over one UDP socket: each
//! connection has its own local traffic selector (10.H.L.0/24 for tunnel index H*256+L), the
//! same peer, the same PSK and proposal. At most `--in-flight` setups run at once.
//!
//! IKEv2 (the default): `aes128gcm16-prfsha256-GROUP`, the CHILD_SA `aes128gcm16` in
//! IKE_AUTH. A setup's latency runs from the moment its IKE_SA_INIT request is handed to the
//! socket to the processing of the IKE_AUTH response (the engine's ChildUp).
//!
//! IKEv1 (`--ike-version 1`): Main Mode with `aes128-sha256-GROUP`, then Quick Mode for ESP
//! `aes128-sha256` without PFS. A setup runs from Main Mode's first message to the IPsec SA
//! pair installed after Quick Mode's second message (the engine's ChildUp; the third goes
//! out with it).
//!
//! The tunnels are never deleted: the responder keeps them after the generator exits.
//!
//! With `--id-per-tunnel` each tunnel presents an identity of its own (the FQDN
//! `tN.loadgen.invalid`, N its index) instead of its address, as distinct peers do. A
//! responder that accepts any identity with the key (strongSwan's `id = %any`) then sees a
//! distinct peer per tunnel: strongSwan's IKEv1 responder looks through the ISAKMP SAs of
//! the same identities on every Main Mode (to adopt their IPsec SAs on re-authentication),
//! which with one identity for thousands of tunnels costs it more than the setup itself.
//!
//! Prints one JSON object on stdout. Exits non-zero, naming the tunnel, as soon as any setup
//! fails or the whole run exceeds `--timeout`. Kernel intents are acknowledged without
//! touching the kernel, so the generator needs no privileges beyond binding UDP port 500.
//!
//! `ikehub-loadgen --local 192.0.2.1 --remote 192.0.2.2 --tunnels 2000 --group ecp256`
//!
//! Built only with the `loadgen` feature (`cargo build --release --features loadgen --bin
//! ikehub-loadgen`), so that `cargo install` leaves it out.
//!
//! With `--flood-seconds N` it sets up no tunnel: it sends IKE_SA_INIT requests, each with a
//! new SPI and padded to `--flood-size` bytes, as fast as its socket takes them, for N
//! seconds, and answers every cookie challenge (a source that owns its address, so cookies
//! do not stop it). It never sends IKE_AUTH: every answered request leaves a half-open SA on
//! the responder. The report counts requests sent, cookies answered, and the answers.
#![forbid(unsafe_code)]

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use clap::Parser;
use ikehub::algorithm::{DhGroup, Encryption, Integrity, Prf};
use ikehub::crypto::SystemRandom;
use ikehub::ike::nat_t::{self, NatTDatagram};
use ikehub::ike::{
    AuthMethod, ConnId, ConnectionSettings, Engine, EngineSettings, EspProposal, Event,
    IdentityKind, IkeIdentity, IkeProposal, IkeVersion, PreSharedKey,
};
use ikehub::wire::ikev2::{
    emit_message, parse_message, ExchangeType, Header, Message, Notify, NotifyType, Payload,
    ProtocolId, GENERIC_HEADER_LEN,
};
use ipnet::{IpNet, Ipv4Net};
use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::resource::{getrusage, UsageWho};
use nix::sys::time::{TimeSpec, TimeVal, TimeValLike};
use zeroize::Zeroizing;

const IKE_PORT: u16 = 500;
/// RFC 7296 2.23: once NAT detection payloads were exchanged the initiator may move to 4500,
/// as ikehub does against strongSwan; IKE there travels behind the non-ESP marker.
const NATT_PORT: u16 = 4500;
/// Tunnel indexes map to 10.H.L.0/24: 65536 distinct selectors.
const MAX_TUNNELS: u32 = 1 << 16;

/// IKEv2 and IKEv1 PSK load generator (benchmark tool).
#[derive(Debug, Parser)]
#[command(name = "ikehub-loadgen")]
struct Args {
    /// Local address to send from (UDP port 500).
    #[arg(long)]
    local: IpAddr,
    /// The responder's address (UDP port 500).
    #[arg(long)]
    remote: IpAddr,
    /// Number of tunnels (IKE SA + CHILD_SA) to set up.
    #[arg(long, default_value_t = 1000)]
    tunnels: u32,
    /// Index of the first tunnel: selects the first local selector, so that a second run
    /// against the same responder adds tunnels instead of repeating selectors.
    #[arg(long, default_value_t = 0)]
    first: u32,
    /// Setups in progress at once.
    #[arg(long, default_value_t = 32)]
    in_flight: u32,
    /// Key exchange group: ecp256, curve25519 or modp2048.
    #[arg(long, default_value = "ecp256")]
    group: String,
    /// IKE version: 2 (IKE_SA_INIT + IKE_AUTH) or 1 (Main Mode + Quick Mode).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    ike_version: u8,
    /// Each tunnel presents an identity of its own (see the module documentation).
    #[arg(long)]
    id_per_tunnel: bool,
    /// Pre-shared key (a benchmark key, not a secret).
    #[arg(long, default_value = "ikehub benchmark pre-shared key")]
    psk: String,
    /// The responder's protected subnet (the remote selector of every tunnel).
    #[arg(long, default_value = "172.16.0.0/16")]
    remote_subnet: IpNet,
    /// Give up (exit 1) when the run takes longer than this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Sends of a request before its setup fails (the first after 1 s, then 1.8 times the
    /// previous wait); few, so that a lost setup shows quickly.
    #[arg(long, default_value_t = 3)]
    retransmit_tries: u32,
    /// Instead of tunnels: flood the responder with IKE_SA_INIT requests for this many
    /// seconds (see `flood`).
    #[arg(long, default_value_t = 0)]
    flood_seconds: u64,
    /// Size in bytes of each flood request, padded with a Vendor ID payload (the responder
    /// drops requests over 8192 bytes unread, so the default stays just under).
    #[arg(long, default_value_t = 8000)]
    flood_size: usize,
}

fn parse_group(name: &str) -> Result<DhGroup, String> {
    match name {
        "ecp256" => Ok(DhGroup::Ecp256),
        "curve25519" => Ok(DhGroup::Curve25519),
        "modp2048" => Ok(DhGroup::Modp2048),
        other => Err(format!(
            "unknown group `{other}` (ecp256, curve25519, modp2048)"
        )),
    }
}

/// The local selector of tunnel `index`: 10.H.L.0/24.
fn tunnel_subnet(index: u32) -> Result<IpNet, String> {
    if index >= MAX_TUNNELS {
        return Err(format!(
            "tunnel index {index} exceeds {MAX_TUNNELS} selectors"
        ));
    }
    let [_, _, high, low] = index.to_be_bytes();
    Ipv4Net::new([10, high, low, 0].into(), 24)
        .map(IpNet::V4)
        .map_err(|e| e.to_string())
}

/// The proposals of one version: IKEv2 `aes128gcm16-prfsha256-GROUP` with ESP
/// `aes128gcm16`; IKEv1, which takes one algorithm of each kind and no AEAD for phase 1,
/// `aes128-sha256-GROUP` with ESP `aes128-sha256` (no PFS: phase 1 and phase 2 compare like
/// for like with IKEv2's CHILD_SA in IKE_AUTH).
fn proposals(version: IkeVersion, group: DhGroup) -> (IkeProposal, EspProposal) {
    match version {
        IkeVersion::V2 => (
            IkeProposal {
                encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
                integrity: vec![],
                prf: vec![Prf::HmacSha256],
                dh: vec![group],
            },
            EspProposal {
                encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
                integrity: vec![],
                dh: vec![],
                esn: false,
            },
        ),
        IkeVersion::V1 => (
            IkeProposal {
                encryption: vec![Encryption::AesCbc { key_bits: 128 }],
                integrity: vec![Integrity::HmacSha256_128],
                prf: vec![Prf::HmacSha256],
                dh: vec![group],
            },
            EspProposal {
                encryption: vec![Encryption::AesCbc { key_bits: 128 }],
                integrity: vec![Integrity::HmacSha256_128],
                dh: vec![],
                esn: false,
            },
        ),
    }
}

fn ike_version(number: u8) -> IkeVersion {
    if number == 1 {
        IkeVersion::V1
    } else {
        IkeVersion::V2
    }
}

fn connection(args: &Args, group: DhGroup, index: u32) -> Result<ConnectionSettings, String> {
    let version = ike_version(args.ike_version);
    let (ike, esp) = proposals(version, group);
    Ok(ConnectionSettings {
        name: format!("t{index}"),
        local_addr: args.local,
        remote_addr: Some(args.remote),
        remote_name: None,
        local_id: if args.id_per_tunnel {
            IkeIdentity {
                kind: IdentityKind::Fqdn,
                data: format!("t{index}.loadgen.invalid").into_bytes(),
            }
        } else {
            IkeIdentity::from_address(args.local)
        },
        remote_id: Some(IkeIdentity::from_address(args.remote)),
        psk: PreSharedKey(Zeroizing::new(args.psk.as_bytes().to_vec())),
        local_auth: AuthMethod::Psk,
        remote_auth: AuthMethod::Psk,
        local_subnets: vec![tunnel_subnet(index)?],
        remote_subnets: vec![args.remote_subnet],
        ike_proposals: vec![ike],
        esp_proposals: vec![esp],
        ike_lifetime: Duration::from_secs(4 * 3600),
        child_lifetime: Duration::from_secs(3600),
        dpd_interval: None,
        dpd_timeout: None,
        initiate: false,
        trap: false,
        if_id: None,
        offload: ikehub::ike::Offload::None,
        pfs: ikehub::ike::Pfs::Optional,
        version,
        aggressive: false,
        close_action: ikehub::ike::CloseAction::None,
    })
}

/// The value at percentile `p` (0..=100) of sorted samples, nearest-rank.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU time (user + system) this process has used so far.
fn own_cpu() -> Duration {
    let Ok(usage) = getrusage(UsageWho::RUSAGE_SELF) else {
        return Duration::ZERO;
    };
    let tv = |t: TimeVal| Duration::from_micros(u64::try_from(t.num_microseconds()).unwrap_or(0));
    tv(usage.user_time()) + tv(usage.system_time())
}

fn bind(addr: SocketAddr) -> Result<UdpSocket, String> {
    let socket = UdpSocket::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| format!("{addr}: {e}"))?;
    Ok(socket)
}

/// One datagram if one is waiting.
fn receive(socket: &UdpSocket, buf: &mut [u8]) -> Result<Option<(usize, SocketAddr)>, String> {
    match socket.recv_from(buf) {
        Ok(received) => Ok(Some(received)),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(format!("receive: {e}")),
    }
}

/// Block until one of the sockets is readable or `wait` has passed.
fn wait_readable(sockets: &[&UdpSocket], wait: Duration) -> Result<(), String> {
    let mut fds: Vec<PollFd> = sockets
        .iter()
        .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
        .collect();
    // ppoll rather than poll: waits are as short as 100 µs, below poll's millisecond.
    match ppoll(&mut fds, Some(TimeSpec::from(wait)), None) {
        Ok(_) | Err(Errno::EINTR) => Ok(()),
        Err(e) => Err(format!("poll: {e}")),
    }
}

struct Run {
    latencies_ms: Vec<f64>,
    elapsed: Duration,
    cpu: Duration,
    retransmits: u64,
}

/// The engine, its sockets and the bookkeeping of the setups in progress.
struct Generator {
    engine: Engine,
    local: SocketAddr,
    local_natt: SocketAddr,
    socket: UdpSocket,
    socket_natt: UdpSocket,
    framed: Vec<u8>,
    /// Index of the first tunnel (`--first`), for error messages.
    first: u32,
    in_flight_limit: u32,
    started_at: Vec<Option<Instant>>,
    latencies_ms: Vec<f64>,
    next: usize,
    in_flight: u32,
}

impl Generator {
    fn done(&self) -> bool {
        self.latencies_ms.len() == self.started_at.len()
    }

    /// A setup is left to start and `--in-flight` allows it now.
    fn can_start(&self) -> bool {
        self.next < self.started_at.len() && self.in_flight < self.in_flight_limit
    }

    /// The tunnel's number as the user counts them (from `--first`).
    fn tunnel_number(&self, index: u32) -> u64 {
        u64::from(index) + u64::from(self.first)
    }

    /// Hand everything the engine has to the socket and read its events, then start setups
    /// until `--in-flight` are running (a setup that completed frees its slot at once).
    /// Called after every datagram, not once per batch of them: a request the responder
    /// could already work on is never held back while the generator computes the next
    /// response.
    fn step(&mut self) -> Result<(), String> {
        loop {
            self.drain()?;
            if !self.can_start() {
                return Ok(());
            }
            while self.can_start() {
                let index = u32::try_from(self.next).map_err(|e| e.to_string())?;
                let now = Instant::now();
                self.engine
                    .initiate(now, ConnId(index))
                    .map_err(|e| format!("tunnel {}: initiate: {e}", self.tunnel_number(index)))?;
                self.started_at[self.next] = Some(now);
                self.next += 1;
                self.in_flight += 1;
            }
        }
    }

    /// Everything the engine has: kernel intents (acknowledged), datagrams, events.
    fn drain(&mut self) -> Result<(), String> {
        let now = Instant::now();
        while let Some(intent) = self.engine.poll_kernel() {
            self.engine.handle_kernel_result(now, intent.id(), Ok(()));
        }
        while let Some(transmit) = self.engine.poll_transmit() {
            let sent = if transmit.local.port() == NATT_PORT || transmit.remote.port() == NATT_PORT
            {
                nat_t::frame(&transmit.payload, &mut self.framed);
                self.socket_natt.send_to(&self.framed, transmit.remote)
            } else {
                self.socket.send_to(&transmit.payload, transmit.remote)
            };
            sent.map_err(|e| format!("send to {}: {e}", transmit.remote))?;
        }
        while let Some(event) = self.engine.poll_event() {
            match event {
                Event::ChildUp { conn, .. } => {
                    let index = conn.0 as usize;
                    let start = self
                        .started_at
                        .get_mut(index)
                        .and_then(Option::take)
                        .ok_or_else(|| format!("tunnel {index}: a second CHILD_SA came up"))?;
                    self.latencies_ms
                        .push(Instant::now().duration_since(start).as_secs_f64() * 1e3);
                    self.in_flight = self.in_flight.saturating_sub(1);
                }
                Event::IkeDown { conn, reason, .. } | Event::ChildFailed { conn, reason, .. } => {
                    return Err(format!(
                        "tunnel {} failed: {reason:?}",
                        self.tunnel_number(conn.0)
                    ));
                }
                Event::IkeUp { .. }
                | Event::ChildDown { .. }
                | Event::IkeRekeyed { .. }
                | Event::Refused { .. }
                | Event::TrapFailed { .. } => {}
            }
        }
        Ok(())
    }

    /// Handle every datagram waiting on either socket, stepping after each; the sockets
    /// take turns, so that a stream of IKE_SA_INIT responses on one does not hold back the
    /// IKE_AUTH responses (which free slots) on the other.
    fn receive_all(&mut self, buf: &mut [u8]) -> Result<(), String> {
        loop {
            let mut received = false;
            if let Some((len, from)) = receive(&self.socket, buf)? {
                received = true;
                let datagram = buf.get(..len).unwrap_or_default();
                self.engine
                    .handle_datagram(Instant::now(), self.local, from, datagram);
                self.step()?;
            }
            if let Some((len, from)) = receive(&self.socket_natt, buf)? {
                received = true;
                let datagram = buf.get(..len).unwrap_or_default();
                if let NatTDatagram::Ike(ike) = nat_t::classify(datagram) {
                    self.engine
                        .handle_datagram(Instant::now(), self.local_natt, from, ike);
                    self.step()?;
                }
            }
            if !received {
                return Ok(());
            }
        }
    }
}

fn run(args: &Args) -> Result<Run, String> {
    let group = parse_group(&args.group)?;
    if args.tunnels == 0 || args.in_flight == 0 {
        return Err("--tunnels and --in-flight must be at least 1".into());
    }
    let last = args
        .first
        .checked_add(args.tunnels)
        .filter(|end| *end <= MAX_TUNNELS)
        .ok_or_else(|| format!("--first + --tunnels exceeds {MAX_TUNNELS}"))?;
    let connections = (args.first..last)
        .map(|i| connection(args, group, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut settings = EngineSettings::new(connections);
    // Fail fast rather than hide a lost setup behind minutes of retransmissions.
    settings.retransmit_timeout = Duration::from_secs(1);
    settings.retransmit_tries = args.retransmit_tries;
    // Every tunnel is between the same two identities: INITIAL_CONTACT from each would make
    // the responder remove the tunnels before it (RFC 7296 2.4).
    settings.initial_contact = false;
    let local = SocketAddr::new(args.local, IKE_PORT);
    let local_natt = SocketAddr::new(args.local, NATT_PORT);
    let total = args.tunnels as usize;
    let mut generator = Generator {
        engine: Engine::new(settings, Box::new(SystemRandom::new())),
        local,
        local_natt,
        socket: bind(local)?,
        socket_natt: bind(local_natt)?,
        framed: Vec::with_capacity(2048),
        first: args.first,
        in_flight_limit: args.in_flight,
        started_at: vec![None; total],
        latencies_ms: Vec::with_capacity(total),
        next: 0,
        in_flight: 0,
    };
    let mut buf = vec![0u8; 65536];
    let cpu_before = own_cpu();
    let begin = Instant::now();
    let deadline = begin + Duration::from_secs(args.timeout);
    generator.step()?;
    while !generator.done() {
        let now = Instant::now();
        if now > deadline {
            return Err(format!(
                "timeout: {} of {total} tunnels up after {} s",
                generator.latencies_ms.len(),
                args.timeout
            ));
        }
        let wait = generator
            .engine
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_micros(100), Duration::from_millis(100));
        wait_readable(&[&generator.socket, &generator.socket_natt], wait)?;
        generator.receive_all(&mut buf)?;
        let now = Instant::now();
        if generator.engine.poll_timeout().is_some_and(|t| t <= now) {
            generator.engine.handle_timeout(now);
            generator.step()?;
        }
    }
    let elapsed = begin.elapsed();
    Ok(Run {
        latencies_ms: generator.latencies_ms,
        elapsed,
        cpu: own_cpu().saturating_sub(cpu_before),
        retransmits: generator.engine.stats().retransmits,
    })
}

fn report(args: &Args, run: &Run) -> serde_json::Value {
    let mut sorted = run.latencies_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let tunnels = f64::from(args.tunnels);
    serde_json::json!({
        "tunnels": args.tunnels,
        "first": args.first,
        "group": args.group,
        "ike_version": args.ike_version,
        "id_per_tunnel": args.id_per_tunnel,
        "in_flight": args.in_flight,
        "elapsed_s": run.elapsed.as_secs_f64(),
        "setups_per_s": tunnels / run.elapsed.as_secs_f64().max(1e-9),
        "latency_ms": {
            "p50": percentile(&sorted, 50.0),
            "p99": percentile(&sorted, 99.0),
            "min": sorted.first().copied().unwrap_or(f64::NAN),
            "max": sorted.last().copied().unwrap_or(f64::NAN),
        },
        "initiator_cpu_ms_per_setup": run.cpu.as_secs_f64() * 1e3 / tunnels,
        "retransmits": run.retransmits,
    })
}

/// Requests sent per turn of the flood loop before the answers are read.
const FLOOD_BURST: u32 = 32;
/// After the flood: how long the responder may stay silent before its last answers are
/// taken as all come.
const FLOOD_QUIET: Duration = Duration::from_millis(300);

/// What a flood did.
#[derive(Debug, Default)]
struct Flood {
    /// Requests the socket took, first sends and those returning a cookie.
    sent: u64,
    /// Cookie challenges received and answered (included in `sent`).
    cookies: u64,
    /// IKE_SA_INIT responses with an SA payload: half-open SAs the responder created.
    answered: u64,
    /// Other answers (error notifies).
    refused: u64,
    /// Sends the socket refused for a full buffer (not counted in `sent`).
    send_blocked: u64,
    request_bytes: usize,
    elapsed: Duration,
}

/// The first IKE_SA_INIT of a tunnel like the others, with a Vendor ID payload that pads
/// it to `size` bytes.
fn flood_template(args: &Args) -> Result<(Header, Vec<Payload>), String> {
    let group = parse_group(&args.group)?;
    let settings = EngineSettings::new(vec![connection(args, group, 0)?]);
    let mut engine = Engine::new(settings, Box::new(SystemRandom::new()));
    engine
        .initiate(Instant::now(), ConnId(0))
        .map_err(|e| format!("initiate: {e}"))?;
    let first = engine
        .poll_transmit()
        .ok_or("the engine sent no IKE_SA_INIT")?;
    let message = parse_message(&first.payload).map_err(|e| format!("IKE_SA_INIT: {e}"))?;
    let mut payloads = message.payloads;
    let unpadded = emit_message(&message.header, &payloads).len();
    let padding = args
        .flood_size
        .checked_sub(unpadded + GENERIC_HEADER_LEN)
        .ok_or_else(|| {
            format!(
                "--flood-size must be at least {}",
                unpadded + GENERIC_HEADER_LEN
            )
        })?;
    payloads.push(Payload::Vendor(vec![0x5a; padding]));
    Ok((message.header, payloads))
}

/// The cookie of a COOKIE challenge (RFC 7296 2.6), if `message` is one.
fn cookie_of(message: &Message) -> Option<&[u8]> {
    message.payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == NotifyType::Cookie => Some(n.data.as_slice()),
        _ => None,
    })
}

/// Send IKE_SA_INIT requests for `--flood-seconds`, answering cookie challenges.
fn flood(args: &Args) -> Result<Flood, String> {
    if args.ike_version != 2 {
        return Err("the flood sends IKEv2 IKE_SA_INIT requests: --ike-version 2 only".into());
    }
    let (header, payloads) = flood_template(args)?;
    let remote = SocketAddr::new(args.remote, IKE_PORT);
    let socket = bind(SocketAddr::new(args.local, IKE_PORT))?;
    let mut request = emit_message(&header, &payloads);
    let mut result = Flood {
        request_bytes: request.len(),
        ..Flood::default()
    };
    // SPIs of this run: the process id above, a count below.
    let spi_base = u64::from(std::process::id()) << 32;
    let mut count = 0u64;
    let mut buf = vec![0u8; 65536];
    let begin = Instant::now();
    let end = begin + Duration::from_secs(args.flood_seconds);
    let mut quiet_since = None;
    loop {
        let now = Instant::now();
        let flooding = now < end;
        if flooding {
            for _ in 0..FLOOD_BURST {
                count += 1;
                let spi = (spi_base | (count & 0xffff_ffff)).to_be_bytes();
                if let Some(field) = request.get_mut(..8) {
                    field.copy_from_slice(&spi);
                }
                match socket.send_to(&request, remote) {
                    Ok(_) => result.sent += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        result.send_blocked += 1;
                        break;
                    }
                    Err(e) => return Err(format!("send to {remote}: {e}")),
                }
            }
        }
        let mut received = false;
        while let Some((len, _)) = receive(&socket, &mut buf)? {
            received = true;
            let Ok(answer) = parse_message(buf.get(..len).unwrap_or_default()) else {
                continue;
            };
            if answer.header.exchange != ExchangeType::IkeSaInit || !answer.header.flags.response {
                continue;
            }
            if let Some(cookie) = cookie_of(&answer) {
                let mut again = header;
                again.spi_i = answer.header.spi_i;
                let mut with_cookie = vec![Payload::Notify(Notify {
                    protocol: ProtocolId::None,
                    spi: Vec::new(),
                    notify_type: NotifyType::Cookie,
                    data: cookie.to_vec(),
                })];
                with_cookie.extend(payloads.iter().cloned());
                if socket
                    .send_to(&emit_message(&again, &with_cookie), remote)
                    .is_ok()
                {
                    result.sent += 1;
                    result.cookies += 1;
                }
            } else if answer.payloads.iter().any(|p| matches!(p, Payload::Sa(_))) {
                result.answered += 1;
            } else {
                result.refused += 1;
            }
        }
        if flooding {
            continue;
        }
        // The flood is over: wait for the last answers until the responder is quiet.
        if received {
            quiet_since = None;
        }
        let since = *quiet_since.get_or_insert(now);
        if now.duration_since(since) >= FLOOD_QUIET {
            break;
        }
        wait_readable(&[&socket], Duration::from_millis(10))?;
    }
    result.elapsed = end.saturating_duration_since(begin);
    Ok(result)
}

fn flood_report(args: &Args, flood: &Flood) -> serde_json::Value {
    serde_json::json!({
        "flood_seconds": args.flood_seconds,
        "request_bytes": flood.request_bytes,
        "sent": flood.sent,
        "requests_per_s": flood.sent as f64 / flood.elapsed.as_secs_f64().max(1e-9),
        "cookies": flood.cookies,
        "answered": flood.answered,
        "refused": flood.refused,
        "send_blocked": flood.send_blocked,
    })
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.flood_seconds > 0 {
        return match flood(&args) {
            Ok(flood) => {
                println!("{}", flood_report(&args, &flood));
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ikehub-loadgen: flood: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(run) => {
            println!("{}", report(&args, &run));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ikehub-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), 50.0);
        assert_eq!(percentile(&samples, 99.0), 99.0);
        assert_eq!(percentile(&samples, 100.0), 100.0);
        assert_eq!(percentile(&samples, 0.0), 1.0);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn tunnel_subnets_are_distinct_and_bounded() {
        assert_eq!(tunnel_subnet(0).ok(), "10.0.0.0/24".parse().ok());
        assert_eq!(tunnel_subnet(258).ok(), "10.1.2.0/24".parse().ok());
        assert_eq!(tunnel_subnet(65535).ok(), "10.255.255.0/24".parse().ok());
        assert!(tunnel_subnet(65536).is_err());
    }

    #[test]
    fn groups_parse() {
        assert_eq!(parse_group("curve25519"), Ok(DhGroup::Curve25519));
        assert!(parse_group("modp1024").is_err());
    }
}
