//! Running `ikehub-loadgen` in the initiator namespace and reading its JSON report.
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::lab::{INITIATOR_ADDR, INITIATOR_NS, RESPONDER_ADDR, RESPONDER_SUBNET};
use super::Case;
use crate::process::output;

/// What one load generator run reports.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    pub tunnels: u64,
    pub elapsed_s: f64,
    pub setups_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub initiator_cpu_ms: f64,
    pub retransmits: u64,
}

fn number(value: &Value, path: &[&str]) -> Result<f64, String> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("load generator report lacks the number {}", path.join(".")))
}

/// Parse the load generator's one-line JSON report.
pub fn parse(text: &str) -> Result<LoadReport, String> {
    let value: Value = serde_json::from_str(text.trim())
        .map_err(|e| format!("load generator report is not JSON ({e}): {text}"))?;
    let count = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("load generator report lacks the count {key}"))
    };
    Ok(LoadReport {
        tunnels: count("tunnels")?,
        elapsed_s: number(&value, &["elapsed_s"]).unwrap_or(f64::NAN),
        setups_per_s: number(&value, &["setups_per_s"])?,
        p50_ms: number(&value, &["latency_ms", "p50"])?,
        p99_ms: number(&value, &["latency_ms", "p99"])?,
        initiator_cpu_ms: number(&value, &["initiator_cpu_ms_per_setup"])?,
        retransmits: count("retransmits")?,
    })
}

/// Set up `tunnels` tunnels of `case` (selectors from index `first`) with `in_flight` at
/// once.
pub fn run(
    loadgen: &Path,
    case: &Case,
    tunnels: u32,
    first: u32,
    in_flight: u32,
    timeout_s: u64,
) -> Result<LoadReport, String> {
    run_with(loadgen, case, tunnels, first, in_flight, timeout_s, &[])
}

/// [`run`] with more arguments for the load generator.
pub fn run_with(
    loadgen: &Path,
    case: &Case,
    tunnels: u32,
    first: u32,
    in_flight: u32,
    timeout_s: u64,
    extra: &[&str],
) -> Result<LoadReport, String> {
    let text = output(
        Command::new("ip")
            .args(["netns", "exec", INITIATOR_NS])
            .arg(loadgen)
            .args(["--local", INITIATOR_ADDR, "--remote", RESPONDER_ADDR])
            .args(["--remote-subnet", RESPONDER_SUBNET, "--group", &case.group])
            .args(["--ike-version", &case.version.to_string()])
            .args(["--tunnels", &tunnels.to_string()])
            .args(["--first", &first.to_string()])
            .args(["--in-flight", &in_flight.to_string()])
            .args(["--timeout", &timeout_s.to_string()])
            .args(extra),
    )?;
    let report = parse(&text)?;
    if report.tunnels != u64::from(tunnels) {
        return Err(format!(
            "load generator reports {} tunnels, {tunnels} were asked for",
            report.tunnels
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_report() {
        let text = r#"{"elapsed_s":0.63,"first":0,"group":"ecp256","in_flight":32,
            "initiator_cpu_ms_per_setup":0.15,"latency_ms":{"max":16.9,"min":3.2,"p50":9.8,
            "p99":14.2},"retransmits":0,"setups_per_s":3146.9,"tunnels":2000}"#;
        let report = parse(text).expect("report");
        assert_eq!(report.tunnels, 2000);
        assert_eq!(report.setups_per_s, 3146.9);
        assert_eq!((report.p50_ms, report.p99_ms), (9.8, 14.2));
        assert_eq!(report.retransmits, 0);
    }

    #[test]
    fn refuses_incomplete_reports() {
        assert!(parse("ikehub-loadgen: tunnel 3 failed").is_err());
        assert!(parse(r#"{"tunnels":1,"setups_per_s":1.0}"#).is_err());
        let err = parse(r#"{"tunnels":1,"setups_per_s":1,"latency_ms":{"p50":1},"retransmits":0,"initiator_cpu_ms_per_setup":1}"#)
            .expect_err("no p99");
        assert!(err.contains("latency_ms.p99"), "{err}");
    }
}
