//! How XFRM objects are named in the run's [`Record`](crate::kernel::record::Record): an SA by
//! (destination, SPI), a policy by its [`PolicyKey`] (direction, selector, if_id), each with
//! the reqid it was installed with as the proof that it is ours. The kernel identifies the
//! objects by the same keys, so a key found in a dump with the recorded reqid is the object
//! this dataplane installed, and not one another program made in ikehub's reqid range.

use std::net::IpAddr;

use ipnet::IpNet;

use super::policy::{PolicyDirection, PolicyKey};
use super::uapi::{PolicyInfo, XFRM_POLICY_FWD, XFRM_POLICY_IN, XFRM_POLICY_OUT};

pub(super) fn sa_key(dst: IpAddr, spi: u32) -> String {
    format!("sa {dst} spi {spi:#010x}")
}

/// `policy out 10.1.0.0/24->10.2.0.0/24 [if_id N]`, as [`PolicyKey`] displays itself.
pub(super) fn policy_key(key: &PolicyKey) -> String {
    key.to_string()
}

pub(super) fn proof(reqid: u32) -> String {
    format!("reqid {reqid:#x}")
}

/// The key of a dumped policy, as [`policy_key`] writes it; `None` for a policy ikehub would
/// not have made (no addresses, an unknown direction).
pub(super) fn dumped_policy_key(policy: &PolicyInfo) -> Option<String> {
    let dir = match policy.dir {
        XFRM_POLICY_IN => PolicyDirection::In,
        XFRM_POLICY_OUT => PolicyDirection::Out,
        XFRM_POLICY_FWD => PolicyDirection::Fwd,
        _ => return None,
    };
    let selector = &policy.selector;
    let key = PolicyKey {
        dir,
        src: IpNet::new(selector.src?, selector.prefixlen_s)
            .ok()?
            .trunc(),
        dst: IpNet::new(selector.dst?, selector.prefixlen_d)
            .ok()?
            .trunc(),
        // The kernel reports no XFRMA_IF_ID for if_id 0, which is what `None` installs.
        if_id: policy.if_id.filter(|&id| id != 0),
    };
    Some(policy_key(&key))
}

/// Checks an entry read back from a record: one of the two kinds above, with a reqid.
pub(super) fn check(key: &str, proof: &str) -> Result<(), String> {
    let reqid_ok = proof
        .strip_prefix("reqid 0x")
        .is_some_and(|hex| u32::from_str_radix(hex, 16).is_ok());
    if !reqid_ok {
        return Err(format!(
            "the proof {proof:?} of {key:?} is not \"reqid 0xHEX\""
        ));
    }
    let words: Vec<&str> = key.split(' ').collect();
    let known = match words.as_slice() {
        ["sa", dst, "spi", spi] => {
            dst.parse::<IpAddr>().is_ok()
                && spi
                    .strip_prefix("0x")
                    .is_some_and(|hex| u32::from_str_radix(hex, 16).is_ok())
        }
        ["policy", dir, selector, rest @ ..] => {
            matches!(*dir, "in" | "out" | "fwd")
                && selector.split_once("->").is_some_and(|(src, dst)| {
                    src.parse::<IpNet>().is_ok() && dst.parse::<IpNet>().is_ok()
                })
                && match rest {
                    [] => true,
                    ["if_id", id] => id.parse::<u32>().is_ok(),
                    _ => false,
                }
        }
        _ => false,
    };
    if known {
        Ok(())
    } else {
        Err(format!("{key:?} names neither an SA nor a policy"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_keys_pass_the_check() {
        let policy = PolicyKey {
            dir: PolicyDirection::Fwd,
            src: "10.2.0.0/24".parse().unwrap(),
            dst: "fd00::/64".parse().unwrap(),
            if_id: Some(7),
        };
        for key in [
            sa_key("192.0.2.1".parse().unwrap(), 0xa001),
            sa_key("fd00::1".parse().unwrap(), 1),
            policy_key(&policy),
            policy_key(&PolicyKey {
                if_id: None,
                ..policy
            }),
        ] {
            assert_eq!(check(&key, &proof(0x4000_0001)), Ok(()), "{key}");
        }
        assert_eq!(
            sa_key("192.0.2.1".parse().unwrap(), 0xa001),
            "sa 192.0.2.1 spi 0x0000a001"
        );
        assert_eq!(proof(0x4000_0001), "reqid 0x40000001");
    }

    #[test]
    fn other_entries_are_refused() {
        for (key, proof) in [
            ("sa 192.0.2.1 spi 0x1", "reqid 7"),
            ("sa 192.0.2.1 0x1", "reqid 0x7"),
            ("sa nowhere spi 0x1", "reqid 0x7"),
            ("policy up 10.0.0.0/8->10.1.0.0/16", "reqid 0x7"),
            ("policy in 10.0.0.0/8", "reqid 0x7"),
            ("policy in 10.0.0.0/8->10.1.0.0/16 if_id x", "reqid 0x7"),
            ("route 10.0.0.0/8", "reqid 0x7"),
        ] {
            assert!(check(key, proof).is_err(), "{key} {proof}");
        }
    }
}
