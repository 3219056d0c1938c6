//! What is counted across views: kill-switch presses (a view shows only the kill under
//! way; a new one is a press). Everything else is counted by the engine or the runner and
//! read from the latest view.

use crate::engine::view::EngineView;

#[derive(Debug, Default)]
pub struct Tracker {
    /// Kills seen (a new `kill.started`).
    pub kill_presses: u64,
    last_kill: Option<crate::domain::Timestamp>,
}

impl Tracker {
    /// Take in a newly published view.
    pub fn observe(&mut self, v: &EngineView) {
        if let Some(k) = &v.kill
            && self.last_kill != Some(k.started)
        {
            self.last_kill = Some(k.started);
            self.kill_presses += 1;
        }
    }
}
