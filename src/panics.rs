//! A panic anywhere fails closed. [`install`] puts a process-wide panic hook in place
//! (before the console's, which chains to it): whatever thread panics (the console, the
//! engine, the store writer, a feed task, a helper thread), the hook logs where ("panicked
//! on thread 'engine' at src/runner.rs:123: ...") while the log is still up, closes the
//! trading gate of the run ([`watch_gate`]) at once, and remembers the first panic
//! ([`first`]). The engine loop and the console catch their own panics and go on into the
//! normal shutdown (cancels sent and waited for as configured); the headless supervisor
//! and the console stop the run in order when any other thread panicked; `main` then exits
//! non-zero (4) and leaves no clean-exit record, so the next run starts HALTED.
//!
//! [`inject`] is the tests' way in: in debug builds only (`cfg(debug_assertions)`),
//! `PIT_TEST_PANIC=<point>[@<ms>]` panics at that point once, `ms` milliseconds (wall) after
//! the hook was installed; [`inject_stall`], `PIT_TEST_STALL=<point>:<for_ms>:<file>`, makes
//! the thread at that point sleep `for_ms` once, when `file` exists (an engine loop stuck
//! while the rest of the process goes on). In a release build both compile to nothing: no variable, flag or
//! input can make a production binary panic or stall on purpose.

use crate::domain::TradingGate;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

static GATES: Mutex<Vec<TradingGate>> = Mutex::new(Vec::new());
static FIRST: OnceLock<String> = OnceLock::new();
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Install the fail-closed hook (once, at the start of `main`); the previous hook (the
/// default message on stderr) runs after it.
pub fn install() {
    let _ = STARTED.set(Instant::now());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed").to_string();
        let at = info
            .location()
            .map_or_else(|| "an unknown place".to_string(), |l| l.to_string());
        let text = format!(
            "panicked on thread '{name}' at {at}: {}",
            payload_text(info.payload())
        );
        if let Ok(gates) = GATES.lock() {
            for g in gates.iter() {
                g.close();
            }
        }
        let _ = FIRST.set(text.clone());
        tracing::error!(target: "pit::panic", "{text}; trading gate closed, stopping in order");
        previous(info);
    }));
}

/// The trading gate a panic closes.
pub fn watch_gate(gate: TradingGate) {
    if let Ok(mut g) = GATES.lock() {
        g.push(gate);
    }
}

/// The first panic of the process, if any: where and why.
pub fn first() -> Option<String> {
    FIRST.get().cloned()
}

/// A panic payload as text.
pub fn payload_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_string())
}

/// Tests only (debug builds): panic here when `PIT_TEST_PANIC` names `point`, once.
#[cfg(debug_assertions)]
#[track_caller]
pub fn inject(point: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static FIRED: AtomicBool = AtomicBool::new(false);
    static WANT: OnceLock<Option<(String, u64)>> = OnceLock::new();
    let want = WANT.get_or_init(|| {
        let v = std::env::var("PIT_TEST_PANIC").ok()?;
        let (p, ms) = v.split_once('@').unwrap_or((v.as_str(), "0"));
        Some((p.to_string(), ms.parse().unwrap_or(0)))
    });
    let Some((p, ms)) = want else { return };
    if p != point || FIRED.load(Ordering::Relaxed) {
        return;
    }
    let since = STARTED.get().map_or(u128::MAX, |s| s.elapsed().as_millis());
    if since >= u128::from(*ms) && !FIRED.swap(true, Ordering::SeqCst) {
        panic!("injected panic ({point}, PIT_TEST_PANIC)");
    }
}

/// Release builds: nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn inject(_point: &str) {}

/// Tests only (debug builds): sleep here for `for_ms` once, when `PIT_TEST_STALL` is
/// `<point>:<for_ms>:<file>` and `file` exists (looked for at most every 100 ms).
#[cfg(debug_assertions)]
pub fn inject_stall(point: &str) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static FIRED: AtomicBool = AtomicBool::new(false);
    static WANT: OnceLock<Option<(String, u64, std::path::PathBuf)>> = OnceLock::new();
    static LOOKED: Mutex<Option<Instant>> = Mutex::new(None);
    let want = WANT.get_or_init(|| {
        let v = std::env::var("PIT_TEST_STALL").ok()?;
        let mut parts = v.splitn(3, ':');
        let p = parts.next()?.to_string();
        let len = parts.next()?.parse().ok()?;
        Some((p, len, parts.next()?.into()))
    });
    let Some((p, len, file)) = want else { return };
    if p != point || FIRED.load(Ordering::Relaxed) {
        return;
    }
    {
        let mut looked = LOOKED.lock().unwrap_or_else(|e| e.into_inner());
        if looked.is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(100)) {
            return;
        }
        *looked = Some(Instant::now());
    }
    if file.exists() && !FIRED.swap(true, Ordering::SeqCst) {
        tracing::warn!(point, ms = len, "injected stall (PIT_TEST_STALL)");
        std::thread::sleep(std::time::Duration::from_millis(*len));
    }
}

/// Release builds: nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn inject_stall(_point: &str) {}
