//! `[live.bybit]`: where pit would trade on Bybit v5, with which keys, and its dead-man
//! switch (disconnection protection, DCP).
//!
//! Endpoints (testnet by default), from the v5 pages: REST "Integration Guidance"
//! (<https://bybit-exchange.github.io/docs/v5/guide>: mainnet `https://api.bybit.com`,
//! testnet `https://api-testnet.bybit.com`); the private stream "Connect"
//! (<https://bybit-exchange.github.io/docs/v5/ws/connect>: `wss://stream.bybit.com/v5/private`,
//! testnet `wss://stream-testnet.bybit.com/v5/private`).
//!
//! `dead_man_secs` is DCP's `timeWindow` ("[`3`, `300`], unit: second"; Bybit's default
//! window is 10 s); `0` turns it off. Keys as for Binance: `key_file` (owner-only) or
//! `PIT_BYBIT_API_KEY` / `PIT_BYBIT_API_SECRET` (see `venue/live/keys.rs`).

use crate::domain::Invalid;
use crate::venue::exchanges::bybit::api::wire::DCP_WINDOW_SECS;
use crate::venue::live::settings::TradingSettings;
use serde::Deserialize;
use std::path::PathBuf;

pub const REST: (&str, &str) = ("https://api-testnet.bybit.com", "https://api.bybit.com");
pub const WS_PRIVATE: (&str, &str) = (
    "wss://stream-testnet.bybit.com/v5/private",
    "wss://stream.bybit.com/v5/private",
);
/// The public stream of a category on the network chosen.
pub fn ws_public(testnet: bool, category: &str) -> String {
    let host = if testnet {
        "stream-testnet.bybit.com"
    } else {
        "stream.bybit.com"
    };
    format!("wss://{host}/v5/public/{category}")
}

/// `[live.bybit]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BybitSettings {
    /// `"paper"` (default) or `"live"` (real orders with `pit run --live`).
    pub mode: String,
    /// Bybit's testnet (default); `false`: real money.
    pub testnet: bool,
    /// REST base; empty: Bybit's for the network (`pit emulate bybit`: its address).
    pub rest_url: String,
    /// The private stream; empty: Bybit's for the network.
    pub ws_private_url: String,
    /// `X-BAPI-RECV-WINDOW` (ms; Bybit's default 5000).
    pub recv_window_ms: u64,
    /// A request with no answer after this long has an unknown outcome (ms).
    pub request_timeout_ms: u64,
    pub key_file: Option<PathBuf>,
    /// DCP window in seconds (3..=300), armed at start; 0: off.
    pub dead_man_secs: u32,
    /// Real money on Bybit's main hosts (`testnet = false`), which pit has not traded
    /// itself yet (only its testnet protocol and `pit emulate bybit`): refused unless this
    /// is `true`, the operator's explicit choice.
    pub real_money: bool,
}

impl Default for BybitSettings {
    fn default() -> Self {
        BybitSettings {
            mode: "paper".into(),
            testnet: true,
            rest_url: String::new(),
            ws_private_url: String::new(),
            recv_window_ms: 5000,
            request_timeout_ms: 5000,
            key_file: None,
            dead_man_secs: 10,
            real_money: false,
        }
    }
}

impl BybitSettings {
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
            ("ws_private_url", &self.ws_private_url, ["ws://", "wss://"]),
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
                "must be between 1 and 60000",
            ));
        }
        if self.request_timeout_ms < 100 || self.request_timeout_ms > 120_000 {
            return Err(Invalid::new(
                "request_timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        if self.dead_man_secs != 0 && !DCP_WINDOW_SECS.contains(&self.dead_man_secs) {
            return Err(Invalid::new(
                "dead_man_secs",
                "must be 0 (off) or between 3 and 300 (Bybit's DCP timeWindow)",
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

    /// (REST base, private stream) for the network chosen, unless moved.
    pub fn endpoints(&self) -> (String, String) {
        (
            TradingSettings::pick(&self.rest_url, self.testnet, REST.0, REST.1).to_string(),
            TradingSettings::pick(
                &self.ws_private_url,
                self.testnet,
                WS_PRIVATE.0,
                WS_PRIVATE.1,
            )
            .to_string(),
        )
    }

    /// What the status bar says about the dead-man switch before it is armed.
    pub fn dead_man_text(&self) -> String {
        if self.dead_man_secs == 0 {
            "dead-man off ([live.bybit] dead_man_secs = 0)".into()
        } else {
            "dead-man: arming…".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_paper_on_testnet_with_dcp_on() {
        let s = BybitSettings::default();
        assert!(!s.wants_live() && s.testnet && s.dead_man_secs == 10);
        assert!(s.validate().is_ok());
        assert_eq!(
            s.endpoints(),
            (
                "https://api-testnet.bybit.com".to_string(),
                "wss://stream-testnet.bybit.com/v5/private".to_string()
            )
        );
        let main = BybitSettings {
            testnet: false,
            ..BybitSettings::default()
        };
        assert_eq!(main.endpoints().0, "https://api.bybit.com");
        assert_eq!(
            ws_public(true, "linear"),
            "wss://stream-testnet.bybit.com/v5/public/linear"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |f: fn(&mut BybitSettings)| {
            let mut s = BybitSettings::default();
            f(&mut s);
            s.validate().unwrap_err().key
        };
        assert_eq!(bad(|s| s.mode = "real".into()), "mode");
        assert_eq!(bad(|s| s.rest_url = "api.bybit.com".into()), "rest_url");
        assert_eq!(
            bad(|s| s.ws_private_url = "https://x".into()),
            "ws_private_url"
        );
        assert_eq!(bad(|s| s.dead_man_secs = 2), "dead_man_secs");
        assert_eq!(bad(|s| s.dead_man_secs = 301), "dead_man_secs");
        let off = BybitSettings {
            dead_man_secs: 0,
            ..BybitSettings::default()
        };
        assert!(off.validate().is_ok());
        assert!(off.dead_man_text().contains("off"));
    }
}
