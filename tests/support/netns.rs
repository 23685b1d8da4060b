//! A network namespace of a VM test topology, as the kernel integration tests use it: named
//! by the guest script through an environment variable, inspected with `ip -n`, opened for
//! the dataplanes through `/run/netns/NAME`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ikehub::kernel::xfrm::XfrmDataplane;

pub struct Namespace {
    pub name: String,
}

impl Namespace {
    /// The namespace named in `var`; `vm_test` is the `cargo xtask vm-test` name to mention
    /// when the variable is missing.
    pub fn from_env(var: &str, vm_test: &str) -> Namespace {
        let name = std::env::var(var).unwrap_or_else(|_| {
            panic!("{var} is not set: run these tests through `cargo xtask vm-test {vm_test}`")
        });
        Namespace { name }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    pub fn xfrm(&self) -> XfrmDataplane {
        XfrmDataplane::open_in_netns(&self.path())
            .unwrap_or_else(|e| panic!("open the XFRM dataplane in {}: {e}", self.name))
    }

    /// `ip -n NS ARGS...`, its output, or `Err(stderr)`.
    pub fn try_ip(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("run ip");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `ip -n NS ARGS...`; panics when it fails.
    pub fn ip(&self, args: &[&str]) -> String {
        self.try_ip(args)
            .unwrap_or_else(|e| panic!("ip -n {} {}: {e}", self.name, args.join(" ")))
    }

    /// One ping from `src` to `dst`, from inside this namespace.
    pub fn ping_once(&self, src: &str, dst: &str) -> bool {
        Command::new("ip")
            .args([
                "netns", "exec", &self.name, "ping", "-c", "1", "-W", "1", "-I", src, dst,
            ])
            .output()
            .map(|out| out.status.success())
            .unwrap_or(false)
    }

    /// Pings until one answer comes back or `deadline` passes.
    pub fn ping(&self, src: &str, dst: &str, deadline: Duration) -> bool {
        let start = Instant::now();
        loop {
            if self.ping_once(src, dst) {
                return true;
            }
            if start.elapsed() >= deadline {
                return false;
            }
        }
    }
}
