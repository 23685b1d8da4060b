//! systemd's readiness protocol (sd_notify(3)): newline-separated `KEY=VALUE` assignments in
//! one datagram to the unix socket named by `$NOTIFY_SOCKET`, which may be a path or, with a
//! leading '@', an abstract socket. Nothing is sent when the variable is unset.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// A notifier for `$NOTIFY_SOCKET`; a no-op one when it is unset or empty.
    pub fn from_env() -> io::Result<Notifier> {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET").filter(|n| !n.is_empty()) else {
            return Ok(Notifier { target: None });
        };
        let name = name.to_string_lossy().into_owned();
        let address = match name.strip_prefix('@') {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes())?,
            None => SocketAddr::from_pathname(&name)?,
        };
        let socket = UnixDatagram::unbound()?;
        Ok(Notifier {
            target: Some((socket, address)),
        })
    }

    /// Send one state message, e.g. "READY=1\nSTATUS=3 tunnels up".
    pub fn notify(&self, state: &str) {
        let Some((socket, address)) = &self.target else {
            return;
        };
        if let Err(e) = socket.send_to_addr(state.as_bytes(), address) {
            tracing::warn!("cannot notify systemd ({state:?}): {e}");
        }
    }

    pub fn ready(&self) {
        self.notify("READY=1");
    }

    pub fn stopping(&self) {
        self.notify("STOPPING=1");
    }

    pub fn watchdog(&self) {
        self.notify("WATCHDOG=1");
    }

    pub fn status(&self, text: &str) {
        self.notify(&format!("STATUS={text}"));
    }
}

/// How often to pet the watchdog: half of `$WATCHDOG_USEC`, when it is set and meant for us
/// (`$WATCHDOG_PID` unset or our pid), as sd_watchdog_enabled(3) describes.
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID") {
        if pid.to_str()?.parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_on_an_abstract_socket() {
        let name = format!("ikehub-notify-test-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("address");
        let receiver = UnixDatagram::bind_addr(&address).expect("bind");
        let sender = UnixDatagram::unbound().expect("socket");
        let notifier = Notifier {
            target: Some((sender, address)),
        };
        notifier.ready();
        notifier.status("2 tunnels up");
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"STATUS=2 tunnels up");
    }

    #[test]
    fn unset_socket_is_a_no_op() {
        let notifier = Notifier { target: None };
        notifier.ready();
    }
}
