//! CHILD_SA bookkeeping shared by the exchanges that create and delete them: kernel intents,
//! SPI reservations and events.

use std::time::Instant;

use crate::crypto::keymat::ChildKeys;
use crate::wire::ikev2::TrafficSelector;

use super::super::engine::Engine;
use super::super::output::{ChildInstall, DownReason, EspSa, Event, KernelIntent};
use super::super::proposal::ChildSuite;
use super::super::sa::{ChildSa, IkeSa, RequestKind};
use super::super::ts;

/// A negotiated CHILD_SA before it is installed.
pub(super) struct NewChild {
    pub suite: ChildSuite,
    pub keys: ChildKeys,
    pub inbound_spi: u32,
    pub outbound_spi: u32,
    /// Selectors on our side and the peer's side.
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// We initiated the exchange that created it (decides which half of KEYMAT is ours).
    pub initiator: bool,
}

impl NewChild {
    /// As the responder we answer with TSi = the initiator's (our remote) side.
    pub fn local_ts_for_peer(&self) -> Vec<TrafficSelector> {
        self.remote_ts.clone()
    }

    pub fn remote_ts_for_peer(&self) -> Vec<TrafficSelector> {
        self.local_ts.clone()
    }
}

impl Engine {
    /// Record a CHILD_SA and ask the kernel layer to install it, inbound keys first.
    pub(super) fn install_child(&mut self, sa: &mut IkeSa, child: NewChild) {
        let Some(settings) = self.connection(sa.conn) else {
            return;
        };
        let lifetime = settings.child_lifetime;
        let keys = child.keys;
        // RFC 7296 2.17: the first half of KEYMAT protects initiator-to-responder traffic.
        let (in_enc, in_int, out_enc, out_int) = if child.initiator {
            (keys.encr_r, keys.integ_r, keys.encr_i, keys.integ_i)
        } else {
            (keys.encr_i, keys.integ_i, keys.encr_r, keys.integ_r)
        };
        let encap = sa.nat.any();
        let reqid = self.new_reqid();
        let inbound = EspSa {
            src: sa.remote.ip(),
            dst: sa.local.ip(),
            spi: child.inbound_spi,
            encryption: child.suite.encryption,
            integrity: child.suite.integrity,
            encryption_key: in_enc,
            integrity_key: in_int,
            esn: child.suite.esn,
            encap: encap.then(|| (sa.remote.port(), sa.local.port())),
        };
        let outbound = EspSa {
            src: sa.local.ip(),
            dst: sa.remote.ip(),
            spi: child.outbound_spi,
            encryption: child.suite.encryption,
            integrity: child.suite.integrity,
            encryption_key: out_enc,
            integrity_key: out_int,
            esn: child.suite.esn,
            encap: encap.then(|| (sa.local.port(), sa.remote.port())),
        };
        let install = ChildInstall {
            conn: sa.conn,
            ike_sa: sa.id,
            reqid,
            inbound,
            outbound,
            local_selectors: ts::to_subnets(&child.local_ts),
            remote_selectors: ts::to_subnets(&child.remote_ts),
            soft_lifetime: lifetime,
            // The kernel's hard limit leaves room for a rekey that starts at the soft one.
            hard_lifetime: lifetime + lifetime / 10,
        };
        let id = self.new_intent_id();
        self.pending_installs.insert(id, (sa.id, reqid));
        self.emit_intent(KernelIntent::InstallChild {
            id,
            child: Box::new(install),
        });
        self.emit_event(Event::ChildUp {
            conn: sa.conn,
            sa: sa.id,
            reqid,
            inbound_spi: child.inbound_spi,
            outbound_spi: child.outbound_spi,
        });
        sa.children.push(ChildSa {
            reqid,
            inbound_spi: child.inbound_spi,
            outbound_spi: child.outbound_spi,
            suite: child.suite,
            local_ts: child.local_ts,
            remote_ts: child.remote_ts,
            established_at: sa.last_received,
        });
    }

    /// Ask the kernel layer to remove a CHILD_SA and release its SPI.
    pub(in crate::ike) fn remove_child_from_kernel(
        &mut self,
        sa: &IkeSa,
        child: &ChildSa,
        reason: DownReason,
    ) {
        let id = self.new_intent_id();
        self.emit_intent(KernelIntent::DeleteChild {
            id,
            reqid: child.reqid,
            inbound: (sa.remote.ip(), sa.local.ip(), child.inbound_spi),
            outbound: (sa.local.ip(), sa.remote.ip(), child.outbound_spi),
            remove_policies: true,
            local_selectors: ts::to_subnets(&child.local_ts),
            remote_selectors: ts::to_subnets(&child.remote_ts),
        });
        self.inbound_spis.remove(&child.inbound_spi);
        self.emit_event(Event::ChildDown {
            conn: sa.conn,
            sa: sa.id,
            reqid: child.reqid,
            inbound_spi: child.inbound_spi,
            reason,
        });
    }

    /// The kernel refused a CHILD_SA: clean up what it may hold and delete it with the peer.
    pub(in crate::ike) fn child_failed_in_kernel(
        &mut self,
        now: Instant,
        sa: &mut IkeSa,
        reqid: u32,
        message: String,
    ) {
        let Some(index) = sa.children.iter().position(|c| c.reqid == reqid) else {
            return;
        };
        let child = sa.children.remove(index);
        self.remove_child_from_kernel(sa, &child, DownReason::KernelError(message));
        self.request(
            now,
            sa,
            RequestKind::DeleteChild {
                inbound_spi: child.inbound_spi,
            },
        );
    }
}
