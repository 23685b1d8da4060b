//! Every shipped example configuration must load without errors. The directory is listed at
//! run time, so a new example is covered as soon as it is added.

use std::path::Path;

#[test]
fn every_example_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = Vec::new();
    let entries = std::fs::read_dir(&dir).expect("examples directory is readable");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        match ikehub::config::load(&path) {
            Ok(config) => {
                assert!(
                    !config.connections.is_empty(),
                    "{}: no connections",
                    path.display()
                );
                assert!(!config.summary().is_empty());
            }
            Err(errors) => panic!("{} does not load:\n{errors}", path.display()),
        }
        checked.push(path);
    }
    // The three documented examples at least.
    assert!(checked.len() >= 3, "found only {checked:?}");
}
