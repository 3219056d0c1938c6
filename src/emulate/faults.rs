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
            "slow" => {
                let v = value.ok_or("fault `slow` needs a duration, e.g. slow=500ms")?;
                f.slow = Some(if v == "0" {
                    Duration::ZERO
                } else {
                    humantime::parse_duration(v).map_err(|e| format!("fault `slow`: `{v}`: {e}"))?
                });
            }
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
                     drop-user-stream, slow, partial-fill-on-cancel, clock, deposit, withdraw, clear)"
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
