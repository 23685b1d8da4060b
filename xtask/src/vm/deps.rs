//! Host packages the VM runs need, installed when missing.
use crate::apt::Apt;

/// qemu (with qboot.rom), busybox-static for the guest userland and cpio,
/// kmod (modprobe/depmod against the guest kernel), xz/zstd (kernel payloads
/// and modules), iproute2 and nftables (copied into the guest).
pub const VM_HOST_PACKAGES: [&str; 7] = [
    "qemu-system-x86",
    "busybox-static",
    "kmod",
    "xz-utils",
    "zstd",
    "iproute2",
    "nftables",
];

pub fn ensure(apt: &mut Apt) -> Result<(), String> {
    apt.ensure_installed(&VM_HOST_PACKAGES)
}
