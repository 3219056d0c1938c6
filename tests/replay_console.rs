//! `pit replay` in a real pseudo-terminal: REPLAY, the speed and the recorded time in the
//! status bar; space pauses the clock, `+` speeds up, `.` steps, `q` quits.

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn recorded_time(text: &str) -> Option<String> {
    let at = text.find("recorded ")?;
    text.get(at + 9..at + 9 + 24).map(str::to_string)
}

#[test]
fn replay_console_pauses_speeds_up_and_steps() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: 40,
            cols: 160,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_pit"));
    cmd.cwd(dir.path());
    cmd.env("TERM", "xterm-256color");
    cmd.args([
        "--config",
        repo.join("config.toml").to_str().unwrap(),
        "replay",
        repo.join("recordings/demo-sim-3m.jsonl.zst")
            .to_str()
            .unwrap(),
    ]);
    let mut child = pair.slave.spawn_command(cmd).expect("spawn pit");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut keys = pair.master.take_writer().unwrap();
    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(40).unwrap(),
        std::num::NonZeroU16::new(160).unwrap(),
        0,
    )));
    let feed = parser.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut p) = feed.lock() {
                p.process(&buf[..n]);
            }
        }
    });
    let text = || {
        parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    };
    let wait_for = |needles: &[&str]| {
        let start = Instant::now();
        loop {
            let t = text();
            if needles.iter().all(|n| t.contains(n)) {
                return t;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "screen never showed {needles:?}:\n{t}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let mut press = |k: &[u8]| {
        keys.write_all(k).unwrap();
        keys.flush().unwrap();
    };

    wait_for(&[
        "REPLAY",
        "1x",
        "recorded 2026-01-01T00:00:0",
        "Book BTC-USD",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    press(b" ");
    wait_for(&["1x PAUSED"]);
    std::thread::sleep(Duration::from_millis(200));
    let t1 = recorded_time(&text());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        recorded_time(&text()),
        t1,
        "paused: the recorded time stands"
    );
    press(b"+");
    wait_for(&["2x PAUSED"]);
    for _ in 0..200 {
        press(b".");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(recorded_time(&text()), t1, "steps move the recorded time");
    press(b" ");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!text().contains("PAUSED"), "resumed:\n{}", text());

    press(b"q");
    std::thread::sleep(Duration::from_millis(300));
    press(b"y");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "pit did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
