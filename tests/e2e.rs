//! End to end: the real binary in a pseudo-terminal, as a trader sees it. Wait for the
//! book, press K, and check that the screen says HALTED and that no order left after the
//! press (from the engine's own log of what the execution port forwarded). Press r and
//! see the report from the store the run holds, while `pit report` outside is refused.

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Screen {
    parser: Arc<Mutex<vt100::Parser>>,
}

impl Screen {
    fn text(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }
    /// Wait until the screen shows all of `needles`; returns how long it took.
    fn wait_for(&self, needles: &[&str], limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let text = self.text();
            if needles.iter().all(|n| text.contains(n)) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "screen never showed {needles:?}; it shows:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn kill_switch_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cfg_text = std::fs::read_to_string(repo.join("config.toml"))
        .unwrap()
        .replace("level = \"info\"", "level = \"debug\"");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, cfg_text).unwrap();

    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: 40,
            cols: 120,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_pit"));
    cmd.cwd(dir.path());
    cmd.env("TERM", "xterm-256color");
    cmd.env_remove("NO_COLOR");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn pit");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut keys = pair.master.take_writer().unwrap();
    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(40).unwrap(),
        std::num::NonZeroU16::new(120).unwrap(),
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
    let screen = Screen { parser };

    // The console is up and the market is moving: the book shows both sides.
    screen.wait_for(
        &["Book BTC-USD", "ACTIVE", "bid ", "ask ", "spread"],
        Duration::from_secs(30),
    );
    std::thread::sleep(Duration::from_millis(1500)); // let the strategies trade a little

    keys.write_all(b"K").unwrap();
    keys.flush().unwrap();
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
    keys.write_all(b"q").unwrap();
    keys.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    keys.write_all(b"y").unwrap();
    keys.flush().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "pit did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
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
    let pty = native_pty_system();
    let pair = pty
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pseudo-terminal");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_pit"));
    cmd.args(["run", "--speed", "50"]);
    cmd.cwd(dir.path());
    cmd.env("TERM", "xterm-256color");
    let mut child = pair.slave.spawn_command(cmd).expect("spawn pit");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let mut keys = pair.master.take_writer().unwrap();
    let parser = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(24).unwrap(),
        std::num::NonZeroU16::new(80).unwrap(),
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
    let screen = Screen { parser };
    screen.wait_for(&["ACTIVE", "bid ", "ask "], Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(1500));

    keys.write_all(b"r").unwrap();
    keys.flush().unwrap();
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

    keys.write_all(b"\x1b").unwrap();
    keys.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    screen.wait_for(&["bid ", "ask "], Duration::from_secs(5));
    assert!(!screen.text().contains("PnL report"), "{}", screen.text());

    keys.write_all(b"q").unwrap();
    keys.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    keys.write_all(b"y").unwrap();
    keys.flush().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "pit did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
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
