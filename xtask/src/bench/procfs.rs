//! What a daemon costs, read from /proc: CPU time (utime + stime of every thread, in clock
//! ticks) and resident memory (VmRSS).
use std::process::Command;

use crate::process::output;

/// utime + stime, in clock ticks, from the text of /proc/PID/stat.
pub fn cpu_ticks(stat: &str) -> Result<u64, String> {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after
    // the last ')'. Field 3 is the state, so utime (14) and stime (15) are the 12th and
    // 13th fields after it.
    let rest = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .ok_or("no command name in /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .ok_or_else(|| format!("/proc stat has no field {}", i + 3))?
            .parse::<u64>()
            .map_err(|e| format!("/proc stat field {}: {e}", i + 3))
    };
    Ok(field(11)? + field(12)?)
}

/// VmRSS in KiB from the text of /proc/PID/status.
pub fn rss_kib(status: &str) -> Result<u64, String> {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS line in /proc status")?;
    let value = line
        .trim_start_matches("VmRSS:")
        .split_whitespace()
        .next()
        .ok_or("empty VmRSS line")?;
    value.parse().map_err(|e| format!("VmRSS `{value}`: {e}"))
}

fn read(pid: u32, file: &str) -> Result<String, String> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
}

/// CPU time the process has used so far, in seconds.
pub fn cpu_seconds(pid: u32, ticks_per_second: f64) -> Result<f64, String> {
    Ok(cpu_ticks(&read(pid, "stat")?)? as f64 / ticks_per_second)
}

/// The process's resident memory in KiB.
pub fn rss(pid: u32) -> Result<u64, String> {
    rss_kib(&read(pid, "status")?)
}

/// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`).
pub fn ticks_per_second() -> Result<f64, String> {
    let text = output(Command::new("getconf").arg("CLK_TCK"))?;
    text.trim()
        .parse::<f64>()
        .map_err(|e| format!("getconf CLK_TCK `{}`: {e}", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces() {
        let stat = "21566 (char on) S 1 21560 15570 0 -1 4194560 990 147 0 1 408 42 0 0 20 0 17";
        assert_eq!(cpu_ticks(stat), Ok(450));
        assert!(cpu_ticks("1 (x) S 1 2").is_err());
        assert!(cpu_ticks("no parenthesis").is_err());
    }

    #[test]
    fn rss_from_status() {
        let status = "Name:\tcharon\nVmPeak:\t 1000 kB\nVmRSS:\t   52240 kB\nThreads:\t17\n";
        assert_eq!(rss_kib(status), Ok(52240));
        assert!(rss_kib("Name:\tx\n").is_err());
        assert!(rss_kib("VmRSS:\t lots kB\n").is_err());
    }
}
