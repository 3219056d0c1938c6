//! Bybit v5 REST request signing (HMAC keys), as Bybit's "Integration Guidance" documents
//! it (<https://bybit-exchange.github.io/docs/v5/guide>, "Authentication"):
//!
//! * Headers: `X-BAPI-API-KEY` (the API key), `X-BAPI-TIMESTAMP` ("UTC timestamp in
//!   milliseconds"), `X-BAPI-SIGN`, and `X-BAPI-RECV-WINDOW` ("unit in millisecond and
//!   default value is 5,000").
//! * "Create A Request": "timestamp + API key + (recv_window) + (queryString |
//!   jsonBodyString)", signed with HMAC_SHA256 and converted "to a hex string". For GET the
//!   rule is `timestamp+api_key+recv_window+queryString`, for POST
//!   `timestamp+api_key+recv_window+raw_request_body`; the page's examples are
//!   `1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C` and
//!   `1658385579423XXXXXXXXXX5000{"category": "option"}` but show the signature itself as
//!   `XXXXXXXXXX`, so the tests pin values computed independently with `openssl`.
//!
//! The secret lives in a [`secrecy::SecretString`]; no type here prints it and no error
//! quotes it. (RSA keys, also documented, are not supported yet.)

use crate::venue::live::keys::ApiKeys;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// The documented default `X-BAPI-RECV-WINDOW`, in milliseconds.
pub const DEFAULT_RECV_WINDOW_MS: u64 = 5_000;

/// A key that could not be used. The text names the problem, never the key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the Bybit API key is empty")]
    EmptyKey,
    #[error("the Bybit API secret is empty")]
    EmptySecret,
}

/// What is signed after the common prefix: the query string of a GET, the raw JSON body of
/// a POST, exactly as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A GET's query string, without `?` (empty for none).
    Query(&'a str),
    /// A POST's raw JSON body.
    Body(&'a str),
}

impl Payload<'_> {
    fn text(&self) -> &str {
        match self {
            Payload::Query(s) | Payload::Body(s) => s,
        }
    }
}

/// Signs Bybit v5 private REST requests. `Debug` shows the API key's last four characters
/// and never the secret.
pub struct Signer {
    api_key: String,
    secret: SecretString,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = crate::venue::live::keys::key_hint(&self.api_key);
        write!(f, "BybitSigner(api_key: …{tail}, secret: [REDACTED])")
    }
}

impl Signer {
    pub fn new(api_key: &str, secret: SecretString) -> Result<Self, KeyError> {
        if api_key.trim().is_empty() {
            return Err(KeyError::EmptyKey);
        }
        if secret.expose_secret().is_empty() {
            return Err(KeyError::EmptySecret);
        }
        Ok(Signer {
            api_key: api_key.trim().to_string(),
            secret,
        })
    }

    /// A signer from keys loaded the usual way (environment or owner-only key file).
    pub fn from_keys(keys: &ApiKeys) -> Result<Self, KeyError> {
        Signer::new(
            keys.api_key(),
            SecretString::from(keys.signing_secret().to_string()),
        )
    }

    /// `X-BAPI-SIGN`: lowercase hex of HMAC-SHA256(secret, timestamp + api_key +
    /// recv_window + payload).
    pub fn sign(&self, timestamp_ms: u64, recv_window_ms: u64, payload: Payload<'_>) -> String {
        let mut mac = HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(timestamp_ms.to_string().as_bytes());
        mac.update(self.api_key.as_bytes());
        mac.update(recv_window_ms.to_string().as_bytes());
        mac.update(payload.text().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The private WebSocket's `auth` signature ("Connect" page, Authentication:
    /// `hmac(api_secret, f"GET/realtime{expires}", sha256).hexdigest()`, `expires` in ms
    /// and "greater than your current timestamp").
    pub fn ws_auth(&self, expires_ms: u64) -> String {
        let mut mac = HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"GET/realtime");
        mac.update(expires_ms.to_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The API key (public; sent in the `X-BAPI-API-KEY` header and the WS `auth` op).
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// Checks a received `X-BAPI-SIGN` (the emulator's side), in constant time.
    pub fn verify(
        &self,
        timestamp_ms: u64,
        recv_window_ms: u64,
        payload: Payload<'_>,
        sign_hex: &str,
    ) -> bool {
        let Ok(given) = hex::decode(sign_hex) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(timestamp_ms.to_string().as_bytes());
        mac.update(self.api_key.as_bytes());
        mac.update(recv_window_ms.to_string().as_bytes());
        mac.update(payload.text().as_bytes());
        mac.verify_slice(&given).is_ok()
    }

    /// The four authentication headers of a request, names as documented.
    pub fn headers(
        &self,
        timestamp_ms: u64,
        recv_window_ms: u64,
        payload: Payload<'_>,
    ) -> [(&'static str, String); 4] {
        [
            ("X-BAPI-API-KEY", self.api_key.clone()),
            ("X-BAPI-TIMESTAMP", timestamp_ms.to_string()),
            ("X-BAPI-RECV-WINDOW", recv_window_ms.to_string()),
            (
                "X-BAPI-SIGN",
                self.sign(timestamp_ms, recv_window_ms, payload),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The guide's two strings to sign, with its placeholder key `XXXXXXXXXX`; the secret is
    // ours (the guide gives none) and the expected signatures were computed with openssl:
    //   printf '%s' '1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C' \
    //     | openssl dgst -sha256 -hmac 'pit-bybit-doc-vector-secret'
    //   printf '%s' '1658385579423XXXXXXXXXX5000{"category": "option"}' \
    //     | openssl dgst -sha256 -hmac 'pit-bybit-doc-vector-secret'
    const KEY: &str = "XXXXXXXXXX";
    const SECRET: &str = "pit-bybit-doc-vector-secret";
    const GET_QUERY: &str = "category=option&symbol=BTC-29JUL22-25000-C";
    const GET_SIGN: &str = "182edc49552feb6d1a8313766dc4e0f8d392ee474d0e0f447dcc298a4d346ec5";
    const POST_BODY: &str = r#"{"category": "option"}"#;
    const POST_SIGN: &str = "23039c25f8691c846f12c20db30fd90904c5756492adaa97850b4c9c08e7d338";

    fn signer() -> Signer {
        Signer::new(KEY, SecretString::from(SECRET.to_string())).unwrap()
    }

    #[test]
    fn get_matches_the_documented_string_to_sign() {
        let s = signer();
        assert_eq!(
            s.sign(
                1658384314791,
                DEFAULT_RECV_WINDOW_MS,
                Payload::Query(GET_QUERY)
            ),
            GET_SIGN
        );
        assert_eq!(
            s.headers(1658384314791, 5000, Payload::Query(GET_QUERY)),
            [
                ("X-BAPI-API-KEY", KEY.to_string()),
                ("X-BAPI-TIMESTAMP", "1658384314791".to_string()),
                ("X-BAPI-RECV-WINDOW", "5000".to_string()),
                ("X-BAPI-SIGN", GET_SIGN.to_string()),
            ]
        );
    }

    #[test]
    fn post_matches_the_documented_string_to_sign_and_binds_every_part() {
        let s = signer();
        assert_eq!(
            s.sign(1658385579423, 5000, Payload::Body(POST_BODY)),
            POST_SIGN
        );
        assert_ne!(
            s.sign(1658385579424, 5000, Payload::Body(POST_BODY)),
            POST_SIGN
        );
        assert_ne!(
            s.sign(1658385579423, 10000, Payload::Body(POST_BODY)),
            POST_SIGN
        );
        assert_ne!(
            s.sign(
                1658385579423,
                5000,
                Payload::Body(r#"{"category":"option"}"#)
            ),
            POST_SIGN
        );
        let other = Signer::new("YYYYYYYYYY", SecretString::from(SECRET.to_string())).unwrap();
        assert_ne!(
            other.sign(1658385579423, 5000, Payload::Body(POST_BODY)),
            POST_SIGN
        );
    }

    #[test]
    fn ws_auth_signs_get_realtime_and_the_expiry() {
        // The page's expires 1662350400000; expected value from
        //   printf '%s' 'GET/realtime1662350400000' | openssl dgst -sha256 -hmac 'pit-bybit-doc-vector-secret'
        let s = signer();
        assert_eq!(
            s.ws_auth(1662350400000),
            "cd2fffccca32a1f5f8a06c93434836dd76672f5c6557c35f6ddffc9acf246e63"
        );
        assert_ne!(s.ws_auth(1662350400001), s.ws_auth(1662350400000));
        assert!(s.verify(1658385579423, 5000, Payload::Body(POST_BODY), POST_SIGN));
        assert!(!s.verify(1658385579423, 5000, Payload::Body("{}"), POST_SIGN));
        assert!(!s.verify(1658385579423, 5000, Payload::Body(POST_BODY), "zz"));
    }

    #[test]
    fn debug_and_errors_never_show_the_secret() {
        let s = Signer::new(
            "ABCDEFGHIJKLMNOPQRST",
            SecretString::from(SECRET.to_string()),
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("ABCDEFGHIJ"), "{shown}");
        assert!(
            shown.contains("…QRST") && shown.contains("REDACTED"),
            "{shown}"
        );
        let err = Signer::new("", SecretString::from(SECRET.to_string())).unwrap_err();
        assert_eq!(err, KeyError::EmptyKey);
        let text = format!("{err} {err:?}");
        assert!(!text.contains(SECRET), "{text}");
        assert_eq!(
            Signer::new(KEY, SecretString::from(String::new())).unwrap_err(),
            KeyError::EmptySecret
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
        let s = Signer::from_keys(&keys).unwrap();
        assert_eq!(
            s.sign(1658384314791, 5000, Payload::Query(GET_QUERY)),
            GET_SIGN
        );
    }
}
