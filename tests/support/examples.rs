//! Private copies of the shipped examples: git checks them out mode 0644, and ikehub refuses
//! an inline psk in a file group or others can read.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A copy of `examples/NAME`, mode 600, in a directory of this test process.
pub fn private_copy(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ikehub-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let copy = dir.join(name);
    let example = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    std::fs::copy(&example, &copy).expect("copy the example");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    copy
}
