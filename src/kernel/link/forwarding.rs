//! IP forwarding: a hub passes traffic from one connection's xfrm interface to another's, which
//! the kernel does only with forwarding enabled (`net.ipv4.ip_forward`, and for IPv6
//! `net.ipv6.conf.all.forwarding`).

use std::path::Path;

use crate::kernel::KernelError;

const IPV4: &str = "/proc/sys/net/ipv4/ip_forward";
const IPV6: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// Turns forwarding on for IPv4, and for IPv6 when `ipv6`. A setting that is already on is
/// not written again. Nothing is turned off later: other routing on the host may rely on it.
pub fn enable_forwarding(ipv6: bool) -> Result<(), KernelError> {
    enable(Path::new(IPV4))?;
    if ipv6 {
        enable(Path::new(IPV6))?;
    }
    Ok(())
}

fn enable(path: &Path) -> Result<(), KernelError> {
    let error = |message: String| KernelError {
        errno: None,
        operation: format!("enable forwarding ({})", path.display()),
        message,
    };
    if std::fs::read_to_string(path).is_ok_and(|value| value.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, b"1\n").map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_setting_is_reported_with_its_path() {
        let path = std::env::temp_dir()
            .join(format!("ikehub-no-such-dir-{}", std::process::id()))
            .join("ip_forward");
        let error = enable(&path).expect_err("no such file");
        assert!(error.operation.contains("ip_forward"), "{error}");
        assert!(error.message.contains("No such file"), "{error}");
    }

    #[test]
    fn a_setting_is_written_once() {
        let path = std::env::temp_dir().join(format!("ikehub-forward-{}", std::process::id()));
        std::fs::write(&path, "0\n").expect("write");
        enable(&path).expect("enable");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "1\n");
        enable(&path).expect("already on");
        let _ = std::fs::remove_file(&path);
    }
}
