//! Faults the emulator can inject, from `--faults SPEC` or `POST /emulator/faults` (the same
//! SPEC as the body). SPEC is comma-separated `name[=value]`:
//!
//! | fault | what happens |
//! |---|---|
//! | `lose-response=N` | the next N new orders are accepted (and trade, and reach the user stream), then the connection is closed without an answer |
//! | `5xx=N` | the next N REST requests answer HTTP 503 with -1007 ("... execution status unknown"); a new order among them is executed first, as Binance warns can happen |
//! | `429=N` | the next N REST requests answer HTTP 429, -1003, `Retry-After` (nothing is done) |
//! | `retry-after=S` | the `Retry-After` seconds of 429 and 418 answers (default 2) |
//! | `418=S` | the IP is banned for S seconds from now: every REST request answers HTTP 418, -1003, `Retry-After` |
//! | `drop-user-stream` | every WebSocket API connection (the user data stream) is dropped at once, without a close frame; events until the client resubscribes are lost to it |
//! | `slow=DURATION` | every REST answer is held this long (e.g. `800ms`, `2s`; `0` ends it) |
//! | `clock=MS` | the server's clock moves to MS milliseconds off the wall clock from now on (like `--clock-offset-ms`; a client that measured the offset before gets -1021) |
//! | `partial-fill-on-cancel=N` | the next N cancels of a resting order find half its rest filled just before (a maker trade at its price), then cancel the remainder; a cancel-all counts one per order it cancels |
//! | `deposit=ASSET:AMOUNT` | AMOUNT of ASSET arrives in the account (free), with a `balanceUpdate` on the user data stream, as a deposit or transfer does: a balance moved behind pit's back |
//! | `withdraw=ASSET:AMOUNT` | AMOUNT of ASSET leaves the account's free balance (at most what is free), with a `balanceUpdate` |
//! | `exec-late=DURATION` | Bybit only: each execution message on the private stream is pushed this long after its order message (Bybit promises no order between the two topics); `0` ends it |
//! | `mute-private=N` | Bybit only: the next N order/execution messages of the private stream are never pushed (lost, as while a stream is down) |
//! | `query-lag=DURATION` | Bybit only: "Get Open & Closed Orders" and "Get Order History", asked by id, list an order only DURATION after it was placed (the docs warn both can lag); `0` ends it |
//! | `realtime-open-only` | Bybit only: "Get Open & Closed Orders" lists open orders only, as after a Bybit server restart (closed ones only in "Get Order History") |
//! | `dcp-ignored` | Bybit only: "Set Disconnect Cancel All" answers success but arms nothing ("Get DCP Info" lists nothing) |
//! | `create-late=DURATION` | each new order ("Place Order" on Bybit, `POST /api/v3/order` on Binance) reaches the matching engine this long after it arrived (a cancel sent meanwhile finds no order, as a cancel can overtake its create); `0` ends it |
//! | `429-create=S` | Bybit only: for S seconds every "Place Order" answers 10006 with that endpoint's reset at the end; other endpoints (cancels) are not limited |
//! | `clear` | every pending fault is dropped |

use std::time::{Duration, Instant};

/// The pending faults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    pub lose_response: u32,
    pub server_error: u32,
    pub rate_limited: u32,
    pub retry_after_s: Option<u64>,
    pub banned_until: Option<Instant>,
    pub slow: Duration,
    pub partial_fill_on_cancel: u32,
    /// Bybit: execution pushes held this long behind their order pushes.
    pub exec_late: Duration,
    /// Bybit: private pushes (order or execution frames) still to drop.
    pub mute_private: u32,
    /// Bybit: orders unlisted by the order queries for this long after being placed.
    pub query_lag: Duration,
    /// Bybit: "Get Open & Closed Orders" lists open orders only.
    pub realtime_open_only: bool,
    /// Bybit: order creates answer 10006 until then.
    pub create_limited_until: Option<Instant>,
    /// Bybit: DCP sets are answered but not armed.
    pub dcp_ignored: bool,
    /// Bybit: each order create is held this long before it is processed (a cancel sent
    /// meanwhile finds no order).
    pub create_late: Duration,
}

/// What a SPEC asks for; `drop-user-stream` is an action, not a state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultSpec {
    pub lose_response: Option<u32>,
    pub server_error: Option<u32>,
    pub rate_limited: Option<u32>,
    pub retry_after_s: Option<u64>,
    pub ban_s: Option<u64>,
    pub drop_user_stream: bool,
    pub slow: Option<Duration>,
    pub partial_fill_on_cancel: Option<u32>,
    pub exec_late: Option<Duration>,
    pub mute_private: Option<u32>,
    pub query_lag: Option<Duration>,
    pub realtime_open_only: bool,
    pub create_limit_s: Option<u64>,
    pub dcp_ignored: bool,
    pub create_late: Option<Duration>,
    /// `clock=MS`: the server clock's new offset from the wall clock.
    pub clock_offset_ms: Option<i64>,
    /// `deposit` / `withdraw`: (asset, signed amount), actions done at once.
    pub balance_moves: Vec<(String, rust_decimal::Decimal)>,
    pub clear: bool,
}

/// Parses a SPEC; the error names the item that is wrong.
pub fn parse(spec: &str) -> Result<FaultSpec, String> {
    let mut f = FaultSpec::default();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (item, None),
        };
        let count = |v: Option<&str>| -> Result<u32, String> {
            match v {
                None => Ok(1),
                Some(v) => v
                    .parse()
                    .map_err(|_| format!("fault `{name}`: `{v}` is not a count")),
            }
        };
        let secs = |v: Option<&str>| -> Result<u64, String> {
            v.ok_or_else(|| format!("fault `{name}` needs a number of seconds"))?
                .parse()
                .map_err(|_| format!("fault `{name}`: not a number of seconds"))
        };
        match name {
            "lose-response" => f.lose_response = Some(count(value)?),
            "5xx" => f.server_error = Some(count(value)?),
            "429" => f.rate_limited = Some(count(value)?),
            "418" => f.ban_s = Some(secs(value)?),
            "retry-after" => f.retry_after_s = Some(secs(value)?),
            "drop-user-stream" => f.drop_user_stream = true,
            "partial-fill-on-cancel" => f.partial_fill_on_cancel = Some(count(value)?),
            "slow" | "exec-late" | "query-lag" | "create-late" => {
                let v = value
                    .ok_or_else(|| format!("fault `{name}` needs a duration, e.g. {name}=500ms"))?;
                let d = if v == "0" {
                    Duration::ZERO
                } else {
                    humantime::parse_duration(v)
                        .map_err(|e| format!("fault `{name}`: `{v}`: {e}"))?
                };
                match name {
                    "slow" => f.slow = Some(d),
                    "exec-late" => f.exec_late = Some(d),
                    "create-late" => f.create_late = Some(d),
                    _ => f.query_lag = Some(d),
                }
            }
            "mute-private" => f.mute_private = Some(count(value)?),
            "realtime-open-only" => f.realtime_open_only = true,
            "dcp-ignored" => f.dcp_ignored = true,
            "429-create" => f.create_limit_s = Some(secs(value)?),
            "clock" => {
                let v = value.ok_or("fault `clock` needs milliseconds, e.g. clock=8000")?;
                f.clock_offset_ms = Some(
                    v.parse()
                        .map_err(|_| format!("fault `clock`: `{v}` is not milliseconds"))?,
                );
            }
            "deposit" | "withdraw" => {
                let v = value.ok_or_else(|| {
                    format!("fault `{name}` needs ASSET:AMOUNT, e.g. {name}=USDT:25")
                })?;
                let (asset, amount) = v
                    .split_once(':')
                    .ok_or_else(|| format!("fault `{name}`: `{v}` is not ASSET:AMOUNT"))?;
                let amount: rust_decimal::Decimal = amount
                    .trim()
                    .parse()
                    .ok()
                    .filter(|a: &rust_decimal::Decimal| a.is_sign_positive() && !a.is_zero())
                    .ok_or_else(|| {
                        format!("fault `{name}`: `{amount}` is not a positive amount")
                    })?;
                let asset = asset.trim();
                if asset.is_empty() {
                    return Err(format!("fault `{name}`: the asset is missing in `{v}`"));
                }
                let signed = if name == "withdraw" { -amount } else { amount };
                f.balance_moves.push((asset.to_string(), signed));
            }
            "clear" => f.clear = true,
            other => {
                return Err(format!(
                    "unknown fault `{other}` (known: lose-response, 5xx, 429, 418, retry-after, \
                     drop-user-stream, slow, partial-fill-on-cancel, clock, deposit, withdraw, exec-late, \
                     mute-private, query-lag, realtime-open-only, 429-create, create-late, dcp-ignored, clear)"
                ));
            }
        }
    }
    Ok(f)
}

impl Faults {
    /// Adds what `spec` asks for (counts add up); `clear` first drops everything.
    pub fn apply(&mut self, spec: &FaultSpec, now: Instant) {
        if spec.clear {
            *self = Faults::default();
        }
        self.lose_response += spec.lose_response.unwrap_or(0);
        self.server_error += spec.server_error.unwrap_or(0);
        self.rate_limited += spec.rate_limited.unwrap_or(0);
        self.partial_fill_on_cancel += spec.partial_fill_on_cancel.unwrap_or(0);
        if let Some(s) = spec.retry_after_s {
            self.retry_after_s = Some(s);
        }
        if let Some(s) = spec.ban_s {
            self.banned_until = Some(now + Duration::from_secs(s));
        }
        if let Some(d) = spec.slow {
            self.slow = d;
        }
        if let Some(d) = spec.exec_late {
            self.exec_late = d;
        }
        if let Some(d) = spec.query_lag {
            self.query_lag = d;
        }
        if let Some(d) = spec.create_late {
            self.create_late = d;
        }
        self.mute_private += spec.mute_private.unwrap_or(0);
        self.realtime_open_only |= spec.realtime_open_only;
        self.dcp_ignored |= spec.dcp_ignored;
        if let Some(s) = spec.create_limit_s {
            self.create_limited_until = Some(now + Duration::from_secs(s));
        }
    }

    pub fn retry_after(&self) -> u64 {
        self.retry_after_s.unwrap_or(2)
    }

    /// Seconds left of a ban, if banned.
    pub fn ban_left(&self, now: Instant) -> Option<u64> {
        let until = self.banned_until?;
        (until > now).then(|| (until - now).as_secs().max(1))
    }

    /// Takes one of a counted fault, if any is pending.
    pub fn take(counter: &mut u32) -> bool {
        if *counter > 0 {
            *counter -= 1;
            true
        } else {
            false
        }
    }

    /// For `GET /emulator/state`.
    pub fn to_json(&self, now: Instant) -> serde_json::Value {
        serde_json::json!({
            "lose_response": self.lose_response,
            "server_error": self.server_error,
            "rate_limited": self.rate_limited,
            "retry_after_s": self.retry_after(),
            "banned_for_s": self.ban_left(now),
            "slow_ms": self.slow.as_millis() as u64,
            "partial_fill_on_cancel": self.partial_fill_on_cancel,
            "exec_late_ms": self.exec_late.as_millis() as u64,
            "mute_private": self.mute_private,
            "query_lag_ms": self.query_lag.as_millis() as u64,
            "realtime_open_only": self.realtime_open_only,
            "dcp_ignored": self.dcp_ignored,
            "create_limited_for_ms": self
                .create_limited_until
                .map(|u| u.saturating_duration_since(now).as_millis() as u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_parses_and_adds_up() {
        let s =
            parse("lose-response=2, 5xx, 429=3,retry-after=5,slow=250ms,drop-user-stream").unwrap();
        assert_eq!(s.lose_response, Some(2));
        assert_eq!(s.server_error, Some(1));
        assert!(s.drop_user_stream);
        let mut f = Faults::default();
        let now = Instant::now();
        f.apply(&s, now);
        f.apply(&parse("lose-response").unwrap(), now);
        assert_eq!(f.lose_response, 3);
        assert_eq!(f.retry_after(), 5);
        assert_eq!(f.slow, Duration::from_millis(250));
        assert!(Faults::take(&mut f.server_error));
        assert!(!Faults::take(&mut f.server_error));
        f.apply(&parse("418=60").unwrap(), now);
        assert_eq!(f.ban_left(now), Some(60));
        f.apply(&parse("clear").unwrap(), now);
        assert_eq!(f, Faults::default());
    }

    #[test]
    fn bad_specs_name_the_item() {
        assert!(
            parse("explode")
                .unwrap_err()
                .contains("unknown fault `explode`")
        );
        assert!(parse("429=many").unwrap_err().contains("`429`"));
        assert!(parse("slow").unwrap_err().contains("slow"));
        assert!(parse("418").unwrap_err().contains("418"));
        assert!(parse("clock=soon").unwrap_err().contains("`clock`"));
        assert_eq!(parse("clock=-2500").unwrap().clock_offset_ms, Some(-2500));
        assert!(parse("exec-late").unwrap_err().contains("exec-late"));
        let b = parse("exec-late=2s,mute-private=2,query-lag=0,realtime-open-only,429-create=3")
            .unwrap();
        assert_eq!(b.exec_late, Some(Duration::from_secs(2)));
        assert_eq!(b.mute_private, Some(2));
        assert_eq!(b.query_lag, Some(Duration::ZERO));
        assert!(b.realtime_open_only);
        assert_eq!(b.create_limit_s, Some(3));
        assert_eq!(
            parse("deposit=BTC:0.5, withdraw=USDT:25")
                .unwrap()
                .balance_moves,
            [
                ("BTC".to_string(), rust_decimal::Decimal::new(5, 1)),
                ("USDT".to_string(), rust_decimal::Decimal::new(-25, 0)),
            ]
        );
        assert!(parse("withdraw=USDT").unwrap_err().contains("ASSET:AMOUNT"));
        assert!(parse("deposit=USDT:-3").unwrap_err().contains("positive"));
    }
}
