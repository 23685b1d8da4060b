//! The IKE sockets: for every local address of the gateway, one UDP socket on port 500 and
//! one on port 4500, each bound to that address so a datagram's local address is known from
//! the socket it arrived on (no IP_PKTINFO needed).

use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::task::Poll;

use nix::sys::socket::{setsockopt, sockopt};
use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;

use crate::ike::nat_t;
use crate::kernel::xfrm::UDP_ENCAP_ESPINUDP;

/// IKE's port (RFC 7296 2).
pub const IKE_PORT: u16 = 500;
/// IKE and ESP behind NAT (RFC 3948, RFC 7296 2.23).
pub const NAT_T_PORT: u16 = 4500;

/// Receive buffer asked for on every socket: bursts of IKE_SA_INIT from many peers at once
/// must not be dropped by the kernel before we read them (capped by net.core.rmem_max).
const RECEIVE_BUFFER: usize = 4 << 20;

// setsockopt(fd, SOL_UDP, UDP_ENCAP, &UDP_ENCAP_ESPINUDP): the kernel then decapsulates
// ESP-in-UDP arriving on the socket and hands only marker-prefixed IKE (and short non-ESP
// datagrams) to us (RFC 3948 2.2). nix's public macro defines the option type.
sockopt_impl!(
    /// The `UDP_ENCAP` socket option (linux/udp.h).
    UdpEncap,
    Both,
    libc::SOL_UDP,
    libc::UDP_ENCAP,
    libc::c_int
);

/// Let the kernel take ESP-in-UDP arriving on this socket (RFC 3948): only IKE behind the
/// non-ESP marker and short non-ESP datagrams reach us; NAT-keepalives are consumed.
pub fn enable_udp_encap(socket: &impl std::os::fd::AsFd) -> nix::Result<()> {
    setsockopt(socket, UdpEncap, &libc::c_int::from(UDP_ENCAP_ESPINUDP))
}

/// One bound socket.
pub struct IkeSocket {
    pub local: SocketAddr,
    pub socket: UdpSocket,
}

impl IkeSocket {
    /// Datagrams on this socket carry the non-ESP marker.
    pub fn nat_t(&self) -> bool {
        self.local.port() == NAT_T_PORT
    }
}

/// Every IKE socket of the daemon, with a lookup from local address to socket.
pub struct Sockets {
    pub list: Vec<IkeSocket>,
    by_local: HashMap<SocketAddr, usize>,
    /// Where the next receive poll starts, so one busy socket cannot starve the others.
    next_poll: usize,
}

/// How UDP_ENCAP failures are treated: fatal when the kernel datapath is used, a warning when
/// it is not (a kernel without XFRM refuses the option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapRequirement {
    Required,
    Optional,
}

impl Sockets {
    /// Bind 500 and 4500 on every address.
    pub fn bind(addresses: &[IpAddr], encap: EncapRequirement) -> io::Result<Sockets> {
        let mut list = Vec::with_capacity(addresses.len() * 2);
        for &ip in addresses {
            for port in [IKE_PORT, NAT_T_PORT] {
                let local = SocketAddr::new(ip, port);
                let std_socket = std::net::UdpSocket::bind(local).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot bind UDP {local}: {e}"))
                })?;
                if let Err(e) = setsockopt(&std_socket, sockopt::RcvBuf, &RECEIVE_BUFFER) {
                    tracing::warn!(%local, "cannot enlarge the receive buffer: {e}");
                }
                if port == NAT_T_PORT {
                    if let Err(e) = enable_udp_encap(&std_socket) {
                        let message = format!(
                            "cannot enable ESP-in-UDP decapsulation (UDP_ENCAP) on {local}: {e}"
                        );
                        match encap {
                            EncapRequirement::Required => {
                                return Err(io::Error::other(message));
                            }
                            EncapRequirement::Optional => tracing::warn!("{message}"),
                        }
                    }
                }
                std_socket.set_nonblocking(true)?;
                let socket = UdpSocket::from_std(std_socket)?;
                list.push(IkeSocket { local, socket });
            }
        }
        let by_local = list.iter().enumerate().map(|(i, s)| (s.local, i)).collect();
        Ok(Sockets {
            list,
            by_local,
            next_poll: 0,
        })
    }

    /// The addresses bound.
    pub fn local_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.list
            .iter()
            .filter(|s| s.local.port() == IKE_PORT)
            .map(|s| s.local.ip())
    }

    /// The socket to send an IKE message from: the NAT-T socket when either port is 4500.
    pub fn for_transmit(&self, local: SocketAddr, remote: SocketAddr) -> Option<&IkeSocket> {
        let port = if local.port() == NAT_T_PORT || remote.port() == NAT_T_PORT {
            NAT_T_PORT
        } else {
            IKE_PORT
        };
        let index = self.by_local.get(&SocketAddr::new(local.ip(), port))?;
        self.list.get(*index)
    }

    /// Send an IKE message, framed with the non-ESP marker on the NAT-T socket. `scratch` is
    /// reused between sends.
    pub async fn send_ike(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        payload: &[u8],
        scratch: &mut Vec<u8>,
    ) -> io::Result<()> {
        let Some(socket) = self.for_transmit(local, remote) else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("no socket bound to {}", local.ip()),
            ));
        };
        let bytes = if socket.nat_t() {
            nat_t::frame(payload, scratch);
            scratch.as_slice()
        } else {
            payload
        };
        socket.socket.send_to(bytes, remote).await.map(drop)
    }

    /// Send a NAT-keepalive from our 4500 socket at `local_ip` (RFC 3948 2.3).
    pub async fn send_keepalive(&self, local_ip: IpAddr, remote: SocketAddr) -> io::Result<()> {
        let Some(index) = self.by_local.get(&SocketAddr::new(local_ip, NAT_T_PORT)) else {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("no NAT-T socket bound to {local_ip}"),
            ));
        };
        let socket = self.list.get(*index).ok_or(io::ErrorKind::NotFound)?;
        socket
            .socket
            .send_to(&nat_t::NAT_KEEPALIVE, remote)
            .await
            .map(drop)
    }

    /// A datagram already queued on socket `index`, without waiting; `None` when there is
    /// none (or on an error, which the next `recv` reports).
    pub fn try_recv(&self, index: usize, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        self.list.get(index)?.socket.try_recv_from(buf).ok()
    }

    /// Wait for a datagram on any socket; returns the socket's index, the sender and the
    /// length written into `buf`.
    pub async fn recv(&mut self, buf: &mut [u8]) -> (usize, io::Result<(usize, SocketAddr)>) {
        let count = self.list.len();
        let start = self.next_poll;
        let list = &self.list;
        let (index, result) = poll_fn(|cx| {
            for step in 0..count {
                let index = (start + step) % count;
                let Some(socket) = list.get(index) else {
                    continue;
                };
                let mut read = ReadBuf::new(buf);
                if let Poll::Ready(result) = socket.socket.poll_recv_from(cx, &mut read) {
                    let result = result.map(|from| (read.filled().len(), from));
                    return Poll::Ready((index, result));
                }
            }
            Poll::Pending
        })
        .await;
        self.next_poll = (index + 1) % count.max(1);
        (index, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::getsockopt;

    #[test]
    fn udp_encap_is_set_to_esp_in_udp() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert_eq!(getsockopt(&socket, UdpEncap).expect("get"), 0);
        match enable_udp_encap(&socket) {
            Ok(()) => assert_eq!(getsockopt(&socket, UdpEncap).expect("get"), 2),
            // A kernel built without XFRM refuses the option; nothing more to check then.
            Err(nix::errno::Errno::ENOPROTOOPT) => {
                println!("SKIPPED: this kernel has no ESP-in-UDP (UDP_ENCAP refused)")
            }
            Err(e) => panic!("UDP_ENCAP: {e}"),
        }
    }

    #[tokio::test]
    async fn transmits_leave_from_the_socket_of_their_port_framed_on_4500() {
        // Bound on ephemeral ports, then looked up as if they were 500/4500.
        let ike = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let nat_t = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let local_ike: SocketAddr = "127.0.0.1:500".parse().expect("addr");
        let local_nat_t: SocketAddr = "127.0.0.1:4500".parse().expect("addr");
        let list = vec![
            IkeSocket {
                local: local_ike,
                socket: ike,
            },
            IkeSocket {
                local: local_nat_t,
                socket: nat_t,
            },
        ];
        let by_local = list.iter().enumerate().map(|(i, s)| (s.local, i)).collect();
        let sockets = Sockets {
            list,
            by_local,
            next_poll: 0,
        };
        let remote = peer.local_addr().expect("addr");
        let mut scratch = Vec::new();
        let mut buf = [0u8; 64];

        sockets
            .send_ike(local_ike, remote, b"plain", &mut scratch)
            .await
            .expect("send");
        let n = peer.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"plain");

        sockets
            .send_ike(local_nat_t, remote, b"framed", &mut scratch)
            .await
            .expect("send");
        let n = peer.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"\0\0\0\0framed");

        sockets
            .send_keepalive(local_ike.ip(), remote)
            .await
            .expect("send");
        let n = peer.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], [0xff]);

        let unbound: SocketAddr = "127.0.0.7:500".parse().expect("addr");
        assert!(sockets
            .send_ike(unbound, remote, b"x", &mut scratch)
            .await
            .is_err());
    }
}
