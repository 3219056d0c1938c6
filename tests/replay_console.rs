//! `pit replay` in a real pseudo-terminal: REPLAY, the speed and the recorded time in the
//! status bar; space pauses the clock, `+` speeds up, `.` steps, `q` quits.

mod pty;

use pty::Pty;
use std::path::Path;
use std::time::Duration;

fn recorded_time(text: &str) -> Option<String> {
    let at = text.find("recorded ")?;
    text.get(at + 9..at + 9 + 24).map(str::to_string)
}

#[test]
fn replay_console_pauses_speeds_up_and_steps() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = repo.join("config.toml");
    let recording = repo.join("recordings/demo-sim-3m.jsonl.zst");
    let mut screen = Pty::spawn(
        &[
            "--config",
            config.to_str().unwrap(),
            "replay",
            recording.to_str().unwrap(),
        ],
        dir.path(),
        160,
        40,
    );

    screen.wait_for(
        &[
            "REPLAY",
            "1x",
            "recorded 2026-01-01T00:00:0",
            "Book BTC-USD",
        ],
        Duration::from_secs(20),
    );
    std::thread::sleep(Duration::from_millis(500));
    screen.press(b" ");
    screen.wait_for(&["1x PAUSED"], Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(200));
    let t1 = recorded_time(&screen.text());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        recorded_time(&screen.text()),
        t1,
        "paused: the recorded time stands"
    );
    screen.press(b"+");
    screen.wait_for(&["2x PAUSED"], Duration::from_secs(20));
    for _ in 0..200 {
        screen.press(b".");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(
        recorded_time(&screen.text()),
        t1,
        "steps move the recorded time"
    );
    screen.press(b" ");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !screen.text().contains("PAUSED"),
        "resumed:\n{}",
        screen.text()
    );

    let status = screen.quit();
    assert!(status.success(), "{status:?}");
}

#[test]
fn replay_stays_on_its_last_screen_until_q() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = repo.join("config.toml");
    let recording = repo.join("recordings/demo-sim-3m.jsonl.zst");
    let mut screen = Pty::spawn(
        &[
            "--config",
            config.to_str().unwrap(),
            "replay",
            recording.to_str().unwrap(),
            "--speed",
            "max",
        ],
        dir.path(),
        120,
        40,
    );
    screen.wait_for(
        &["END OF RECORDING", "q/ctrl-c quits", "Book BTC-USD"],
        Duration::from_secs(60),
    );
    // Longer than the console's engine-silence limit (2 s): an ended replay is no
    // engine that stopped answering.
    std::thread::sleep(Duration::from_millis(2_500));
    assert!(!screen.exited(), "the last screen stays until q");
    let last = screen.text();
    assert!(!last.contains("ENGINE NOT RESPONDING"), "{last}");
    assert!(
        last.contains("END OF RECORDING")
            && (last.contains("recorded 2026-01-01T00:02:5")
                || last.contains("recorded 2026-01-01T00:03:00")),
        "the screen of the recording's end:\n{last}"
    );
    let status = screen.quit();
    assert!(status.success(), "{status:?}");
}
