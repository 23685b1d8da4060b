//! `[gateway] control_group`: the group whose members may use the read-only commands of the
//! control socket (`status`, `routes`, `log` without a level). The name is looked up when the
//! file is checked, so a group that does not exist is an error of the file, not of a client.

use nix::unistd::Group;

/// The group named in the configuration, with the id it has on this system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlGroup {
    pub name: String,
    pub gid: u32,
}

/// Why a group name was not accepted; the text is the error message.
pub(crate) fn resolve(name: &str) -> Result<ControlGroup, String> {
    if name.is_empty() {
        return Err("empty group name: give the group allowed to read, e.g. \"ikehub\", or leave the key out (root only)".to_owned());
    }
    match Group::from_name(name) {
        Ok(Some(group)) => Ok(ControlGroup {
            name: name.to_owned(),
            gid: group.gid.as_raw(),
        }),
        Ok(None) => Err(format!(
            "no group {name:?} on this system: create it (e.g. groupadd --system {name}) or leave the key out (root only)"
        )),
        Err(e) => Err(format!("cannot look up group {name:?}: {e}")),
    }
}
