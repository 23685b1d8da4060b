//! A scrape inside the loop: the status snapshot of every configured connection (kernel
//! counters read now, as `ikehub status` reads them) rendered with the event counters.

use crate::daemon::gateway::Gateway;
use crate::daemon::status::Scope;
use crate::kernel::Dataplane;

use super::render;

impl<D: Dataplane> Gateway<D> {
    /// The text of one scrape; `None` (logged) if it could not be rendered.
    pub(in crate::daemon) async fn metrics_text(&mut self) -> Option<String> {
        let snapshot = self
            .status_snapshot(Scope::All, self.not_running.clone())
            .await;
        match render::render(&snapshot, &self.metrics) {
            Ok(text) => Some(text),
            Err(e) => {
                tracing::warn!("cannot render the metrics: {e}");
                None
            }
        }
    }
}
