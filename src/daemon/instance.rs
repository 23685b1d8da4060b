//! One daemon per instance. An instance is named by its control socket: beside the socket
//! `DIR/NAME.sock` live its lock `DIR/NAME.lock` and the record of its kernel objects
//! `DIR/NAME.state` (by default `/run/ikehub/control.{sock,lock,state}`), so daemons on
//! distinct sockets, as tests run them, are distinct instances.
//!
//! The lock is an exclusive `flock` on the lock file, taken before any kernel object is read
//! or changed: a second daemon of the instance gives up before its start-up cleanup could
//! remove what the running one installed. The kernel drops an flock with the last descriptor
//! of the open file, so a daemon that is killed (even with SIGKILL) leaves no stale lock.
//! The file holds the holder's pid, for the message of the one that gives up.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The files of the instance a control socket names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstancePaths {
    pub lock: PathBuf,
    pub record: PathBuf,
}

impl InstancePaths {
    /// `DIR/NAME.lock` and `DIR/NAME.state` for the socket `DIR/NAME.sock` (or `DIR/NAME`).
    pub fn for_socket(socket: &Path) -> InstancePaths {
        let beside = |extension: &str| {
            let mut path = socket.with_extension(extension);
            // A socket called `x.lock` or `x.state` would be its own lock or record.
            if path == socket {
                let mut name = socket.as_os_str().to_owned();
                name.push(".");
                name.push(extension);
                path = PathBuf::from(name);
            }
            path
        };
        InstancePaths {
            lock: beside("lock"),
            record: beside("state"),
        }
    }
}

/// Why the instance's lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another ikehub daemon ({}) runs for this instance: {} is locked; stop it first, or \
         give this daemon another --socket",
        holder_text(*pid),
        path.display()
    )]
    Held { pid: Option<u32>, path: PathBuf },
    #[error("cannot {operation} the lock file {}: {error}", path.display())]
    Io {
        operation: &'static str,
        path: PathBuf,
        error: io::Error,
    },
}

fn holder_text(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "pid unknown".to_owned(),
    }
}

/// The instance's lock, held until it is dropped or the process exits.
#[derive(Debug)]
pub struct InstanceLock {
    _file: Flock<File>,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes the lock at `path` without waiting, creating the file (and its directory, mode
    /// 0700, as the control socket's) if needed, and writes this process's pid into it.
    pub fn acquire(path: &Path) -> Result<InstanceLock, LockError> {
        let io_error = |operation| {
            move |error| LockError::Io {
                operation,
                path: path.to_owned(),
                error,
            }
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(io_error("create the directory of"))?;
            }
        }
        // Not truncated on open: the pid in it is the holder's until the lock is ours.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io_error("open"))?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                return Err(LockError::Held {
                    pid: read_pid(&mut file),
                    path: path.to_owned(),
                })
            }
            Err((_, errno)) => return Err(io_error("lock")(io::Error::from(errno))),
        };
        file.set_len(0).map_err(io_error("truncate"))?;
        file.rewind().map_err(io_error("rewind"))?;
        writeln!(*file, "{}", std::process::id()).map_err(io_error("write our pid to"))?;
        Ok(InstanceLock {
            _file: file,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The pid the holder wrote; `None` if it has not written it yet or the file says nothing
/// readable.
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ikehub-lock-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn instance_files_sit_beside_the_socket() {
        assert_eq!(
            InstancePaths::for_socket(Path::new("/run/ikehub/control.sock")),
            InstancePaths {
                lock: "/run/ikehub/control.lock".into(),
                record: "/run/ikehub/control.state".into(),
            }
        );
        assert_eq!(
            InstancePaths::for_socket(Path::new("/run/ikt-A")).lock,
            PathBuf::from("/run/ikt-A.lock")
        );
        assert_eq!(
            InstancePaths::for_socket(Path::new("/tmp/x.lock")).lock,
            PathBuf::from("/tmp/x.lock.lock")
        );
    }

    #[test]
    fn a_second_lock_fails_with_the_holders_pid_until_the_first_is_dropped() {
        let dir = scratch("second");
        let path = dir.join("sub").join("control.lock");
        let first = InstanceLock::acquire(&path).expect("first lock");
        assert_eq!(first.path(), path);
        // flock locks belong to the open file: a second open in the same process conflicts
        // as a second process's would.
        let error = InstanceLock::acquire(&path).expect_err("second lock");
        assert!(
            matches!(&error, LockError::Held { pid: Some(pid), .. } if *pid == std::process::id()),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "another ikehub daemon (pid {}) runs for this instance: ",
                std::process::id()
            )),
            "{message}"
        );
        assert!(message.contains(&path.display().to_string()), "{message}");
        drop(first);
        let again = InstanceLock::acquire(&path).expect("free after drop");
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_place_names_the_path_and_the_os_error() {
        let dir = scratch("unwritable");
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let file = dir.join("plain");
        std::fs::write(&file, "").expect("a file");
        let path = file.join("control.lock");
        let message = InstanceLock::acquire(&path)
            .expect_err("below a file")
            .to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("Not a directory"), "{message}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
