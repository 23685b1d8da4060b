//! Who may ask the control socket what: root (and the daemon's own user) may use every
//! command; members of `[gateway] control_group` only those that read.
//!
//! The socket file's mode already keeps everyone else out (0600, or 0660 with the group).
//! The daemon checks again on every connection, from the peer's credentials as the kernel
//! gives them (SO_PEERCRED) and the user's supplementary groups (getgrouplist), because the
//! file's mode cannot tell a reading command from one that changes the gateway.

use std::ffi::CString;

use nix::unistd::{getgrouplist, Gid, Uid, User};

use crate::config::ControlGroup;

use super::control::Request;

/// The credentials of a connected client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
}

/// The access rule of a running daemon.
#[derive(Debug, Clone)]
pub struct ControlAccess {
    group: Option<ControlGroup>,
    /// The daemon's own user, as privileged as root to itself (a daemon run unprivileged
    /// with the recording dataplane answers its owner).
    owner: u32,
}

/// Why a client's request is refused: the answer it gets and what the log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub answer: String,
}

impl ControlAccess {
    pub fn new(group: Option<ControlGroup>) -> ControlAccess {
        ControlAccess {
            group,
            owner: Uid::effective().as_raw(),
        }
    }

    pub fn group(&self) -> Option<&ControlGroup> {
        self.group.as_ref()
    }

    /// Whether `peer` needs its supplementary groups looked up before [`Self::decide`]:
    /// only a client that is neither privileged nor in the group by its primary gid.
    pub fn needs_groups(&self, peer: &Peer) -> bool {
        !self.is_privileged(peer)
            && self
                .group
                .as_ref()
                .is_some_and(|group| group.gid != peer.gid)
    }

    fn is_privileged(&self, peer: &Peer) -> bool {
        peer.uid == 0 || peer.uid == self.owner
    }

    /// Whether `peer`, whose supplementary groups are `groups`, may make `request`.
    pub fn decide(&self, peer: &Peer, groups: &[u32], request: &Request) -> Result<(), Refusal> {
        if self.is_privileged(peer) {
            return Ok(());
        }
        let command = request.command_name();
        let Some(group) = &self.group else {
            return Err(Refusal {
                answer: format!(
                    "permission denied: `{command}` needs root (uid {} is not; the control socket is root-only without [gateway] control_group)",
                    peer.uid
                ),
            });
        };
        let member = peer.gid == group.gid || groups.contains(&group.gid);
        if !member {
            return Err(Refusal {
                answer: format!(
                    "permission denied: uid {} is neither root nor a member of group {}",
                    peer.uid, group.name
                ),
            });
        }
        if request.is_read_only() {
            return Ok(());
        }
        Err(Refusal {
            answer: format!(
                "permission denied: `{command}` needs root; members of group {} may only read (status, routes, log without a level)",
                group.name
            ),
        })
    }
}

/// The supplementary groups of the user `uid` as the system's group database lists them
/// (getgrouplist), `primary` included. Blocking: it may read /etc/group or ask NSS. A uid
/// without a user entry has none beyond `primary`.
pub fn supplementary_groups(uid: u32, primary: u32) -> Vec<u32> {
    let user = match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user,
        Ok(None) | Err(_) => return vec![primary],
    };
    let Ok(name) = CString::new(user.name) else {
        return vec![primary];
    };
    match getgrouplist(&name, Gid::from_raw(primary)) {
        Ok(groups) => groups.into_iter().map(Gid::as_raw).collect(),
        Err(_) => vec![primary],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::control::LogLevel;

    fn access(group: Option<(&str, u32)>) -> ControlAccess {
        ControlAccess {
            group: group.map(|(name, gid)| ControlGroup {
                name: name.into(),
                gid,
            }),
            owner: 0,
        }
    }

    fn reading() -> Vec<Request> {
        vec![
            Request::Status { name: None },
            Request::Routes,
            Request::Log {
                level: None,
                name: None,
            },
        ]
    }

    fn changing() -> Vec<Request> {
        vec![
            Request::Up {
                name: "office".into(),
                wait_s: None,
            },
            Request::Down {
                name: "office".into(),
                wait_s: Some(3),
            },
            Request::Reload,
            Request::Log {
                level: Some(LogLevel::Debug),
                name: None,
            },
            Request::Log {
                level: Some(LogLevel::Reset),
                name: Some("office".into()),
            },
        ]
    }

    #[test]
    fn root_may_do_everything_with_or_without_a_group() {
        let root = Peer { uid: 0, gid: 0 };
        for rule in [access(None), access(Some(("ikehub", 990)))] {
            for request in reading().into_iter().chain(changing()) {
                assert_eq!(rule.decide(&root, &[], &request), Ok(()), "{request:?}");
            }
            assert!(!rule.needs_groups(&root));
        }
    }

    #[test]
    fn members_by_primary_or_supplementary_group_may_only_read() {
        let rule = access(Some(("ikehub", 990)));
        let by_primary = Peer {
            uid: 1000,
            gid: 990,
        };
        let by_supplementary = Peer {
            uid: 1001,
            gid: 1001,
        };
        assert!(!rule.needs_groups(&by_primary));
        assert!(rule.needs_groups(&by_supplementary));
        for (peer, groups) in [
            (&by_primary, vec![990]),
            (&by_supplementary, vec![1001, 990]),
        ] {
            for request in reading() {
                assert_eq!(rule.decide(peer, &groups, &request), Ok(()), "{request:?}");
            }
            for request in changing() {
                let refusal = rule.decide(peer, &groups, &request).expect_err("refused");
                assert!(
                    refusal
                        .answer
                        .contains("needs root; members of group ikehub may only read"),
                    "{}",
                    refusal.answer
                );
            }
        }
        let down = Request::Down {
            name: "office".into(),
            wait_s: None,
        };
        assert_eq!(
            rule.decide(&by_primary, &[990], &down),
            Err(Refusal {
                answer: "permission denied: `down` needs root; members of group ikehub may only read (status, routes, log without a level)".into()
            })
        );
    }

    #[test]
    fn others_are_refused_everything() {
        let outsider = Peer {
            uid: 1002,
            gid: 1002,
        };
        let rule = access(Some(("ikehub", 990)));
        for request in reading().into_iter().chain(changing()) {
            let refusal = rule
                .decide(&outsider, &[1002, 27], &request)
                .expect_err("refused");
            assert_eq!(
                refusal.answer,
                "permission denied: uid 1002 is neither root nor a member of group ikehub"
            );
        }
        let root_only = access(None);
        let refusal = root_only
            .decide(&outsider, &[], &Request::Status { name: None })
            .expect_err("refused");
        assert!(
            refusal
                .answer
                .starts_with("permission denied: `status` needs root (uid 1002"),
            "{}",
            refusal.answer
        );
    }

    #[test]
    fn the_daemons_own_user_is_privileged() {
        let mut rule = access(None);
        rule.owner = 1500;
        let owner = Peer {
            uid: 1500,
            gid: 1500,
        };
        assert_eq!(rule.decide(&owner, &[], &Request::Reload), Ok(()));
    }
}
