//! Link messages (`ip link`), built with netlink-packet-route's types: create an xfrm
//! interface (`ip link add NAME type xfrm dev PHYS if_id N`), set its MTU and state, delete
//! it, and read links back from the kernel's answers.

use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoXfrm, LinkAttribute, LinkFlags, LinkInfo as LinkInfoAttribute,
    LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::message;
use crate::kernel::netlink::{Reply, Request};

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

fn link(index: u32) -> LinkMessage {
    let mut link = LinkMessage::default();
    link.header.index = index;
    link
}

fn named(name: &str) -> LinkMessage {
    let mut link = link(0);
    link.attributes.push(LinkAttribute::IfName(name.to_owned()));
    link
}

/// RTM_NEWLINK creating the xfrm interface, administratively up and with its MTU, in one
/// message: the kernel creates all of it or nothing. NLM_F_EXCL: an existing link of that
/// name is an error, never silently reused.
pub(super) fn create_xfrm(interface: &XfrmInterface) -> Request {
    let mut link = named(&interface.name);
    link.header.flags = LinkFlags::Up;
    link.header.change_mask = LinkFlags::Up;
    let mut data = Vec::with_capacity(2);
    if interface.underlying != 0 {
        data.push(InfoXfrm::Link(interface.underlying));
    }
    data.push(InfoXfrm::IfId(interface.if_id));
    link.attributes.extend([
        LinkAttribute::Mtu(interface.mtu),
        LinkAttribute::LinkInfo(vec![
            LinkInfoAttribute::Kind(InfoKind::Xfrm),
            LinkInfoAttribute::Data(InfoData::Xfrm(data)),
        ]),
    ]);
    message::request(
        RouteNetlinkMessage::NewLink(link),
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    )
}

/// RTM_NEWLINK on an existing link: its MTU.
pub(super) fn set_mtu(index: u32, mtu: u32) -> Request {
    let mut link = link(index);
    link.attributes.push(LinkAttribute::Mtu(mtu));
    message::acked(RouteNetlinkMessage::NewLink(link))
}

/// RTM_NEWLINK on an existing link: administratively up or down.
pub(super) fn set_up(index: u32, up: bool) -> Request {
    let mut link = link(index);
    if up {
        link.header.flags = LinkFlags::Up;
    }
    link.header.change_mask = LinkFlags::Up;
    message::acked(RouteNetlinkMessage::NewLink(link))
}

/// RTM_DELLINK by ifindex. The kernel removes the link's routes with it.
pub(super) fn delete(index: u32) -> Request {
    message::acked(RouteNetlinkMessage::DelLink(link(index)))
}

/// RTM_DELLINK by name (for when the ifindex is not known).
pub(super) fn delete_by_name(name: &str) -> Request {
    message::acked(RouteNetlinkMessage::DelLink(named(name)))
}

/// RTM_GETLINK by name; answered by one RTM_NEWLINK, or ENODEV.
pub(super) fn get_by_name(name: &str) -> Request {
    message::acked(RouteNetlinkMessage::GetLink(named(name)))
}

/// RTM_GETLINK of the link with ifindex `index`.
pub(super) fn get_by_index(index: u32) -> Request {
    message::acked(RouteNetlinkMessage::GetLink(link(index)))
}

/// RTM_GETLINK dump of every link.
pub(super) fn dump() -> Request {
    message::dump(RouteNetlinkMessage::GetLink(link(0)))
}

fn new_link(message: RouteNetlinkMessage) -> Option<LinkMessage> {
    match message {
        RouteNetlinkMessage::NewLink(link) => Some(link),
        _ => None,
    }
}

/// The links among the kernel's answers (RTM_NEWLINK), each read or with the reason it could
/// not be.
pub(super) fn links(replies: &[Reply]) -> impl Iterator<Item = Result<LinkInfo, String>> + '_ {
    message::answers(replies, new_link).map(|link| describe(&link?))
}

/// What ikehub reads of a link; an error for a link without a name.
fn describe(message: &LinkMessage) -> Result<LinkInfo, String> {
    let mut link = LinkInfo {
        index: message.header.index,
        name: String::new(),
        up: message.header.flags.contains(LinkFlags::Up),
        mtu: None,
        kind: None,
        if_id: None,
        underlying: None,
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name.clone_from(name),
            LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfoAttribute::Kind(kind) => link.kind = Some(kind.to_string()),
                        LinkInfoAttribute::Data(InfoData::Xfrm(data)) => {
                            for item in data {
                                match item {
                                    InfoXfrm::Link(index) => link.underlying = Some(*index),
                                    InfoXfrm::IfId(if_id) => link.if_id = Some(*if_id),
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
        return Err(format!("link #{} has no name", link.index));
    }
    Ok(link)
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::NLM_F_DUMP;

    use super::super::testing;
    use super::*;
    use crate::kernel::netlink::{attributes, u32_at};

    /// `sizeof(struct ifinfomsg)`: family, pad, type, index, flags, change.
    const IFINFOMSG_LEN: usize = 16;
    const RTM_NEWLINK: u16 = 16;
    const RTM_DELLINK: u16 = 17;
    const RTM_GETLINK: u16 = 18;
    const IFLA_IFNAME: u16 = 3;
    const IFLA_MTU: u16 = 4;
    const IFLA_LINKINFO: u16 = 18;
    const IFLA_INFO_KIND: u16 = 1;
    const IFLA_INFO_DATA: u16 = 2;
    const IFLA_XFRM_LINK: u16 = 1;
    const IFLA_XFRM_IF_ID: u16 = 2;

    fn spec() -> XfrmInterface {
        XfrmInterface {
            name: "ikh-site1".into(),
            if_id: 42,
            underlying: 7,
            mtu: 1399,
        }
    }

    /// `payload` as the kernel's RTM_NEWLINK answer.
    fn parse(payload: &[u8]) -> Result<LinkInfo, String> {
        let answer = [testing::reply(RTM_NEWLINK, payload)];
        let first = links(&answer).next();
        first.unwrap_or(Err("no link".to_owned()))
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
            parse(&testing::with(
                &mtu.payload,
                &LinkAttribute::IfName("x".into())
            ))
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
    fn short_or_odd_answers_are_errors_not_panics() {
        let full = create_xfrm(&spec()).payload.to_vec();
        for len in 0..full.len() {
            let _ = parse(&full[..len]);
        }
        for len in 0..IFINFOMSG_LEN {
            assert!(parse(&full[..len]).is_err(), "{len} bytes");
        }
        assert_eq!(
            parse(&full[..IFINFOMSG_LEN]),
            Err("link #0 has no name".to_owned())
        );
        // An attribute whose length runs past the message.
        let mut overlong = full.clone();
        overlong[IFINFOMSG_LEN] = 200;
        assert!(parse(&overlong).is_err());
        let garbage: Vec<u8> = (0..200u32).map(|i| (i * 89 % 251) as u8).collect();
        let _ = parse(&garbage);
    }
}
