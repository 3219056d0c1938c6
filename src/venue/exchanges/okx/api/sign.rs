//! OKX v5 REST request signing, as OKX documents it (<https://www.okx.com/docs-v5/en/>):
//!
//! * "REST Authentication" > "Making Requests": every private request carries
//!   `OK-ACCESS-KEY` (the API key), `OK-ACCESS-SIGN`, `OK-ACCESS-TIMESTAMP` ("UTC timezone
//!   ... ISO format, e.g. 2020-12-08T09:08:57.715Z") and `OK-ACCESS-PASSPHRASE` (the
//!   passphrase chosen when the key was made); bodies are JSON.
//! * "Signature" > "Signing Messages": the sign is base64(HMAC-SHA256(SecretKey, timestamp +
//!   method + requestPath + body)), "method" in UPPERCASE, "requestPath" the path with its
//!   query string for GET (`/api/v5/account/balance?ccy=BTC`), "body" the request body
//!   string, empty when there is none. The page's example is
//!   `sign=CryptoJS.enc.Base64.stringify(CryptoJS.HmacSHA256(timestamp + 'GET' +
//!   '/api/v5/account/balance?ccy=BTC', SecretKey))`; it publishes no secret and no
//!   expected signature, so the tests pin values computed independently with `openssl`.
//! * "Demo Trading Services": demo-trading requests add the header
//!   `x-simulated-trading: 1`.
//!
//! The secret and the passphrase live in [`secrecy::SecretString`]s; `Debug` of the signer
//! and of the headers redacts both, and no error quotes them.

use crate::venue::live::keys::ApiKeys;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// A key that could not be used. The text names the problem, never the key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the OKX API key is empty")]
    EmptyKey,
    #[error("the OKX secret key is empty")]
    EmptySecret,
    #[error("the OKX passphrase is empty (it is the one chosen when the API key was made)")]
    EmptyPassphrase,
}

/// The HTTP methods OKX's private REST API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    /// As signed: upper case.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One private request to sign: method, request path (with its query string, for GET),
/// JSON body (POST), and whether it goes to demo trading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: Method,
    request_path: String,
    body: String,
    simulated_trading: bool,
}

impl Request {
    /// A GET of `path` with `query` (already encoded, without `?`; empty for none).
    pub fn get(path: &str, query: &str) -> Self {
        let request_path = if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        };
        Request {
            method: Method::Get,
            request_path,
            body: String::new(),
            simulated_trading: false,
        }
    }

    /// A POST of `body` (the exact JSON text sent) to `path`.
    pub fn post(path: &str, body: &str) -> Self {
        Request {
            method: Method::Post,
            request_path: path.to_string(),
            body: body.to_string(),
            simulated_trading: false,
        }
    }

    /// Sends to demo trading (`x-simulated-trading: 1`) when `on`.
    pub fn simulated_trading(mut self, on: bool) -> Self {
        self.simulated_trading = on;
        self
    }

    pub fn method(&self) -> Method {
        self.method
    }
    /// The path and query as sent and signed.
    pub fn request_path(&self) -> &str {
        &self.request_path
    }
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// The headers of a signed request. `Debug` redacts the passphrase and shortens the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Headers(Vec<(&'static str, String)>);

impl Headers {
    /// The headers to send, names as documented.
    pub fn pairs(&self) -> &[(&'static str, String)] {
        &self.0
    }
    /// One header's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in &self.0 {
            if *n == "OK-ACCESS-PASSPHRASE" {
                m.entry(n, &"[REDACTED]");
            } else if *n == "OK-ACCESS-KEY" {
                // The API key is kept out of logs too: its last four characters suffice.
                let tail = crate::venue::live::keys::key_hint(v);
                m.entry(n, &format!("…{tail}"));
            } else {
                m.entry(n, v);
            }
        }
        m.finish()
    }
}

/// The `OK-ACCESS-TIMESTAMP` text for `ms` milliseconds since the epoch: ISO 8601, UTC,
/// milliseconds, `Z` (e.g. `2020-12-08T09:08:57.715Z`). None for a time chrono cannot hold.
pub fn timestamp(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

/// Signs OKX v5 private REST requests. `Debug` shows the API key's last four characters
/// and never the secret or the passphrase.
pub struct Signer {
    api_key: String,
    secret: SecretString,
    passphrase: SecretString,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = crate::venue::live::keys::key_hint(&self.api_key);
        write!(
            f,
            "OkxSigner(api_key: …{tail}, secret: [REDACTED], passphrase: [REDACTED])"
        )
    }
}

impl Signer {
    pub fn new(
        api_key: &str,
        secret: SecretString,
        passphrase: SecretString,
    ) -> Result<Self, KeyError> {
        if api_key.trim().is_empty() {
            return Err(KeyError::EmptyKey);
        }
        if secret.expose_secret().is_empty() {
            return Err(KeyError::EmptySecret);
        }
        if passphrase.expose_secret().is_empty() {
            return Err(KeyError::EmptyPassphrase);
        }
        Ok(Signer {
            api_key: api_key.trim().to_string(),
            secret,
            passphrase,
        })
    }

    /// A signer from keys loaded the usual way, plus the passphrase (OKX's third part).
    pub fn from_keys(keys: &ApiKeys, passphrase: SecretString) -> Result<Self, KeyError> {
        Signer::new(
            keys.api_key(),
            SecretString::from(keys.signing_secret().to_string()),
            passphrase,
        )
    }

    /// `OK-ACCESS-SIGN`: base64(HMAC-SHA256(secret, timestamp + method + requestPath + body)).
    pub fn sign(&self, timestamp: &str, method: Method, request_path: &str, body: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(timestamp.as_bytes());
        mac.update(method.as_str().as_bytes());
        mac.update(request_path.as_bytes());
        mac.update(body.as_bytes());
        BASE64.encode(mac.finalize().into_bytes())
    }

    /// The passphrase, for the private WebSocket's `login` (its `passphrase` field, "WebSocket"
    /// > "Login"); the REST headers take it from [`Signer::headers`]. Never logged.
    pub fn passphrase_for_login(&self) -> &str {
        self.passphrase.expose_secret()
    }

    /// The API key this signer signs for.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Whether `sign` (an `OK-ACCESS-SIGN` value) is this key's signature of `timestamp +
    /// method + request_path + body`: the check of the server side (`pit emulate okx`), in
    /// constant time. A value that is not base64 is no signature.
    pub fn verify(
        &self,
        timestamp: &str,
        method: Method,
        request_path: &str,
        body: &str,
        sign: &str,
    ) -> bool {
        let Ok(raw) = BASE64.decode(sign.trim()) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(timestamp.as_bytes());
        mac.update(method.as_str().as_bytes());
        mac.update(request_path.as_bytes());
        mac.update(body.as_bytes());
        mac.verify_slice(&raw).is_ok()
    }

    /// Whether `passphrase` is this key's (`OK-ACCESS-PASSPHRASE`; OKX answers 50105 when
    /// it is not). Compared in constant time.
    pub fn passphrase_matches(&self, passphrase: &str) -> bool {
        let want = self.passphrase.expose_secret().as_bytes();
        let got = passphrase.as_bytes();
        want.len() == got.len() && want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// The headers of `req` signed at `timestamp` (see [`timestamp`]): the four
    /// `OK-ACCESS-*` headers, and `x-simulated-trading: 1` for demo trading.
    pub fn headers(&self, req: &Request, timestamp: &str) -> Headers {
        let mut h = vec![
            ("OK-ACCESS-KEY", self.api_key.clone()),
            (
                "OK-ACCESS-SIGN",
                self.sign(timestamp, req.method, &req.request_path, &req.body),
            ),
            ("OK-ACCESS-TIMESTAMP", timestamp.to_string()),
            (
                "OK-ACCESS-PASSPHRASE",
                self.passphrase.expose_secret().to_string(),
            ),
        ];
        if req.simulated_trading {
            h.push(("x-simulated-trading", "1".to_string()));
        }
        Headers(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // OKX's docs give the message's parts (the timestamp 2020-12-08T09:08:57.715Z, GET,
    // /api/v5/account/balance?ccy=BTC) but neither a secret nor an expected signature. The
    // secret here is ours; the expected values were computed independently of this code:
    //   printf '%s' '2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC' \
    //     | openssl dgst -sha256 -hmac 'pit-okx-doc-vector-secret' -binary | base64
    //   printf '%s' '2020-12-08T09:08:57.715ZPOST/api/v5/trade/order{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15","side":"buy","ordType":"limit","px":"2.15","sz":"2"}' \
    //     | openssl dgst -sha256 -hmac 'pit-okx-doc-vector-secret' -binary | base64
    const SECRET: &str = "pit-okx-doc-vector-secret";
    const PASSPHRASE: &str = "pit-okx-passphrase";
    const KEY: &str = "985d5b66-57ce-40fb-b714-afc0b9787083";
    const DOC_TS: &str = "2020-12-08T09:08:57.715Z";
    const GET_SIGN: &str = "g2VswMgFmzzKMwbRiNEmX3U+ELK12ryNm/pqxiO4IOw=";
    const ORDER_BODY: &str = r#"{"instId":"BTC-USDT","tdMode":"cash","clOrdId":"b15","side":"buy","ordType":"limit","px":"2.15","sz":"2"}"#;
    const POST_SIGN: &str = "+WgSE1t8z+S9XRQGZDkH+MC0J48QnEy4rjj7GkZASMQ=";

    fn signer() -> Signer {
        Signer::new(
            KEY,
            SecretString::from(SECRET.to_string()),
            SecretString::from(PASSPHRASE.to_string()),
        )
        .unwrap()
    }

    #[test]
    fn timestamp_is_iso_8601_utc_with_milliseconds() {
        // 2020-12-08T09:08:57.715Z, the docs' example, is 1607418537715 ms.
        assert_eq!(timestamp(1607418537715).as_deref(), Some(DOC_TS));
        assert_eq!(
            timestamp(1607418537000).as_deref(),
            Some("2020-12-08T09:08:57.000Z")
        );
    }

    #[test]
    fn get_signs_the_documented_example_message() {
        let s = signer();
        let req = Request::get("/api/v5/account/balance", "ccy=BTC");
        assert_eq!(req.request_path(), "/api/v5/account/balance?ccy=BTC");
        assert_eq!(
            s.sign(DOC_TS, Method::Get, req.request_path(), ""),
            GET_SIGN
        );
        let h = s.headers(&req, &timestamp(1607418537715).unwrap());
        assert_eq!(
            h.pairs(),
            &[
                ("OK-ACCESS-KEY", KEY.to_string()),
                ("OK-ACCESS-SIGN", GET_SIGN.to_string()),
                ("OK-ACCESS-TIMESTAMP", DOC_TS.to_string()),
                ("OK-ACCESS-PASSPHRASE", PASSPHRASE.to_string()),
            ]
        );
        assert_eq!(h.get("x-simulated-trading"), None);
    }

    #[test]
    fn post_signs_the_body_and_demo_adds_the_simulated_trading_header() {
        let s = signer();
        let req = Request::post("/api/v5/trade/order", ORDER_BODY).simulated_trading(true);
        let h = s.headers(&req, DOC_TS);
        assert_eq!(h.get("OK-ACCESS-SIGN"), Some(POST_SIGN));
        assert_eq!(h.get("x-simulated-trading"), Some("1"));
        // The same request for the live venue signs the same, without the header.
        let live = s.headers(&req.clone().simulated_trading(false), DOC_TS);
        assert_eq!(live.get("OK-ACCESS-SIGN"), Some(POST_SIGN));
        assert_eq!(live.get("x-simulated-trading"), None);
        // Method, path, body and time are all bound.
        assert_ne!(
            s.sign(DOC_TS, Method::Get, "/api/v5/trade/order", ORDER_BODY),
            POST_SIGN
        );
        assert_ne!(
            s.sign(DOC_TS, Method::Post, "/api/v5/trade/orders", ORDER_BODY),
            POST_SIGN
        );
        assert_ne!(
            s.sign(
                DOC_TS,
                Method::Post,
                "/api/v5/trade/order",
                &ORDER_BODY.replace("2.15", "2.16")
            ),
            POST_SIGN
        );
        assert_ne!(
            s.sign(
                "2020-12-08T09:08:57.716Z",
                Method::Post,
                "/api/v5/trade/order",
                ORDER_BODY
            ),
            POST_SIGN
        );
    }

    #[test]
    fn verify_accepts_the_pinned_signatures_and_nothing_else() {
        let s = signer();
        let get = "/api/v5/account/balance?ccy=BTC";
        assert!(s.verify(DOC_TS, Method::Get, get, "", GET_SIGN));
        assert!(s.verify(
            DOC_TS,
            Method::Post,
            "/api/v5/trade/order",
            ORDER_BODY,
            POST_SIGN
        ));
        // Each part is bound: time, method, path, body; and the signature itself.
        assert!(!s.verify("2020-12-08T09:08:57.716Z", Method::Get, get, "", GET_SIGN));
        assert!(!s.verify(DOC_TS, Method::Post, get, "", GET_SIGN));
        assert!(!s.verify(DOC_TS, Method::Get, "/api/v5/account/balance", "", GET_SIGN));
        assert!(!s.verify(DOC_TS, Method::Get, get, "{}", GET_SIGN));
        assert!(!s.verify(DOC_TS, Method::Get, get, "", POST_SIGN));
        assert!(!s.verify(DOC_TS, Method::Get, get, "", "not base64!"));
        assert!(!s.verify(DOC_TS, Method::Get, get, "", ""));
        // Another secret's signature of the same message is refused.
        let other = Signer::new(
            KEY,
            SecretString::from("another-secret".to_string()),
            SecretString::from(PASSPHRASE.to_string()),
        )
        .unwrap();
        let forged = other.sign(DOC_TS, Method::Get, get, "");
        assert!(!s.verify(DOC_TS, Method::Get, get, "", &forged));
        assert!(s.passphrase_matches(PASSPHRASE));
        assert!(!s.passphrase_matches("pit-okx-passphrasE"));
        assert!(!s.passphrase_matches(""));
        assert_eq!(s.api_key(), KEY);
    }

    #[test]
    fn debug_and_errors_never_show_the_secret_or_passphrase() {
        let s = signer();
        let h = s.headers(&Request::get("/api/v5/account/balance", ""), DOC_TS);
        let shown = format!("{s:?} {h:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(PASSPHRASE), "{shown}");
        assert!(!shown.contains(&KEY[..20]), "{shown}");
        assert!(shown.contains("…7083"), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
        let e = |k: &str, s: &str, p: &str| {
            Signer::new(
                k,
                SecretString::from(s.to_string()),
                SecretString::from(p.to_string()),
            )
            .unwrap_err()
        };
        assert_eq!(e(KEY, "", PASSPHRASE), KeyError::EmptySecret);
        assert_eq!(e(KEY, SECRET, ""), KeyError::EmptyPassphrase);
        let err = e("", SECRET, PASSPHRASE);
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains(SECRET) && !text.contains(PASSPHRASE),
            "{text}"
        );
    }

    #[test]
    fn signer_loads_from_the_shared_key_handling() {
        let keys = ApiKeys::new(
            crate::venue::live::keys::KeyKind::Hmac,
            KEY.into(),
            SECRET.into(),
            "test".into(),
        );
        let s = Signer::from_keys(&keys, SecretString::from(PASSPHRASE.to_string())).unwrap();
        assert_eq!(
            s.sign(DOC_TS, Method::Get, "/api/v5/account/balance?ccy=BTC", ""),
            GET_SIGN
        );
    }
}
