//! The emulator's keys and its checks of every signed request, as Binance documents them:
//! the API key (`X-MBX-APIKEY`, or `apiKey` in WebSocket API params) must be registered
//! (-2014 / -2015), the `signature` must verify with that key's algorithm (-1022), and the
//! `timestamp` must be inside `recvWindow` (default 5000 ms, at most 60000): rest-api.md,
//! "Timing security": `timestamp < serverTime + 1000 && serverTime - timestamp <=
//! recvWindow`, else -1021.

use crate::venue::exchanges::binance::api::errors::{ApiError, code, msg};
use crate::venue::exchanges::binance::api::sign::{Verifier, split_signature, ws_payload};
use std::collections::BTreeMap;

/// The registered keys: API key -> how its signatures are checked.
#[derive(Debug, Default)]
pub struct Keys {
    keys: BTreeMap<String, Verifier>,
}

/// A refused request: HTTP status and Binance's error.
pub type AuthError = (u16, ApiError);

impl Keys {
    pub fn add(&mut self, api_key: String, v: Verifier) {
        self.keys.insert(api_key, v);
    }

    /// The algorithm of a registered key.
    pub fn kind(
        &self,
        api_key: &str,
    ) -> Option<crate::venue::exchanges::binance::api::sign::KeyKind> {
        self.keys.get(api_key).map(Verifier::kind)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn verifier(&self, api_key: Option<&str>) -> Result<&Verifier, AuthError> {
        let key = api_key.filter(|k| !k.is_empty()).ok_or_else(|| {
            (
                401,
                ApiError::new(code::BAD_API_KEY_FMT, msg::BAD_API_KEY_FMT),
            )
        })?;
        self.keys.get(key).ok_or_else(|| {
            (
                401,
                ApiError::new(code::REJECTED_MBX_KEY, msg::REJECTED_MBX_KEY),
            )
        })
    }

    /// Checks a signed REST request: `query` and `body` raw (still percent-encoded), as
    /// received. The payload is the query without its `signature` pair, then the body
    /// (without one).
    pub fn check_rest(
        &self,
        api_key: Option<&str>,
        query: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<(), AuthError> {
        let v = self.verifier(api_key)?;
        let (q, qsig) = split_signature(query);
        let (b, bsig) = split_signature(body);
        let sig = qsig.or(bsig).ok_or_else(|| missing("signature"))?;
        let payload = format!("{q}{b}");
        let params: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .chain(form_urlencoded::parse(b.as_bytes()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        check_time(get("timestamp"), get("recvWindow"), now_ms)?;
        if !v.verify(&payload, &sig) {
            return Err(invalid_signature());
        }
        Ok(())
    }

    /// Checks signed WebSocket API params (`apiKey`, `timestamp`, `signature`, ...): the
    /// payload is every other param sorted by name.
    pub fn check_ws(
        &self,
        params: &serde_json::Map<String, serde_json::Value>,
        now_ms: i64,
    ) -> Result<String, AuthError> {
        let api_key = params.get("apiKey").and_then(|v| v.as_str());
        let v = self.verifier(api_key)?;
        let text = |k: &str| {
            params.get(k).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let sig = text("signature").ok_or_else(|| missing("signature"))?;
        check_time(
            text("timestamp").as_deref(),
            text("recvWindow").as_deref(),
            now_ms,
        )?;
        if !v.verify(&ws_payload(params), &sig) {
            return Err(invalid_signature());
        }
        Ok(api_key.unwrap_or_default().to_string())
    }
}

fn missing(name: &str) -> AuthError {
    (
        400,
        ApiError::new(
            code::MANDATORY_PARAM_EMPTY_OR_MALFORMED,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        ),
    )
}

fn invalid_signature() -> AuthError {
    (
        400,
        ApiError::new(code::INVALID_SIGNATURE, msg::INVALID_SIGNATURE),
    )
}

/// The documented timing rule. Timestamps may be in microseconds (16 digits).
fn check_time(ts: Option<&str>, window: Option<&str>, now_ms: i64) -> Result<(), AuthError> {
    let ts: i64 = ts
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| missing("timestamp"))?;
    let ts_ms = if ts > 9_999_999_999_999 {
        ts / 1000
    } else {
        ts
    };
    let window: f64 = match window {
        None => 5000.0,
        Some(w) => w.parse().map_err(|_| missing("recvWindow"))?,
    };
    if !(0.0..=60_000.0).contains(&window) {
        return Err((
            400,
            ApiError::new(
                code::INVALID_PARAMETER,
                "recvWindow must be less than or equal to 60000.",
            ),
        ));
    }
    if ts_ms >= now_ms + 1000 {
        return Err((
            400,
            ApiError::new(code::INVALID_TIMESTAMP, msg::TIMESTAMP_AHEAD),
        ));
    }
    if (now_ms - ts_ms) as f64 > window {
        return Err((
            400,
            ApiError::new(code::INVALID_TIMESTAMP, msg::INVALID_TIMESTAMP),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::exchanges::binance::api::sign::Signer;
    use secrecy::SecretString;

    fn keys() -> (Keys, Signer) {
        let s = Signer::hmac(SecretString::from("s3cret".to_string())).unwrap();
        let mut k = Keys::default();
        k.add("KEY".into(), s.verifier());
        (k, s)
    }

    #[test]
    fn rest_requests_are_checked_in_binances_order() {
        let (k, s) = keys();
        let q = "symbol=BTCUSDT&recvWindow=5000&timestamp=1000000";
        let signed = format!("{q}&signature={}", s.sign(q));
        assert_eq!(k.check_rest(Some("KEY"), &signed, "", 1_000_100), Ok(()));
        let code_of = |r: Result<(), AuthError>| r.unwrap_err().1.code;
        assert_eq!(code_of(k.check_rest(None, &signed, "", 1_000_100)), -2014);
        assert_eq!(
            code_of(k.check_rest(Some("NOPE"), &signed, "", 1_000_100)),
            -2015
        );
        assert_eq!(code_of(k.check_rest(Some("KEY"), q, "", 1_000_100)), -1102);
        assert_eq!(
            code_of(k.check_rest(Some("KEY"), &signed, "", 1_006_000)),
            -1021
        );
        assert_eq!(
            code_of(k.check_rest(Some("KEY"), &signed, "", 998_000)),
            -1021
        );
        let tampered = signed.replace("BTCUSDT", "ETHUSDT");
        assert_eq!(
            code_of(k.check_rest(Some("KEY"), &tampered, "", 1_000_100)),
            -1022
        );
        // Query and body together, the signature in the body.
        let body = "side=BUY";
        let payload = format!("{q}{body}");
        let b = format!("{body}&signature={}", s.sign(&payload));
        assert_eq!(k.check_rest(Some("KEY"), q, &b, 1_000_100), Ok(()));
    }
}
