//! `[notify]` seen from outside: a headless run whose kill switch is pressed (`pit kill`)
//! runs the configured command with the message on its stdin and posts the JSON to a
//! webhook; a command that hangs stalls neither the engine, the kill nor the end of the
//! run; a bad `[notify]` value is refused with its key and line and without the webhook's
//! token.

mod run_dir;

use run_dir::{logs, wait};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn pit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pit"))
}

/// A folder with the repo's config and `notify` appended as its `[notify]` section.
fn folder(notify: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(repo.join("config.toml")).unwrap();
    text.push_str("\n[notify]\n");
    text.push_str(notify);
    std::fs::write(dir.path().join("config.toml"), text).unwrap();
    dir
}

/// A headless run of `secs` engine seconds at real speed, once the engine answers.
fn start(dir: &Path, secs: u32) -> Child {
    let child = pit()
        .current_dir(dir)
        .args(["run", "--headless", "--json", "--for", &format!("{secs}s")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pit");
    wait("the engine answers", Duration::from_secs(30), || {
        pit()
            .current_dir(dir)
            .args(["status", "--json"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    child
}

/// `pit kill` with a reason; its JSON answer.
fn kill(dir: &Path, reason: &str) -> serde_json::Value {
    let out = pit()
        .current_dir(dir)
        .args(["kill", "--json", "--timeout", "10s", "--reason", reason])
        .output()
        .expect("pit kill");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("pit kill --json")
}

/// A one-request-at-a-time HTTP server that answers 200 and hands over each body.
fn webhook_server() -> (u16, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((
                request_line.trim().to_string(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
        }
    });
    (port, rx)
}

/// The kill switch, pressed with `pit kill`, reaches the command's stdin and the webhook;
/// the webhook's token never reaches the log.
#[test]
fn the_kill_reaches_the_command_and_the_webhook() {
    let (port, bodies) = webhook_server();
    let notes = tempfile::tempdir().unwrap();
    let file = notes.path().join("notes.txt");
    let dir = folder(&format!(
        "command = [\"sh\", \"-c\", \"cat >> '{}'; echo \\\"kind=$PIT_NOTIFY_KIND\\\" >> '{}'\"]\n\
         webhook = \"http://127.0.0.1:{port}/botTOKEN123/sendMessage?chat_id=7\"\n\
         on = [\"kill\", \"critical\"]\n",
        file.display(),
        file.display()
    ));
    let d = dir.path();
    let child = start(d, 10);
    let answer = kill(d, "desk says stop");
    assert_eq!(answer["gate_open"], false, "{answer}");
    assert_eq!(answer["halt_reason"], "desk says stop", "{answer}");
    let mut text = String::new();
    let took = wait(
        "the kill notification in the file",
        Duration::from_secs(15),
        || {
            text = std::fs::read_to_string(&file).unwrap_or_default();
            text.contains("kind=kill")
        },
    );
    assert!(
        text.contains("KILL SWITCH: trading HALTED") && text.contains("desk says stop"),
        "{text}"
    );
    let (request, body) = bodies
        .recv_timeout(Duration::from_secs(15))
        .expect("the webhook was posted to");
    assert!(
        request.starts_with("POST /botTOKEN123/sendMessage?chat_id=7 "),
        "{request}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(json["kind"], "kill", "{json}");
    assert!(
        json["text"].as_str().unwrap().contains("desk says stop"),
        "{json}"
    );
    assert!(json["ts"].as_str().unwrap().ends_with('Z'), "{json}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(4), "a halted run exits 4");
    // The halt's own CRITICAL alert is told once, as the kill, not twice.
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.matches("desk says stop").count(), 1, "{text}");
    let log = logs(d);
    assert!(log.contains("notifications on"), "{log}");
    assert!(
        !log.contains("TOKEN123"),
        "the webhook's token is in the log"
    );
    eprintln!("pit kill -> kill notification in the file after {took:?}");
}

/// A command that hangs is killed at its timeout: the engine runs on (the kill is
/// answered at once), and the run still stops on time.
#[test]
fn a_hanging_command_stalls_neither_the_kill_nor_the_end_of_the_run() {
    let dir = folder(
        "command = [\"sleep\", \"60\"]\n\
         on = [\"kill\", \"critical\", \"fill\"]\n\
         timeout_ms = 1000\n",
    );
    let d = dir.path();
    let t0 = Instant::now();
    let child = start(d, 6);
    let pressed = Instant::now();
    let answer = kill(d, "hung notifier");
    let kill_took = pressed.elapsed();
    assert_eq!(answer["halt_reason"], "hung notifier", "{answer}");
    let out = child.wait_with_output().unwrap();
    let total = t0.elapsed();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the summary");
    assert_eq!(json["trading_state"], "HALTED", "{json}");
    assert_eq!(out.status.code(), Some(4));
    // 6 s of engine time, then at most 2 s for the queue and 2 s to stop the command:
    // a notifier that waited on `sleep 60` would take a minute.
    assert!(
        total < Duration::from_secs(40),
        "the run took {total:?} for 6 s of engine time"
    );
    assert!(
        kill_took < Duration::from_secs(10),
        "pit kill took {kill_took:?}"
    );
    let log = logs(d);
    assert!(
        log.contains("notification command failed") && log.contains("killed"),
        "{log}"
    );
    eprintln!("hung command: pit kill answered in {kill_took:?}, 6 s run ended after {total:?}");
}

/// A bad value is refused before anything starts, with its key and line, and the
/// webhook's token is not in the message.
#[test]
fn a_bad_notify_value_names_its_key_and_line() {
    let dir = folder("webhook = \"ftp://example.org/botTOKEN123/x\"\n");
    let text = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    let line = text.lines().position(|l| l.starts_with("webhook")).unwrap() + 1;
    let out = pit()
        .current_dir(dir.path())
        .args(["run", "--headless", "--for", "1s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("config.toml:{line}: notify.webhook:")),
        "{err}"
    );
    assert!(err.contains("http"), "{err}");
    assert!(!err.contains("TOKEN123"), "{err}");
    let dir = folder("on = [\"kill\", \"pager\"]\n");
    let out = pit()
        .current_dir(dir.path())
        .args(["run", "--headless", "--for", "1s"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("notify.on[1]") && err.contains("pager"),
        "{err}"
    );
}

/// At the trading day's boundary the day's summary is sent: the simulated market starts at
/// midnight UTC, so a boundary at 00:01 ends its first day a minute in.
#[test]
fn the_day_summary_is_sent_at_the_day_boundary() {
    let notes = tempfile::tempdir().unwrap();
    let file = notes.path().join("notes.txt");
    let dir = folder(&format!(
        "command = [\"sh\", \"-c\", \"echo \\\"$PIT_NOTIFY_KIND: $PIT_NOTIFY_TEXT\\\" >> '{}'\"]\n\
         on = [\"daily\"]\n",
        file.display()
    ));
    let cfg = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("day_boundary = \"00:00\""));
    std::fs::write(
        &cfg,
        text.replace("day_boundary = \"00:00\"", "day_boundary = \"00:01\""),
    )
    .unwrap();
    let out = pit()
        .current_dir(dir.path())
        .args([
            "run",
            "--headless",
            "--json",
            "--speed",
            "max",
            "--for",
            "90s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the summary");
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one day ended: {text}");
    assert!(
        lines[0].starts_with("daily: daily summary: ")
            && lines[0].contains("new trading day from 2026-01-01T00:01"),
        "{text}"
    );
    // The run's fills that came in the first minute are the day's.
    let day_fills: u64 = lines[0]["daily: daily summary: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a fill count");
    let run_fills = json["fills"].as_u64().expect("fills in the summary");
    // The repo's config trades in the simulated market's first minute (its seed is fixed).
    assert!(day_fills > 0 && day_fills <= run_fills, "{text} {json}");
    assert!(lines[0].contains("round trips closed, net PnL"), "{text}");
    eprintln!("{}", lines[0]);
}
