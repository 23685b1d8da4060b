//! Kernel programming rate: CHILD_SAs (an SA pair plus out/in/fwd policies each) installed
//! per second by ikehub's XFRM dataplane (all intents in one `apply`, sent as one netlink
//! batch) against `ip -batch` of the same objects (same SAs, keys, lifetimes, selectors,
//! priorities and templates), in an empty namespace.
//!
//! A benchmark, not a test of behaviour: ignored by default, run in the VM through
//! `cargo xtask bench --vm` (tests/vm/bench/kernel-programming.sh), which names the
//! namespace in `IKEHUB_NS`. `IKEHUB_BENCH_PAIRS` lists the sizes (default "1000,10000"),
//! `IKEHUB_BENCH_RUNS` the runs per size (default 5). Prints a Markdown table.

use std::io::Write;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

mod support {
    pub mod netns;
}

use ikehub::algorithm::Encryption;
use ikehub::ike::{ChildInstall, ConnId, EspSa, IntentId, KernelIntent, SaId, REQID_BASE};
use ikehub::kernel::Dataplane;
use ipnet::IpNet;
use support::netns::Namespace;
use zeroize::Zeroizing;

const LOCAL: &str = "192.0.2.1";
const REMOTE: &str = "192.0.2.2";
const REMOTE_SUBNET: &str = "172.16.0.0/16";
const SOFT: Duration = Duration::from_secs(3000);
const HARD: Duration = Duration::from_secs(3600);
/// ikehub's policy priority: a base minus both prefix lengths (src/kernel/xfrm/policy.rs).
const PRIORITY_BASE: u32 = 100_000;

struct Child {
    reqid: u32,
    spi_in: u32,
    spi_out: u32,
    local_net: IpNet,
    remote_net: IpNet,
    key_in: Vec<u8>,
    key_out: Vec<u8>,
}

fn children(count: u32) -> Vec<Child> {
    (0..count)
        .map(|i| {
            let [_, _, high, low] = i.to_be_bytes();
            let seed = i.to_le_bytes();
            // AES-GCM-128: 16 key octets and the 4-octet salt.
            let key = |tag: u8| -> Vec<u8> {
                (0..20u8)
                    .map(|j| seed[usize::from(j % 4)] ^ j ^ tag)
                    .collect()
            };
            Child {
                reqid: REQID_BASE + i,
                spi_in: 0x1000_0000 + i,
                spi_out: 0x2000_0000 + i,
                local_net: format!("10.{high}.{low}.0/24").parse().expect("net"),
                remote_net: REMOTE_SUBNET.parse().expect("net"),
                key_in: key(0x11),
                key_out: key(0x77),
            }
        })
        .collect()
}

fn esp_sa(src: &str, dst: &str, spi: u32, key: &[u8]) -> EspSa {
    EspSa {
        src: src.parse::<IpAddr>().expect("ip"),
        dst: dst.parse::<IpAddr>().expect("ip"),
        spi,
        encryption: Encryption::AesGcm16 { key_bits: 128 },
        integrity: None,
        encryption_key: Zeroizing::new(key.to_vec()),
        integrity_key: Zeroizing::new(Vec::new()),
        esn: false,
        encap: None,
    }
}

fn intents(children: &[Child]) -> Vec<KernelIntent> {
    children
        .iter()
        .map(|c| KernelIntent::InstallChild {
            id: IntentId(u64::from(c.reqid)),
            child: Box::new(ChildInstall {
                conn: ConnId(0),
                ike_sa: SaId(0),
                reqid: c.reqid,
                inbound: esp_sa(REMOTE, LOCAL, c.spi_in, &c.key_in),
                outbound: Some(esp_sa(LOCAL, REMOTE, c.spi_out, &c.key_out)),
                local_selectors: vec![c.local_net],
                remote_selectors: vec![c.remote_net],
                soft_lifetime: SOFT,
                hard_lifetime: HARD,
                byte_limit: None,
                if_id: None,
                offload: ikehub::ike::Offload::None,
            }),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The same objects as `ip -batch` lines.
fn batch(children: &[Child]) -> String {
    let mut text = String::new();
    for c in children {
        for (src, dst, spi, key, window) in [
            (REMOTE, LOCAL, c.spi_in, &c.key_in, 32),
            (LOCAL, REMOTE, c.spi_out, &c.key_out, 0),
        ] {
            text.push_str(&format!(
                "xfrm state add src {src} dst {dst} proto esp spi {spi:#010x} reqid {} mode tunnel \
                 replay-window {window} flag af-unspec aead rfc4106(gcm(aes)) 0x{} 128 \
                 limit time-soft {} limit time-hard {}\n",
                c.reqid,
                hex(key),
                SOFT.as_secs(),
                HARD.as_secs()
            ));
        }
        let priority = PRIORITY_BASE
            - u32::from(c.local_net.prefix_len())
            - u32::from(c.remote_net.prefix_len());
        for (dir, sel_src, sel_dst, tmpl_src, tmpl_dst) in [
            ("out", c.local_net, c.remote_net, LOCAL, REMOTE),
            ("in", c.remote_net, c.local_net, REMOTE, LOCAL),
            ("fwd", c.remote_net, c.local_net, REMOTE, LOCAL),
        ] {
            text.push_str(&format!(
                "xfrm policy add src {sel_src} dst {sel_dst} dir {dir} priority {priority} \
                 tmpl src {tmpl_src} dst {tmpl_dst} proto esp reqid {} mode tunnel\n",
                c.reqid
            ));
        }
    }
    text
}

/// SAs (`SAD count N`) or policies (`SPD IN a OUT b FWD c`, summed) in the namespace.
fn count(ns: &Namespace, what: &str) -> usize {
    parse_count(&ns.ip(&["xfrm", what, "count"]))
        .unwrap_or_else(|| panic!("ip xfrm {what} count: unexpected output"))
}

fn parse_count(text: &str) -> Option<usize> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.first() {
        Some(&"SAD") => words.last()?.parse().ok(),
        Some(&"SPD") => ["IN", "OUT", "FWD"]
            .iter()
            .map(|dir| {
                let at = words.iter().position(|w| w == dir)?;
                words.get(at + 1)?.parse::<usize>().ok()
            })
            .sum(),
        _ => None,
    }
}

fn flush(ns: &Namespace) {
    ns.ip(&["xfrm", "state", "flush"]);
    ns.ip(&["xfrm", "policy", "flush"]);
    assert_eq!((count(ns, "state"), count(ns, "policy")), (0, 0), "flushed");
}

fn median_min_max(samples: &mut [f64]) -> (f64, f64, f64) {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    (median, samples[0], samples[n - 1])
}

#[test]
#[ignore = "benchmark: run in the VM with `cargo xtask bench --vm`"]
fn kernel_programming_rate() {
    let ns = Namespace::from_env("IKEHUB_NS", "kernel-programming");
    let sizes: Vec<u32> = std::env::var("IKEHUB_BENCH_PAIRS")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("IKEHUB_BENCH_PAIRS: numbers"))
        .collect();
    let runs: usize = std::env::var("IKEHUB_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The dataplane's netlink sockets register with the runtime when they are opened.
    let _runtime_context = runtime.enter();
    let mut table = String::from(
        "| CHILD_SAs (2 SAs + 3 policies each) | ikehub batched netlink, CHILD_SAs/s | \
         ip -batch, CHILD_SAs/s | ratio |\n| --- | --- | --- | --- |\n",
    );
    for &size in &sizes {
        let children = children(size);
        let batch_file = std::env::temp_dir().join(format!("bench-xfrm-{size}.batch"));
        std::fs::File::create(&batch_file)
            .and_then(|mut f| f.write_all(batch(&children).as_bytes()))
            .expect("write the ip batch file");
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            flush(&ns);
            let mut dataplane = ns.xfrm();
            let intents = intents(&children);
            let start = Instant::now();
            let results = runtime.block_on(dataplane.apply(intents));
            let elapsed = start.elapsed().as_secs_f64();
            assert!(
                results.iter().all(|(_, r)| r.is_ok()),
                "every install succeeds"
            );
            assert_eq!(count(&ns, "state"), 2 * size as usize);
            assert_eq!(count(&ns, "policy"), 3 * size as usize);
            ours.push(f64::from(size) / elapsed);

            flush(&ns);
            let start = Instant::now();
            let status = Command::new("ip")
                .args(["-n", &ns.name, "-batch"])
                .arg(&batch_file)
                .status()
                .expect("run ip -batch");
            let elapsed = start.elapsed().as_secs_f64();
            assert!(status.success(), "ip -batch succeeds");
            assert_eq!(count(&ns, "state"), 2 * size as usize);
            assert_eq!(count(&ns, "policy"), 3 * size as usize);
            theirs.push(f64::from(size) / elapsed);
            eprintln!(
                "{size} CHILD_SAs: ikehub {:.0}/s, ip -batch {:.0}/s",
                ours.last().copied().unwrap_or(0.0),
                f64::from(size) / elapsed
            );
        }
        flush(&ns);
        let (a, a_min, a_max) = median_min_max(&mut ours);
        let (b, b_min, b_max) = median_min_max(&mut theirs);
        table.push_str(&format!(
            "| {size} | {a:.0} ({a_min:.0}-{a_max:.0}) | {b:.0} ({b_min:.0}-{b_max:.0}) | {:.2}x |\n",
            a / b
        ));
    }
    println!("kernel programming, {runs} runs per size, median (min-max):\n\n{table}");
}

#[test]
fn batch_lines_match_the_objects() {
    let text = batch(&children(2));
    assert_eq!(text.lines().count(), 2 * 5);
    assert!(text.contains("spi 0x10000001 reqid"));
    assert!(text.contains("src 10.0.1.0/24 dst 172.16.0.0/16 dir out priority 99960"));
    assert!(text.contains("src 172.16.0.0/16 dst 10.0.0.0/24 dir fwd priority 99960"));
    assert_eq!(median_min_max(&mut [3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
    assert_eq!(parse_count("\t SAD count 20000\n"), Some(20000));
    assert_eq!(parse_count("\t SPD IN  2 OUT 1 FWD 3\n"), Some(6));
    assert_eq!(parse_count("\t SPD IN  2 OUT\n"), None);
}
