//! `[live.<venue>]`: whether a real venue trades for real, where, and with which keys.
//!
//! Live trading needs two switches: `mode = "live"` here and `--live` on the command line.
//! Either one missing means paper execution on the venue's live market data, as without
//! this section. `testnet = true` is the default: mainnet takes `testnet = false`, said
//! in the file. Every endpoint can be moved (a proxy, a testnet, `pit emulate binance`).
//! Keys are never read from the config: `key_file` names an owner-only file, or the
//! environment holds them (see [`super::keys`]).

use crate::domain::Invalid;
use serde::Deserialize;
use std::path::PathBuf;

/// `[live.<venue>]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TradingSettings {
    /// `"paper"` (default: paper fills on the venue's live data) or `"live"`.
    pub mode: String,
    /// The venue's test network (default); `false`: real money.
    pub testnet: bool,
    /// REST base of the order API; empty: the venue's (testnet or mainnet).
    pub rest_url: String,
    /// Market-data WebSocket base while trading; empty: the venue's (testnet or mainnet).
    pub ws_url: String,
    /// WebSocket API endpoint (Binance: the user data stream subscription); empty: the
    /// venue's.
    pub ws_api_url: String,
    /// How long after its timestamp a signed request stays valid at the venue (ms; Binance
    /// `recvWindow`, at most 60000).
    pub recv_window_ms: u64,
    /// A request with no answer after this long has an unknown outcome (ms): it is
    /// resolved by asking the venue for the order, never by sending it again.
    pub request_timeout_ms: u64,
    /// An owner-only file with the keys; empty: the environment (`PIT_<VENUE>_API_KEY`...).
    pub key_file: Option<PathBuf>,
}

impl Default for TradingSettings {
    fn default() -> Self {
        TradingSettings {
            mode: "paper".into(),
            testnet: true,
            rest_url: String::new(),
            ws_url: String::new(),
            ws_api_url: String::new(),
            recv_window_ms: 5000,
            request_timeout_ms: 5000,
            key_file: None,
        }
    }
}

impl TradingSettings {
    /// Whether the config asks for live trading (`--live` is needed too).
    pub fn wants_live(&self) -> bool {
        self.mode == "live"
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if !["paper", "live"].contains(&self.mode.as_str()) {
            return Err(Invalid::new(
                "mode",
                format!("'{}' is not a mode; use \"paper\" or \"live\"", self.mode),
            ));
        }
        for (k, v, schemes) in [
            ("rest_url", &self.rest_url, ["http://", "https://"]),
            ("ws_url", &self.ws_url, ["ws://", "wss://"]),
            ("ws_api_url", &self.ws_api_url, ["ws://", "wss://"]),
        ] {
            if !v.is_empty() && !schemes.iter().any(|s| v.starts_with(s)) {
                return Err(Invalid::new(
                    k,
                    format!("must start with {} or {}", schemes[0], schemes[1]),
                ));
            }
        }
        if self.recv_window_ms == 0 || self.recv_window_ms > 60_000 {
            return Err(Invalid::new(
                "recv_window_ms",
                "must be between 1 and 60000 (Binance's limit)",
            ));
        }
        if self.request_timeout_ms < 100 || self.request_timeout_ms > 120_000 {
            return Err(Invalid::new(
                "request_timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        if let Some(p) = &self.key_file
            && p.as_os_str().is_empty()
        {
            return Err(Invalid::new(
                "key_file",
                "is empty; remove it to read the keys from the environment",
            ));
        }
        Ok(())
    }

    /// The endpoint `set` when given, else the venue's for the network chosen.
    pub fn pick<'a>(set: &'a str, testnet: bool, test: &'a str, main: &'a str) -> &'a str {
        if !set.is_empty() {
            set
        } else if testnet {
            test
        } else {
            main
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_paper_on_testnet() {
        let s = TradingSettings::default();
        assert!(!s.wants_live() && s.testnet);
        assert!(s.validate().is_ok());
        assert_eq!(TradingSettings::pick("", true, "t", "m"), "t");
        assert_eq!(TradingSettings::pick("", false, "t", "m"), "m");
        assert_eq!(TradingSettings::pick("x", false, "t", "m"), "x");
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |f: fn(&mut TradingSettings)| {
            let mut s = TradingSettings::default();
            f(&mut s);
            s.validate().unwrap_err().key
        };
        assert_eq!(bad(|s| s.mode = "real".into()), "mode");
        assert_eq!(bad(|s| s.rest_url = "api.binance.com".into()), "rest_url");
        assert_eq!(bad(|s| s.ws_api_url = "https://x".into()), "ws_api_url");
        assert_eq!(bad(|s| s.recv_window_ms = 70_000), "recv_window_ms");
        assert_eq!(bad(|s| s.key_file = Some(PathBuf::new())), "key_file");
    }
}
