//! Whole scrapes of the responder's metrics endpoint (`GET /metrics`), each from a fresh TCP
//! connection: connect, send the request, read to EOF, check the answer.
//!
//! The endpoint listens on the loopback of the responder's namespace, which the bench's own
//! namespace cannot reach: the bench runs this module's client there as a child,
//! `ip netns exec NS xtask bench-scrape ADDR N`, which prints one line per scrape (wall time
//! in microseconds, body size in bytes). Only the scrapes are timed, not the child's start.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use super::lab::RESPONDER_NS;
use crate::process::output;

/// The hidden xtask command of the child.
pub const COMMAND: &str = "bench-scrape";

/// The ikehub responder's `metrics_listen` in the memory rounds: the loopback of the
/// responder's own namespace, where nothing else listens.
pub const METRICS_LISTEN: &str = "127.0.0.1:9669";

/// Limit of one scrape's connect and of each read.
const TIMEOUT: Duration = Duration::from_secs(30);

/// One scrape: its wall time and the size of the body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scrape {
    pub elapsed: Duration,
    pub body_bytes: usize,
}

/// The body of an answer if it is a whole OpenMetrics exposition: status 200 and a body that
/// ends with `# EOF`.
fn metrics_body(answer: &[u8]) -> Result<&[u8], String> {
    let text = String::from_utf8_lossy(answer);
    let status = text.lines().next().unwrap_or("");
    let mut words = status.split_whitespace();
    if !words.next().is_some_and(|v| v.starts_with("HTTP/1.")) || words.next() != Some("200") {
        return Err(format!("GET /metrics answered `{status}`"));
    }
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("GET /metrics: no end of the headers")?;
    let body = &answer[at + 4..];
    if !body.trim_ascii_end().ends_with(b"# EOF") {
        return Err(format!(
            "GET /metrics: the body ({} bytes) does not end with `# EOF`",
            body.len()
        ));
    }
    Ok(body)
}

/// One whole scrape of `addr` from a fresh connection.
pub fn scrape(addr: SocketAddr) -> Result<Scrape, String> {
    let start = Instant::now();
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| format!("{addr}: {e}"))?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("send to {addr}: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read from {addr}: {e}"))?;
    let elapsed = start.elapsed();
    let body_bytes = metrics_body(&answer)?.len();
    Ok(Scrape {
        elapsed,
        body_bytes,
    })
}

/// The child: `bench-scrape ADDR N`, one line `MICROSECONDS BYTES` per scrape.
pub fn child_main(args: &[String]) -> i32 {
    let run = || -> Result<(), String> {
        let [addr, count] = args else {
            return Err(format!("usage: {COMMAND} ADDR N"));
        };
        let addr: SocketAddr = addr.parse().map_err(|e| format!("`{addr}`: {e}"))?;
        let count: usize = count.parse().map_err(|e| format!("`{count}`: {e}"))?;
        for _ in 0..count {
            let s = scrape(addr)?;
            println!("{} {}", s.elapsed.as_micros(), s.body_bytes);
        }
        Ok(())
    };
    match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("xtask {COMMAND}: {e}");
            1
        }
    }
}

fn parse_lines(text: &str) -> Result<Vec<Scrape>, String> {
    text.lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let micros: u64 = words.next().and_then(|w| w.parse().ok()).ok_or("")?;
            let body_bytes: usize = words.next().and_then(|w| w.parse().ok()).ok_or("")?;
            Ok(Scrape {
                elapsed: Duration::from_micros(micros),
                body_bytes,
            })
        })
        .collect::<Result<_, &str>>()
        .map_err(|_| format!("{COMMAND}: unexpected output:\n{text}"))
}

/// `count` scrapes of the responder's metrics endpoint, one after the other, by a child in
/// the responder's namespace.
pub fn scrapes(count: usize) -> Result<Vec<Scrape>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
    let text = output(
        Command::new("ip")
            .args(["netns", "exec", RESPONDER_NS])
            .arg(exe)
            .args([COMMAND, METRICS_LISTEN, &count.to_string()]),
    )?;
    let scrapes = parse_lines(&text)?;
    if scrapes.len() != count {
        return Err(format!(
            "{COMMAND}: {} scrapes reported, {count} asked",
            scrapes.len()
        ));
    }
    Ok(scrapes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_checked() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n# TYPE a gauge\n# EOF\n";
        assert_eq!(metrics_body(ok), Ok(&b"# TYPE a gauge\n# EOF\n"[..]));
        let missing = b"HTTP/1.1 404 Not Found\r\n\r\nnot found\n";
        assert!(metrics_body(missing).unwrap_err().contains("404"));
        let cut = b"HTTP/1.1 200 OK\r\n\r\n# TYPE a gauge\na 1\n";
        assert!(metrics_body(cut).unwrap_err().contains("# EOF"));
        assert!(metrics_body(b"").is_err());
    }

    #[test]
    fn child_lines() {
        let scrapes = parse_lines("1500 2048\n98000 2050\n").expect("lines");
        assert_eq!(scrapes[1].elapsed, Duration::from_millis(98));
        assert_eq!(scrapes[0].body_bytes, 2048);
        assert!(parse_lines("1500\n").is_err());
    }
}
