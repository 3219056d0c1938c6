//! `[live.kraken]`: where pit trades Kraken spot, with which keys, its dead-man switch
//! (`CancelAllOrdersAfter`) and the REST call counter's tier.
//!
//! Endpoints, from Kraken's docs: REST `https://api.kraken.com` with private calls under
//! `/0/private/` ("Spot REST Authentication",
//! <https://docs.kraken.com/api/docs/guides/spot-rest-auth>); the authenticated WebSocket v2
//! `wss://ws-auth.kraken.com/v2` and the public one `wss://ws.kraken.com/v2` ("Spot
//! WebSocket", <https://docs.kraken.com/exchange/api-reference/spot-websocket>). Kraken spot
//! has no public test network: every Kraken host is real money. pit has not traded Kraken's
//! real API yet, so `pit run --live` refuses any endpoint that is not on this machine
//! (`pit emulate kraken`), as it refuses OKX without demo trading (`setup.rs`).
//!
//! `dead_man_secs` is `CancelAllOrdersAfter`'s `timeout`
//! (<https://docs.kraken.com/api-reference/trading/cancel-all-orders-after-x>: "The
//! recommended use is to make a call every 15 to 30 seconds, providing a timeout of 60
//! seconds"; the timeout "should be less than 86400 seconds"); pit's default 60 s,
//! refreshed every third of it; `0` turns it off (and disarms at start a countdown an
//! earlier run left). pit asks at least [`DEAD_MAN_MIN`] s so a third of it leaves room.
//!
//! `tier` is the account's verification tier, which sets the REST call counter's maximum
//! and decay ("Spot REST Rate Limits",
//! <https://docs.kraken.com/api/docs/guides/spot-rest-ratelimits>); pit keeps its own
//! count under it. Keys as for the other venues: `key_file` (owner-only; `api_key`,
//! `secret`: Kraken's private key, base64, as Kraken shows it) or `PIT_KRAKEN_API_KEY` /
//! `PIT_KRAKEN_API_SECRET` (see `venue/live/keys.rs`).

use crate::domain::Invalid;
use serde::Deserialize;
use std::path::PathBuf;

/// Kraken's REST base.
pub const REST: &str = "https://api.kraken.com";
/// Kraken's authenticated WebSocket v2.
pub const WS_PRIVATE: &str = "wss://ws-auth.kraken.com/v2";
/// Kraken's public WebSocket v2 (market data).
pub const WS_PUBLIC: &str = "wss://ws.kraken.com/v2";

/// `pit emulate kraken`'s WebSocket paths (public, authenticated).
pub const EMULATOR_WS_PATHS: (&str, &str) = ("/ws/v2", "/ws-auth/v2");

/// `CancelAllOrdersAfter`'s `timeout`: "should be less than 86400 seconds".
pub const DEAD_MAN_MAX: u32 = 86_399;
/// pit's least countdown: refreshed every third of it, one refresh may take a sixth.
pub const DEAD_MAN_MIN: u32 = 5;

/// `[live.kraken]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KrakenSettings {
    /// `"paper"` (default) or `"live"` (real orders with `pit run --live`).
    pub mode: String,
    /// REST base; empty: Kraken's (real money: only with `real_money = true`).
    pub rest_url: String,
    /// The authenticated WebSocket v2; empty: Kraken's.
    pub ws_private_url: String,
    /// A request with no answer after this long has an unknown outcome (ms).
    pub request_timeout_ms: u64,
    pub key_file: Option<PathBuf>,
    /// `CancelAllOrdersAfter` countdown in seconds, armed at start and refreshed every
    /// third of it; 0: off.
    pub dead_man_secs: u32,
    /// The verification tier: `starter` (default), `intermediate` or `pro`.
    pub tier: String,
    /// Real money on Kraken's own hosts (Kraken spot has no test network), which pit has
    /// not traded itself yet (only `pit emulate kraken`): refused unless this is `true`,
    /// the operator's explicit choice.
    pub real_money: bool,
}

impl Default for KrakenSettings {
    fn default() -> Self {
        KrakenSettings {
            mode: "paper".into(),
            rest_url: String::new(),
            ws_private_url: String::new(),
            request_timeout_ms: 5000,
            key_file: None,
            dead_man_secs: 60,
            tier: "starter".into(),
            real_money: false,
        }
    }
}

/// The REST call counter of a tier ("Spot REST Rate Limits": Starter max 15, decay
/// 0.33/s; Intermediate 20, 0.5/s; Pro 20, 1/s), in thousandths: (max, decay per second).
pub fn counter_of(tier: &str) -> (u64, u64) {
    match tier {
        "pro" => (20_000, 1_000),
        "intermediate" => (20_000, 500),
        _ => (15_000, 330),
    }
}

impl KrakenSettings {
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
        if self.request_timeout_ms < 100 || self.request_timeout_ms > 120_000 {
            return Err(Invalid::new(
                "request_timeout_ms",
                "must be between 100 and 120000",
            ));
        }
        if self.dead_man_secs != 0 && !(DEAD_MAN_MIN..=DEAD_MAN_MAX).contains(&self.dead_man_secs) {
            return Err(Invalid::new(
                "dead_man_secs",
                "must be 0 (off) or between 5 and 86399 (Kraken's CancelAllOrdersAfter timeout is under 86400 s)",
            ));
        }
        if !["starter", "intermediate", "pro"].contains(&self.tier.as_str()) {
            return Err(Invalid::new(
                "tier",
                "must be \"starter\", \"intermediate\" or \"pro\" (the account's verification tier)",
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

    /// (REST base, authenticated WebSocket), Kraken's unless moved.
    pub fn endpoints(&self) -> (String, String) {
        let pick = |v: &str, d: &str| if v.is_empty() { d } else { v }.to_string();
        (
            pick(&self.rest_url, REST),
            pick(&self.ws_private_url, WS_PRIVATE),
        )
    }

    /// The public WebSocket beside the private one: `pit emulate kraken`'s `/ws/v2` when
    /// `ws_private_url` points at its `/ws-auth/v2`, else Kraken's.
    pub fn ws_public(&self) -> String {
        match self.ws_private_url.strip_suffix(EMULATOR_WS_PATHS.1) {
            Some(base) if !self.ws_private_url.is_empty() => {
                format!("{base}{}", EMULATOR_WS_PATHS.0)
            }
            _ => WS_PUBLIC.to_string(),
        }
    }

    /// What the status bar says about the dead-man switch before Kraken confirms it.
    pub fn dead_man_text(&self) -> String {
        if self.dead_man_secs == 0 {
            "dead-man off ([live.kraken] dead_man_secs = 0)".into()
        } else {
            "dead-man: arming…".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_paper_on_krakens_hosts_with_the_dead_man_on() {
        let s = KrakenSettings::default();
        assert!(!s.wants_live() && s.dead_man_secs == 60 && s.tier == "starter");
        assert!(s.validate().is_ok());
        assert_eq!(
            s.endpoints(),
            (
                "https://api.kraken.com".to_string(),
                "wss://ws-auth.kraken.com/v2".to_string()
            )
        );
        assert_eq!(s.ws_public(), "wss://ws.kraken.com/v2");
        let emu = KrakenSettings {
            ws_private_url: "ws://127.0.0.1:9/ws-auth/v2".into(),
            ..KrakenSettings::default()
        };
        assert_eq!(emu.ws_public(), "ws://127.0.0.1:9/ws/v2");
        assert_eq!(counter_of("starter"), (15_000, 330));
        assert_eq!(counter_of("pro"), (20_000, 1_000));
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |f: fn(&mut KrakenSettings)| {
            let mut s = KrakenSettings::default();
            f(&mut s);
            s.validate().unwrap_err().key
        };
        assert_eq!(bad(|s| s.mode = "real".into()), "mode");
        assert_eq!(bad(|s| s.rest_url = "api.kraken.com".into()), "rest_url");
        assert_eq!(bad(|s| s.dead_man_secs = 4), "dead_man_secs");
        assert_eq!(bad(|s| s.dead_man_secs = 86_400), "dead_man_secs");
        assert_eq!(bad(|s| s.tier = "gold".into()), "tier");
        let off = KrakenSettings {
            dead_man_secs: 0,
            ..KrakenSettings::default()
        };
        assert!(off.validate().is_ok() && off.dead_man_text().contains("off"));
    }
}
