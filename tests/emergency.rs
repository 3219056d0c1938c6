//! The kill switch without the console: `kill -USR1 <pid>` and a `HALT` file in the data
//! folder trip it while the console's terminal is never read (a dead SSH session); the
//! halt is latched to disk on its own, so a `kill -9` right after it, or any crash,
//! restarts HALTED; a clean stop restarts as before.

mod pty;
mod run_dir;

use pty::Pty;
use run_dir::{latch, logs, wait};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn pit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pit"))
}

/// A folder with the repo's config, logging at debug (every order sent is logged).
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(repo.join("config.toml"))
        .unwrap()
        .replace("level = \"info\"", "level = \"debug\"");
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    dir
}

/// A short headless run in `dir`: its JSON summary.
fn restart(dir: &Path) -> serde_json::Value {
    let out = pit()
        .current_dir(dir)
        .args([
            "run",
            "--headless",
            "--speed",
            "max",
            "--for",
            "2s",
            "--json",
        ])
        .output()
        .expect("run pit");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    // A headless run that ends HALTED exits 4; one that traded to its end, 0.
    let want = if json["trading_state"] == "HALTED" {
        4
    } else {
        0
    };
    assert_eq!(
        out.status.code(),
        Some(want),
        "{json} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json
}

/// The console up and trading, then its terminal no longer read until its writes block.
fn hung_console(dir: &Path) -> Pty {
    let screen = Pty::spawn(&[], dir, 120, 40);
    screen.wait_for(
        &["Book BTC-USD", "ACTIVE", "bid ", "ask "],
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_millis(1000)); // the strategies trade a little
    screen.stall();
    std::thread::sleep(Duration::from_millis(1500)); // the tty buffer fills; pit's writes block
    screen
}

/// After the halt at `marker` in the log: no order that adds exposure left, the cancels
/// were confirmed.
fn check_log_after_halt(dir: &Path, marker: &str) {
    let logs = logs(dir);
    let at = logs
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}` in the log"));
    let before = &logs[..at];
    // Up to a re-arm, if any.
    let after = &logs[at..];
    let after = &after[..after.find("re-armed").unwrap_or(after.len())];
    assert!(
        before.contains("order sent"),
        "orders flowed before the kill"
    );
    let leaked: Vec<&str> = after
        .lines()
        .filter(|l| l.contains("order sent") && l.contains("reduce_only=false"))
        .collect();
    assert!(leaked.is_empty(), "orders left after the kill: {leaked:#?}");
}

#[test]
fn sigusr1_halts_a_console_whose_terminal_is_never_read() {
    let dir = folder();
    let mut screen = hung_console(dir.path());
    let t0 = Instant::now();
    let ok = Command::new("kill")
        .args(["-USR1", &screen.pid().to_string()])
        .status()
        .expect("kill -USR1");
    assert!(ok.success());
    let latched = wait("the halt latched", Duration::from_secs(5), || {
        latch(dir.path()).is_some()
    });
    let l = latch(dir.path()).unwrap();
    assert_eq!(l["reason"], "SIGUSR1", "{l}");
    wait("the halt in the log", Duration::from_secs(5), || {
        logs(dir.path()).contains("HALTED: SIGUSR1")
    });
    let halted = t0.elapsed();
    eprintln!("SIGUSR1 -> latch on disk {latched:?}, -> HALTED in the log {halted:?}");
    assert!(halted < Duration::from_secs(1), "halted in {halted:?}");
    assert!(!screen.exited(), "the run goes on, halted");

    // The terminal comes back: the console shows the halt, and quits in order.
    screen.unstall();
    screen.wait_for(
        &["HALTED", "SIGUSR1", "latched", "0 open orders"],
        Duration::from_secs(10),
    );
    let status = screen.quit();
    assert!(status.success(), "{status:?}");
    check_log_after_halt(dir.path(), "HALTED: SIGUSR1");
    let json = restart(dir.path());
    assert_eq!(json["trading_state"], "HALTED", "{json}");
    assert!(
        json["halt_reason"].as_str().unwrap().contains("SIGUSR1"),
        "{json}"
    );
}

#[test]
fn a_halt_file_halts_a_hung_console_and_holds_until_removed() {
    let dir = folder();
    let mut screen = hung_console(dir.path());
    let t0 = Instant::now();
    std::fs::write(dir.path().join("data/HALT"), "desk\tsays\x07 stop\n\n").unwrap();
    wait("the halt latched", Duration::from_secs(5), || {
        latch(dir.path()).is_some()
    });
    let l = latch(dir.path()).unwrap();
    let reason = l["reason"].as_str().unwrap().to_string();
    assert!(reason.starts_with("HALT file: desk says stop"), "{reason}");
    wait("the halt in the log", Duration::from_secs(5), || {
        logs(dir.path()).contains("HALTED: HALT file: desk says stop")
    });
    let halted = t0.elapsed();
    eprintln!("HALT file -> HALTED in the log {halted:?}");
    assert!(halted < Duration::from_secs(1), "halted in {halted:?}");

    // Re-arm is refused while the file is there.
    screen.unstall();
    screen.wait_for(&["HALTED", "HALT file", "latched"], Duration::from_secs(10));
    screen.press(b"R");
    std::thread::sleep(Duration::from_millis(300));
    screen.press(b"y");
    screen.wait_for(&["re-arm refused"], Duration::from_secs(5));
    assert!(latch(dir.path()).is_some(), "still latched");
    // Removed: the re-arm goes through and the latch is removed.
    std::fs::remove_file(dir.path().join("data/HALT")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    screen.press(b"R");
    std::thread::sleep(Duration::from_millis(300));
    screen.press(b"y");
    wait("the latch removed", Duration::from_secs(5), || {
        latch(dir.path()).is_none()
    });
    screen.wait_for(&["re-armed: ACTIVE"], Duration::from_secs(5));
    let status = screen.quit();
    assert!(status.success(), "{status:?}");
    check_log_after_halt(dir.path(), "HALTED: HALT file");
    let json = restart(dir.path());
    assert_eq!(
        json["trading_state"], "ACTIVE",
        "re-armed stays re-armed: {json}"
    );
}

#[test]
fn a_run_that_starts_with_a_halt_file_comes_up_halted() {
    let dir = folder();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/HALT"), "").unwrap();
    let json = restart(dir.path());
    assert_eq!(json["trading_state"], "HALTED", "{json}");
    assert_eq!(json["fills"], 0, "{json}");
    assert_eq!(
        json["orders_blocked_by_gate"], json["orders"],
        "every order stopped at the closed gate: {json}"
    );
    assert!(
        json["halt_reason"]
            .as_str()
            .unwrap()
            .starts_with("HALT file ("),
        "{json}"
    );
}

/// Small deterministic generator for the kill times.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

#[test]
fn kill_9_right_after_sigusr1_always_restarts_halted() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let mut rng = Lcg(seed);
    let rounds = 20;
    let mut latched = 0;
    for n in 0..rounds {
        let dir = folder();
        // A first clean run, so the store has a run and the next one is a restart.
        assert_eq!(restart(dir.path())["trading_state"], "ACTIVE");
        let mut child = pit()
            .current_dir(dir.path())
            .args(["run", "--headless", "--for", "1h"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pit");
        // Up and trading: the store's clean-exit record is gone once it has started.
        wait("pit started", Duration::from_secs(10), || {
            !dir.path().join("data/clean-exit").exists()
        });
        std::thread::sleep(Duration::from_millis(rng.next(150, 400)));
        let usr1 = Command::new("kill")
            .args(["-USR1", &child.id().to_string()])
            .status()
            .expect("kill -USR1");
        assert!(usr1.success());
        std::thread::sleep(Duration::from_micros(rng.next(0, 5000)));
        child.kill().expect("kill -9");
        let _ = child.wait();
        if latch(dir.path()).is_some_and(|l| l["reason"] == "SIGUSR1") {
            latched += 1;
        }
        let json = restart(dir.path());
        assert_eq!(json["trading_state"], "HALTED", "round {n}: {json}");
    }
    eprintln!(
        "{rounds} rounds of kill -9 0-5 ms after SIGUSR1: all restarted HALTED; the SIGUSR1 latch was on disk in {latched} (seed {seed})"
    );
}

#[test]
fn kill_9_right_after_pit_kill_returns_always_restarts_halted_with_its_reason() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(11, |d| d.as_nanos() as u64);
    let mut rng = Lcg(seed);
    let rounds = 50;
    let t0 = Instant::now();
    for n in 0..rounds {
        let dir = folder();
        let d = dir.path();
        let mut child = pit()
            .current_dir(d)
            .args(["run", "--headless", "--for", "1h"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pit");
        wait("the engine answers", Duration::from_secs(20), || {
            pit()
                .current_dir(d)
                .args(["status", "--json"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
        std::thread::sleep(Duration::from_millis(rng.next(50, 250)));
        let reason = format!("round {n}");
        let out = pit()
            .current_dir(d)
            .args(["kill", "--json", "--timeout", "5s", "--reason", &reason])
            .output()
            .expect("pit kill");
        // pit kill has returned: from here on, any death must leave a halted store.
        std::thread::sleep(Duration::from_micros(rng.next(0, 5000)));
        child.kill().expect("kill -9");
        let _ = child.wait();
        assert_eq!(
            out.status.code(),
            Some(0),
            "round {n}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let json = restart(d);
        assert_eq!(json["trading_state"], "HALTED", "round {n}: {json}");
        // The kill's own halt survived, not only the crash rule.
        let why = json["halt_reason"].as_str().unwrap_or_default();
        assert!(
            why.contains("recovered from a crash") && why.contains(&reason),
            "round {n}: {json}"
        );
        assert_eq!(json["orders"], 0, "round {n}: nothing traded after: {json}");
    }
    eprintln!(
        "{rounds} rounds of kill -9 0-5 ms after pit kill returned: all restarted HALTED with the kill's reason ({:.1} s, seed {seed})",
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn a_crashed_run_restarts_halted_and_a_clean_one_as_before() {
    // Clean: stopped by SIGTERM, the next run trades.
    let dir = folder();
    let mut child = pit()
        .current_dir(dir.path())
        .args(["run", "--headless", "--for", "1h"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    let json = restart(dir.path());
    assert_eq!(json["trading_state"], "ACTIVE", "{json}");
    assert!(json["orders"].as_u64().unwrap() > 0, "it trades: {json}");

    // Crashed: kill -9 mid-run, the next run is HALTED "recovered from a crash", and
    // stays so until a person re-arms (a clean restart keeps it).
    let mut child = pit()
        .current_dir(dir.path())
        .args(["run", "--headless", "--for", "1h"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    child.kill().unwrap();
    let _ = child.wait();
    for _ in 0..2 {
        let json = restart(dir.path());
        assert_eq!(json["trading_state"], "HALTED", "{json}");
        assert!(
            json["halt_reason"]
                .as_str()
                .unwrap()
                .contains("recovered from a crash"),
            "{json}"
        );
        assert_eq!(json["orders"], 0, "{json}");
    }
}

/// The latch writer: a halt is on disk with its first reason; a re-arm removes it, but
/// not once a later kill has closed the gate again.
#[test]
fn the_latch_keeps_its_first_reason_and_a_later_kill_beats_a_re_arm() {
    use pit::domain::TradingGate;
    use pit::emergency::latch::{HaltLatch, read_latch};
    use pit::engine::view::HaltLatchState;
    let dir = tempfile::tempdir().unwrap();
    let gate = TradingGate::new(true);
    let latch = HaltLatch::start(dir.path(), gate.clone()).unwrap();
    assert_eq!(latch.state(), HaltLatchState::NotLatched);
    gate.kill();
    latch.halt("signal", "SIGUSR1");
    latch.halt("engine", "SIGUSR1 again");
    assert!(latch.flush(Duration::from_secs(5)));
    assert_eq!(latch.state(), HaltLatchState::Latched);
    assert_eq!(read_latch(dir.path()).unwrap().reason, "SIGUSR1");
    // A re-arm whose removal comes after a later kill: the latch stays.
    latch.clear();
    assert!(latch.flush(Duration::from_secs(5)));
    assert!(read_latch(dir.path()).is_some(), "the gate is closed: kept");
    gate.open();
    latch.clear();
    assert!(latch.flush(Duration::from_secs(5)));
    assert!(read_latch(dir.path()).is_none(), "re-armed: removed");
    assert_eq!(latch.state(), HaltLatchState::NotLatched);
}
