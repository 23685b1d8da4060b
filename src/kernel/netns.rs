//! Opening netlink sockets inside another network namespace: a netlink socket belongs to the
//! namespace of the thread that created it, so a short-lived helper thread enters the
//! namespace with setns(2), creates the sockets and hands them back. The calling thread never
//! changes namespace.

use std::fs::File;
use std::io;
use std::path::Path;

use netlink_sys::Socket;
use nix::sched::{setns, CloneFlags};

/// Runs `open` on a helper thread that first joins the network namespace at `path` (e.g.
/// `/run/netns/NAME`).
pub(super) fn in_namespace<T, F>(path: &Path, open: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let namespace = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let helper = std::thread::Builder::new()
        .name("netns-open".into())
        .spawn(move || -> io::Result<T> {
            setns(&namespace, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            open()
        })?;
    helper
        .join()
        .map_err(|_| io::Error::other("the namespace helper thread panicked"))?
}

/// Creates an XFRM netlink socket in the calling thread's namespace.
pub(super) fn xfrm_socket() -> io::Result<Socket> {
    Socket::new(super::netlink::NETLINK_XFRM)
}

/// Creates an rtnetlink socket in the calling thread's namespace.
pub(super) fn route_socket() -> io::Result<Socket> {
    Socket::new(super::netlink::NETLINK_ROUTE)
}
