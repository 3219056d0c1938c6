//! End to end: the real binary in a pseudo-terminal, as a trader sees it. Wait for the
//! book, press K, and check that the screen says HALTED and that no order left after the
//! press (from the engine's own log of what the execution port forwarded). Press r and
//! see the report from the store the run holds, while `pit report` outside is refused.

mod pty;

use pty::Pty;
use std::path::Path;
use std::time::Duration;

#[test]
fn kill_switch_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg_text = std::fs::read_to_string(repo.join("config.toml"))
        .unwrap()
        .replace("level = \"info\"", "level = \"debug\"");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, cfg_text).unwrap();

    let mut screen = Pty::spawn(&[], dir.path(), 120, 40);

    // The console is up and the market is moving: the book shows both sides.
    screen.wait_for(
        &["Book BTC-USD", "ACTIVE", "bid ", "ask ", "spread"],
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_millis(1500)); // let the strategies trade a little

    screen.press(b"K");
    let took = screen.wait_for(&["HALTED", "trading gate CLOSED"], Duration::from_secs(5));
    assert!(
        took < Duration::from_secs(1),
        "HALTED shown {took:?} after the press"
    );
    screen.wait_for(&["0 open orders"], Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(1500)); // the market and strategies go on

    let text = screen.text();
    assert!(text.contains("HALTED"), "still halted:\n{text}");

    // Quit (confirming if it asks) and read the engine's log.
    let status = screen.quit();
    assert!(status.success(), "{status:?}");

    let logs: String = std::fs::read_dir(dir.path().join("logs"))
        .expect("logs/")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    let kill_at = logs
        .find("command=\"kill-switch\"")
        .expect("the kill switch reached the engine");
    let before = &logs[..kill_at];
    let after = &logs[kill_at..];
    assert!(
        before.contains("order sent"),
        "orders flowed before the press"
    );
    let leaked: Vec<&str> = after
        .lines()
        .filter(|l| l.contains("order sent") && l.contains("reduce_only=false"))
        .collect();
    assert!(
        leaked.is_empty(),
        "orders left after the kill switch: {leaked:#?}"
    );
    assert!(
        after.contains("HALTED: kill switch pressed"),
        "the halt is logged with its reason"
    );
}

/// `r` in the running console shows the report computed from the store the run holds,
/// while `pit report` from outside is still refused: the database is in use.
#[test]
fn report_view_in_a_real_terminal_while_the_store_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("config.toml"), dir.path().join("config.toml")).unwrap();
    let mut screen = Pty::spawn(&["run", "--speed", "50"], dir.path(), 80, 24);
    screen.wait_for(&["ACTIVE", "bid ", "ask "], Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));

    screen.press(b"r");
    screen.wait_for(
        &["PnL report", "net PnL", "win rate", "PnL by day"],
        Duration::from_secs(10),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pit"))
        .current_dir(dir.path())
        .arg("report")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another pit (pid"), "{err}");

    screen.press(b"\x1b");
    std::thread::sleep(Duration::from_millis(300));
    screen.wait_for(&["bid ", "ask "], Duration::from_secs(5));
    assert!(!screen.text().contains("PnL report"), "{}", screen.text());

    let status = screen.quit();
    assert!(status.success(), "{status:?}");
    // Once it stopped, `pit report` reads the same store.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pit"))
        .current_dir(dir.path())
        .arg("report")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PnL by day"));
}
