//! Link messages (`struct ifinfomsg` plus IFLA_* attributes, include/uapi/linux/rtnetlink.h and
//! if_link.h): create an xfrm interface (`ip link add NAME type xfrm dev PHYS if_id N`), set
//! its MTU and state, delete it, and read links back from the kernel's answers.

use zeroize::Zeroizing;

use super::attr;
use crate::kernel::netlink::{attributes, u32_at, Request, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

pub(super) const RTM_NEWLINK: u16 = 16;
pub(super) const RTM_DELLINK: u16 = 17;
pub(super) const RTM_GETLINK: u16 = 18;

pub(super) const NLM_F_EXCL: u16 = 0x200;
pub(super) const NLM_F_CREATE: u16 = 0x400;

/// `sizeof(struct ifinfomsg)`: family, pad, type, index, flags, change.
pub(super) const IFINFOMSG_LEN: usize = 16;
const IFI_INDEX: usize = 4;
const IFI_FLAGS: usize = 8;
const IFF_UP: u32 = 0x1;

const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
/// `IFLA_XFRM_LINK`: the underlying device's ifindex (if_link.h, enum after IFLA_XFRM_UNSPEC).
const IFLA_XFRM_LINK: u16 = 1;
/// `IFLA_XFRM_IF_ID`: the id that SAs and policies of this interface carry as XFRMA_IF_ID.
const IFLA_XFRM_IF_ID: u16 = 2;

const XFRM_KIND: &str = "xfrm";

/// An xfrm interface to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XfrmInterface {
    /// See [`super::interface_name`].
    pub name: String,
    /// Must be non-zero: the kernel refuses if_id 0 for xfrm interfaces.
    pub if_id: u32,
    /// ifindex of the physical device the encrypted packets leave by (`dev PHYS`); 0 for none.
    pub underlying: u32,
    /// See [`super::xfrm_interface_mtu`].
    pub mtu: u32,
}

/// A link as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub mtu: Option<u32>,
    /// IFLA_INFO_KIND, e.g. "xfrm", "veth".
    pub kind: Option<String>,
    /// For xfrm interfaces: IFLA_XFRM_IF_ID.
    pub if_id: Option<u32>,
    /// For xfrm interfaces: IFLA_XFRM_LINK.
    pub underlying: Option<u32>,
}

/// Refuses a name the kernel would refuse (dev_valid_name): empty, longer than 15 bytes,
/// `.` or `..`, or holding `/`, `:` or whitespace.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= super::MAX_INTERFACE_NAME
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c == '\0');
    if valid {
        Ok(())
    } else {
        Err(format!("invalid interface name {name:?}"))
    }
}

fn ifinfomsg(index: u32, flags: u32, change: u32) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    // AF_UNSPEC, padding, device type (filled in by the kernel).
    buf.extend_from_slice(&[0, 0, 0, 0]);
    buf.extend_from_slice(&index.to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&change.to_ne_bytes());
    buf
}

fn request(msg_type: u16, flags: u16, payload: Vec<u8>) -> Request {
    Request {
        msg_type,
        flags,
        payload: Zeroizing::new(payload),
    }
}

/// RTM_NEWLINK creating the xfrm interface, administratively up and with its MTU, in one
/// message: the kernel creates all of it or nothing. NLM_F_EXCL: an existing link of that
/// name is an error, never silently reused.
pub(super) fn create_xfrm(interface: &XfrmInterface) -> Request {
    let mut buf = ifinfomsg(0, IFF_UP, IFF_UP);
    attr::put_str(&mut buf, IFLA_IFNAME, &interface.name);
    attr::put_u32(&mut buf, IFLA_MTU, interface.mtu);
    let linkinfo = attr::begin_nested(&mut buf, IFLA_LINKINFO);
    attr::put_str(&mut buf, IFLA_INFO_KIND, XFRM_KIND);
    let data = attr::begin_nested(&mut buf, IFLA_INFO_DATA);
    if interface.underlying != 0 {
        attr::put_u32(&mut buf, IFLA_XFRM_LINK, interface.underlying);
    }
    attr::put_u32(&mut buf, IFLA_XFRM_IF_ID, interface.if_id);
    attr::end_nested(&mut buf, data);
    attr::end_nested(&mut buf, linkinfo);
    request(
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        buf,
    )
}

/// RTM_NEWLINK on an existing link: its MTU.
pub(super) fn set_mtu(index: u32, mtu: u32) -> Request {
    let mut buf = ifinfomsg(index, 0, 0);
    attr::put_u32(&mut buf, IFLA_MTU, mtu);
    request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, buf)
}

/// RTM_NEWLINK on an existing link: administratively up or down.
pub(super) fn set_up(index: u32, up: bool) -> Request {
    let flags = if up { IFF_UP } else { 0 };
    request(
        RTM_NEWLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        ifinfomsg(index, flags, IFF_UP),
    )
}

/// RTM_DELLINK by ifindex. The kernel removes the link's routes with it.
pub(super) fn delete(index: u32) -> Request {
    request(
        RTM_DELLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        ifinfomsg(index, 0, 0),
    )
}

/// RTM_DELLINK by name (for when the ifindex is not known).
pub(super) fn delete_by_name(name: &str) -> Request {
    let mut buf = ifinfomsg(0, 0, 0);
    attr::put_str(&mut buf, IFLA_IFNAME, name);
    request(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, buf)
}

/// RTM_GETLINK by name; answered by one RTM_NEWLINK, or ENODEV.
pub(super) fn get_by_name(name: &str) -> Request {
    let mut buf = ifinfomsg(0, 0, 0);
    attr::put_str(&mut buf, IFLA_IFNAME, name);
    request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, buf)
}

/// RTM_GETLINK of the link with ifindex `index`.
pub(super) fn get_by_index(index: u32) -> Request {
    request(
        RTM_GETLINK,
        NLM_F_REQUEST | NLM_F_ACK,
        ifinfomsg(index, 0, 0),
    )
}

/// RTM_GETLINK dump of every link.
pub(super) fn dump() -> Request {
    request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, ifinfomsg(0, 0, 0))
}

/// Decodes an RTM_NEWLINK payload; `None` when it is too short or has no name.
pub(super) fn parse(payload: &[u8]) -> Option<LinkInfo> {
    let index = u32_at(payload, IFI_INDEX)?;
    let flags = u32_at(payload, IFI_FLAGS)?;
    let mut link = LinkInfo {
        index,
        name: String::new(),
        up: flags & IFF_UP != 0,
        mtu: None,
        kind: None,
        if_id: None,
        underlying: None,
    };
    for (kind, value) in attributes(payload.get(IFINFOMSG_LEN..)?) {
        match kind {
            IFLA_IFNAME => link.name = attr::string(value),
            IFLA_MTU => link.mtu = u32_at(value, 0),
            IFLA_LINKINFO => {
                for (info_kind, info) in attributes(value) {
                    match info_kind {
                        IFLA_INFO_KIND => link.kind = Some(attr::string(info)),
                        IFLA_INFO_DATA => {
                            for (data_kind, data) in attributes(info) {
                                match data_kind {
                                    IFLA_XFRM_LINK => link.underlying = u32_at(data, 0),
                                    IFLA_XFRM_IF_ID => link.if_id = u32_at(data, 0),
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if link.name.is_empty() {
        return None;
    }
    Some(link)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> XfrmInterface {
        XfrmInterface {
            name: "ikh-site1".into(),
            if_id: 42,
            underlying: 7,
            mtu: 1399,
        }
    }

    #[test]
    fn create_message_carries_kind_link_and_if_id() {
        let request = create_xfrm(&spec());
        assert_eq!(request.msg_type, RTM_NEWLINK);
        assert_eq!(request.flags, 0x1 | 0x4 | 0x400 | 0x200);
        // ifinfomsg: index 0, IFF_UP in flags and change.
        assert_eq!(u32_at(&request.payload, 4), Some(0));
        assert_eq!(u32_at(&request.payload, 8), Some(1));
        assert_eq!(u32_at(&request.payload, 12), Some(1));
        let top: Vec<(u16, &[u8])> = attributes(&request.payload[IFINFOMSG_LEN..]).collect();
        assert_eq!(top[0], (IFLA_IFNAME, &b"ikh-site1\0"[..]));
        assert_eq!(top[1], (IFLA_MTU, &1399u32.to_ne_bytes()[..]));
        assert_eq!(top[2].0, IFLA_LINKINFO);
        let info: Vec<(u16, &[u8])> = attributes(top[2].1).collect();
        assert_eq!(info[0], (IFLA_INFO_KIND, &b"xfrm\0"[..]));
        assert_eq!(info[1].0, IFLA_INFO_DATA);
        let data: Vec<(u16, &[u8])> = attributes(info[1].1).collect();
        assert_eq!(
            data,
            vec![
                (IFLA_XFRM_LINK, &7u32.to_ne_bytes()[..]),
                (IFLA_XFRM_IF_ID, &42u32.to_ne_bytes()[..])
            ]
        );
        // The same bytes read back as a link (as the kernel's RTM_NEWLINK would).
        let link = parse(&request.payload).unwrap();
        assert_eq!(link.name, "ikh-site1");
        assert!(link.up);
        assert_eq!(link.mtu, Some(1399));
        assert_eq!(link.kind.as_deref(), Some("xfrm"));
        assert_eq!(link.if_id, Some(42));
        assert_eq!(link.underlying, Some(7));
    }

    #[test]
    fn no_underlying_device_means_no_link_attribute() {
        let request = create_xfrm(&XfrmInterface {
            underlying: 0,
            ..spec()
        });
        let link = parse(&request.payload).unwrap();
        assert_eq!(link.underlying, None);
        assert_eq!(link.if_id, Some(42));
    }

    #[test]
    fn change_messages() {
        let mtu = set_mtu(9, 1400);
        assert_eq!(mtu.msg_type, RTM_NEWLINK);
        assert_eq!(mtu.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(u32_at(&mtu.payload, 4), Some(9));
        assert_eq!(u32_at(&mtu.payload, 12), Some(0), "flags untouched");
        assert_eq!(
            parse(&{
                let mut p = mtu.payload.to_vec();
                attr::put_str(&mut p, IFLA_IFNAME, "x");
                p
            })
            .unwrap()
            .mtu,
            Some(1400)
        );
        let down = set_up(9, false);
        assert_eq!(
            (u32_at(&down.payload, 8), u32_at(&down.payload, 12)),
            (Some(0), Some(1))
        );
        let up = set_up(9, true);
        assert_eq!(u32_at(&up.payload, 8), Some(1));
        let delete = delete(9);
        assert_eq!(delete.msg_type, RTM_DELLINK);
        assert_eq!(delete.payload.len(), IFINFOMSG_LEN);
        assert_eq!(u32_at(&delete.payload, 4), Some(9));
        let get = get_by_name("ikh-a");
        assert_eq!(get.msg_type, RTM_GETLINK);
        assert_eq!(
            &get.payload[IFINFOMSG_LEN + 4..IFINFOMSG_LEN + 10],
            b"ikh-a\0"
        );
        assert_eq!(dump().flags, NLM_F_REQUEST | NLM_F_DUMP);
    }

    #[test]
    fn names_the_kernel_would_refuse() {
        assert!(check_name("ikh-site1").is_ok());
        assert!(check_name("ikh-branch_0001").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "ikh-a/b",
            "ikh a",
            "ikh:a",
            "ikh-0123456789ab",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parsing_never_panics() {
        let full = create_xfrm(&spec()).payload.to_vec();
        for len in 0..full.len() {
            let _ = parse(&full[..len]);
        }
        assert_eq!(parse(&full[..IFINFOMSG_LEN]), None, "no name");
        let garbage: Vec<u8> = (0..200u32).map(|i| (i * 89 % 251) as u8).collect();
        let _ = parse(&garbage);
    }
}
