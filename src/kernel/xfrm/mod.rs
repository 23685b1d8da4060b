//! The production [`Dataplane`]: XFRM states and policies over netlink (`NETLINK_XFRM`).
//!
//! Messages are emitted with netlink-packet-xfrm's structure encoders; everything the kernel
//! sends back is decoded here with checked reads (module `uapi`), because that crate's parsers can
//! panic on short input. Requests of one [`Dataplane::apply`] call go out in batches (many
//! messages per `send`, then one wait for all acknowledgements), with extended ACKs enabled
//! so errors carry the kernel's own explanation.

mod algorithms;
mod apply;
mod events;
mod install;
mod offload;
mod owned;
mod policy;
mod stale;
mod state;
mod uapi;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use netlink_sys::Socket;

pub use self::uapi::UDP_ENCAP_ESPINUDP;

use self::events::EventSocket;
use super::error::{kernel_error, open_error};
use super::netlink::{self, NetlinkSocket, Request, RequestSocket};
use super::netns;
use super::record::{Record, RecordError};
use super::{Dataplane, KernelError, KernelEvent, OffloadMode, SaCounters};
use crate::ike::{IntentId, KernelIntent};

/// XFRM over netlink, in the network namespace it was opened in.
///
/// Not cancel-safe in `apply`, `counters` and `remove_stale` (a dropped call may leave its
/// requests applied without their results); `next_event` is cancel-safe.
pub struct XfrmDataplane {
    requests: RequestSocket,
    events: EventSocket,
    /// Route lookups and link features for hardware offload.
    devices: install::Devices,
    /// The SAs and policies this dataplane owns: those it installed, and those an earlier
    /// run of the instance recorded (see [`XfrmDataplane::use_record`]).
    record: Record,
    /// Where hub mode's links keep their record (see [`XfrmDataplane::use_record`]).
    links_record: Option<PathBuf>,
}

/// What [`open_error`] names when the XFRM sockets cannot be opened.
const SOCKETS: &str = "XFRM netlink sockets";

impl XfrmDataplane {
    /// Opens the request and event sockets in the current network namespace. Must be called
    /// within a tokio runtime with I/O enabled.
    pub fn open() -> Result<Self, KernelError> {
        let requests = netns::xfrm_socket().map_err(open_error(SOCKETS))?;
        let events = netns::xfrm_socket().map_err(open_error(SOCKETS))?;
        let devices = install::Devices {
            links: super::link::LinkDataplane::open()?,
            ethtool: super::link::Ethtool::open()?,
        };
        Self::from_sockets(requests, events, devices)
    }

    /// Opens the sockets inside the network namespace at `path` (e.g. `/run/netns/NAME`),
    /// without moving the calling thread into it.
    pub fn open_in_netns(path: &Path) -> Result<Self, KernelError> {
        let (requests, events) =
            netns::in_namespace(path, || Ok((netns::xfrm_socket()?, netns::xfrm_socket()?)))
                .map_err(open_error(SOCKETS))?;
        let devices = install::Devices {
            links: super::link::LinkDataplane::open_in_netns(path)?,
            ethtool: super::link::Ethtool::open_in_netns(path)?,
        };
        Self::from_sockets(requests, events, devices)
    }

    fn from_sockets(
        requests: Socket,
        events: Socket,
        devices: install::Devices,
    ) -> Result<Self, KernelError> {
        NetlinkSocket::configure_for_requests(&requests).map_err(open_error(SOCKETS))?;
        Ok(XfrmDataplane {
            requests: RequestSocket::new(
                NetlinkSocket::new(requests).map_err(open_error(SOCKETS))?,
            ),
            events: EventSocket::new(events).map_err(open_error(SOCKETS))?,
            devices,
            record: Record::in_memory(),
            links_record: None,
        })
    }

    /// Keeps the record of what this dataplane installs in the file at `path`, and takes
    /// over the entries an earlier run left there: [`Dataplane::remove_stale`] removes those
    /// objects. Call before anything is applied, with the instance's lock held, so that no
    /// other process writes the file. Returns how many entries the earlier run left.
    ///
    /// Hub mode's interfaces, routes and rules are recorded beside it, in
    /// [`links_record_path`]`(path)`, by the links [`Dataplane::open_links`] opens.
    pub fn use_record(&mut self, path: &Path) -> Result<usize, RecordError> {
        let record = Record::open(path, owned::check)?;
        let left = record.len();
        self.record = record;
        self.links_record = Some(links_record_path(path));
        Ok(left)
    }
}

/// The record of hub mode's links beside the record at `path`: `NAME.links.state` for
/// `NAME.state`.
pub fn links_record_path(path: &Path) -> PathBuf {
    path.with_extension("links.state")
}

impl Dataplane for XfrmDataplane {
    type Links = super::link::LinkDataplane;

    fn open_links(&mut self) -> Result<Self::Links, KernelError> {
        let mut links = super::link::LinkDataplane::open()?;
        if let Some(path) = &self.links_record {
            match links.use_record(path) {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    "{}: an earlier run recorded {n} hub interface(s), route(s) and rule(s); \
                     those still there are removed",
                    path.display()
                ),
                Err(error) => {
                    return Err(KernelError {
                        errno: None,
                        operation: "read the record of hub links".to_owned(),
                        message: error.to_string(),
                    })
                }
            }
        }
        Ok(links)
    }

    async fn apply(
        &mut self,
        intents: Vec<KernelIntent>,
    ) -> Vec<(IntentId, Result<(), KernelError>)> {
        install::apply(
            &mut self.requests,
            &mut self.record,
            &mut self.devices,
            intents,
        )
        .await
    }

    async fn counters(
        &mut self,
        sas: &[(IpAddr, u32)],
    ) -> Result<Vec<Option<SaCounters>>, KernelError> {
        let requests: Vec<Request> = sas
            .iter()
            .map(|&(dst, spi)| state::get_sa(dst, spi))
            .collect();
        let refs: Vec<&Request> = requests.iter().collect();
        let outcomes = self
            .requests
            .transact(&refs)
            .await
            .map_err(|e| KernelError {
                errno: None,
                operation: "read SA counters".to_owned(),
                message: e.to_string(),
            })?;
        let mut counters = Vec::with_capacity(sas.len());
        let mut offloaded = Vec::new();
        for (&(dst, spi), outcome) in sas.iter().zip(outcomes) {
            match outcome {
                Ok(replies) => counters.push(
                    replies
                        .iter()
                        .filter(|r| r.msg_type == uapi::XFRM_MSG_NEWSA)
                        .find_map(|r| {
                            let sa = uapi::parse_sa_info(&r.payload)?;
                            let offload = uapi::sa_offload_value(&r.payload)
                                .and_then(offload::parse_attribute);
                            if let Some((ifindex, _)) = offload {
                                offloaded.push((counters.len(), ifindex));
                            }
                            Some(SaCounters {
                                bytes: sa.bytes,
                                packets: sa.packets,
                                offload: offload.map_or(OffloadMode::None, |(_, mode)| mode),
                                offload_device: None,
                            })
                        }),
                ),
                Err(error) if error.is_not_found() => counters.push(None),
                Err(error) => {
                    return Err(kernel_error(
                        &format!("read counters of SA to {dst} spi {spi:#010x}"),
                        &error,
                    ))
                }
            }
        }
        // Offloaded SAs name their device by ifindex; status shows its name.
        let mut names = std::collections::HashMap::new();
        for (at, ifindex) in offloaded {
            let name = match names.get(&ifindex) {
                Some(name) => Option::clone(name),
                None => {
                    let name = self.devices.name_of(ifindex).await;
                    names.insert(ifindex, name.clone());
                    name
                }
            };
            if let Some(Some(sa)) = counters.get_mut(at) {
                sa.offload_device = Some(name.unwrap_or_else(|| format!("#{ifindex}")));
            }
        }
        Ok(counters)
    }

    async fn remove_stale(&mut self) -> Result<usize, KernelError> {
        let removed = stale::remove_owned(&mut self.requests, &mut self.record).await;
        if let Err(error) = self.record.flush() {
            tracing::error!("{error}");
        }
        removed
    }

    async fn next_event(&mut self) -> KernelEvent {
        self.events.next().await
    }
}
