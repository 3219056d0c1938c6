//! What a real `pit` run leaves in its folder, read back by the end-to-end tests: its logs,
//! its halt latch; and waiting for one of them to say something.
#![allow(dead_code)] // shared by several test crates; each uses a part of it

use std::path::Path;
use std::time::{Duration, Instant};

/// Every log file under `dir/logs`, concatenated (empty when there is none yet).
pub fn logs(dir: &Path) -> String {
    std::fs::read_dir(dir.join("logs"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Wait until `f` holds; returns how long it took. Fails naming `what` after `limit`.
pub fn wait(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    t0.elapsed()
}

/// The halt latch (`data/halt.latch`), if one is on disk.
pub fn latch(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("data/halt.latch")).ok()?;
    serde_json::from_str(&text).ok()
}
