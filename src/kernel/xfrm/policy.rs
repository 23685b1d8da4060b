//! Policy messages: for every (local, remote) selector pair of a CHILD_SA an `out` policy
//! (local -> remote, template = outbound SA) and `in` and `fwd` policies (remote -> local,
//! template = inbound SA), all tunnel mode ESP with the CHILD_SA's reqid. The template names
//! no SPI, so the SA pair of a rekey with the same reqid serves the same policies.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_xfrm::policy::{DelGetMessage, ModifyMessage};
use netlink_packet_xfrm::{
    Address, Id, LifetimeConfig, Selector, UserPolicyId, UserPolicyInfo, UserTemplate, XfrmAttrs,
};

use super::netlink::Request;
use super::state::{emit, family};
use super::uapi::{
    IPPROTO_ESP, XFRM_INF, XFRM_MODE_TUNNEL, XFRM_MSG_DELPOLICY, XFRM_MSG_GETPOLICY,
    XFRM_MSG_NEWPOLICY, XFRM_MSG_UPDPOLICY, XFRM_POLICY_FWD, XFRM_POLICY_IN, XFRM_POLICY_OUT,
};

/// Priority of a /0 <-> /0 policy; each prefix bit makes a policy more specific and lowers
/// the value (the kernel prefers the lowest), so narrower selectors win over wider ones.
const PRIORITY_BASE: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum PolicyDirection {
    In,
    Out,
    Fwd,
}

impl PolicyDirection {
    pub fn kernel_value(self) -> u8 {
        match self {
            PolicyDirection::In => XFRM_POLICY_IN,
            PolicyDirection::Out => XFRM_POLICY_OUT,
            PolicyDirection::Fwd => XFRM_POLICY_FWD,
        }
    }
}

impl fmt::Display for PolicyDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PolicyDirection::In => "in",
            PolicyDirection::Out => "out",
            PolicyDirection::Fwd => "fwd",
        })
    }
}

/// Identifies a policy in the kernel: direction, selector and xfrm interface id (policies of
/// different interfaces may share a selector; the kernel matches the if_id on lookup and delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct PolicyKey {
    pub dir: PolicyDirection,
    pub src: IpNet,
    pub dst: IpNet,
    pub if_id: Option<u32>,
}

impl fmt::Display for PolicyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {} {}->{}", self.dir, self.src, self.dst)?;
        if let Some(if_id) = self.if_id {
            write!(f, " if_id {if_id}")?;
        }
        Ok(())
    }
}

/// XFRMA_IF_ID, when the policy or SA belongs to an xfrm interface.
pub(super) fn if_id_attribute(if_id: Option<u32>) -> Option<XfrmAttrs> {
    if_id.map(XfrmAttrs::IfId)
}

/// A policy to install: key and tunnel template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PolicySpec {
    pub key: PolicyKey,
    pub tmpl_src: IpAddr,
    pub tmpl_dst: IpAddr,
    pub reqid: u32,
    /// Packet offload: the ifindex of the device that runs the policy (XFRMA_OFFLOAD_DEV).
    pub offload: Option<u32>,
}

/// The policy keys of a CHILD_SA: out, in, fwd for every selector pair of one family.
pub(super) fn policy_keys(local: &[IpNet], remote: &[IpNet], if_id: Option<u32>) -> Vec<PolicyKey> {
    let mut keys = Vec::new();
    for l in local {
        for r in remote {
            // A selector pair of mixed families matches no packet (RFC 7296 2.9).
            if l.addr().is_ipv4() != r.addr().is_ipv4() {
                continue;
            }
            let (l, r) = (l.trunc(), r.trunc());
            keys.push(PolicyKey {
                dir: PolicyDirection::Out,
                src: l,
                dst: r,
                if_id,
            });
            keys.push(PolicyKey {
                dir: PolicyDirection::In,
                src: r,
                dst: l,
                if_id,
            });
            keys.push(PolicyKey {
                dir: PolicyDirection::Fwd,
                src: r,
                dst: l,
                if_id,
            });
        }
    }
    keys
}

/// The policies of a CHILD_SA, with templates: `out` uses the outbound SA's addresses,
/// `in`/`fwd` the inbound SA's.
pub(super) fn policy_specs(
    local: &[IpNet],
    remote: &[IpNet],
    outbound: (IpAddr, IpAddr),
    inbound: (IpAddr, IpAddr),
    reqid: u32,
    if_id: Option<u32>,
) -> Vec<PolicySpec> {
    policy_keys(local, remote, if_id)
        .into_iter()
        .map(|key| {
            let (tmpl_src, tmpl_dst) = match key.dir {
                PolicyDirection::Out => outbound,
                PolicyDirection::In | PolicyDirection::Fwd => inbound,
            };
            PolicySpec {
                key,
                tmpl_src,
                tmpl_dst,
                reqid,
                offload: None,
            }
        })
        .collect()
}

pub(super) fn priority(src: &IpNet, dst: &IpNet) -> u32 {
    PRIORITY_BASE - u32::from(src.prefix_len()) - u32::from(dst.prefix_len())
}

fn selector(src: &IpNet, dst: &IpNet) -> Selector {
    let mut selector = Selector::default();
    selector.source_prefix(&src.network(), src.prefix_len());
    selector.destination_prefix(&dst.network(), dst.prefix_len());
    selector
}

/// XFRM_MSG_NEWPOLICY (or UPDPOLICY when `update`, which also replaces an existing one).
pub(super) fn add_policy(spec: &PolicySpec, update: bool) -> Request {
    let info = UserPolicyInfo {
        selector: selector(&spec.key.src, &spec.key.dst),
        lifetime_cfg: LifetimeConfig {
            soft_byte_limit: XFRM_INF,
            hard_byte_limit: XFRM_INF,
            soft_packet_limit: XFRM_INF,
            hard_packet_limit: XFRM_INF,
            ..LifetimeConfig::default()
        },
        priority: priority(&spec.key.src, &spec.key.dst),
        direction: spec.key.dir.kernel_value(),
        ..UserPolicyInfo::default()
    };
    let template = UserTemplate {
        id: Id {
            daddr: Address::from_ip(&spec.tmpl_dst),
            // Any SPI: the SA is found by reqid, so rekeyed SAs serve the same policy.
            spi: 0,
            proto: IPPROTO_ESP,
        },
        family: family(&spec.tmpl_dst),
        saddr: Address::from_ip(&spec.tmpl_src),
        reqid: spec.reqid,
        mode: XFRM_MODE_TUNNEL,
        share: 0,
        optional: 0,
        aalgos: u32::MAX,
        ealgos: u32::MAX,
        calgos: u32::MAX,
    };
    let mut nlas = vec![XfrmAttrs::Template(vec![template])];
    nlas.extend(if_id_attribute(spec.key.if_id));
    nlas.extend(spec.offload.map(super::offload::policy_attribute));
    let message = ModifyMessage {
        user_policy_info: info,
        nlas,
    };
    let kind = if update {
        XFRM_MSG_UPDPOLICY
    } else {
        XFRM_MSG_NEWPOLICY
    };
    Request::acked(kind, emit(&message))
}

/// XFRM_MSG_DELPOLICY by direction and selector.
pub(super) fn delete_policy(key: &PolicyKey) -> Request {
    let message = DelGetMessage {
        user_policy_id: UserPolicyId {
            selector: selector(&key.src, &key.dst),
            index: 0,
            direction: key.dir.kernel_value(),
        },
        nlas: if_id_attribute(key.if_id).into_iter().collect(),
    };
    Request::acked(XFRM_MSG_DELPOLICY, emit(&message))
}

/// XFRM_MSG_DELPOLICY by the kernel's policy index (as a dump reports it). The kernel matches
/// the if_id too (xfrm_policy_byid), so a policy of an xfrm interface needs its if_id here.
pub(super) fn delete_policy_by_index(index: u32, dir: u8, if_id: Option<u32>) -> Request {
    let message = DelGetMessage {
        user_policy_id: UserPolicyId {
            selector: Selector::default(),
            index,
            direction: dir,
        },
        nlas: if_id_attribute(if_id).into_iter().collect(),
    };
    Request::acked(XFRM_MSG_DELPOLICY, emit(&message))
}

/// Dump of every policy.
pub(super) fn dump_policies() -> Request {
    Request::dump(XFRM_MSG_GETPOLICY)
}

#[cfg(test)]
mod tests {
    use super::super::netlink::u32_at;
    use super::super::uapi::{parse_policy, trailing_attributes, USERPOLICY_INFO_LEN, XFRMA_IF_ID};
    use super::*;

    /// sizeof(struct xfrm_userpolicy_id).
    const USERPOLICY_ID_LEN: usize = 64;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn three_policies_per_selector_pair() {
        let specs = policy_specs(
            &[net("10.1.0.0/24"), net("10.3.0.0/16")],
            &[net("10.2.0.0/24"), net("2001:db8::/64")],
            (ip("192.0.2.1"), ip("192.0.2.2")),
            (ip("192.0.2.2"), ip("192.0.2.1")),
            0x4000_0001,
            None,
        );
        // The IPv4/IPv6 pairs are skipped: 2 pairs x 3 directions.
        assert_eq!(specs.len(), 6);
        let out = &specs[0];
        assert_eq!(
            out.key,
            PolicyKey {
                dir: PolicyDirection::Out,
                src: net("10.1.0.0/24"),
                dst: net("10.2.0.0/24"),
                if_id: None,
            }
        );
        assert_eq!(
            (out.tmpl_src, out.tmpl_dst),
            (ip("192.0.2.1"), ip("192.0.2.2"))
        );
        for spec in &specs[1..3] {
            assert_eq!(spec.key.src, net("10.2.0.0/24"));
            assert_eq!(spec.key.dst, net("10.1.0.0/24"));
            assert_eq!(
                (spec.tmpl_src, spec.tmpl_dst),
                (ip("192.0.2.2"), ip("192.0.2.1"))
            );
        }
        assert_eq!(specs[1].key.dir, PolicyDirection::In);
        assert_eq!(specs[2].key.dir, PolicyDirection::Fwd);
        assert!(specs.iter().all(|s| s.reqid == 0x4000_0001));
    }

    #[test]
    fn policy_message_fields() {
        let spec = PolicySpec {
            key: PolicyKey {
                dir: PolicyDirection::Fwd,
                src: net("10.2.0.0/24"),
                dst: net("10.1.0.0/16"),
                if_id: None,
            },
            tmpl_src: ip("192.0.2.2"),
            tmpl_dst: ip("192.0.2.1"),
            reqid: 0x4000_0042,
            offload: None,
        };
        for (update, kind) in [(false, 19), (true, 25)] {
            let request = add_policy(&spec, update);
            assert_eq!(request.msg_type, kind);
            let policy = parse_policy(&request.payload).unwrap();
            assert_eq!(policy.selector.family, 2);
            assert_eq!(policy.selector.src, Some(ip("10.2.0.0")));
            assert_eq!(policy.selector.dst, Some(ip("10.1.0.0")));
            assert_eq!(policy.selector.prefixlen_s, 24);
            assert_eq!(policy.selector.prefixlen_d, 16);
            assert_eq!(policy.dir, 2);
            assert_eq!(policy.action, 0);
            assert_eq!(policy.priority, PRIORITY_BASE - 40);
            assert_eq!(policy.templates.len(), 1);
            let tmpl = &policy.templates[0];
            assert_eq!(tmpl.src, Some(ip("192.0.2.2")));
            assert_eq!(tmpl.dst, Some(ip("192.0.2.1")));
            assert_eq!(tmpl.proto, 50);
            assert_eq!(tmpl.family, 2);
            assert_eq!(tmpl.reqid, 0x4000_0042);
            assert_eq!(tmpl.mode, 1);
            // The template's SPI is 0 and every algorithm is allowed.
            let tmpl_bytes = &request.payload[USERPOLICY_INFO_LEN + 4..];
            assert_eq!(u32_at(tmpl_bytes, 16), Some(0));
            assert_eq!(u32_at(tmpl_bytes, 52), Some(u32::MAX));
            assert_eq!(u32_at(tmpl_bytes, 56), Some(u32::MAX));
            assert_eq!(u32_at(tmpl_bytes, 60), Some(u32::MAX));
            // Byte/packet limits are infinite.
            assert_eq!(&request.payload[56..88], &[0xff; 32]);
        }
    }

    #[test]
    fn ipv6_inner_over_ipv4_outer() {
        let spec = PolicySpec {
            key: PolicyKey {
                dir: PolicyDirection::Out,
                src: net("2001:db8:1::/48"),
                dst: net("2001:db8:2::/48"),
                if_id: None,
            },
            tmpl_src: ip("192.0.2.1"),
            tmpl_dst: ip("192.0.2.2"),
            reqid: 7,
            offload: None,
        };
        let policy = parse_policy(&add_policy(&spec, false).payload).unwrap();
        assert_eq!(policy.selector.family, 10);
        assert_eq!(policy.selector.prefixlen_s, 48);
        assert_eq!(policy.templates[0].family, 2);
        assert_eq!(policy.templates[0].dst, Some(ip("192.0.2.2")));
    }

    #[test]
    fn narrower_selectors_take_precedence() {
        assert!(
            priority(&net("10.1.1.0/24"), &net("10.2.0.0/16"))
                < priority(&net("10.1.0.0/16"), &net("10.2.0.0/16"))
        );
        assert_eq!(
            priority(&net("0.0.0.0/0"), &net("0.0.0.0/0")),
            PRIORITY_BASE
        );
        assert!(priority(&net("::/128"), &net("::/128")) > 0);
    }

    #[test]
    fn delete_by_selector_and_by_index() {
        let key = PolicyKey {
            dir: PolicyDirection::In,
            src: net("10.2.0.0/24"),
            dst: net("10.1.0.0/24"),
            if_id: None,
        };
        let request = delete_policy(&key);
        assert_eq!(request.msg_type, 20);
        // struct xfrm_userpolicy_id: selector, index, dir.
        assert_eq!(request.payload.len(), USERPOLICY_ID_LEN);
        assert_eq!(&request.payload[..4], &[10, 1, 0, 0]);
        assert_eq!(&request.payload[16..20], &[10, 2, 0, 0]);
        assert_eq!(request.payload[42], 24);
        assert_eq!(request.payload[43], 24);
        assert_eq!(u32_at(&request.payload, 56), Some(0));
        assert_eq!(request.payload[60], 0);
        let by_index = delete_policy_by_index(0x1234, 2, None);
        assert_eq!(u32_at(&by_index.payload, 56), Some(0x1234));
        assert_eq!(by_index.payload[60], 2);
        assert_eq!(dump_policies().msg_type, 21);
    }

    #[test]
    fn if_id_on_every_policy_and_on_delete() {
        let specs = policy_specs(
            &[net("0.0.0.0/0")],
            &[net("0.0.0.0/0")],
            (ip("192.0.2.1"), ip("192.0.2.2")),
            (ip("192.0.2.2"), ip("192.0.2.1")),
            9,
            Some(42),
        );
        assert_eq!(specs.len(), 3);
        let if_id = |payload: &[u8], fixed: usize| {
            trailing_attributes(payload, fixed)
                .into_iter()
                .find(|(kind, _)| *kind == XFRMA_IF_ID)
                .map(|(_, value)| value)
        };
        for spec in &specs {
            assert_eq!(spec.key.if_id, Some(42));
            for update in [false, true] {
                let request = add_policy(spec, update);
                assert_eq!(
                    if_id(&request.payload, USERPOLICY_INFO_LEN),
                    Some(42u32.to_ne_bytes().to_vec())
                );
                // The template is still there next to it.
                let parsed = parse_policy(&request.payload).unwrap();
                assert_eq!(parsed.templates.len(), 1);
                assert_eq!(parsed.if_id, Some(42));
            }
            let delete = delete_policy(&spec.key);
            assert_eq!(
                if_id(&delete.payload, USERPOLICY_ID_LEN),
                Some(42u32.to_ne_bytes().to_vec())
            );
            assert!(spec.key.to_string().ends_with(" if_id 42"));
        }
        // Without an interface nothing changes: no attribute on add or delete.
        let plain = policy_specs(
            &[net("0.0.0.0/0")],
            &[net("0.0.0.0/0")],
            (ip("192.0.2.1"), ip("192.0.2.2")),
            (ip("192.0.2.2"), ip("192.0.2.1")),
            9,
            None,
        );
        assert_eq!(
            if_id(&add_policy(&plain[0], false).payload, USERPOLICY_INFO_LEN),
            None
        );
        assert_eq!(
            delete_policy(&plain[0].key).payload.len(),
            USERPOLICY_ID_LEN
        );
    }

    #[test]
    fn packet_offloaded_policies_name_the_device_with_the_packet_flag_only() {
        let mut specs = policy_specs(
            &[net("10.1.0.0/24")],
            &[net("10.2.0.0/24")],
            (ip("192.0.2.1"), ip("192.0.2.2")),
            (ip("192.0.2.2"), ip("192.0.2.1")),
            9,
            None,
        );
        for spec in &mut specs {
            spec.offload = Some(6);
        }
        for spec in &specs {
            for update in [false, true] {
                let request = add_policy(spec, update);
                let offload: Vec<Vec<u8>> =
                    trailing_attributes(&request.payload, USERPOLICY_INFO_LEN)
                        .into_iter()
                        .filter(|(kind, _)| *kind == 28)
                        .map(|(_, value)| value)
                        .collect();
                // struct xfrm_user_offload: ifindex 6, flags XFRM_OFFLOAD_PACKET (4), even on
                // in and fwd policies (the kernel refuses INBOUND on policies).
                let mut expected = 6i32.to_ne_bytes().to_vec();
                expected.extend_from_slice(&[4, 0, 0, 0]);
                assert_eq!(offload, vec![expected], "{}", spec.key);
                assert_eq!(parse_policy(&request.payload).unwrap().templates.len(), 1);
            }
        }
        // Without packet offload the policies carry no offload attribute.
        specs[0].offload = None;
        assert!(
            trailing_attributes(&add_policy(&specs[0], false).payload, USERPOLICY_INFO_LEN)
                .iter()
                .all(|(kind, _)| *kind != 28)
        );
    }
}
