//! Resolving the DNS names of peers for the engine (`ike::resolve`), off the loop: the
//! system's resolver (getaddrinfo, through tokio's `lookup_host` on the blocking pool) reads
//! /etc/hosts and nsswitch.conf as every other program does, and may take seconds; the loop
//! goes on meanwhile and gets the answer over a channel.

use std::net::IpAddr;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::ike::{ConnId, ResolveRequest};

/// A resolver that has not answered by then counts as failed; the connection tries again
/// with its backoff.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer to a [`ResolveRequest`].
#[derive(Debug)]
pub struct Resolved {
    pub conn: ConnId,
    pub name: String,
    /// The address chosen, or why there is none.
    pub result: Result<IpAddr, String>,
    /// Every address the resolver returned, in its order (for the log).
    pub addresses: Vec<IpAddr>,
}

/// Resolve the request's name in a task of its own and send the answer to `answers`.
///
/// At most one resolution runs per connection (the engine asks once until answered), so
/// the channel holds at most one answer per connection and needs no bound.
pub fn spawn(request: ResolveRequest, answers: mpsc::UnboundedSender<Resolved>) {
    tokio::spawn(async move {
        let lookup = tokio::net::lookup_host((request.name.as_str(), 0));
        let (result, addresses) = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Err(_) => (
                Err(format!("no answer within {} s", RESOLVE_TIMEOUT.as_secs())),
                Vec::new(),
            ),
            Ok(Err(e)) => (Err(e.to_string()), Vec::new()),
            Ok(Ok(found)) => {
                let mut addresses: Vec<IpAddr> = Vec::new();
                for address in found.map(|a| a.ip()) {
                    if !addresses.contains(&address) {
                        addresses.push(address);
                    }
                }
                (choose(&addresses, request.local), addresses)
            }
        };
        // The loop is gone only when the daemon stops.
        let _ = answers.send(Resolved {
            conn: request.conn,
            name: request.name,
            result,
            addresses,
        });
    });
}

/// The first address of our local address's family, in the resolver's order (which follows
/// RFC 6724's preferences and /etc/gai.conf): IKE runs from `local`, so the peer must be
/// reachable from it.
pub fn choose(addresses: &[IpAddr], local: IpAddr) -> Result<IpAddr, String> {
    let family = |a: &IpAddr| if a.is_ipv4() { "IPv4" } else { "IPv6" };
    if let Some(address) = addresses.iter().find(|a| a.is_ipv4() == local.is_ipv4()) {
        return Ok(*address);
    }
    if addresses.is_empty() {
        return Err("no address found".into());
    }
    let found: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    Err(format!(
        "no {} address for the local address {local} (found {})",
        family(&local),
        found.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::choose;
    use std::net::IpAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn the_first_address_of_the_local_family_is_chosen() {
        let found = [ip("2001:db8::7"), ip("192.0.2.7"), ip("192.0.2.8")];
        assert_eq!(choose(&found, ip("198.51.100.1")), Ok(ip("192.0.2.7")));
        assert_eq!(choose(&found, ip("2001:db8::1")), Ok(ip("2001:db8::7")));
    }

    #[test]
    fn no_address_of_the_family_is_a_failure_that_names_what_was_found() {
        let error = choose(&[ip("2001:db8::7")], ip("198.51.100.1")).expect_err("refused");
        assert_eq!(
            error,
            "no IPv4 address for the local address 198.51.100.1 (found 2001:db8::7)"
        );
        assert_eq!(
            choose(&[], ip("198.51.100.1")),
            Err("no address found".into())
        );
    }
}
