//! Half-open IKE SAs under attack, in memory: a source that answers cookies fills no more than
//! the limits allow, an oversized IKE_SA_INIT costs nothing, and a legitimate peer still gets
//! its tunnel. A half-open SA waits for IKE_AUTH as long as the initiator retransmits it,
//! unless the limits are reached: then the oldest past 30 s gives way to a new one.

mod support {
    pub mod pair;
}

use std::net::SocketAddr;
use std::time::Duration;

use ikehub::config::HalfOpenLimits;
use ikehub::crypto::testing::DeterministicRandom;
use ikehub::ike::{Engine, EngineSettings};
use ikehub::wire::ikev2::{emit_message, parse_message, Notify, NotifyType, Payload, ProtocolId};
use support::pair::{connection, ip, Pair, Which, A_ADDR, B_ADDR};

const ATTACKER: &str = "203.0.113.66";

fn notify(notify_type: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(Notify {
        protocol: ProtocolId::None,
        spi: Vec::new(),
        notify_type,
        data,
    })
}

/// A pair whose B also accepts any peer (a road-warrior connection), with small limits.
fn pair_with_limits() -> Pair {
    let mut any = connection(B_ADDR, A_ADDR, false);
    any.name = "anyone".into();
    any.remote_addr = None;
    any.remote_id = None;
    let mut b = EngineSettings::new(vec![connection(B_ADDR, A_ADDR, false), any]);
    b.half_open.cookie_threshold = 20;
    b.half_open.per_address = 50;
    let a = EngineSettings::new(vec![connection(A_ADDR, B_ADDR, true)]);
    Pair::new(a, b)
}

/// A's first IKE_SA_INIT, as a template for the attacker's requests.
fn init_template() -> Vec<u8> {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    pair.a.engine.start(now);
    pair.a.engine.poll_transmit().expect("IKE_SA_INIT").payload
}

/// `count` IKE_SA_INITs from `source`, each with a new SPI, returning the cookies B asks for.
fn flood(pair: &mut Pair, source: &str, spis: std::ops::RangeInclusive<u64>) {
    let template = parse_message(&init_template()).expect("template");
    let (to, from) = (
        SocketAddr::new(ip(B_ADDR), 500),
        SocketAddr::new(ip(source), 500),
    );
    let now = pair.now;
    for spi in spis {
        let mut header = template.header;
        header.spi_i = spi;
        let request = emit_message(&header, &template.payloads);
        pair.b.engine.handle_datagram(now, to, from, &request);
        // Asked for a cookie, the source returns it, as a real address can.
        while let Some(answer) = pair.b.engine.poll_transmit() {
            let Ok(message) = parse_message(&answer.payload) else {
                continue;
            };
            let cookie = message.payloads.iter().find_map(|p| match p {
                Payload::Notify(n) if n.notify_type == NotifyType::Cookie => Some(n.data.clone()),
                _ => None,
            });
            if let Some(cookie) = cookie {
                let mut payloads = vec![notify(NotifyType::Cookie, cookie)];
                payloads.extend(template.payloads.iter().cloned());
                pair.b
                    .engine
                    .handle_datagram(now, to, from, &emit_message(&header, &payloads));
            }
        }
    }
}

#[test]
fn a_source_answering_cookies_fills_no_more_than_its_half_open_limit() {
    let mut pair = pair_with_limits();
    flood(&mut pair, ATTACKER, 1..=500);
    let template = parse_message(&init_template()).expect("template");
    let (to, now) = (SocketAddr::new(ip(B_ADDR), 500), pair.now);
    let stats = pair.b.engine.stats();
    assert_eq!(pair.b.engine.sas().count(), 50, "the per-address limit");
    // Cookies were asked for above the threshold (20) until the source was full (50).
    assert_eq!(stats.cookies_sent, 30, "{stats:?}");
    assert_eq!(stats.dropped_half_open, 450, "{stats:?}");
    // An oversized request is dropped before anything is kept or sent.
    let mut header = template.header;
    header.spi_i = 9999;
    let mut payloads = template.payloads.clone();
    payloads.push(notify(NotifyType::from(40_000), vec![0; 9000]));
    let oversized = emit_message(&header, &payloads);
    assert!(oversized.len() > 8192);
    pair.b.engine.handle_datagram(
        now,
        to,
        SocketAddr::new(ip("203.0.113.67"), 500),
        &oversized,
    );
    assert!(pair.b.engine.poll_transmit().is_none());
    assert_eq!(pair.b.engine.stats().dropped_oversized, 1);
    // A legitimate peer, from its own address, still gets its tunnel (with a cookie).
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(Duration::from_secs(60), Pair::established));
    assert!(pair.a.engine.sas().all(|sa| sa.children.len() == 1));
}

/// A responder accepting any peer, with the given limits.
fn responder(set: impl FnOnce(&mut HalfOpenLimits), seed: u64) -> Engine {
    let mut any = connection(B_ADDR, A_ADDR, false);
    any.name = "anyone".into();
    any.remote_addr = None;
    any.remote_id = None;
    let mut settings = EngineSettings::new(vec![any]);
    set(&mut settings.half_open);
    Engine::new(settings, Box::new(DeterministicRandom::new(seed)))
}

#[test]
fn the_total_and_memory_limits_hold_across_sources() {
    let mut pair = pair_with_limits();
    // 40 from each of three sources: the total limit (70) stops the third.
    pair.b.engine = responder(
        |l| {
            l.cookie_threshold = 20;
            l.total = 70;
        },
        5,
    );
    for (n, source) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .enumerate()
    {
        let base = n as u64 * 100;
        flood(&mut pair, source, base + 1..=base + 40);
    }
    assert_eq!(pair.b.engine.sas().count(), 70);
    assert_eq!(pair.b.engine.stats().dropped_half_open, 50);
    // A memory budget of 256 KiB holds far fewer than the count limits would.
    pair.b.engine = responder(|l| l.memory_bytes = 256 << 10, 6);
    flood(&mut pair, "203.0.113.9", 1..=5_000);
    let kept = pair.b.engine.sas().count();
    assert!(kept < 1_000 && kept > 50, "{kept}");
    assert_eq!(pair.b.engine.stats().dropped_half_open, 5_000 - kept as u64);
}

/// A's IKE_SA_INIT answered, its IKE_AUTH not yet sent: from here on the link can be cut.
fn answered_init(pair: &mut Pair) {
    let now = pair.now;
    pair.a.engine.start(now);
    assert!(pair.drive_until(Duration::from_secs(5), |p| {
        p.delivered.iter().any(|(to, _)| *to == Which::A)
    }));
    assert_eq!(pair.b.engine.sas().count(), 1);
}

#[test]
fn a_half_open_sa_waits_for_ike_auth_as_long_as_the_initiator_retransmits_it() {
    let mut pair = Pair::default_pair();
    answered_init(&mut pair);
    // IKE_AUTH and its retransmissions after 4, 11.2, 24.2 and 47.5 s are lost; the one
    // after 89.5 s (the last of the six sends, RFC 7296 2.4) comes through.
    pair.cut = true;
    assert!(!pair.drive_until(Duration::from_secs(60), |_| false));
    assert_eq!(pair.b.engine.sas().count(), 1, "kept past 30 s");
    pair.cut = false;
    assert!(pair.drive_until(Duration::from_secs(40), Pair::established));
    assert!(
        pair.elapsed() > Duration::from_secs(89),
        "{:?}",
        pair.elapsed()
    );
    assert!(pair.a.ike_down().is_empty());
}

#[test]
fn a_half_open_sa_goes_when_the_initiator_would_have_given_up() {
    let mut pair = Pair::default_pair();
    answered_init(&mut pair);
    let answered_at = pair.elapsed();
    pair.cut = true;
    // 4 s, 1.8 times more each time, six sends: 165 s.
    let span = EngineSettings::new(Vec::new()).retransmission_span();
    assert_eq!(span.as_secs(), 165, "{span:?}");
    let kept_until = answered_at + Duration::from_secs(164);
    let gone = pair.drive_checked(
        Duration::from_secs(200),
        |p| p.b.engine.sas().count() == 0,
        |p| {
            if p.elapsed() <= kept_until {
                assert_eq!(p.b.engine.sas().count(), 1, "at {:?}", p.elapsed());
            }
        },
    );
    assert!(gone);
    assert!(pair.elapsed() < answered_at + Duration::from_secs(166));
}

#[test]
fn under_the_limits_the_oldest_half_open_sa_past_30_s_gives_way() {
    let mut pair = pair_with_limits();
    pair.b.engine = responder(
        |l| {
            l.cookie_threshold = 20;
            l.total = 70;
        },
        7,
    );
    flood(&mut pair, "203.0.113.1", 1..=40);
    flood(&mut pair, "203.0.113.2", 101..=130);
    assert_eq!(pair.b.engine.sas().count(), 70);
    // Ten seconds on, a third source finds no room: every SA is younger than 30 s.
    pair.now += Duration::from_secs(10);
    flood(&mut pair, "203.0.113.3", 201..=205);
    let stats = pair.b.engine.stats();
    assert_eq!((stats.dropped_half_open, stats.half_open_replaced), (5, 0));
    // Past 30 s, each of its requests (returning a cookie) takes the oldest SA's place.
    pair.now += Duration::from_secs(21);
    flood(&mut pair, "203.0.113.3", 211..=215);
    let stats = pair.b.engine.stats();
    assert_eq!((stats.dropped_half_open, stats.half_open_replaced), (5, 5));
    assert_eq!(stats.half_open, 70);
    let held = |spi: u64| pair.b.engine.sas().any(|sa| sa.spi_i == spi);
    assert!((1..=5).all(|spi| !held(spi)), "the oldest five went");
    assert!((6..=40).all(held) && (211..=215).all(held));
    // An address at its own limit waits for its own SAs to go instead.
    let mut pair = pair_with_limits();
    flood(&mut pair, ATTACKER, 1..=50);
    pair.now += Duration::from_secs(31);
    flood(&mut pair, ATTACKER, 51..=60);
    let stats = pair.b.engine.stats();
    assert_eq!((stats.dropped_half_open, stats.half_open_replaced), (10, 0));
}

#[test]
fn a_retransmitted_ike_sa_init_keeps_the_half_open_sa_as_long_again() {
    let mut pair = Pair::default_pair();
    answered_init(&mut pair);
    let init = pair
        .delivered
        .iter()
        .find(|(to, _)| *to == Which::B)
        .map(|(_, t)| t.clone())
        .expect("A's IKE_SA_INIT");
    // Our answer is lost; a minute or more later the initiator sends IKE_SA_INIT again.
    pair.cut = true;
    pair.drive_until(Duration::from_secs(200), |p| {
        p.elapsed() >= Duration::from_secs(60)
    });
    let resent_at = pair.elapsed();
    assert!(resent_at < Duration::from_secs(160), "{resent_at:?}");
    pair.inject(Which::B, init.remote, init.local, init.payload.clone());
    assert_eq!(pair.b.engine.stats().responses_resent, 1);
    // Its IKE_AUTH may come until 165 s after that.
    let kept_until = resent_at + Duration::from_secs(164);
    let gone = pair.drive_checked(
        Duration::from_secs(400),
        |p| p.b.engine.sas().count() == 0,
        |p| {
            if p.elapsed() <= kept_until {
                assert_eq!(p.b.engine.sas().count(), 1, "at {:?}", p.elapsed());
            }
        },
    );
    assert!(gone);
    assert!(pair.elapsed() < resent_at + Duration::from_secs(166));
}
