//! The TOML configuration file and its validated model.
