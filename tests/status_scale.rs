//! Cost of one `status` at hub scale: an engine holding many established IKE SAs (each with
//! its CHILD_SA), snapshotted in one pass, counters read in one batched dataplane call, then
//! encoded as the daemon's answer and read back into the bytes `status --json` prints, and
//! rendered for humans.
//!
//! Ignored by default (it sets up every SA first); run it optimised:
//! `cargo test --release --test status_scale -- --ignored --nocapture`
//! (`IKEHUB_STATUS_SAS` sets the number of SAs; default 10000).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ikehub::algorithm::{DhGroup, Encryption, Prf};
use ikehub::crypto::SystemRandom;
use ikehub::daemon::control::{self, Response};
use ikehub::daemon::status::{self, Counters, DaemonFacts};
use ikehub::ike::{
    AuthMethod, ConnectionSettings, Engine, EngineSettings, EspProposal, IkeIdentity, IkeProposal,
    KernelIntent, PreSharedKey,
};
use ikehub::kernel::mock::RecordingDataplane;
use ikehub::kernel::Dataplane;
use zeroize::Zeroizing;

fn connection(local: IpAddr, remote: IpAddr, initiate: bool) -> ConnectionSettings {
    let (mine, theirs) = if initiate {
        ("10.1.0.0/16", "10.2.0.0/16")
    } else {
        ("10.2.0.0/16", "10.1.0.0/16")
    };
    ConnectionSettings {
        name: "scale".into(),
        local_addr: local,
        remote_addr: Some(remote),
        remote_name: None,
        local_id: IkeIdentity::from_address(local),
        remote_id: Some(IkeIdentity::from_address(remote)),
        psk: PreSharedKey(Zeroizing::new(b"status scale test key".to_vec())),
        local_auth: AuthMethod::Psk,
        remote_auth: AuthMethod::Psk,
        local_subnets: vec![mine.parse().expect("net")],
        remote_subnets: vec![theirs.parse().expect("net")],
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

/// Drain an engine: kernel intents go to its dataplane, datagrams are returned.
fn drain(
    engine: &mut Engine,
    dataplane: &mut RecordingDataplane,
    runtime: &tokio::runtime::Runtime,
    now: Instant,
) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
    let intents: Vec<KernelIntent> = std::iter::from_fn(|| engine.poll_kernel()).collect();
    for (id, result) in runtime.block_on(dataplane.apply(intents)) {
        engine.handle_kernel_result(now, id, result.map_err(ikehub::ike::KernelFailure::from));
    }
    let mut out = Vec::new();
    while let Some(t) = engine.poll_transmit() {
        out.push((t.local, t.remote, t.payload));
    }
    while engine.poll_event().is_some() {}
    out
}

#[test]
#[ignore = "sets up thousands of SAs; run with --release --ignored"]
fn status_of_ten_thousand_tunnels_is_one_cheap_pass() {
    let count: usize = std::env::var("IKEHUB_STATUS_SAS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let a_ip: IpAddr = "192.0.2.1".parse().expect("ip");
    let b_ip: IpAddr = "192.0.2.2".parse().expect("ip");
    let mut a = Engine::new(
        EngineSettings::new(vec![connection(a_ip, b_ip, true)]),
        Box::new(SystemRandom::new()),
    );
    let mut b = Engine::new(
        EngineSettings::new(vec![connection(b_ip, a_ip, false)]),
        Box::new(SystemRandom::new()),
    );
    let (mut a_dp, mut b_dp) = (RecordingDataplane::default(), RecordingDataplane::default());
    let conn = a.connection_id("scale").expect("connection");
    let now = Instant::now();
    for _ in 0..count {
        a.initiate(now, conn).expect("initiate");
        let mut to_b = drain(&mut a, &mut a_dp, &runtime, now);
        for _ in 0..2 {
            for (src, dst, bytes) in to_b.drain(..) {
                b.handle_datagram(now, dst, src, &bytes);
            }
            for (src, dst, bytes) in drain(&mut b, &mut b_dp, &runtime, now) {
                a.handle_datagram(now, dst, src, &bytes);
            }
            to_b = drain(&mut a, &mut a_dp, &runtime, now);
        }
    }
    assert_eq!(a.established(conn).count(), count);

    let no_errors = status::last_error::LastErrors::default();
    let facts = DaemonFacts {
        started: now,
        dataplane: "recording",
        socket_counters: Counters::default(),
        last_errors: &no_errors,
    };
    // A few rounds: the first one also pays for faulting in the allocator's memory, and the
    // machine may be busy with other work during any one of them.
    for round in 1..=5 {
        let t = Instant::now();
        let pending = status::collect(&a, Instant::now(), &facts, status::Scope::All);
        let collected = t.elapsed();
        assert_eq!(pending.counter_keys.len(), 2 * count);
        let t = Instant::now();
        let counters = runtime
            .block_on(a_dp.counters(&pending.counter_keys))
            .expect("counters");
        let counted = t.elapsed();
        let snapshot = pending.finish(Some(counters));
        // The daemon's side of the answer, then the client's: what `status --json` prints.
        let copy = snapshot.clone();
        let t = Instant::now();
        let response = Response::status(copy);
        let encoded = t.elapsed();
        // The client reads the answer as the daemon writes it, its line then the JSON, and
        // copies the JSON out as `status --json` does.
        let t = Instant::now();
        let (line, status_json) = control::encode_response(&response);
        let wire = std::io::BufReader::new(std::io::Read::chain(&line[..], status_json));
        let answer = control::read_answer_line(wire).expect("answer");
        let mut printed = Vec::new();
        assert!(answer.copy_status(&mut printed).is_ok());
        let read = t.elapsed();
        // For reference: the same bytes from serde_json's own pretty printer.
        let t = Instant::now();
        let reference = serde_json::to_vec_pretty(&snapshot).expect("pretty");
        let serde_pretty = t.elapsed();
        let t = Instant::now();
        let human = status::render(&snapshot);
        let rendered = t.elapsed();

        let ike_sas = &snapshot.connections[0].ike_sas;
        assert_eq!(ike_sas.len(), count);
        assert!(ike_sas
            .iter()
            .all(|sa| sa.children.len() == 1 && sa.children[0].bytes_in == Some(0)));
        let first = a.sas().next().expect("an IKE SA");
        let shown = ike_sas
            .iter()
            .find(|sa| sa.spi_i.0 == first.spi_i)
            .expect("the first SA is shown");
        assert_eq!(shown.algorithms, first.algorithms());
        assert_eq!(printed, reference);
        println!(
            "round {round}: status of {count} IKE SAs ({count} CHILD_SAs): collect {collected:?}, \
             counters {counted:?}, JSON encode {encoded:?} ({} KiB; serde_json's pretty printer \
             {serde_pretty:?}), answer read {read:?}, collect to printed bytes {:?}, \
             human render {rendered:?} ({} KiB)",
            printed.len() / 1024,
            collected + counted + encoded + read,
            human.len() / 1024
        );
    }
}
