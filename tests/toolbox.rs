//! pit in a trader's toolbox, driven as a new user drives it from a fresh shell in some
//! other folder: the config found by --config, PIT_CONFIG, ./config.toml or the user
//! config folder, with the data beside it; `pit config path|init`; completions and the man
//! page; help with examples; the exit code of a run that ends HALTED; CSV with quoted
//! fields; progress bars only on a terminal; and `/metrics` scraped during a run.

mod pty;

use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh "home": its own user config and data folders, no PIT_CONFIG.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    /// pit started in `cwd` (a folder of this home, created).
    fn pit(&self, cwd: &str) -> Command {
        let cwd = self.path(cwd);
        std::fs::create_dir_all(&cwd).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_pit"));
        c.current_dir(cwd)
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("share"))
            .env_remove("PIT_CONFIG")
            .env_remove("RUST_LOG");
        c
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {} / {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const SHORT_RUN: &[&str] = &[
    "run",
    "--headless",
    "--for",
    "20s",
    "--speed",
    "max",
    "--json",
];

#[test]
fn a_user_config_keeps_its_data_beside_it_wherever_pit_starts() {
    let home = Home::new();
    // Nothing anywhere: config path says so, and init writes the user config.
    let out = home.pit("a").args(["config", "path"]).output().unwrap();
    let text = ok(&out);
    assert!(text.contains("built-in defaults"), "{text}");
    assert!(
        text.contains(&format!(
            "{}",
            home.path("share/pit/data/pit.redb").display()
        )),
        "the defaults keep data in the platform's data folder: {text}"
    );
    let out = home.pit("a").args(["config", "init"]).output().unwrap();
    let user = home.path("config/pit/config.toml");
    assert!(ok(&out).contains(&user.display().to_string()));
    let shipped = std::fs::read_to_string(repo().join("config.toml")).unwrap();
    assert_eq!(std::fs::read_to_string(&user).unwrap(), shipped);
    // A second init refuses and leaves the file alone.
    std::fs::write(&user, format!("{shipped}\n# mine\n")).unwrap();
    let out = home.pit("b").args(["config", "init"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert!(
        std::fs::read_to_string(&user)
            .unwrap()
            .ends_with("# mine\n")
    );

    // A run from folder a, a report from folder b: one store, beside the user config.
    let run = json(&home.pit("a").args(SHORT_RUN).output().unwrap());
    assert!(run["fills"].as_u64().unwrap() > 0, "{run}");
    assert!(home.path("config/pit/data/pit.redb").is_file());
    assert!(home.path("config/pit/logs").is_dir());
    assert!(!home.path("a/data").exists() && !home.path("b/data").exists());
    let report = json(&home.pit("b").args(["report", "--json"]).output().unwrap());
    assert!(report.to_string().contains("market-maker"), "{report}");
    let text = ok(&home.pit("b").args(["config", "path"]).output().unwrap());
    assert!(text.contains("(user config folder)"), "{text}");

    // ./config.toml wins over the user config (and keeps its data in ./data, as always);
    // PIT_CONFIG wins over that; --config over everything.
    std::fs::create_dir_all(home.path("c")).unwrap();
    std::fs::write(home.path("c/config.toml"), "seed = 7\n").unwrap();
    let text = ok(&home.pit("c").args(["config", "path"]).output().unwrap());
    assert!(text.contains("config.toml (working folder)"), "{text}");
    // Printed in full, so the paths hold from any folder.
    let c = home.path("c").canonicalize().unwrap();
    assert!(
        text.contains(&format!("config     {}", c.join("config.toml").display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("store      {}", c.join("data/pit.redb").display())),
        "{text}"
    );
    std::fs::create_dir_all(home.path("desk")).unwrap();
    std::fs::write(home.path("desk/pit.toml"), "seed = 8\n").unwrap();
    let text = ok(&home
        .pit("c")
        .env("PIT_CONFIG", home.path("desk/pit.toml"))
        .args(["config", "path"])
        .output()
        .unwrap());
    assert!(text.contains("(PIT_CONFIG)"), "{text}");
    assert!(
        text.contains(&home.path("desk/data/pit.redb").display().to_string()),
        "{text}"
    );
    // A named file that is missing is an error, never a silent fallback.
    let out = home
        .pit("c")
        .env("PIT_CONFIG", home.path("desk/pit.toml"))
        .args(["--config", "other.toml", "config", "path"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("other.toml (--config)"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file other.toml"));
}

#[test]
fn pit_status_finds_the_running_engine_from_another_folder() {
    let home = Home::new();
    ok(&home.pit("a").args(["config", "init"]).output().unwrap());
    let mut child = home
        .pit("a")
        .args(["run", "--headless", "--for", "1h"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sock = home.path("config/pit/data/pit.sock");
    let t0 = Instant::now();
    while !sock.exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = home.pit("b").args(["status", "--json"]).output().unwrap();
    let st = json(&out);
    assert_eq!(st["outcome"], "ok", "{st}");
    assert_eq!(st["pid"], child.id(), "{st}");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn completions_man_page_and_help_with_examples() {
    let home = Home::new();
    for (shell, marker) in [
        ("bash", "complete -F _pit"),
        ("zsh", "#compdef pit"),
        ("fish", "complete -c pit"),
    ] {
        let text = ok(&home.pit("a").args(["completions", shell]).output().unwrap());
        assert!(text.contains(marker), "{shell}: {text}");
        for sub in ["backtest", "kill", "status", "config"] {
            assert!(text.contains(sub), "{shell} completes {sub}");
        }
    }
    let man = ok(&home.pit("a").arg("man").output().unwrap());
    assert!(man.starts_with(".ie") || man.contains(".TH pit 1"), "{man}");
    assert!(man.contains("Exit codes"), "{man}");
    let kill = ok(&home.pit("a").args(["man", "kill"]).output().unwrap());
    assert!(kill.contains(".TH pit-kill 1"), "{kill}");
    assert!(kill.contains("desk says stop"), "{kill}");
    let out = home.pit("a").args(["man", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    // -h: a summary; --help: the long text with examples, for every subcommand `pit
    // --help` lists (and the nested ones), so a new one without examples fails here.
    let top = ok(&home.pit("a").arg("--help").output().unwrap());
    let mut subs: Vec<Vec<String>> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(|c| vec![c.to_string()])
        .collect();
    assert!(subs.len() >= 20, "{top}");
    for nested in [
        ["store", "compact"],
        ["store", "backup"],
        ["config", "path"],
        ["config", "init"],
    ] {
        subs.push(nested.iter().map(|s| s.to_string()).collect());
    }
    for sub in &subs {
        let short = ok(&home.pit("a").args(sub).arg("-h").output().unwrap());
        let long = ok(&home.pit("a").args(sub).arg("--help").output().unwrap());
        assert!(!short.contains("Examples:"), "{sub:?} -h: {short}");
        assert!(long.contains("Examples:"), "{sub:?} --help: {long}");
        assert!(long.len() > short.len());
    }
    let long = ok(&home.pit("a").args(["run", "--help"]).output().unwrap());
    assert!(long.contains("4 the run ended HALTED"), "{long}");
}

#[test]
fn a_headless_run_that_ends_halted_exits_4() {
    let home = Home::new();
    std::fs::create_dir_all(home.path("a/data")).unwrap();
    std::fs::copy(repo().join("config.toml"), home.path("a/config.toml")).unwrap();
    let out = home.pit("a").args(SHORT_RUN).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The HALT file: the run comes up halted and ends so.
    std::fs::write(home.path("a/data/HALT"), "desk says stop\n").unwrap();
    let out = home.pit("a").args(SHORT_RUN).output().unwrap();
    assert_eq!(json(&out)["trading_state"], "HALTED");
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ended HALTED"));
}

#[test]
fn tardis_csv_with_quoted_fields_imports_and_verifies() {
    let home = Home::new();
    std::fs::create_dir_all(home.path("a")).unwrap();
    let mut csv = String::from(
        "\"exchange\",\"symbol\",\"timestamp\",\"local_timestamp\",\"is_snapshot\",\"side\",\"price\",\"amount\"\r\n",
    );
    csv.push_str("\"deribit\",\"BTC-PERPETUAL\",1000,1001,\"true\",\"ask\",\"100.5\",\"10\"\r\n");
    csv.push_str("\"deribit\",\"BTC-PERPETUAL\",1000,1001,\"true\",\"bid\",\"100.0\",\"20\"\r\n");
    csv.push_str("deribit,BTC-PERPETUAL,2000,2002,false,bid,\"100.0\",5\r\n");
    std::fs::write(home.path("a/book.csv"), csv).unwrap();
    let out = home
        .pit("a")
        .args([
            "import",
            "--format",
            "tardis",
            "book.csv",
            "--out",
            "book.jsonl",
        ])
        .output()
        .unwrap();
    ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("imported 3 lines"), "{err}");
    // The header, the snapshot and the update (the replay of such a file is
    // src/import.rs's unit test).
    let text = std::fs::read_to_string(home.path("a/book.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("BTC-PERPETUAL"), "{text}");
    // It verifies (the sim frames' books rebuilt, none crossed) and replays: a backtest
    // of it trades on its instrument (a lot fine enough for the strategies' sizes).
    let out = home
        .pit("a")
        .args(["verify", "book.jsonl", "--json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["instruments"]["BTC-PERPETUAL"]["frames"], 2, "{v}");
    assert_eq!(v["instruments"]["BTC-PERPETUAL"]["updates"], 2, "{v}");
    assert_eq!(v["instruments"]["BTC-PERPETUAL"]["crossed"], 0, "{v}");
    // Its lot (the finest size in the file: 1) is coarser than the strategies' default
    // sizes: the backtest says which key and how to set it.
    let out = home
        .pit("a")
        .args(["backtest", "book.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("below the minimum order size 1 of BTC-PERPETUAL")
            && err.contains("--set strategies.market_maker.size=N")
            && err.contains("finer --lot"),
        "{err}"
    );
    let mut rows = String::from(
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
         deribit,BTC-PERPETUAL,1000,1000,true,ask,100.5,10\n\
         deribit,BTC-PERPETUAL,1000,1000,true,bid,100.0,20\n",
    );
    for k in 1..400u64 {
        // A book that moves up and down a tick every 50 ms for 20 s.
        let (bid, ask) = if k % 2 == 0 {
            ("100.0", "100.5")
        } else {
            ("100.5", "101.0")
        };
        let t = 1000 + k * 50_000;
        rows.push_str(&format!(
            "deribit,BTC-PERPETUAL,{t},{t},false,ask,{ask},7\n\
             deribit,BTC-PERPETUAL,{t},{t},false,bid,{bid},9\n"
        ));
        let (old_bid, old_ask) = if k % 2 == 0 {
            ("100.5", "101.0")
        } else {
            ("100.0", "100.5")
        };
        if old_bid != bid {
            rows.push_str(&format!(
                "deribit,BTC-PERPETUAL,{t},{t},false,bid,{old_bid},0\n"
            ));
        }
        if old_ask != ask && old_ask != bid {
            rows.push_str(&format!(
                "deribit,BTC-PERPETUAL,{t},{t},false,ask,{old_ask},0\n"
            ));
        }
    }
    std::fs::write(home.path("a/moves.csv"), rows).unwrap();
    ok(&home
        .pit("a")
        .args([
            "import",
            "--format",
            "tardis",
            "moves.csv",
            "--out",
            "moves.jsonl",
            "--tick",
            "0.5",
            "--lot",
            "0.001",
        ])
        .output()
        .unwrap());
    let out = home
        .pit("a")
        .args(["backtest", "moves.jsonl", "--json"])
        .output()
        .unwrap();
    let b = json(&out);
    assert_eq!(out.status.code(), Some(0), "{b}");
    assert_eq!(b["instruments"][0], "deribit:BTC-PERPETUAL", "{b}");
    assert!(b["events"].as_u64().unwrap() > 800, "{b}");
    assert!(b["orders"].as_u64().unwrap() > 0, "{b}");
    let out = home
        .pit("a")
        .args([
            "replay",
            "moves.jsonl",
            "--headless",
            "--speed",
            "max",
            "--json",
        ])
        .output()
        .unwrap();
    let r = json(&out);
    assert_eq!(out.status.code(), Some(0), "{r}");
    assert_eq!(r["fill_log_sha256"], b["fill_log_sha256"], "{r}\n{b}");
    // A book left crossed is caught: verify fails and counts it.
    std::fs::write(
        home.path("a/crossed.csv"),
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
         deribit,X,1,1,true,ask,100.5,1\n\
         deribit,X,1,1,true,bid,100.0,1\n\
         deribit,X,2,2,false,bid,101.0,1\n",
    )
    .unwrap();
    ok(&home
        .pit("a")
        .args([
            "import",
            "--format",
            "tardis",
            "crossed.csv",
            "--out",
            "crossed.jsonl",
        ])
        .output()
        .unwrap());
    let out = home
        .pit("a")
        .args(["verify", "crossed.jsonl", "--json"])
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["instruments"]["X"]["crossed"], 1, "{v}");
    // A broken row is named by its line.
    std::fs::write(
        home.path("a/bad.csv"),
        "deribit,BTC-PERPETUAL,1,2,true,ask,1,1\n\"deribit\",\"X\",1,2,true,up,1,1\n",
    )
    .unwrap();
    let out = home
        .pit("a")
        .args([
            "import", "--format", "tardis", "bad.csv", "--out", "b.jsonl",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 2: bad side 'up'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn progress_shows_on_a_terminal_and_never_in_a_pipe() {
    let demo = repo().join("recordings/demo-sim-3m.jsonl.zst");
    let demo = demo.to_str().unwrap();
    let home = Home::new();
    // A pipe: no bar, no carriage returns, the report unchanged.
    let out = home
        .pit("a")
        .args(["backtest", demo, "--speed", "20", "--for", "40s"])
        .output()
        .unwrap();
    let report = ok(&out);
    assert!(report.contains("fill log"), "{report}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("ETA") && !err.contains('\r'), "{err}");
    // A terminal: the bar with its rate and ETA.
    std::fs::create_dir_all(home.path("t")).unwrap();
    let screen = pty::Pty::spawn(
        &["backtest", demo, "--speed", "20", "--for", "40s"],
        &home.path("t"),
        120,
        30,
    );
    screen.wait_for(&["backtest [", "ETA", "iB/"], Duration::from_secs(20));
}

/// Read `/metrics` (HTTP/1.0, one request).
fn scrape(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200") || text.starts_with("HTTP/1.0 200"),
        "{text}"
    );
    text
}

/// The value of one series (`name{labels}` as written, or a bare name).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The sum of every series of `name` (`name{...} v` lines).
fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn metrics_scraped_during_a_run_agree_with_its_summary() {
    let home = Home::new();
    std::fs::create_dir_all(home.path("a")).unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let text = std::fs::read_to_string(repo().join("config.toml")).unwrap();
    std::fs::write(
        home.path("a/config.toml"),
        format!("{text}\n[metrics]\nlisten = \"{addr}\"\n"),
    )
    .unwrap();
    let child = home
        .pit("a")
        .args(["run", "--headless", "--for", "1h", "--speed", "5", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Trading: orders and fills climb.
    let t0 = Instant::now();
    let during = loop {
        if std::net::TcpStream::connect(&addr).is_ok() {
            let m = scrape(&addr);
            if value(&m, "pit_fills_total").unwrap_or(0.0) >= 3.0 {
                break m;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no fills in a minute"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        value(&during, "pit_trading_state{state=\"ACTIVE\"}"),
        Some(1.0),
        "{during}"
    );
    assert_eq!(value(&during, "pit_gate_open"), Some(1.0));
    assert_eq!(value(&during, "pit_kill_switch_presses_total"), Some(0.0));
    assert!(during.contains("pit_strategy_orders_total{strategy=\"market-maker\"}"));
    assert!(during.contains("pit_open_orders{venue=\"sim\",instrument=\"BTC-USD\"}"));
    assert!(during.contains("pit_engine_lag_seconds"));
    assert!(during.trim_end().ends_with("# EOF"));
    // The kill switch: figures freeze (no order leaves, every open one is cancelled).
    let kill = home
        .pit("b")
        .env("PIT_CONFIG", home.path("a/config.toml"))
        .args(["kill", "--reason", "metrics test"])
        .output()
        .unwrap();
    ok(&kill);
    std::thread::sleep(Duration::from_millis(500));
    let after = scrape(&addr);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "halted: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = json(&out);
    assert_eq!(
        value(&after, "pit_trading_state{state=\"HALTED\"}"),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        value(&after, "pit_trading_state{state=\"ACTIVE\"}"),
        Some(0.0)
    );
    assert_eq!(value(&after, "pit_gate_open"), Some(0.0));
    assert_eq!(value(&after, "pit_kill_switch_presses_total"), Some(1.0));
    assert_eq!(
        value(&after, "pit_fills_total"),
        summary["fills"].as_f64(),
        "{summary}\n{after}"
    );
    assert_eq!(
        value(&after, "pit_orders_total"),
        summary["orders"].as_f64()
    );
    let fees: f64 = summary["fees"].as_str().unwrap().parse().unwrap();
    assert!(
        (value(&after, "pit_fees").unwrap() - fees).abs() < 1e-9,
        "{after}"
    );
    // Every order closed by then: the orders sent, closed and filled per instrument and
    // strategy add up to the summary's and to the orders the store kept.
    let orders = summary["orders"].as_f64().unwrap();
    assert!(orders > 0.0, "{summary}");
    assert_eq!(sum(&after, "pit_orders_sent_total"), orders, "{after}");
    assert_eq!(
        sum(&after, "pit_orders_closed_total"),
        orders - summary["open_orders_left"].as_f64().unwrap(),
        "{after}"
    );
    let export = home.pit("a").args(["export", "--orders"]).output().unwrap();
    let export = ok(&export);
    let mut csv = csv::Reader::from_reader(export.as_bytes());
    let heads = csv.headers().unwrap().clone();
    let col = |name: &str| heads.iter().position(|h| h == name).unwrap();
    let (filled_col, status_col) = (col("filled"), col("status"));
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len() as f64, orders, "{export}");
    let filled_orders = rows
        .iter()
        .filter(|r| r[filled_col].parse::<f64>().unwrap() > 0.0)
        .count() as f64;
    assert_eq!(sum(&after, "pit_orders_filled_total"), filled_orders);
    let rejected = rows.iter().filter(|r| &r[status_col] == "REJECTED").count() as f64;
    assert_eq!(sum(&after, "pit_orders_rejected_total"), rejected);
    // Execution latency: every filled order's send to first fill; send to ack is the
    // paper venue's latency both ways (config.toml: 5 ms in, 5 ms out), engine time.
    assert_eq!(
        sum(&after, "pit_order_fill_latency_seconds_count"),
        filled_orders
    );
    let acks = sum(&after, "pit_order_ack_latency_seconds_count");
    assert!(acks > 0.0 && acks <= orders, "{after}");
    let mean = sum(&after, "pit_order_ack_latency_seconds_sum") / acks;
    assert!((mean - 0.010).abs() < 1e-9, "mean ack latency {mean}");
    let in_10ms: f64 = after
        .lines()
        .filter(|l| l.starts_with("pit_order_ack_latency_seconds_bucket{le=\"0.01\","))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(in_10ms, acks, "{after}");
    // Slippage is measured on every fill (each had an arrival mid).
    assert_eq!(
        sum(&after, "pit_slippage_fills_total"),
        summary["fills"].as_f64().unwrap()
    );
    assert!(after.contains("pit_slippage_per_unit{venue=\"sim\",instrument=\"BTC-USD\""));
    // Orders stopped at the gate, as the summary counts them; the store's commits timed;
    // no market-data latency for the simulated market (no exchange clock).
    assert_eq!(
        value(&after, "pit_orders_blocked_by_gate_total"),
        summary["orders_blocked_by_gate"].as_f64()
    );
    assert!(value(&after, "pit_store_commit_latency_seconds_count").unwrap() > 0.0);
    assert!(!after.contains("pit_market_data_latency_seconds_count"));
    assert!(
        after.contains(
            "pit_fill_ratio{venue=\"sim\",instrument=\"BTC-USD\",strategy=\"market-maker\"}"
        ),
        "{after}"
    );
}

#[test]
fn a_bad_metrics_address_is_refused_with_its_key() {
    let home = Home::new();
    std::fs::create_dir_all(home.path("a")).unwrap();
    std::fs::write(
        home.path("a/config.toml"),
        "[metrics]\nlisten = \"localhost\"\n",
    )
    .unwrap();
    let out = home.pit("a").args(SHORT_RUN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.toml:2: metrics.listen"), "{err}");
}

/// Market-data latency, from a replay of a Bybit capture: every frame's receive time
/// minus its `ts`, per instrument, as `/metrics` shows it while the replay runs, agrees
/// with the frames `pit verify` counts and with the capture's own stamps.
#[test]
fn market_data_latency_of_a_replayed_capture() {
    // `../shared/captures` beside the crate, or PIT_CAPTURES_DIR (as tests/conformance.rs).
    let dir = std::env::var_os("PIT_CAPTURES_DIR")
        .map_or_else(|| repo().join("../shared/captures"), PathBuf::from);
    let capture = dir.join("bybit-v5-2026-08-09.jsonl");
    if !capture.exists() {
        eprintln!("skipped: {} is absent", capture.display());
        return;
    }
    let capture = capture.to_str().unwrap();
    // What the capture's stamps say: receive time minus the venue's `ts` (ms).
    let (mut count, mut sum_ns, mut early) = (0u64, 0i64, 0u64);
    for l in std::fs::read_to_string(capture).unwrap().lines() {
        let line: Value = serde_json::from_str(l).unwrap();
        if line["dir"] != "recv" {
            continue;
        }
        let Ok(frame) = serde_json::from_str::<Value>(line["frame"].as_str().unwrap()) else {
            continue;
        };
        let topic = frame["topic"].as_str().unwrap_or("");
        if !(topic.starts_with("orderbook.") || topic.starts_with("publicTrade.")) {
            continue;
        }
        if let Some(ms) = frame["ts"].as_i64() {
            let d = line["ts_ns"].as_i64().unwrap() - ms * 1_000_000;
            count += 1;
            sum_ns += d.max(0);
            early += u64::from(d < 0);
        }
    }
    assert!(count > 1000, "{count}");
    let home = Home::new();
    std::fs::create_dir_all(home.path("a")).unwrap();
    let verify = home
        .pit("a")
        .args(["verify", capture, "--json"])
        .output()
        .unwrap();
    let frames: u64 = json(&verify)["instruments"]
        .as_object()
        .unwrap()
        .values()
        .map(|i| i["frames"].as_u64().unwrap())
        .sum();
    assert_eq!(frames, count);
    let addr = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        home.path("a/config.toml"),
        format!("[metrics]\nlisten = \"{addr}\"\n"),
    )
    .unwrap();
    let mut child = home
        .pit("a")
        .args(["replay", capture, "--headless", "--speed", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let m = loop {
        if std::net::TcpStream::connect(&addr).is_ok() {
            let m = scrape(&addr);
            if sum(&m, "pit_market_data_latency_seconds_count") >= count as f64 {
                break m;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no latency figures");
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        sum(&m, "pit_market_data_latency_seconds_count"),
        count as f64,
        "{m}"
    );
    let got = sum(&m, "pit_market_data_latency_seconds_sum");
    assert!(
        (got - sum_ns as f64 / 1e9).abs() < 1e-6,
        "{got} vs {sum_ns} ns"
    );
    assert_eq!(sum(&m, "pit_market_data_early_frames_total"), early as f64);
    assert!(
        m.contains("pit_market_data_latency_seconds_count{venue=\"bybit\",instrument=\"linear/BTCUSDT\"} 430"),
        "{m}"
    );
    assert!(m.contains("pit_run_info{venue=\"bybit\",execution=\"paper\""));
}

/// Store compaction shows a spinner (redb reports no progress) and a backup counts its
/// rows with rate and ETA, on a terminal only: never in a pipe, never with --quiet.
#[test]
fn store_compaction_and_backup_show_progress_on_a_terminal() {
    let home = Home::new();
    std::fs::create_dir_all(home.path("t")).unwrap();
    std::fs::write(home.path("t/config.toml"), "").unwrap();
    let out = home
        .pit("t")
        .args([
            "run",
            "--headless",
            "--for",
            "20s",
            "--speed",
            "max",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(json(&out)["orders"].as_u64().unwrap() > 0);
    // Each one exits before the next opens the store.
    let mut screen = pty::Pty::spawn(&["store", "compact"], &home.path("t"), 120, 30);
    screen.wait_for(
        &["✓ compacting", "pit.redb", "compacted"],
        Duration::from_secs(20),
    );
    assert!(
        screen
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    let mut screen = pty::Pty::spawn(&["store", "backup", "b.redb"], &home.path("t"), 120, 30);
    screen.wait_for(
        &["backup [", " rows ", "ETA", "backed up"],
        Duration::from_secs(20),
    );
    assert!(
        screen
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    // --quiet on a terminal: the result only.
    let mut screen = pty::Pty::spawn(&["-q", "store", "compact"], &home.path("t"), 120, 30);
    screen.wait_for(&["compacted"], Duration::from_secs(20));
    assert!(
        screen
            .wait_exit(Duration::from_secs(10))
            .is_some_and(|s| s.success())
    );
    let text = screen.text();
    assert!(
        !text.contains("✓") && !text.contains("compacting"),
        "{text}"
    );
    // A pipe: no bar.
    let out = home
        .pit("t")
        .args(["store", "backup", "c.redb"])
        .output()
        .unwrap();
    assert!(ok(&out).contains("backed up"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("rows") && !err.contains('\r'), "{err}");
}
