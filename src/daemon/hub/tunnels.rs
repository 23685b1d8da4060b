//! Which connections are up, for routing: a connection is up while it has at least one
//! CHILD_SA installed. Driven by the engine's events, by connection id.
//!
//! Each installed CHILD_SA is kept by its inbound SPI with the IKE SA that owns it:
//! - `ChildUp` adds one, `ChildDown` removes it, whatever the reason. A rekey announces the
//!   successor (`ChildUp`) before the old one goes (`ChildDown`, reason `Rekeyed`), so the
//!   connection never counts zero in between and its routes do not flap.
//! - `IkeDown` removes what is left of that IKE SA's children (the engine reports each with
//!   `ChildDown` first; this only guards against a missed one), except after an IKE rekey,
//!   whose children moved to the new IKE SA (`IkeRekeyed`, which relabels them).

use std::collections::HashMap;

use crate::ike::{ConnId, DownReason, Event, SaId};

#[derive(Debug, Default)]
pub struct Tunnels {
    /// Per connection: inbound SPI of each installed CHILD_SA -> its IKE SA.
    children: HashMap<ConnId, HashMap<u32, SaId>>,
}

impl Tunnels {
    /// Follows one engine event; returns the connection whose up/down state changed, if any.
    pub fn on_event(&mut self, event: &Event) -> Option<ConnId> {
        let (conn, was_up) = match event {
            Event::ChildUp { conn, .. }
            | Event::ChildDown { conn, .. }
            | Event::IkeDown { conn, .. }
            | Event::IkeRekeyed { conn, .. } => (*conn, self.is_up(*conn)),
            Event::IkeUp { .. }
            | Event::ChildFailed { .. }
            | Event::Refused { .. }
            | Event::TrapFailed { .. } => return None,
        };
        match event {
            Event::ChildUp {
                sa, inbound_spi, ..
            } => {
                self.children
                    .entry(conn)
                    .or_default()
                    .insert(*inbound_spi, *sa);
            }
            Event::ChildDown { inbound_spi, .. } => {
                if let Some(children) = self.children.get_mut(&conn) {
                    children.remove(inbound_spi);
                }
            }
            Event::IkeDown { sa, reason, .. } => {
                if *reason != DownReason::Rekeyed {
                    if let Some(children) = self.children.get_mut(&conn) {
                        children.retain(|_, owner| owner != sa);
                    }
                }
            }
            Event::IkeRekeyed { old, new, .. } => {
                if let Some(children) = self.children.get_mut(&conn) {
                    for owner in children.values_mut().filter(|owner| **owner == *old) {
                        *owner = *new;
                    }
                }
            }
            Event::IkeUp { .. }
            | Event::ChildFailed { .. }
            | Event::Refused { .. }
            | Event::TrapFailed { .. } => {}
        }
        if self.children.get(&conn).is_some_and(HashMap::is_empty) {
            self.children.remove(&conn);
        }
        (self.is_up(conn) != was_up).then_some(conn)
    }

    pub fn is_up(&self, conn: ConnId) -> bool {
        self.count(conn) > 0
    }

    /// CHILD_SAs installed for the connection.
    pub fn count(&self, conn: ConnId) -> usize {
        self.children.get(&conn).map_or(0, HashMap::len)
    }

    /// Connections with at least one CHILD_SA.
    pub fn up(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.children.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ConnId = ConnId(0);
    const B: ConnId = ConnId(1);

    fn child_up(conn: ConnId, sa: u32, spi: u32) -> Event {
        Event::ChildUp {
            conn,
            sa: SaId(sa),
            reqid: 1,
            inbound_spi: spi,
            outbound_spi: spi + 1,
        }
    }

    fn child_down(conn: ConnId, sa: u32, spi: u32, reason: DownReason) -> Event {
        Event::ChildDown {
            conn,
            sa: SaId(sa),
            reqid: 1,
            inbound_spi: spi,
            reason,
        }
    }

    fn ike_down(conn: ConnId, sa: u32, reason: DownReason) -> Event {
        Event::IkeDown {
            conn,
            sa: SaId(sa),
            reason,
        }
    }

    #[test]
    fn up_and_down_with_children() {
        let mut t = Tunnels::default();
        assert_eq!(t.on_event(&child_up(A, 0, 10)), Some(A));
        assert_eq!(t.on_event(&child_up(A, 0, 11)), None, "second child");
        assert_eq!(t.count(A), 2);
        assert!(!t.is_up(B));
        assert_eq!(t.on_event(&child_down(A, 0, 10, DownReason::Deleted)), None);
        assert_eq!(
            t.on_event(&child_down(A, 0, 11, DownReason::PeerDead)),
            Some(A)
        );
        assert!(!t.is_up(A));
        assert_eq!(t.up().count(), 0);
    }

    #[test]
    fn a_child_rekey_does_not_flap() {
        let mut t = Tunnels::default();
        t.on_event(&child_up(A, 0, 10));
        // The successor is announced before the old child goes.
        assert_eq!(t.on_event(&child_up(A, 0, 20)), None);
        assert_eq!(t.on_event(&child_down(A, 0, 10, DownReason::Rekeyed)), None);
        assert_eq!(t.count(A), 1);
    }

    #[test]
    fn ike_down_takes_the_rest_of_its_children_only() {
        let mut t = Tunnels::default();
        t.on_event(&child_up(A, 0, 10));
        t.on_event(&child_up(A, 1, 11));
        t.on_event(&child_up(B, 2, 12));
        assert_eq!(t.on_event(&ike_down(A, 0, DownReason::PeerDead)), None);
        assert_eq!(t.count(A), 1, "the other IKE SA's child stays");
        assert_eq!(t.on_event(&ike_down(A, 1, DownReason::Deleted)), Some(A));
        assert!(t.is_up(B));
    }

    #[test]
    fn an_ike_rekey_moves_children_to_the_new_sa() {
        let mut t = Tunnels::default();
        t.on_event(&child_up(A, 0, 10));
        let rekeyed = Event::IkeRekeyed {
            conn: A,
            old: SaId(0),
            new: SaId(5),
        };
        assert_eq!(t.on_event(&rekeyed), None);
        // The old IKE SA goes, as replaced: the children stay.
        assert_eq!(t.on_event(&ike_down(A, 0, DownReason::Rekeyed)), None);
        assert!(t.is_up(A));
        // Had it gone for another reason, it has no children left to take.
        assert_eq!(t.on_event(&ike_down(A, 0, DownReason::PeerDead)), None);
        assert_eq!(t.on_event(&ike_down(A, 5, DownReason::PeerDead)), Some(A));
    }

    #[test]
    fn unknown_children_going_down_change_nothing() {
        let mut t = Tunnels::default();
        assert_eq!(
            t.on_event(&child_down(
                A,
                0,
                99,
                DownReason::KernelError(crate::ike::KernelFailure {
                    errno: None,
                    message: "x".into()
                })
            )),
            None
        );
        assert_eq!(
            t.on_event(&Event::ChildFailed {
                conn: A,
                sa: SaId(0),
                reason: DownReason::Deleted
            }),
            None
        );
        assert!(!t.is_up(A));
    }
}
