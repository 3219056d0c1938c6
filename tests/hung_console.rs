//! The console never holds the kill path: with its terminal never read (a dead SSH
//! session that has not hung up) a typed K still halts at once and SIGTERM still stops
//! the run in order; when the terminal goes away, `console.on_hangup` decides whether
//! the engine goes on headless (and answers `pit status`, `pit kill` from another shell)
//! or halts and stops.

mod pty;
mod run_dir;

use pty::Pty;
use run_dir::{latch, logs, wait};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// These tests each drive a real console in a pseudo-terminal and stall or close it; run
/// them one at a time, so that three consoles starting at once on a small, busy machine do
/// not stretch each other's start-up past the waits below.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn pit(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pit"));
    c.current_dir(dir);
    c
}

/// A folder with the repo's config, logging at debug, with `edit` applied to the text.
fn folder(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("config.toml"))
        .unwrap()
        .replace("level = \"info\"", "level = \"debug\"");
    std::fs::write(dir.path().join("config.toml"), edit(text)).unwrap();
    dir
}

fn json_of(out: &Output) -> serde_json::Value {
    let s = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(s.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {s}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn status(dir: &Path) -> serde_json::Value {
    json_of(&pit(dir).args(["status", "--json"]).output().unwrap())
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

/// The console up and trading.
fn console(dir: &Path) -> Pty {
    let screen = Pty::spawn(&[], dir, 120, 40);
    screen.wait_for(
        &["Book BTC-USD", "ACTIVE", "bid ", "ask "],
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_millis(1000)); // the strategies trade a little
    screen
}

#[test]
fn k_typed_into_a_terminal_that_is_never_read_halts_at_once() {
    let _serial = one_at_a_time();
    let dir = folder(|t| t);
    let d = dir.path();
    let mut screen = console(d);
    screen.stall();
    std::thread::sleep(Duration::from_millis(1500)); // the tty buffer fills; frames block
    let t0 = Instant::now();
    screen.press(b"K");
    wait("the halt latched", Duration::from_secs(5), || {
        latch(d).is_some()
    });
    let l = latch(d).unwrap();
    assert_eq!(l["reason"], "kill switch pressed", "{l}");
    wait("the halt in the log", Duration::from_secs(5), || {
        logs(d).contains("HALTED: kill switch pressed")
    });
    let halted = t0.elapsed();
    eprintln!("K into a stalled terminal -> HALTED in the log {halted:?}");
    assert!(halted < Duration::from_secs(1), "halted in {halted:?}");
    // The engine still answers from another shell, and the cancels are confirmed.
    let st = status(d);
    assert_eq!(st["trading_state"], "HALTED", "{st}");
    assert_eq!(st["gate_open"], false, "{st}");
    wait("every order cancelled", Duration::from_secs(5), || {
        status(d)["open_orders"].as_array().unwrap().is_empty()
    });

    // SIGTERM, the terminal still not read: the run stops in order, with a clean exit.
    let t0 = Instant::now();
    signal(screen.pid(), "-TERM");
    let st = screen
        .wait_exit(Duration::from_secs(20))
        .expect("pit exits on SIGTERM although its terminal is not read");
    eprintln!("SIGTERM with a stalled terminal -> exit {:?}", t0.elapsed());
    assert!(st.success(), "{st:?}");
    assert!(d.join("data/clean-exit").exists(), "the clean-exit record");
    assert!(logs(d).contains("pit stopped"), "a complete log");
}

#[test]
fn a_hung_up_console_keeps_the_engine_running_for_another_shell() {
    let _serial = one_at_a_time();
    let dir = folder(|t| t);
    let d = dir.path();
    let mut screen = console(d);
    let before = status(d);
    assert_eq!(before["trading_state"], "ACTIVE", "{before}");
    let pid = screen.pid();

    screen.hang_up();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!screen.exited(), "the engine goes on without its terminal");
    let after = status(d);
    assert_eq!(after["pid"], pid, "{after}");
    assert_eq!(after["trading_state"], "ACTIVE", "{after}");
    assert_eq!(
        after["positions"].as_array().unwrap().len(),
        before["positions"].as_array().unwrap().len(),
        "{after}"
    );
    assert!(
        after["engine_time"].as_str() > before["engine_time"].as_str(),
        "the engine's clock goes on: {before} -> {after}"
    );
    let seen = Instant::now();
    while !logs(d).contains("console hung up: engine running headless") {
        let log = logs(d);
        assert!(
            seen.elapsed() < Duration::from_secs(10),
            "the hang-up alert in the log: not within 10 s; {}\nthe log ends:\n{}",
            screen.threads(),
            &log[log.len().saturating_sub(3000)..]
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    // pit kill from another shell halts it; SIGTERM then stops it in order.
    let out = pit(d)
        .args(["kill", "--json", "--timeout", "5s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", json_of(&out));
    assert_eq!(status(d)["trading_state"], "HALTED");
    signal(pid, "-TERM");
    let st = screen
        .wait_exit(Duration::from_secs(20))
        .expect("a headless console run stops on SIGTERM");
    assert!(st.success(), "{st:?}");
    assert!(d.join("data/clean-exit").exists(), "the clean-exit record");
    assert!(logs(d).contains("pit stopped"), "a complete log");
}

#[test]
fn with_on_hangup_kill_a_hang_up_halts_and_stops() {
    let _serial = one_at_a_time();
    let dir = folder(|t| t.replace("on_hangup = \"keep-running\"", "on_hangup = \"kill\""));
    let d = dir.path();
    let mut screen = console(d);
    screen.hang_up();
    let st = screen
        .wait_exit(Duration::from_secs(20))
        .expect("pit stops after a hang-up with on_hangup = kill");
    assert!(st.success(), "{st:?}");
    let l = latch(d).expect("the halt latched");
    assert_eq!(l["reason"], "console hung up", "{l}");
    assert!(d.join("data/clean-exit").exists(), "the clean-exit record");
    let logs = logs(d);
    assert!(logs.contains("HALTED: console hung up"), "{logs}");
    assert!(logs.contains("pit stopped"), "a complete log");
}
