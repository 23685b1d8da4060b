//! A short human summary of a valid configuration, for `check-config` and logs.

use std::fmt::Write;

use super::duration;
use super::model::{Config, Offload};

fn plural(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Config {
    /// E.g.
    /// ```text
    /// gateway "hub" (hub mode): 192.0.2.1; local subnets 10.0.0.0/16
    /// 3 peers
    /// 3 connections:
    ///   shanghai: ikev2 with peer "shanghai" (198.51.100.10), 10.0.0.0/16 <-> 10.10.10.0/24, ...
    /// 3 routes:
    ///   10.10.10.0/24 -> shanghai (active, published)
    /// ```
    /// Secrets never appear.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let gateway = &self.gateway;
        let _ = writeln!(
            out,
            "gateway \"{}\"{}: {}; local subnets {}",
            gateway.name,
            if gateway.hub { " (hub mode)" } else { "" },
            join(&gateway.local_addresses),
            if gateway.local_subnets.is_empty() {
                "none".to_owned()
            } else {
                join(&gateway.local_subnets)
            }
        );
        let _ = writeln!(out, "{}", plural(self.peers.len(), "peer", "peers"));
        let _ = writeln!(
            out,
            "{}{}",
            plural(self.connections.len(), "connection", "connections"),
            if self.connections.is_empty() { "" } else { ":" }
        );
        for c in &self.connections {
            let address = self
                .peers
                .iter()
                .find(|p| p.name == c.peer)
                .map(|p| p.address.to_string())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}: {} with peer \"{}\" ({address}), {} <-> {}, ike {}, esp {}, pfs {}, lifetimes {}/{}, {}, on close {}{}",
                c.name,
                match (c.version, c.aggressive) {
                    (super::model::IkeVersion::V1, true) => "ikev1 (Aggressive Mode)".to_owned(),
                    (super::model::IkeVersion::V1, false) => "ikev1 (Main Mode)".to_owned(),
                    (version, _) => version.to_string(),
                },
                c.peer,
                join(&c.local_subnets),
                join(&c.remote_subnets),
                join(&c.ike_proposals),
                join(&c.esp_proposals),
                c.pfs,
                duration::format(c.ike_lifetime),
                duration::format(c.child_lifetime),
                c.start_action,
                c.close_action,
                match c.offload {
                    Offload::None => String::new(),
                    mode => format!(", offload {mode}"),
                },
            );
        }
        let _ = writeln!(
            out,
            "{}{}",
            plural(self.routes.len(), "route", "routes"),
            if self.routes.is_empty() { "" } else { ":" }
        );
        for r in &self.routes {
            let _ = writeln!(
                out,
                "  {} -> {} ({}{})",
                r.destination,
                r.connection,
                if r.weight == 0 { "standby" } else { "active" },
                if r.publish { ", published" } else { "" }
            );
        }
        out.truncate(out.trim_end().len());
        out
    }
}
