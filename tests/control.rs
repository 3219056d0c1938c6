//! The control socket, as a user drives it from another shell: a headless run listens in
//! its data folder (owner-only), `pit status`, `pit kill`, `pit rearm`, `pit pause --for`
//! act on it with `--json` and exit codes; a viewer's commands are refused; malformed
//! and oversize frames get an error reply; no engine is exit 2 with a message.

mod pty;

use pit::control::client::Client;
use pit::control::protocol::{MAX_FRAME, Outcome, Request, Response, Role, decode, read_frame};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn pit(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pit"));
    c.current_dir(dir);
    c
}

fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(repo.join("config.toml"), dir.path().join("config.toml")).unwrap();
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

/// A headless run at live pace, stopped (SIGTERM) and reaped on drop.
struct Run(Child);

impl Run {
    fn start(dir: &Path) -> Run {
        let child = pit(dir)
            .args(["run", "--headless", "--for", "1h", "--speed", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let run = Run(child);
        // Up when `pit status` answers.
        let t0 = Instant::now();
        loop {
            let out = pit(dir).args(["status", "--json"]).output().unwrap();
            if out.status.success() {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "no engine came up");
            std::thread::sleep(Duration::from_millis(100));
        }
        run
    }
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.stop();
        }
    }
}

#[test]
fn kill_status_rearm_and_pause_from_another_shell() {
    let dir = folder();
    let d = dir.path();
    let mut run = Run::start(d);

    // The socket is the owner's alone.
    let sock = d.join("data/pit.sock");
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "socket mode");

    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(st["trading_state"], "ACTIVE", "{st}");
    assert_eq!(st["gate_open"], true);
    assert!(st["positions"].as_array().unwrap().len() == 2, "{st}");
    std::thread::sleep(Duration::from_millis(1500)); // let the strategies place orders

    let out = pit(d)
        .args([
            "kill",
            "--json",
            "--timeout",
            "5s",
            "--reason",
            "desk says stop",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let k = json_of(&out);
    assert_eq!(k["outcome"], "ok", "{k}");
    assert_eq!(k["gate_open"], false, "{k}");
    assert_eq!(k["unresolved"].as_array().unwrap().len(), 0, "{k}");
    assert!(k["elapsed_ms"].as_f64().unwrap() < 3000.0, "{k}");
    let stages: Vec<&str> = k["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["gate_closed", "cancels_sent"], "{k}");
    let sent = k["cancels_sent"].as_u64().unwrap();
    let resolved = ["cancelled", "filled", "rejected"]
        .iter()
        .map(|f| k[f].as_u64().unwrap())
        .sum::<u64>();
    assert!(resolved >= sent, "every target resolved, and how: {k}");

    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(st["trading_state"], "HALTED", "{st}");
    assert_eq!(st["halt_reason"], "desk says stop", "{st}");
    assert_eq!(st["open_orders"].as_array().unwrap().len(), 0, "{st}");
    let text = pit(d).arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("HALTED: desk says stop  gate CLOSED"),
        "{text}"
    );
    // Money at the quote precision in the text (the JSON keeps the exact figures).
    let dp = st["money_dp"].as_u64().expect("money_dp") as usize;
    let pnl = text
        .lines()
        .find(|l| l.starts_with("pnl: "))
        .expect("pnl line");
    let figures: Vec<&str> = pnl
        .split([' ', ',', '(', ')'])
        .filter(|w| w.parse::<f64>().is_ok())
        .collect();
    assert_eq!(figures.len(), 5, "{pnl}");
    for f in figures {
        assert_eq!(f.split('.').nth(1).map(str::len), Some(dp), "{pnl}");
    }

    // Re-arm needs --yes: a usage error, exit 2, and nothing changes.
    let out = pit(d).args(["rearm"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(st["trading_state"], "HALTED");

    // Pause refused while halted: exit 1.
    let out = pit(d).args(["pause"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));

    let out = pit(d).args(["rearm", "--yes", "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json_of(&out)["trading_state"], "ACTIVE");
    // Not halted any more: a second re-arm is refused.
    let out = pit(d).args(["rearm", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));

    // Pause for a while: PAUSED now, ACTIVE again by itself.
    let out = pit(d)
        .args(["pause", "--for", "1s", "--reason", "news", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let p = json_of(&out);
    assert_eq!(p["trading_state"], "PAUSED", "{p}");
    assert!(p["text"].as_str().unwrap().contains("news"), "{p}");
    let t0 = Instant::now();
    loop {
        let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
        if st["trading_state"] == "ACTIVE" {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "never resumed: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = pit(d)
        .args(["flatten", "--instrument", "NOPE"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown instrument NOPE"));

    run.stop();
    assert!(!sock.exists(), "the socket goes with the run");
    let out = pit(d).args(["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn viewers_are_refused_and_bad_frames_get_an_error_reply() {
    let dir = folder();
    let d = dir.path();
    let _run = Run::start(d);
    let data = d.join("data");

    let mut viewer = Client::connect(&data, Role::Viewer).unwrap();
    let st = viewer
        .call(&Request::Status, Duration::from_secs(5), |_, _, _| {})
        .unwrap();
    assert_eq!(st.outcome, Outcome::Ok);
    for req in [
        Request::Kill {
            reason: None,
            timeout_ms: None,
        },
        Request::Rearm,
        Request::Flatten { instrument: None },
    ] {
        let r = viewer
            .call(&req, Duration::from_secs(5), |_, _, _| {})
            .unwrap();
        assert_eq!(r.outcome, Outcome::Refused, "{req:?}");
        assert!(r.text.contains("read-only viewer"), "{}", r.text);
    }
    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(
        st["trading_state"], "ACTIVE",
        "the viewer's kill did nothing"
    );

    // Raw frames: a wrong version is refused at the hello.
    let raw = |frames: &[Vec<u8>]| {
        let mut s = std::os::unix::net::UnixStream::connect(data.join("pit.sock")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for f in frames {
            s.write_all(f).unwrap();
        }
        s
    };
    let frame = |body: &[u8]| {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    };
    let mut s = raw(&[frame(br#"{"type":"hello","protocol":2,"role":"admin"}"#)]);
    match decode::<Response>(&read_frame(&mut s).unwrap()).unwrap() {
        Response::Reply { outcome, text, .. } => {
            assert_eq!(outcome, Outcome::Error);
            assert!(text.contains("version 2"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    // Garbage after a good hello: an error reply, and the connection still works.
    let mut s = raw(&[
        frame(br#"{"type":"hello","protocol":1,"role":"admin"}"#),
        frame(b"{{{ not json"),
        frame(br#"{"type":"status"}"#),
    ]);
    let hello = decode::<Response>(&read_frame(&mut s).unwrap()).unwrap();
    assert!(
        matches!(hello, Response::Hello { protocol: 1, .. }),
        "{hello:?}"
    );
    let bad = decode::<Response>(&read_frame(&mut s).unwrap()).unwrap();
    assert!(
        matches!(&bad, Response::Reply { outcome: Outcome::Error, text, .. } if text.contains("malformed")),
        "{bad:?}"
    );
    let ok = decode::<Response>(&read_frame(&mut s).unwrap()).unwrap();
    assert!(
        matches!(
            ok,
            Response::Reply {
                outcome: Outcome::Ok,
                ..
            }
        ),
        "{ok:?}"
    );
    // An oversize frame is refused before it is read.
    let mut big = frame(br#"{"type":"hello","protocol":1,"role":"admin"}"#);
    big.extend_from_slice(&((MAX_FRAME + 1) as u32).to_be_bytes());
    let mut s = raw(&[big]);
    let _hello = read_frame(&mut s).unwrap();
    let r = decode::<Response>(&read_frame(&mut s).unwrap()).unwrap();
    assert!(
        matches!(&r, Response::Reply { outcome: Outcome::Error, text, .. } if text.contains("over the limit")),
        "{r:?}"
    );
    // The engine is still fine.
    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(st["trading_state"], "ACTIVE");
}

#[test]
fn no_engine_is_exit_2_with_a_message_and_a_stale_socket_is_replaced() {
    let dir = folder();
    let d = dir.path();
    for cmd in [&["status"][..], &["kill", "--json"], &["rearm", "--yes"]] {
        let out = pit(d).args(cmd).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("No engine running in data"), "{err}");
    }
    // A crashed run's socket: nobody answers it, and it was world-writable.
    std::fs::create_dir_all(d.join("data")).unwrap();
    let sock = d.join("data/pit.sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = pit(d).args(["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a stale socket is no engine");

    let _run = Run::start(d);
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "replaced, owner-only"
    );
}

/// The console's run listens too: `pit status` and `pit kill` from another shell, and the
/// console shows the halt with the socket's reason.
#[test]
fn the_console_run_is_controlled_from_another_shell() {
    let dir = folder();
    let d = dir.path();
    let mut screen = pty::Pty::spawn(&[], d, 120, 40);
    screen.wait_for(&["ACTIVE", "bid ", "ask "], Duration::from_secs(30));
    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(st["trading_state"], "ACTIVE", "{st}");
    let out = pit(d)
        .args(["kill", "--json", "--reason", "from the other shell"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out)["unresolved"].as_array().unwrap().len(), 0);
    screen.wait_for(&["HALTED"], Duration::from_secs(5));
    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(st["halt_reason"], "from the other shell", "{st}");
    let status = screen.quit();
    assert!(status.success(), "{status:?}");
    assert!(!d.join("data/pit.sock").exists());
}

/// `pit store backup` while a run holds the store (the run copies it from a read
/// snapshot) and after it stopped (pit copies it itself): both copies open as stores with
/// the run's history; an existing file is never overwritten.
#[test]
fn store_backup_while_running_and_after() {
    let dir = folder();
    let d = dir.path();
    let mut run = Run::start(d);
    std::thread::sleep(Duration::from_millis(1500)); // some orders in the store

    let live = d.join("live-copy.redb");
    let out = pit(d)
        .args(["store", "backup", "live-copy.redb", "--json"])
        .output()
        .unwrap();
    let b = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{b}");
    assert_eq!(b["outcome"], "ok", "{b}");
    assert!(b["rows"].as_u64().unwrap() > 0, "{b}");
    assert!(b["text"].as_str().unwrap().contains("backed up"), "{b}");

    // Never over an existing file, running or not.
    let out = pit(d)
        .args(["store", "backup", "live-copy.redb"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run.stop();

    let out = pit(d)
        .args(["store", "backup", "after.redb"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("backed up"));

    let copy = pit::store::Store::open_existing(&live).unwrap();
    let runs = copy.runs().unwrap();
    assert_eq!(runs.len(), 1, "the run's record is in the live copy");
    let live_orders = copy.orders().unwrap().len();
    assert!(
        live_orders > 0,
        "the strategies' orders are in the live copy"
    );
    drop(copy);
    let after = pit::store::Store::open_existing(&d.join("after.redb")).unwrap();
    assert!(after.orders().unwrap().len() >= live_orders);
}

/// Another user is refused twice over: the socket is the owner's alone (mode 0600 in a
/// folder of the owner's), and, should its mode be loosened by hand, the engine itself
/// refuses a peer of another uid (`SO_PEERCRED`) with a message, and does nothing it asks.
/// The other user is `nobody` through `setpriv` (util-linux), which needs root: as
/// another user the test checks the mode only.
#[test]
fn another_user_is_refused_even_with_the_socket_opened_up() {
    let dir = folder();
    let d = dir.path();
    let _run = Run::start(d);
    let sock = d.join("data/pit.sock");
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "owner-only socket"
    );
    // SAFETY: plain calls with no arguments.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !root || !setpriv {
        eprintln!("not root or no setpriv: the other user's connection is not tried");
        return;
    }
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_pit"))
            .args(args)
            .current_dir(d)
            .env("XDG_CONFIG_HOME", d.join("xdg-config"))
            .env("XDG_DATA_HOME", d.join("xdg-data"))
            .env_remove("PIT_CONFIG")
            .output()
            .unwrap()
    };
    // As it is: nobody cannot reach the socket at all.
    let out = as_nobody(&["kill"]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    // Opened up by hand (the folders and the socket world-writable): the engine refuses.
    for p in [d, &d.join("data")] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    for cmd in [
        &["status"][..],
        &["kill", "--reason", "not yours"],
        &["pause"],
    ] {
        let out = as_nobody(cmd);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "pit {cmd:?} as nobody: {err}");
        assert!(
            err.contains(
                "refused: this engine belongs to uid 0, the connection comes from uid 65534"
            ),
            "pit {cmd:?} as nobody: {err}"
        );
    }
    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(
        st["trading_state"], "ACTIVE",
        "nobody's kill and pause did nothing: {st}"
    );
    assert_eq!(st["gate_open"], true, "{st}");
}

/// A replay is an engine with a control socket too: `pit status` and `pit kill` from
/// another shell work against it; the kill halts it (a headless run that ends HALTED
/// exits 4) and, a replay persisting nothing, latches nothing that would hold the next
/// real run of the folder.
#[test]
fn a_replay_answers_status_and_kill_from_another_shell() {
    let dir = folder();
    let d = dir.path();
    let rec = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/demo-sim-3m.jsonl.zst");
    let mut replay = pit(d)
        .arg("replay")
        .arg(&rec)
        .args(["--headless", "--speed", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let st = loop {
        let out = pit(d).args(["status", "--json"]).output().unwrap();
        if out.status.success() {
            break json_of(&out);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the replay never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(st["pid"], replay.id(), "{st}");
    assert_eq!(st["trading_state"], "ACTIVE", "{st}");
    let out = pit(d)
        .args([
            "kill",
            "--json",
            "--timeout",
            "5s",
            "--reason",
            "replay drill",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", json_of(&out));
    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(st["trading_state"], "HALTED", "{st}");
    assert_eq!(st["gate_open"], false, "{st}");
    assert!(
        !d.join("data/halt.latch").exists(),
        "a replay latches nothing"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &replay.id().to_string()])
        .status();
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = replay.try_wait().unwrap() {
            break s.code();
        }
        if t0.elapsed() > Duration::from_secs(15) {
            let _ = replay.kill();
            panic!("the replay did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(4), "a headless run that ended HALTED");
}

/// A replay started in a folder whose real run serves the control socket does not take it
/// over and is not refused: it runs without a socket and says so, and `pit status` still
/// reaches the real run.
#[test]
fn a_replay_beside_a_running_engine_leaves_it_the_socket() {
    let dir = folder();
    let d = dir.path();
    let mut run = Run::start(d);
    let rec = Path::new(env!("CARGO_MANIFEST_DIR")).join("recordings/demo-sim-3m.jsonl.zst");
    let out = pit(d)
        .arg("replay")
        .arg(&rec)
        .args(["--headless", "--speed", "max"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("no control socket for this replay")
            && err.contains("another pit is running in this folder"),
        "{err}"
    );
    let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
    assert_eq!(st["pid"], run.0.id(), "the socket is still the run's: {st}");
    run.stop();
}

/// `pit flatten --preview` shows what a flatten would send (a viewer may ask) and sends
/// nothing: after a manual market buy, one SELL of the position's size with its estimated
/// price; the position is unchanged afterwards.
#[test]
fn flatten_preview_shows_the_orders_and_sends_nothing() {
    use pit::domain::{InstrumentId, OrderKind, OrderSpec, Qty, Side, TimeInForce};
    use pit::engine::{Command as EngineCommand, ManualOrder};
    let dir = folder();
    let d = dir.path();
    std::fs::write(
        d.join("config.toml"),
        "[strategies.market_maker]\nenabled = false\n[strategies.imbalance]\nenabled = false\n",
    )
    .unwrap();
    let mut run = Run::start(d);
    let data = d.join("data");
    let mut admin = Client::connect(&data, Role::Admin).unwrap();
    let buy = EngineCommand::Manual(ManualOrder {
        spec: OrderSpec {
            instrument: InstrumentId(0),
            side: Side::Buy,
            kind: OrderKind::Market,
            price: None,
            qty: Qty(3), // 0.003 BTC: lots of 0.001
            tif: TimeInForce::Ioc,
            reduce_only: false,
        },
        client_id: None,
    });
    let r = admin
        .call(
            &Request::Command { command: buy },
            Duration::from_secs(5),
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.text);
    let position = || {
        let st = json_of(&pit(d).args(["status", "--json"]).output().unwrap());
        st["positions"][0]["qty"]
            .as_str()
            .unwrap_or("0")
            .to_string()
    };
    let t0 = Instant::now();
    while position() == "0" {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the buy never filled"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = position();
    let out = pit(d)
        .args(["flatten", "--preview", "--json"])
        .output()
        .unwrap();
    let p = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{p}");
    let orders = p["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1, "{p}");
    assert_eq!(orders[0]["side"], "sell", "{p}");
    let dec = |s: &str| s.parse::<rust_decimal::Decimal>().unwrap();
    assert_eq!(dec(orders[0]["qty"].as_str().unwrap()), dec(&held), "{p}");
    assert!(orders[0]["avg_price"].is_string(), "{p}");
    let text = p["text"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("SELL {held} BTC-USD: est. avg "))
            && text.contains("nothing sent"),
        "{text}"
    );
    // A viewer may ask too; and nothing was sent.
    let mut viewer = Client::connect(&data, Role::Viewer).unwrap();
    let r = viewer
        .call(
            &Request::FlattenPreview { instrument: None },
            Duration::from_secs(5),
            |_, _, _| {},
        )
        .unwrap();
    assert_eq!(r.outcome, Outcome::Ok, "{}", r.text);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(position(), held, "the preview sent nothing");
    run.stop();
}
