//! In-memory cost of a full IKEv2 setup (IKE_SA_INIT + IKE_AUTH with the CHILD_SA, PSK),
//! per side, with no network and no kernel: the engine's own CPU time.
//!
//! Run: `cargo bench --bench handshake [-- SETUPS [GROUP]]` (GROUP: ecp256, curve25519,
//! modp2048; default 2000 setups of ecp256). Both engines run in one thread; the time spent
//! inside each engine's calls is summed per side. Tunnels are kept, so the SA tables grow
//! to SETUPS entries as they would on a hub.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ikehub::algorithm::{DhGroup, Encryption, Prf};
use ikehub::crypto::SystemRandom;
use ikehub::ike::{
    AuthMethod, ConnectionSettings, Engine, EngineSettings, EspProposal, IkeIdentity, IkeProposal,
    KernelIntent, PreSharedKey,
};
use zeroize::Zeroizing;

fn connection(local: IpAddr, remote: IpAddr, group: DhGroup, initiate: bool) -> ConnectionSettings {
    ConnectionSettings {
        name: "bench".into(),
        local_addr: local,
        remote_addr: Some(remote),
        remote_name: None,
        local_id: IkeIdentity::from_address(local),
        remote_id: Some(IkeIdentity::from_address(remote)),
        psk: PreSharedKey(Zeroizing::new(b"benchmark pre-shared key".to_vec())),
        local_auth: AuthMethod::Psk,
        remote_auth: AuthMethod::Psk,
        local_subnets: vec!["10.1.0.0/16".parse().expect("net")],
        remote_subnets: vec!["10.2.0.0/16".parse().expect("net")],
        ike_proposals: vec![IkeProposal {
            encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
            integrity: vec![],
            prf: vec![Prf::HmacSha256],
            dh: vec![group],
        }],
        esp_proposals: vec![EspProposal {
            encryption: vec![Encryption::AesGcm16 { key_bits: 128 }],
            integrity: vec![],
            dh: vec![],
            esn: false,
        }],
        ike_lifetime: Duration::from_secs(14400),
        child_lifetime: Duration::from_secs(3600),
        dpd_interval: None,
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

/// Drain an engine's outputs; returns the datagrams it wants sent.
fn drain(engine: &mut Engine, now: Instant) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(t) = engine.poll_transmit() {
        out.push((t.local, t.remote, t.payload));
    }
    while let Some(intent) = engine.poll_kernel() {
        if let KernelIntent::InstallChild { id, .. } = intent {
            engine.handle_kernel_result(now, id, Ok(()));
        }
    }
    while engine.poll_event().is_some() {}
    out
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let setups: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let group = match args.get(1).map(String::as_str) {
        Some("curve25519") => DhGroup::Curve25519,
        Some("modp2048") => DhGroup::Modp2048,
        _ => DhGroup::Ecp256,
    };
    let a_ip: IpAddr = "192.0.2.1".parse().expect("ip");
    let b_ip: IpAddr = "192.0.2.2".parse().expect("ip");
    let mut a = Engine::new(
        EngineSettings::new(vec![connection(a_ip, b_ip, group, true)]),
        Box::new(SystemRandom::new()),
    );
    let mut b = Engine::new(
        EngineSettings::new(vec![connection(b_ip, a_ip, group, false)]),
        Box::new(SystemRandom::new()),
    );
    let conn = a.connection_id("bench").expect("connection");
    let (mut initiator, mut responder) = (Duration::ZERO, Duration::ZERO);
    let mut latencies = Vec::with_capacity(setups);
    let mut responder_each = Vec::with_capacity(setups);
    let now = Instant::now();
    for _ in 0..setups {
        let t0 = Instant::now();
        a.initiate(now, conn).expect("initiate");
        let mut to_b = drain(&mut a, now);
        initiator += t0.elapsed();
        // Two round trips: INIT, AUTH.
        let mut this_responder = Duration::ZERO;
        for _ in 0..2 {
            let t = Instant::now();
            for (src, dst, bytes) in to_b.drain(..) {
                b.handle_datagram(now, dst, src, &bytes);
            }
            let to_a = drain(&mut b, now);
            this_responder += t.elapsed();
            let t = Instant::now();
            for (src, dst, bytes) in to_a {
                a.handle_datagram(now, dst, src, &bytes);
            }
            to_b = drain(&mut a, now);
            initiator += t.elapsed();
        }
        responder += this_responder;
        responder_each.push(this_responder);
        latencies.push(t0.elapsed());
    }
    let established = a.established(conn).count();
    assert_eq!(established, setups, "every setup completed");
    latencies.sort();
    let per = |d: Duration| d.as_secs_f64() * 1e3 / setups as f64;
    let pct = |p: usize| {
        latencies[(latencies.len() * p / 100).min(latencies.len() - 1)].as_secs_f64() * 1e3
    };
    println!("{setups} IKEv2 setups, {group}, aes128gcm16/prfsha256, PSK, CHILD_SA aes128gcm16 in IKE_AUTH");
    println!("  responder CPU per setup: {:.4} ms", per(responder));
    println!("  initiator CPU per setup: {:.4} ms", per(initiator));
    println!(
        "  in-memory setup time p50 {:.4} ms, p99 {:.4} ms (both sides, one thread)",
        pct(50),
        pct(99)
    );
    // The cost of a setup must not grow with the number of SAs already established.
    let tenth = (setups / 10).max(1);
    let mean =
        |d: &[Duration]| d.iter().sum::<Duration>().as_secs_f64() * 1e3 / d.len().max(1) as f64;
    println!(
        "  responder CPU per setup, first 10%: {:.4} ms, last 10% (with {} SAs established): {:.4} ms",
        mean(&responder_each[..tenth]),
        setups - tenth,
        mean(&responder_each[setups - tenth..])
    );
    println!(
        "  setups/s with one core per side: {:.0}",
        setups as f64 / responder.as_secs_f64().max(initiator.as_secs_f64())
    );
}
