//! Every shipped example configuration must load without errors (from a copy only its owner
//! may read, as a user installs it). The directory is listed at run time, so a new example
//! is covered as soon as it is added.

mod support {
    pub mod examples;
}

use std::path::Path;
use support::examples::private_copy;

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
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        match ikehub::config::load(&private_copy(name)) {
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

#[test]
fn the_hub_example_gives_each_connection_its_own_interface() {
    let path = private_copy("hub.toml");
    let config = ikehub::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let (settings, skipped) = ikehub::ike::EngineSettings::from_config(&config);
    assert!(skipped.is_empty(), "{skipped:?}");
    let mut if_ids = std::collections::HashSet::new();
    for c in &settings.connections {
        assert_eq!(
            c.if_id,
            Some(ikehub::config::hub_if_id(&c.name)),
            "{}",
            c.name
        );
        assert!(if_ids.insert(c.if_id), "{}: if_id shared", c.name);
        // Routes decide: the selectors on the hub's side cover everything.
        let local: Vec<String> = c.local_subnets.iter().map(ToString::to_string).collect();
        assert_eq!(local, ["0.0.0.0/0"], "{}", c.name);
    }
    assert_eq!(if_ids.len(), 3);
    // A site-to-site gateway has no interfaces.
    let path = private_copy("site-to-site.toml");
    let config = ikehub::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let (settings, _) = ikehub::ike::EngineSettings::from_config(&config);
    assert!(settings.connections.iter().all(|c| c.if_id.is_none()));
}
