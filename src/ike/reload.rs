//! Applying a new configuration to a running engine: only the differences. Connections whose
//! settings are unchanged keep their SAs; changed ones are re-established; removed ones are
//! deleted with the peer (their traps removed); new ones start as their start action says
//! (initiate, or install their trap).

use std::sync::Arc;
use std::time::Instant;

use super::engine::Engine;
use super::output::ConnId;
use super::settings::EngineSettings;

/// What a reload did, by connection name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Connections that should have started but could not, with the reason.
    pub failed_to_start: Vec<(String, String)>,
}

impl Engine {
    pub fn reload(&mut self, now: Instant, mut settings: EngineSettings) -> ReloadReport {
        let mut report = ReloadReport::default();
        let mut incoming = std::mem::take(&mut settings.connections);
        self.cx.settings = settings;
        let existing: Vec<ConnId> = self.connection_ids().collect();
        let mut to_start = Vec::new();
        for id in existing {
            let Some(current) = self.cx.shared_connection(id) else {
                continue;
            };
            match incoming.iter().position(|c| c.name == current.name) {
                None => {
                    self.cx.held_down.remove(&id);
                    self.cx.remove_trap(id);
                    self.terminate(now, id);
                    self.cx.forget_v1_pairs(id);
                    if let Some(slot) = self.cx.connections.get_mut(id.0 as usize) {
                        *slot = None;
                    }
                    report.removed.push(current.name.clone());
                }
                Some(index) => {
                    let new = incoming.remove(index);
                    if new == *current {
                        report.unchanged.push(current.name.clone());
                        continue;
                    }
                    // The old trap goes (with its CHILD_SA, if one still uses it); a
                    // new one, for the new settings, has a reqid of its own. A changed
                    // connection starts afresh, whatever `down` said of the old one.
                    self.cx.held_down.remove(&id);
                    self.cx.remove_trap(id);
                    self.terminate(now, id);
                    self.cx.forget_v1_pairs(id);
                    if let Some(slot) = self.cx.connections.get_mut(id.0 as usize) {
                        *slot = Some(Arc::new(new));
                    }
                    to_start.push(id);
                    report.changed.push(current.name.clone());
                }
            }
        }
        for new in incoming {
            report.added.push(new.name.clone());
            self.cx.connections.push(Some(Arc::new(new)));
            if let Ok(i) = u32::try_from(self.cx.connections.len() - 1) {
                to_start.push(ConnId(i));
            }
        }
        self.cx.conn_index = super::lookup::ConnIndex::build(&self.cx.connections);
        for id in to_start {
            if let Err(e) = self.start_connection(now, id) {
                let name = self
                    .connection(id)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                report.failed_to_start.push((name, e.to_string()));
            }
        }
        report
    }
}
