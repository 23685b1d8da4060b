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

#[test]
fn the_hub_example_gives_each_connection_its_own_interface() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hub.toml");
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/site-to-site.toml");
    let config = ikehub::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let (settings, _) = ikehub::ike::EngineSettings::from_config(&config);
    assert!(settings.connections.iter().all(|c| c.if_id.is_none()));
}
