//! `[live.okx]`: where pit trades on OKX v5 (spot, trade mode `cash`), with which keys, and
//! its dead-man switch ("Cancel All After").
//!
//! Endpoints, from OKX's v5 docs (<https://www.okx.com/docs-v5/en/>): "Overview" > "API
//! Resources and Support" / "Production Trading Services": REST `https://www.okx.com`, the
//! private WebSocket `wss://ws.okx.com:8443/ws/v5/private`; "Demo Trading Services": the
//! same REST host with the header `x-simulated-trading: 1`, the private WebSocket
//! `wss://wspap.okx.com:8443/ws/v5/private`. Demo trading (`demo = true`) is the default.
//!
//! `dead_man_secs` is "Cancel All After"'s `timeOut` ("Range of value can be 0, [10,
//! 120]"); pit's default 30 s, refreshed every third of it; `0` turns it off (as Bybit's
//! `[live.bybit] dead_man_secs = 0` turns DCP off). Keys as for the other venues:
//! `key_file` (owner-only; `api_key`, `secret`, `passphrase`) or `PIT_OKX_API_KEY` /
//! `PIT_OKX_API_SECRET` / `PIT_OKX_API_PASSPHRASE` (see `venue/live/keys.rs`).

use crate::domain::Invalid;
use crate::venue::live::settings::TradingSettings;
use serde::Deserialize;
use std::path::PathBuf;

/// REST base: demo trading and production share the host (demo adds the header).
pub const REST: &str = "https://www.okx.com";
/// Private WebSocket: (demo, production).
pub const WS_PRIVATE: (&str, &str) = (
    "wss://wspap.okx.com:8443/ws/v5/private",
    "wss://ws.okx.com:8443/ws/v5/private",
);
/// Public WebSocket (market data): (demo, production).
pub const WS_PUBLIC: (&str, &str) = (
    "wss://wspap.okx.com:8443/ws/v5/public",
    "wss://ws.okx.com:8443/ws/v5/public",
);

/// "Cancel All After": `timeOut` 0 or [10, 120] seconds.
pub const CAA_RANGE: std::ops::RangeInclusive<u32> = 10..=120;

/// `[live.okx]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OkxSettings {
    /// `"paper"` (default) or `"live"` (real orders with `pit run --live`).
    pub mode: String,
    /// OKX's demo trading (default: `x-simulated-trading: 1`); `false`: real money.
    pub demo: bool,
    /// REST base; empty: OKX's (`pit emulate okx`: its address).
    pub rest_url: String,
    /// The private WebSocket; empty: OKX's for the network.
    pub ws_private_url: String,
    /// A request with no answer after this long has an unknown outcome (ms).
    pub request_timeout_ms: u64,
    pub key_file: Option<PathBuf>,
    /// "Cancel All After" countdown in seconds (10..=120), armed at start and refreshed
    /// every third of it; 0: off.
    pub dead_man_secs: u32,
    /// OKX's instrument type pit trades: `"SPOT"` (default; trade mode `cash`) or
    /// `"SWAP"` (linear perpetuals such as `BTC-USDT-SWAP`, trade mode `cross`, net
    /// position mode; pit's quantities stay in the coin, sent as contracts).
    pub inst_type: String,
    /// Real money (`demo = false` on OKX's own hosts), which pit has not traded itself yet
    /// (only OKX's demo protocol and `pit emulate okx`): refused unless this is `true`,
    /// the operator's explicit choice.
    pub real_money: bool,
}

impl Default for OkxSettings {
    fn default() -> Self {
        OkxSettings {
            mode: "paper".into(),
            demo: true,
            rest_url: String::new(),
            ws_private_url: String::new(),
            request_timeout_ms: 5000,
            key_file: None,
            dead_man_secs: 30,
            inst_type: "SPOT".into(),
            real_money: false,
        }
    }
}

impl OkxSettings {
    pub fn wants_live(&self) -> bool {
        self.mode == "live"
    }

    /// Whether pit trades SWAPs here.
    pub fn swap(&self) -> bool {
        self.inst_type == "SWAP"
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        if !["SPOT", "SWAP"].contains(&self.inst_type.as_str()) {
            return Err(Invalid::new(
                "inst_type",
                format!(
                    "'{}' is not an instrument type pit trades on OKX; use \"SPOT\" or \"SWAP\"",
                    self.inst_type
                ),
            ));
        }
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
        if self.request_timeout_ms < 100 || self.request_timeout_ms > 120_000 {
            return Err(Invalid::new(
                "request_timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        if self.dead_man_secs != 0 && !CAA_RANGE.contains(&self.dead_man_secs) {
            return Err(Invalid::new(
                "dead_man_secs",
                "must be 0 (off) or between 10 and 120 (OKX's Cancel All After timeOut)",
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

    /// (REST base, private WebSocket) for the network chosen, unless moved.
    pub fn endpoints(&self) -> (String, String) {
        (
            TradingSettings::pick(&self.rest_url, self.demo, REST, REST).to_string(),
            TradingSettings::pick(&self.ws_private_url, self.demo, WS_PRIVATE.0, WS_PRIVATE.1)
                .to_string(),
        )
    }

    /// The public WebSocket beside the private one: `pit emulate okx`'s `/ws/v5/public`
    /// when `ws_private_url` points at `/ws/v5/private`, else OKX's for the network.
    pub fn ws_public(&self) -> String {
        match self.ws_private_url.strip_suffix("/ws/v5/private") {
            Some(base) if !self.ws_private_url.is_empty() => format!("{base}/ws/v5/public"),
            _ => if self.demo { WS_PUBLIC.0 } else { WS_PUBLIC.1 }.to_string(),
        }
    }

    /// What the status bar says about the dead-man switch before OKX confirms it.
    pub fn dead_man_text(&self) -> String {
        if self.dead_man_secs == 0 {
            "dead-man off ([live.okx] dead_man_secs = 0)".into()
        } else {
            "dead-man: arming…".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_paper_on_demo_trading_with_the_dead_man_on() {
        let s = OkxSettings::default();
        assert!(!s.wants_live() && s.demo && s.dead_man_secs == 30);
        assert!(s.validate().is_ok());
        assert_eq!(
            s.endpoints(),
            (
                "https://www.okx.com".to_string(),
                "wss://wspap.okx.com:8443/ws/v5/private".to_string()
            )
        );
        assert_eq!(s.ws_public(), "wss://wspap.okx.com:8443/ws/v5/public");
        let emu = OkxSettings {
            ws_private_url: "ws://127.0.0.1:9/ws/v5/private".into(),
            ..OkxSettings::default()
        };
        assert_eq!(emu.ws_public(), "ws://127.0.0.1:9/ws/v5/public");
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |f: fn(&mut OkxSettings)| {
            let mut s = OkxSettings::default();
            f(&mut s);
            s.validate().unwrap_err().key
        };
        assert_eq!(bad(|s| s.mode = "real".into()), "mode");
        assert_eq!(bad(|s| s.rest_url = "www.okx.com".into()), "rest_url");
        assert_eq!(bad(|s| s.dead_man_secs = 9), "dead_man_secs");
        assert_eq!(bad(|s| s.dead_man_secs = 121), "dead_man_secs");
        let off = OkxSettings {
            dead_man_secs: 0,
            ..OkxSettings::default()
        };
        assert!(off.validate().is_ok() && off.dead_man_text().contains("off"));
    }
}
