//! netlink-packet-route's messages on our own batching socket: a message becomes a
//! [`Request`] (its type, our flags, the bytes the crate emits), and every answer is decoded
//! with the crate's bounds-checked parsers, which return an error on short or odd input.

use netlink_packet_core::{Emitable, ParseableParametrized, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::RouteNetlinkMessage;
use zeroize::Zeroizing;

use crate::kernel::netlink::{Reply, Request};

/// `message` with the header flags `flags`.
pub(super) fn request(message: RouteNetlinkMessage, flags: u16) -> Request {
    let mut payload = Zeroizing::new(vec![0; Emitable::buffer_len(&message)]);
    message.emit(&mut payload);
    Request {
        msg_type: message.message_type(),
        flags,
        payload,
    }
}

/// `message` as a request the kernel acknowledges, or refuses with its reason.
pub(super) fn acked(message: RouteNetlinkMessage) -> Request {
    request(message, NLM_F_REQUEST | NLM_F_ACK)
}

/// `message` as a dump request, answered by one message per object.
pub(super) fn dump(message: RouteNetlinkMessage) -> Request {
    request(message, NLM_F_REQUEST | NLM_F_DUMP)
}

/// One answer of the kernel, decoded; the decoder's reason when it is not a valid message.
pub(super) fn decode(reply: &Reply) -> Result<RouteNetlinkMessage, String> {
    RouteNetlinkMessage::parse_with_param(reply.payload.as_slice(), reply.msg_type)
        .map_err(|error| format!("undecodable rtnetlink message: {error}"))
}

/// The answers among `replies` that `pick` takes (e.g. the links of an RTM_NEWLINK dump),
/// each decoded or with the reason it could not be; answers of other kinds are passed over.
pub(super) fn answers<'a, T: 'a>(
    replies: &'a [Reply],
    pick: fn(RouteNetlinkMessage) -> Option<T>,
) -> impl Iterator<Item = Result<T, String>> + 'a {
    replies
        .iter()
        .filter_map(move |reply| decode(reply).map(pick).transpose())
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::link::{LinkAttribute, LinkMessage};

    use super::super::testing;
    use super::*;

    fn new_link(message: RouteNetlinkMessage) -> Option<LinkMessage> {
        match message {
            RouteNetlinkMessage::NewLink(link) => Some(link),
            _ => None,
        }
    }

    fn reply(request: &Request, msg_type: u16) -> Reply {
        testing::reply(msg_type, &request.payload)
    }

    #[test]
    fn a_message_round_trips_through_a_request() {
        let mut link = LinkMessage::default();
        link.header.index = 7;
        link.attributes.push(LinkAttribute::IfName("ikh-a".into()));
        let request = acked(RouteNetlinkMessage::NewLink(link.clone()));
        assert_eq!(request.msg_type, 16, "RTM_NEWLINK");
        assert_eq!(request.flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(request.payload.len(), 16 + 12, "ifinfomsg, then the name");
        assert_eq!(
            decode(&reply(&request, 16)),
            Ok(RouteNetlinkMessage::NewLink(link.clone()))
        );
        // A dump answer of another kind (here RTM_DELLINK) is passed over.
        let replies = [reply(&request, 16), reply(&request, 17)];
        let picked: Vec<_> = answers(&replies, new_link).collect();
        assert_eq!(picked, vec![Ok(link)]);
        assert_eq!(
            dump(RouteNetlinkMessage::GetLink(LinkMessage::default())).flags,
            NLM_F_REQUEST | NLM_F_DUMP
        );
    }

    #[test]
    fn short_or_odd_answers_are_errors() {
        let request = acked(RouteNetlinkMessage::NewLink(LinkMessage::default()));
        for len in 0..request.payload.len() {
            let short = testing::reply(16, &request.payload[..len]);
            assert!(decode(&short).is_err(), "{len} bytes");
        }
        let unknown = testing::reply(3000, &request.payload);
        let error = decode(&unknown).expect_err("no such message type");
        assert!(
            error.starts_with("undecodable rtnetlink message"),
            "{error}"
        );
    }
}
