//! Request signing as Binance documents it, for both sides: the client signs, the emulator
//! verifies with the very same code.
//!
//! * REST (rest-api.md, "SIGNED Endpoint security" and "SIGNED Endpoint Examples for
//!   POST /api/v3/order"): "The signature payload of your request is the query string
//!   concatenated without separator to the HTTP body. Any non-ASCII character must be
//!   percent-encoded before signing." The `signature` parameter is added after it.
//! * WebSocket API (web-socket-api.md, "SIGNED request example (HMAC)"): "Take all request
//!   `params` except `signature` and sort them in alphabetical order by parameter name",
//!   formatted as `parameter=value` pairs joined by `&`, values in UTF-8 (not
//!   percent-encoded).
//! * HMAC keys: HMAC-SHA-256 with the `secretKey`, hex; "the resulting signature value is
//!   case-insensitive". Ed25519 keys: the Ed25519 signature of the payload, base64; "the
//!   payload and the resulting `signature` are case-sensitive". (RSA keys, also documented,
//!   are not supported by pit: Binance recommends Ed25519.)
//!
//! Secrets live in [`secrecy`] boxes (zeroed on drop, `Debug` prints `[REDACTED]`) or in
//! `ed25519_dalek::SigningKey` (zeroed on drop, `Debug` shows only the public half); no type
//! here can print a secret, and no error message quotes one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// Which documented algorithm a key uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// HMAC-SHA-256, hex signature.
    Hmac,
    /// Ed25519, base64 signature.
    Ed25519,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::Hmac => "HMAC",
            KeyKind::Ed25519 => "Ed25519",
        })
    }
}

/// A key that could not be loaded. The text names the problem, never the key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the HMAC secret key is empty")]
    EmptySecret,
    #[error("not an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----): {0}")]
    BadPrivatePem(String),
    #[error("not an Ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----): {0}")]
    BadPublicPem(String),
}

/// The API key (the `X-MBX-APIKEY` header; `apiKey` in WebSocket API params). Binance calls
/// it sensitive too ("Both API key and secret key are sensitive"), so `Debug` shows only
/// its first four characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    /// The key as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head: String = self.0.chars().take(4).collect();
        write!(f, "ApiKey({head}…)")
    }
}

/// What signs requests: an HMAC secret or an Ed25519 private key.
pub enum Signer {
    Hmac(SecretString),
    Ed25519(Box<SigningKey>),
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({}, [REDACTED])", self.kind())
    }
}

impl Signer {
    /// An HMAC-SHA-256 signer from the `secretKey`.
    pub fn hmac(secret: SecretString) -> Result<Self, KeyError> {
        if secret.expose_secret().is_empty() {
            return Err(KeyError::EmptySecret);
        }
        Ok(Signer::Hmac(secret))
    }

    /// An Ed25519 signer from a PKCS#8 PEM private key, the form Binance's docs generate
    /// (`openssl genpkey -algorithm ed25519`) and its examples load.
    pub fn ed25519_from_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|k| Signer::Ed25519(Box::new(k)))
            // The pkcs8 error says what is wrong with the structure, never the bytes.
            .map_err(|e| KeyError::BadPrivatePem(e.to_string()))
    }

    /// An Ed25519 signer from its 32-byte seed (tests, the emulator's generated keys).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Self {
        Signer::Ed25519(Box::new(SigningKey::from_bytes(seed)))
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            Signer::Hmac(_) => KeyKind::Hmac,
            Signer::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// The signature of `payload`: lowercase hex for HMAC, standard base64 for Ed25519.
    pub fn sign(&self, payload: &str) -> String {
        match self {
            Signer::Hmac(secret) => {
                let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(payload.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            Signer::Ed25519(key) => {
                use ed25519_dalek::Signer as _;
                BASE64.encode(key.sign(payload.as_bytes()).to_bytes())
            }
        }
    }

    /// The verifier that accepts this signer's signatures (what the user registers with
    /// the venue: the same secret for HMAC, the public key for Ed25519).
    pub fn verifier(&self) -> Verifier {
        match self {
            Signer::Hmac(secret) => Verifier::Hmac(secret.clone()),
            Signer::Ed25519(key) => Verifier::Ed25519(key.verifying_key()),
        }
    }
}

/// What checks signatures (the emulator's side): the HMAC secret, or the Ed25519 public key.
pub enum Verifier {
    Hmac(SecretString),
    Ed25519(VerifyingKey),
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verifier::Hmac(_) => f.write_str("Verifier(HMAC, [REDACTED])"),
            Verifier::Ed25519(k) => write!(f, "Verifier(Ed25519, {})", hex::encode(k.as_bytes())),
        }
    }
}

impl Verifier {
    /// An Ed25519 verifier from a public key in PEM (SPKI), the form uploaded to Binance.
    pub fn ed25519_from_public_pem(pem: &str) -> Result<Self, KeyError> {
        VerifyingKey::from_public_key_pem(pem)
            .map(Verifier::Ed25519)
            .map_err(|e| KeyError::BadPublicPem(e.to_string()))
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            Verifier::Hmac(_) => KeyKind::Hmac,
            Verifier::Ed25519(_) => KeyKind::Ed25519,
        }
    }

    /// The public key in PEM, for Ed25519 (to print or hand to a user); None for HMAC.
    pub fn public_pem(&self) -> Option<String> {
        match self {
            Verifier::Hmac(_) => None,
            Verifier::Ed25519(k) => k
                .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .ok(),
        }
    }

    /// Whether `signature` is a valid signature of `payload`. HMAC compares in constant
    /// time and ignores case (as documented); Ed25519 uses strict verification.
    pub fn verify(&self, payload: &str, signature: &str) -> bool {
        match self {
            Verifier::Hmac(secret) => {
                let Ok(sig) = hex::decode(signature.to_ascii_lowercase()) else {
                    return false;
                };
                let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
                    .expect("HMAC takes a key of any length");
                mac.update(payload.as_bytes());
                mac.verify_slice(&sig).is_ok()
            }
            Verifier::Ed25519(key) => {
                let Ok(bytes) = BASE64.decode(signature) else {
                    return false;
                };
                let Ok(sig) = Signature::from_slice(&bytes) else {
                    return false;
                };
                key.verify_strict(payload.as_bytes(), &sig).is_ok()
            }
        }
    }
}

/// The REST signature payload: the query string (without `signature`) concatenated, without
/// separator, to the body.
pub fn rest_payload(query: &str, body: &str) -> String {
    let mut s = String::with_capacity(query.len() + body.len());
    s.push_str(query);
    s.push_str(body);
    s
}

/// Splits a raw, still percent-encoded query string or form body into the part that was
/// signed and the `signature` value (percent-decoded: an Ed25519 signature's `+`, `/`, `=`
/// travel as `%2B`, `%2F`, `%3D`). The signed part keeps every other pair in the order
/// sent. None when there is no `signature` pair.
pub fn split_signature(raw: &str) -> (String, Option<String>) {
    let mut kept: Vec<&str> = Vec::new();
    let mut sig = None;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        match pair.strip_prefix("signature=") {
            Some(v) => {
                sig = form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned());
            }
            None => kept.push(pair),
        }
    }
    (kept.join("&"), sig)
}

/// The WebSocket API signature payload: every param but `signature`, sorted by name,
/// `name=value` joined by `&`; string values as they are, other JSON values as their JSON
/// text (numbers, booleans).
pub fn ws_payload(params: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut pairs: Vec<(&String, String)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "signature")
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Adds `apiKey`, `timestamp` and `signature` to WebSocket API params, signed as documented.
pub fn sign_ws_params(
    params: &mut serde_json::Map<String, serde_json::Value>,
    api_key: &ApiKey,
    timestamp_ms: u64,
    signer: &Signer,
) {
    params.insert("apiKey".into(), api_key.as_str().into());
    params.insert("timestamp".into(), timestamp_ms.into());
    let sig = signer.sign(&ws_payload(params));
    params.insert("signature".into(), sig.into());
}

/// A signed REST query: `params` url-encoded, then `recvWindow` (if any) and `timestamp`,
/// then `&signature=` with the signature percent-encoded (base64 has `+`, `/`, `=`).
pub fn signed_query<T: serde::Serialize>(
    params: &T,
    timestamp_ms: u64,
    recv_window_ms: Option<u64>,
    signer: &Signer,
) -> Result<String, serde_urlencoded::ser::Error> {
    let mut query = serde_urlencoded::to_string(params)?;
    let mut push = |k: &str, v: u64| {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("{k}={v}"));
    };
    if let Some(w) = recv_window_ms {
        push("recvWindow", w);
    }
    push("timestamp", timestamp_ms);
    let sig = signer.sign(&query);
    let enc: String = form_urlencoded::byte_serialize(sig.as_bytes()).collect();
    Ok(format!("{query}&signature={enc}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// rest-api.md and web-socket-api.md, "SIGNED ... example (HMAC)": the example keys.
    const DOC_API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const DOC_SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn doc_signer() -> Signer {
        Signer::hmac(SecretString::from(DOC_SECRET.to_string())).unwrap()
    }

    #[test]
    fn hmac_matches_the_documented_rest_examples() {
        // rest-api.md, "HMAC Keys", Step 2: both published payloads and signatures.
        let s = doc_signer();
        assert_eq!(
            s.sign(
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
            ),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert_eq!(
            s.sign(
                "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
            ),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
    }

    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct DocOrder<'a> {
        symbol: &'a str,
        side: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        time_in_force: &'a str,
        quantity: rust_decimal::Decimal,
        price: rust_decimal::Decimal,
    }

    #[test]
    fn signed_query_builds_the_documented_request_byte_for_byte() {
        // The whole path (encode params, append recvWindow and timestamp, sign) must give
        // the documented Step 3 URL, including the non-ASCII symbol's percent-encoding.
        for (symbol, sig) in [
            (
                "LTCBTC",
                "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
            ),
            (
                "１２３４５６",
                "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
            ),
        ] {
            let o = DocOrder {
                symbol,
                side: "BUY",
                kind: "LIMIT",
                time_in_force: "GTC",
                quantity: dec!(1),
                price: dec!(0.1),
            };
            let q = signed_query(&o, 1499827319559, Some(5000), &doc_signer()).unwrap();
            assert!(q.ends_with(&format!("&signature={sig}")), "{q}");
            // And the verifier accepts exactly what was sent.
            let (payload, got) = split_signature(&q);
            assert_eq!(got.as_deref(), Some(sig));
            assert!(doc_signer().verifier().verify(&payload, sig));
        }
    }

    #[test]
    fn hmac_matches_the_documented_websocket_examples() {
        // web-socket-api.md, "SIGNED request example (HMAC)": params sorted by name.
        let mut p: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"symbol":"BTCUSDT","side":"SELL","type":"LIMIT","timeInForce":"GTC",
                "quantity":"0.01000000","price":"52000.00","recvWindow":100}"#,
        )
        .unwrap();
        sign_ws_params(
            &mut p,
            &ApiKey::new(DOC_API_KEY),
            1645423376532,
            &doc_signer(),
        );
        assert_eq!(
            p["signature"],
            "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
        );
        let mut p: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
            r#"{"symbol":"１２３４５６","side":"BUY","type":"LIMIT","timeInForce":"GTC",
                "quantity":"1.00000000","price":"0.10000000","recvWindow":5000}"#,
        )
        .unwrap();
        sign_ws_params(
            &mut p,
            &ApiKey::new(DOC_API_KEY),
            1645423376532,
            &doc_signer(),
        );
        assert_eq!(
            p["signature"],
            "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"
        );
        assert!(doc_signer().verifier().verify(
            &ws_payload(&p),
            "B33892AE8E687C939F4468C6268DDD4C40AC1AF18AD19A064864C47BAE0752CD"
        ));
    }

    #[test]
    fn ed25519_matches_rfc8032_test_1() {
        // Binance's Ed25519 examples publish signatures but not the private key, so they
        // cannot serve as vectors; RFC 8032 section 7.1, TEST 1 (empty message) can.
        let seed: [u8; 32] =
            hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .unwrap()
                .try_into()
                .unwrap();
        let s = Signer::ed25519_from_seed(&seed);
        let sig = BASE64.decode(s.sign("")).unwrap();
        assert_eq!(
            hex::encode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        let v = s.verifier();
        assert!(v.verify("", &s.sign("")));
        assert!(!v.verify("x", &s.sign("")));
    }

    #[test]
    fn ed25519_signed_query_round_trips_through_percent_encoding() {
        let s = Signer::ed25519_from_seed(&[7u8; 32]);
        let o = DocOrder {
            symbol: "BTCUSDT",
            side: "SELL",
            kind: "LIMIT",
            time_in_force: "GTC",
            quantity: dec!(1),
            price: dec!(0.2),
        };
        let q = signed_query(&o, 1668481559918, Some(5000), &s).unwrap();
        let (payload, sig) = split_signature(&q);
        let sig = sig.unwrap();
        assert_eq!(BASE64.decode(&sig).unwrap().len(), 64);
        assert!(s.verifier().verify(&payload, &sig));
        // Case matters for Ed25519, and a changed payload fails.
        assert!(!s.verifier().verify(&payload, &sig.to_ascii_lowercase()));
        assert!(
            !s.verifier()
                .verify(&payload.replace("price=0.2", "price=0.3"), &sig)
        );
    }

    #[test]
    fn wrong_key_or_tampered_payload_is_rejected() {
        let good = doc_signer();
        let other = Signer::hmac(SecretString::from("another".to_string())).unwrap();
        let p = "symbol=LTCBTC&timestamp=1";
        assert!(!other.verifier().verify(p, &good.sign(p)));
        assert!(
            !good
                .verifier()
                .verify("symbol=LTCBTC&timestamp=2", &good.sign(p))
        );
        assert!(!good.verifier().verify(p, "not hex"));
        let ed = Signer::ed25519_from_seed(&[1u8; 32]);
        assert!(!ed.verifier().verify(p, "%%%"));
        assert!(!ed.verifier().verify(p, &good.sign(p)));
    }

    #[test]
    fn ed25519_keys_load_from_pem_and_bad_pem_is_named_not_echoed() {
        // A PKCS#8 key as `openssl genpkey -algorithm ed25519` writes it (RFC 8410 10.3).
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                   -----END PRIVATE KEY-----\n";
        let s = Signer::ed25519_from_pem(pem).unwrap();
        assert_eq!(s.kind(), KeyKind::Ed25519);
        let public = s.verifier().public_pem().unwrap();
        let v = Verifier::ed25519_from_public_pem(&public).unwrap();
        assert!(v.verify("a=1", &s.sign("a=1")));
        let err = Signer::ed25519_from_pem("-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("PKCS#8"), "{err}");
        assert!(!err.contains("SECRETSTUFF"), "{err}");
        assert_eq!(
            Signer::hmac(SecretString::from(String::new())).unwrap_err(),
            KeyError::EmptySecret
        );
    }

    #[test]
    fn no_debug_output_shows_a_secret() {
        let shown = format!(
            "{:?} {:?} {:?} {:?}",
            doc_signer(),
            doc_signer().verifier(),
            Signer::ed25519_from_seed(&[9u8; 32]),
            ApiKey::new(DOC_API_KEY)
        );
        assert!(!shown.contains(DOC_SECRET), "{shown}");
        assert!(!shown.contains(&DOC_API_KEY[4..]), "{shown}");
        assert!(!shown.contains(&hex::encode([9u8; 32])), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");
    }
}
