//! Pre-shared keys: held in memory that is wiped on drop, never printed, read from files that
//! only their owner may read.

use std::fmt;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

/// A pre-shared key. `Debug` prints `Psk(<redacted>)`; there is no `Display`.
#[derive(Clone)]
pub struct Psk {
    secret: Zeroizing<Vec<u8>>,
}

impl Psk {
    /// Wraps secret octets. The caller's buffer is moved, not copied.
    pub fn new(secret: Zeroizing<Vec<u8>>) -> Psk {
        Psk { secret }
    }

    /// The secret octets.
    pub fn secret(&self) -> &[u8] {
        &self.secret
    }
}

impl fmt::Debug for Psk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Psk(<redacted>)")
    }
}

/// Largest PSK file accepted: a key is short; anything bigger is the wrong file.
const MAX_PSK_FILE_LEN: u64 = 64 * 1024;

/// Reads a PSK file. Errors are messages naming the problem but never the content.
///
/// The file must be a regular file that neither group nor others can access (mode & 0o077 == 0):
/// a key others can read is a key others have. One trailing newline (`\n` or `\r\n`) is
/// removed, since editors add one.
pub(crate) fn read_psk_file(path: &Path) -> Result<Psk, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !metadata.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    check_mode(path, &metadata)?;
    if metadata.len() > MAX_PSK_FILE_LEN {
        return Err(format!(
            "{} is {} bytes long; a PSK file holds only the key",
            path.display(),
            metadata.len()
        ));
    }
    let mut secret = Zeroizing::new(Vec::new());
    file.take(MAX_PSK_FILE_LEN)
        .read_to_end(&mut secret)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    strip_one_newline(&mut secret);
    if secret.is_empty() {
        return Err(format!("{} holds an empty key", path.display()));
    }
    Ok(Psk::new(secret))
}

fn check_mode(path: &Path, metadata: &std::fs::Metadata) -> Result<(), String> {
    match file_mode(metadata) {
        Some(mode) => too_open(path, mode).map_or(Ok(()), Err),
        None => Ok(()),
    }
}

/// The permission bits of a file (`None` where there are none to check).
#[cfg(unix)]
pub(crate) fn file_mode(metadata: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(metadata.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
pub(crate) fn file_mode(_metadata: &std::fs::Metadata) -> Option<u32> {
    None
}

/// Why a file holding a key with `mode` is refused (group or others may access it), with
/// the command that fixes it; `None` if only its owner may.
pub(crate) fn too_open(path: &Path, mode: u32) -> Option<String> {
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} has mode {mode:04o}: group or others can access it; run chmod 600 {}",
            path.display(),
            path.display()
        )
    })
}

fn strip_one_newline(secret: &mut Zeroizing<Vec<u8>>) {
    if secret.last() == Some(&b'\n') {
        secret.pop();
        if secret.last() == Some(&b'\r') {
            secret.pop();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A file in the temporary directory, removed on drop.
    pub(crate) struct TempFile(pub(crate) PathBuf);

    impl TempFile {
        #[cfg(unix)]
        pub(crate) fn with_mode(tag: &str, content: &[u8], mode: u32) -> TempFile {
            use std::os::unix::fs::PermissionsExt;
            use std::sync::atomic::{AtomicUsize, Ordering};
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "ikehub-config-{tag}-{}-{unique}.psk",
                std::process::id()
            ));
            std::fs::write(&path, content).expect("write temp file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .expect("chmod temp file");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn debug_is_redacted() {
        let psk = Psk::new(Zeroizing::new(b"hunter2".to_vec()));
        assert_eq!(format!("{psk:?}"), "Psk(<redacted>)");
        assert_eq!(psk.secret(), b"hunter2");
    }

    #[cfg(unix)]
    #[test]
    fn reads_private_file_and_strips_one_newline() {
        let file = TempFile::with_mode("ok", b"s3cret\n\n", 0o600);
        let psk = read_psk_file(&file.0).expect("readable");
        assert_eq!(psk.secret(), b"s3cret\n");
        let crlf = TempFile::with_mode("crlf", b"s3cret\r\n", 0o400);
        assert_eq!(
            read_psk_file(&crlf.0).expect("readable").secret(),
            b"s3cret"
        );
    }

    #[cfg(unix)]
    #[test]
    fn rejects_group_or_world_access() {
        for mode in [0o640, 0o604, 0o660, 0o644, 0o610] {
            let file = TempFile::with_mode("mode", b"TOPSECRET", mode);
            let error = read_psk_file(&file.0).expect_err("too open");
            assert!(error.contains(&format!("{mode:04o}")), "{error}");
            assert!(error.contains("chmod 600"), "{error}");
            assert!(!error.contains("TOPSECRET"), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn rejects_empty_and_missing_files() {
        let empty = TempFile::with_mode("empty", b"\n", 0o600);
        assert!(read_psk_file(&empty.0)
            .expect_err("empty")
            .contains("empty key"));
        let missing =
            std::env::temp_dir().join(format!("ikehub-config-missing-{}.psk", std::process::id()));
        let error = read_psk_file(&missing).expect_err("missing");
        // The operating system's reason is part of the message.
        assert!(error.contains("No such file"), "{error}");
    }
}
