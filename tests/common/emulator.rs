//! `pit emulate binance` (or `bybit`) for the end-to-end tests: the real binary on an ephemeral port,
//! with an HMAC API key and its secret (`PIT_EMULATE_SECRET`, never on the command line),
//! its first line (`listening on ADDR`) read for the address, its stdout drained so it
//! never blocks on a full pipe, killed on drop. The caller's `PIT_*` keys, `PIT_CONFIG`
//! and `RUST_LOG` do not leak in ([`pit`], which the live tests run pit with too).
//!
//! Included by path (`#[path = "common/emulator.rs"] mod emulator;`): the tests that use
//! it need none of `common/mod.rs`'s console fixtures.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `pit emulate binance`.
pub struct Emulator {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// `http://ADDR`, the REST base.
    pub base: String,
    /// `ws://ADDR`, the WebSocket base.
    pub ws: String,
    /// Files the emulator was started with (a public key), kept as long as it runs.
    _keep: Vec<tempfile::TempDir>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `pit` binary with nothing of the caller's keys, config or log filter: keys come
/// from the test's key file (or `PIT_EMULATE_SECRET`) only.
pub fn pit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pit"));
    for v in [
        "PIT_BINANCE_API_KEY",
        "PIT_BINANCE_API_SECRET",
        "PIT_BINANCE_ED25519_KEY",
        "PIT_BYBIT_API_KEY",
        "PIT_BYBIT_API_SECRET",
        "PIT_OKX_API_KEY",
        "PIT_OKX_API_SECRET",
        "PIT_OKX_API_PASSPHRASE",
        "PIT_EMULATE_PASSPHRASE",
        "PIT_CONFIG",
        "RUST_LOG",
    ] {
        c.env_remove(v);
    }
    c
}

impl Emulator {
    /// Start it with `api_key` (HMAC, secret `secret`) and `extra` arguments.
    pub fn start(api_key: &str, secret: &str, extra: &[&str]) -> Emulator {
        Emulator::start_venue("binance", api_key, secret, extra)
    }

    /// `pit emulate VENUE` (binance, bybit), as [`Emulator::start`].
    pub fn start_venue(venue: &str, api_key: &str, secret: &str, extra: &[&str]) -> Emulator {
        Emulator::start_with_env(venue, api_key, secret, &[], extra)
    }

    /// `pit emulate okx` with the key's passphrase (`PIT_EMULATE_PASSPHRASE`).
    pub fn start_okx(api_key: &str, secret: &str, passphrase: &str, extra: &[&str]) -> Emulator {
        Emulator::start_with_env(
            "okx",
            api_key,
            secret,
            &[("PIT_EMULATE_PASSPHRASE", passphrase)],
            extra,
        )
    }

    fn start_with_env(
        venue: &str,
        api_key: &str,
        secret: &str,
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Emulator {
        let mut child = pit()
            .args(["emulate", venue, "--port", "0", "--api-key", api_key])
            .args(extra)
            .env("PIT_EMULATE_SECRET", secret)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("pit emulate starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a first line").expect("readable");
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {first}"))
            .to_string();
        std::thread::spawn(move || for _ in lines {});
        Emulator {
            child,
            base: format!("http://{addr}"),
            ws: format!("ws://{addr}"),
            addr,
            _keep: Vec::new(),
        }
    }

    /// Keep `dir` (files the emulator reads) until the emulator is dropped.
    pub fn keeping(mut self, dir: tempfile::TempDir) -> Emulator {
        self._keep.push(dir);
        self
    }
}
