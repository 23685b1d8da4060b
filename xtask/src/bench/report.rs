//! The Markdown the bench prints: the machine, the method, and one table per measurement,
//! every cell `median (min-max)` over the runs, with the ratio ikehub / strongSwan.
use std::path::Path;
use std::process::Command;

use super::stats::{ratio, Summary};
use super::{checkpoints, Case, HandshakeResults, MemoryResults, Options, PerKind};
use crate::process::output;
use crate::workspace::Workspace;

fn first_line_with(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn command_text(program: &str, args: &[&str]) -> String {
    output(Command::new(program).args(args))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn commit(root: &Path) -> String {
    output(
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["rev-parse", "--short", "HEAD"]),
    )
    .map(|s| s.trim().to_string())
    .unwrap_or_else(|_| "unknown".into())
}

/// nproc, CPU model, kernel, strongSwan's package version, ikehub's commit.
pub fn machine(ws: &Workspace) -> Result<String, String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    Ok(format!(
        "## Machine\n\n\
         | | |\n| --- | --- |\n\
         | CPUs (nproc) | {} |\n| CPU model | {} |\n| memory | {} |\n| kernel | {} |\n\
         | strongSwan | {} (Debian package strongswan-charon) |\n| ikehub | commit {} (release build) |\n\
         | date | {} |\n\n",
        command_text("nproc", &[]),
        first_line_with(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
        first_line_with(&meminfo, "MemTotal").unwrap_or_else(|| "unknown".into()),
        command_text("uname", &["-r"]),
        command_text("dpkg-query", &["-W", "-f", "${Version}", "strongswan-charon"]),
        commit(&ws.root),
        command_text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    ))
}

pub fn method(options: &Options) -> String {
    format!(
        "## Run\n\n`cargo xtask bench --runs {} --tunnels {} --in-flight {} --groups {} \
         {} --memory-tunnels {} --memory-runs {}{}`\n\nEach cell: median (min-max) over the runs \
         ({} per handshake figure, {} per memory figure); ratio = ikehub median / strongSwan \
         median, both measured in the same run.\n\n",
        options.runs,
        options.tunnels,
        options.in_flight,
        options.groups.join(","),
        if options.ikev1_groups.is_empty() {
            "--no-ikev1".to_string()
        } else {
            format!("--ikev1-groups {}", options.ikev1_groups.join(","))
        },
        options.memory_tunnels,
        options.memory_runs,
        if options.ikehub_only {
            " --ikehub-only"
        } else {
            ""
        },
        options.runs,
        options.memory_runs
    )
}

/// The requirement on a scrape of the metrics endpoint at 10000 tunnels, in ms.
const SCRAPE_TARGET_MS: f64 = 100.0;

/// The table of the metrics scrapes, with the target judged on the median and the maximum.
fn scrapes(options: &Options, r: &MemoryResults) -> String {
    let mut out = format!(
        "### Metrics scrape at {} tunnels: `GET /metrics` (ikehub)\n\nWall time of a whole \
         scrape from a fresh TCP connection (connect, request, the daemon's snapshot with every \
         SA's counters and its rendering, the body read to its end), from the responder's \
         namespace, {} samples\n\n| | ikehub |\n| --- | --- |\n",
        options.memory_tunnels,
        r.scrape_ms.len()
    );
    let Some(summary) = Summary::of(&r.scrape_ms) else {
        out.push_str("| wall time (ms) | - |\n\n");
        return out;
    };
    let cpu = Summary::of(&r.scrape_cpu_ms).map_or("-".to_string(), |s| s.cell(1));
    out.push_str(&format!(
        "| wall time (ms) | {} |\n| daemon CPU per scrape (ms; a round's scrapes together) | \
         {cpu} |\n| body (KiB) | {:.1} |\n\n",
        summary.cell(1),
        r.scrape_bytes as f64 / 1024.0
    ));
    let verdict = |ms: f64| {
        if ms <= SCRAPE_TARGET_MS {
            "met"
        } else {
            "**missed**"
        }
    };
    out.push_str(&format!(
        "Target: a scrape at 10000 tunnels within {SCRAPE_TARGET_MS:.0} ms: median {:.1} ms, \
         {}; slowest {:.1} ms, {}.\n\n",
        summary.median,
        verdict(summary.median),
        summary.max,
        verdict(summary.max)
    ));
    out
}

fn row(label: &str, samples: &PerKind, decimals: usize) -> String {
    let ours = Summary::of(&samples[0]);
    let theirs = Summary::of(&samples[1]);
    let cell = |s: Option<Summary>| s.map_or("-".to_string(), |s| s.cell(decimals));
    format!(
        "| {label} | {} | {} | {} |\n",
        cell(ours),
        cell(theirs),
        ratio(ours, theirs)
    )
}

/// The heading of a case's table.
fn case_title(case: &Case) -> String {
    let group = &case.group;
    if case.version == 1 {
        format!(
            "IKEv1 PSK setups, {group} (Main Mode aes128-sha256-{group}, then Quick Mode ESP \
             aes128-sha256 without PFS)"
        )
    } else {
        format!(
            "IKEv2 PSK setups, {group} (aes128gcm16-prfsha256-{group}, CHILD_SA aes128gcm16 in \
             IKE_AUTH)"
        )
    }
}

/// The issue's targets for the IKEv1 cases, against the medians: setups/s at least 3x
/// strongSwan's, responder CPU per setup at most a quarter of strongSwan's.
fn ikev1_targets(r: &HandshakeResults) -> String {
    let medians = |samples: &PerKind| {
        Summary::of(&samples[0])
            .zip(Summary::of(&samples[1]))
            .filter(|(_, theirs)| theirs.median > 0.0)
            .map(|(ours, theirs)| ours.median / theirs.median)
    };
    let verdict = |ratio: Option<f64>, target: f64, at_least: bool| match ratio {
        None => "not measured".to_string(),
        Some(r) if (at_least && r >= target) || (!at_least && r <= target) => {
            format!("{r:.2}x: met")
        }
        Some(r) => format!("{r:.2}x: **missed**"),
    };
    format!(
        "Targets: setups/s >= 3x strongSwan's: {}; responder CPU per setup <= 0.25x \
         strongSwan's: {}.\n\n",
        verdict(medians(&r.setups_per_s), 3.0, true),
        verdict(medians(&r.cpu_ms_per_setup), 0.25, false)
    )
}

pub fn handshakes(case: &Case, options: &Options, r: &HandshakeResults) -> String {
    let mut out = format!(
        "### {}, host\n\n{} tunnels per run, {} in flight; load average (1/5/15 min) {} \
         before, {} after\n\n| | ikehub | strongSwan | ratio |\n| --- | --- | --- | --- |\n",
        case_title(case),
        options.tunnels,
        options.in_flight,
        r.load_before,
        r.load_after
    );
    out.push_str(&row("setups/s", &r.setups_per_s, 0));
    out.push_str(&row("responder CPU per setup (ms)", &r.cpu_ms_per_setup, 3));
    out.push_str(&row("setup latency p50 under load (ms)", &r.p50_ms, 2));
    out.push_str(&row("setup latency p99 under load (ms)", &r.p99_ms, 2));
    out.push_str(&row(
        "single setup latency p50, one at a time (ms)",
        &r.single_p50_ms,
        3,
    ));
    out.push_str(&row(
        "load generator CPU per setup, initiator (ms)",
        &r.generator_cpu_ms,
        3,
    ));
    out.push('\n');
    if case.version == 1 {
        out.push_str(&ikev1_targets(r));
    }
    out
}

/// (RSS at n - RSS at 0) / n per sample pair, in KiB.
fn per_tunnel(at_zero: &[f64], at_n: &[f64], n: u32) -> Vec<f64> {
    at_zero
        .iter()
        .zip(at_n)
        .map(|(zero, full)| (full - zero) / f64::from(n.max(1)))
        .collect()
}

pub fn memory(options: &Options, r: &MemoryResults) -> String {
    let mut out = format!(
        "### Daemon memory (VmRSS, KiB), ecp256 tunnels, host, {} run(s)\n\nload average \
         (1/5/15 min) {} before, {} after\n\n| established tunnels | ikehub | strongSwan | ratio |\n\
         | --- | --- | --- | --- |\n",
        options.memory_runs, r.load_before, r.load_after
    );
    let points = checkpoints(options);
    for (i, n) in points.into_iter().enumerate() {
        out.push_str(&row(&n.to_string(), &r.rss_kib[i], 0));
    }
    for (i, n) in points.into_iter().enumerate().skip(1) {
        let growth: PerKind = [
            per_tunnel(&r.rss_kib[0][0], &r.rss_kib[i][0], n),
            per_tunnel(&r.rss_kib[0][1], &r.rss_kib[i][1], n),
        ];
        out.push_str(&row(
            &format!("KiB per tunnel at {n} (growth over 0)"),
            &growth,
            2,
        ));
    }
    out.push_str(&format!(
        "\n### Listing every SA at {} tunnels: `ikehub status --json` against `swanctl \
         --list-sas --raw`\n\nWall time of the whole command (process start, control socket, \
         the daemon's snapshot, output, exit), {} samples each\n\n| | ikehub | strongSwan | \
         ratio |\n| --- | --- | --- | --- |\n",
        options.memory_tunnels,
        r.listing_ms[0].len()
    ));
    out.push_str(&row("wall time (ms)", &r.listing_ms, 1));
    // `-` for a responder that did not run (`--ikehub-only`), as in the other cells.
    let kib = |slot: usize| {
        if r.listing_ms[slot].is_empty() {
            "-".to_string()
        } else {
            (r.listing_bytes[slot] / 1024).to_string()
        }
    };
    out.push_str(&format!("| output (KiB) | {} | {} | |\n\n", kib(0), kib(1)));
    out.push_str(&scrapes(options, r));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_show_median_range_and_ratio() {
        let samples: PerKind = [vec![0.1, 0.12, 0.11], vec![0.5, 0.6, 0.55]];
        assert_eq!(
            row("cpu", &samples, 2),
            "| cpu | 0.11 (0.10-0.12) | 0.55 (0.50-0.60) | 0.20x |\n"
        );
        let missing: PerKind = [vec![1.0], vec![]];
        assert_eq!(row("x", &missing, 0), "| x | 1 (1-1) | - | - |\n");
    }

    #[test]
    fn ikev1_targets_are_judged_on_the_medians() {
        let r = HandshakeResults {
            setups_per_s: [vec![900.0, 1000.0, 1100.0], vec![300.0]],
            cpu_ms_per_setup: [vec![0.8], vec![2.5]],
            ..HandshakeResults::default()
        };
        assert_eq!(
            ikev1_targets(&r),
            "Targets: setups/s >= 3x strongSwan's: 3.33x: met; responder CPU per setup <= \
             0.25x strongSwan's: 0.32x: **missed**.\n\n"
        );
        let title = case_title(&Case::ikev1("ecp256"));
        assert!(
            title.starts_with("IKEv1 PSK setups, ecp256 (Main Mode"),
            "{title}"
        );
    }

    #[test]
    fn scrapes_are_judged_against_the_target() {
        let mut r = MemoryResults {
            rss_kib: Default::default(),
            listing_ms: Default::default(),
            listing_bytes: [0; 2],
            scrape_ms: vec![40.0, 120.0, 50.0],
            scrape_bytes: 3072,
            scrape_cpu_ms: vec![20.0],
            load_before: String::new(),
            load_after: String::new(),
        };
        let text = scrapes(&Options::default(), &r);
        assert!(
            text.contains(
                "| wall time (ms) | 50.0 (40.0-120.0) |\n| daemon CPU per scrape (ms; a round's \
                 scrapes together) | 20.0 (20.0-20.0) |\n| body (KiB) | 3.0 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("median 50.0 ms, met; slowest 120.0 ms, **missed**."),
            "{text}"
        );
        r.scrape_ms.clear();
        assert!(scrapes(&Options::default(), &r).contains("| wall time (ms) | - |"));
    }

    #[test]
    fn growth_per_tunnel() {
        assert_eq!(
            per_tunnel(&[1000.0, 2000.0], &[5000.0, 6000.0], 1000),
            vec![4.0, 4.0]
        );
    }

    #[test]
    fn cpuinfo_field() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(
            first_line_with(text, "model name"),
            Some("AMD EPYC 7B13".into())
        );
        assert_eq!(first_line_with(text, "flags"), None);
    }
}
