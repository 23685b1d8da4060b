//! Where things are: the workspace, cargo's target dir, the kernel-lab cache.
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    /// The workspace is the parent of the xtask crate.
    pub fn locate() -> Result<Workspace, String> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir
            .parent()
            .ok_or_else(|| format!("{} has no parent directory", manifest_dir.display()))?;
        Ok(Workspace {
            root: root.to_path_buf(),
        })
    }

    /// A cargo command run from the workspace root (the same cargo that runs xtask).
    pub fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&self.root);
        cmd
    }

    /// Cargo's target directory for build outputs (honours CARGO_TARGET_DIR).
    pub fn cargo_target_dir(&self) -> PathBuf {
        match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => self.root.join(dir),
            _ => self.root.join("target"),
        }
    }

    /// The release build of the ikehub binary.
    pub fn ikehub_release_binary(&self) -> PathBuf {
        self.cargo_target_dir().join("release").join("ikehub")
    }

    /// Cache for debs, kernels, initramfs images and console logs.
    pub fn kernel_lab(&self) -> PathBuf {
        self.root.join("target").join("kernel-lab")
    }

    /// The guest test scripts.
    pub fn vm_tests(&self) -> PathBuf {
        self.root.join("tests").join("vm")
    }

    /// Files baked into the base initramfs (init, module list).
    pub fn guest_dir(&self) -> PathBuf {
        self.root.join("xtask").join("guest")
    }
}
