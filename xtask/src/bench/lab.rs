//! Two network namespaces joined by a veth pair: the load generator in one, the responder
//! under test in the other, so the responder's CPU and memory are its own. Removed on drop.
use std::process::Command;

use crate::process::{capture, output};

pub const INITIATOR_NS: &str = "ikb-init";
pub const RESPONDER_NS: &str = "ikb-resp";
pub const INITIATOR_ADDR: &str = "192.0.2.1";
pub const RESPONDER_ADDR: &str = "192.0.2.2";
/// A second address in the initiator's namespace, the flood's (`cargo xtask bench --flood`).
pub const FLOODER_ADDR: &str = "192.0.2.3";
/// The responder's protected subnet; one address of it sits on the responder's loopback,
/// because strongSwan's kernel-libipsec routes each CHILD_SA from a local address inside
/// the local traffic selector and refuses the CHILD_SA without one.
pub const RESPONDER_SUBNET: &str = "172.16.0.0/16";
const RESPONDER_SUBNET_ADDR: &str = "172.16.0.1/32";
/// The load generator's tunnels take their local selectors from here (10.H.L.0/24).
pub const INITIATOR_SUPERNET: &str = "10.0.0.0/8";

pub struct Lab;

fn ip(args: &[&str]) -> Result<String, String> {
    output(Command::new("ip").args(args))
}

fn delete_namespaces() {
    for ns in [INITIATOR_NS, RESPONDER_NS] {
        // absent after a clean run: nothing to report
        let _ = capture(Command::new("ip").args(["netns", "delete", ns]));
    }
}

impl Lab {
    pub fn create() -> Result<Lab, String> {
        delete_namespaces();
        let lab = Lab;
        ip(&["netns", "add", INITIATOR_NS])?;
        ip(&["netns", "add", RESPONDER_NS])?;
        ip(&[
            "link",
            "add",
            "ikb-i",
            "netns",
            INITIATOR_NS,
            "type",
            "veth",
            "peer",
            "name",
            "ikb-r",
            "netns",
            RESPONDER_NS,
        ])?;
        for (ns, dev, addr) in [
            (INITIATOR_NS, "ikb-i", INITIATOR_ADDR),
            (RESPONDER_NS, "ikb-r", RESPONDER_ADDR),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "-n",
            INITIATOR_NS,
            "addr",
            "add",
            &format!("{FLOODER_ADDR}/24"),
            "dev",
            "ikb-i",
        ])?;
        ip(&[
            "-n",
            RESPONDER_NS,
            "addr",
            "add",
            RESPONDER_SUBNET_ADDR,
            "dev",
            "lo",
        ])?;
        Ok(lab)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        delete_namespaces();
    }
}
