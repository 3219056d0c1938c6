//! Kraken spot REST request signing and its nonce, as Kraken documents them.
//!
//! * "Spot REST Authentication" (<https://docs.kraken.com/api/docs/guides/spot-rest-auth>):
//!   the `API-Key` header is the public key; `API-Sign` is "HMAC-SHA512 of (URI path +
//!   SHA256(nonce + POST data)) and base64 decoded secret API key", base64-encoded, where
//!   "the URI path used for API-Sign should be the part starting with `/0/private`". The
//!   `nonce` payload parameter is an "always increasing, unsigned 64-bit integer". The page's
//!   worked example (a limit order, buy 1.25 XBTUSD at $37,500) is the test vector below.
//! * The nonce's scale: "using the current timestamp in milliseconds works well"
//!   (<https://docs.kraken.com/home/guides/quickstart>). A nonce at or below the last one
//!   Kraken accepted for the key is refused (`EAPI:Invalid nonce`), so [`NonceSource`]
//!   persists the last nonce it issued and never goes back, whatever the wall clock does.
//!
//! The secret is held decoded in a [`secrecy::SecretBox`] (zeroed on drop, no `Debug` of
//! its contents); no type here prints it and no error quotes it.

use crate::venue::live::keys::ApiKeys;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256, Sha512};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

type HmacSha512 = Hmac<Sha512>;

/// A key that could not be used. The text names the problem, never the key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("the Kraken API key is empty")]
    EmptyKey,
    #[error("the Kraken private key (API secret) is empty")]
    EmptySecret,
    #[error(
        "the Kraken private key (API secret) is not valid base64 ({reason}); Kraken issues it base64-encoded: copy it again, whole"
    )]
    SecretNotBase64 { reason: &'static str },
}

/// Signs Kraken spot private REST requests. `Debug` shows the API key's last four
/// characters and never the secret.
pub struct Signer {
    api_key: String,
    /// The private key, base64-decoded (the HMAC key).
    secret: SecretBox<Vec<u8>>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = crate::venue::live::keys::key_hint(&self.api_key);
        write!(f, "KrakenSigner(api_key: …{tail}, secret: [REDACTED])")
    }
}

impl Signer {
    /// A signer from the public API key and the private key as Kraken shows it (base64).
    pub fn new(api_key: &str, secret_b64: &str) -> Result<Self, KeyError> {
        if api_key.trim().is_empty() {
            return Err(KeyError::EmptyKey);
        }
        let secret_b64 = secret_b64.trim();
        if secret_b64.is_empty() {
            return Err(KeyError::EmptySecret);
        }
        // The decoder's own message quotes the offending byte and its offset; only the kind
        // of mistake is passed on.
        let decoded = BASE64
            .decode(secret_b64)
            .map_err(|e| KeyError::SecretNotBase64 {
                reason: match e {
                    base64::DecodeError::InvalidByte(..) => {
                        "a character outside the base64 alphabet"
                    }
                    base64::DecodeError::InvalidLength(_) => {
                        "its length is not a whole base64 text"
                    }
                    base64::DecodeError::InvalidLastSymbol(..) => "its last character is malformed",
                    base64::DecodeError::InvalidPadding => "its `=` padding is wrong",
                },
            })?;
        Ok(Signer {
            api_key: api_key.trim().to_string(),
            secret: SecretBox::new(Box::new(decoded)),
        })
    }

    /// A signer from keys loaded the usual way (environment or owner-only key file).
    pub fn from_keys(keys: &ApiKeys) -> Result<Self, KeyError> {
        Signer::new(keys.api_key(), keys.signing_secret())
    }

    /// The `API-Sign` value: base64(HMAC-SHA512(key = decoded secret, uri_path bytes +
    /// SHA256(nonce + post_data))). `uri_path` starts at `/0/private/`; `post_data` is the
    /// exact body sent (it holds `nonce=` itself).
    pub fn sign(&self, uri_path: &str, nonce: u64, post_data: &str) -> String {
        let mut inner = Sha256::new();
        inner.update(nonce.to_string().as_bytes());
        inner.update(post_data.as_bytes());
        let mut mac = HmacSha512::new_from_slice(self.secret.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(uri_path.as_bytes());
        mac.update(&inner.finalize());
        BASE64.encode(mac.finalize().into_bytes())
    }

    /// The two authentication headers of a private request, in the order documented.
    pub fn headers(
        &self,
        uri_path: &str,
        nonce: u64,
        post_data: &str,
    ) -> [(&'static str, String); 2] {
        [
            ("API-Key", self.api_key.clone()),
            ("API-Sign", self.sign(uri_path, nonce, post_data)),
        ]
    }
}

/// Why a nonce could not be had. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum NonceError {
    #[error(
        "Kraken nonce file {path} is damaged ({content}); it must hold the last nonce sent, a whole number. Not resetting it (Kraken refuses a nonce that goes back): fix or remove it by hand, knowing a removed file restarts from the clock"
    )]
    Damaged { path: PathBuf, content: String },
    #[error("Kraken nonce file {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("Kraken nonce file {path}: the nonce reached u64::MAX")]
    Exhausted { path: PathBuf },
}

/// Issues Kraken nonces that always increase, across restarts and a wall clock set back:
/// each is max(now in milliseconds, last issued + 1), where "last issued" is read back from
/// `path` and the new value is written there (and fsynced) before it is returned, so a
/// nonce is never used before it is on disk. The file is owner-only (mode 600).
///
/// Two sources on one file used one after the other never repeat: each call reads the
/// file again. Calls at the same moment from two threads or two processes are not locked
/// against each other here (both could read the same last nonce): keep one source per
/// data folder and call it from one place (pit holds one data folder per process).
#[derive(Debug)]
pub struct NonceSource {
    path: PathBuf,
    last: u64,
}

impl NonceSource {
    /// Opens (or starts) the nonce file at `path`. A file that is not a whole number is an
    /// error naming the file, never a silent restart from zero.
    pub fn open(path: &Path) -> Result<Self, NonceError> {
        let last = read_last(path)?;
        Ok(NonceSource {
            path: path.to_path_buf(),
            last,
        })
    }

    /// The file this source persists to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next nonce, with the wall clock's milliseconds since the epoch.
    pub fn issue(&mut self) -> Result<u64, NonceError> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        self.issue_at(now_ms)
    }

    /// The next nonce given the clock's reading `now_ms` (milliseconds since the epoch).
    pub fn issue_at(&mut self, now_ms: u64) -> Result<u64, NonceError> {
        let on_disk = read_last(&self.path)?;
        let last = self.last.max(on_disk);
        let after = last.checked_add(1).ok_or_else(|| NonceError::Exhausted {
            path: self.path.clone(),
        })?;
        let n = now_ms.max(after);
        write_durably(&self.path, n)?;
        self.last = n;
        Ok(n)
    }
}

fn read_last(path: &Path) -> Result<u64, NonceError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => {
            return Err(NonceError::Io {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    let damaged = |what: String| NonceError::Damaged {
        path: path.to_path_buf(),
        content: what,
    };
    let s = std::str::from_utf8(&text).map_err(|_| damaged("not text".into()))?;
    let t = s.trim();
    if t.is_empty() {
        return Err(damaged("empty".into()));
    }
    t.parse::<u64>().map_err(|_| {
        let shown: String = t.chars().take(24).collect();
        damaged(format!("reads {shown:?}"))
    })
}

/// Writes `n` to a temporary file beside `path` (mode 600), fsyncs it, renames it over
/// `path` and fsyncs the folder: a crash leaves either the old or the new value, whole.
fn write_durably(path: &Path, n: u64) -> Result<(), NonceError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |error: std::io::Error| NonceError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    writeln!(f, "{n}").map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of "Spot REST Authentication", section "Examples"
    // (https://docs.kraken.com/api/docs/guides/spot-rest-auth): its private key, nonce,
    // encoded payload, URI path and API-Sign, copied from the page.
    const DOC_SECRET: &str =
        "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
    const DOC_NONCE: u64 = 1616492376594;
    const DOC_PAYLOAD: &str =
        "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25";
    const DOC_PATH: &str = "/0/private/AddOrder";
    const DOC_API_SIGN: &str =
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ==";
    // The example public key of Kraken's "What is the authentication algorithm for private
    // endpoints?" (support.kraken.com/articles/360029054811); the API key is not signed.
    const KEY: &str = "CJbfPw4tnbf/9en/ZmpewCTKEwmmzO18LXZcHQcu7HPLWre4l8+V9I3y";

    #[test]
    fn api_sign_matches_the_documented_example_byte_for_byte() {
        let s = Signer::new(KEY, DOC_SECRET).unwrap();
        assert_eq!(s.sign(DOC_PATH, DOC_NONCE, DOC_PAYLOAD), DOC_API_SIGN);
        let h = s.headers(DOC_PATH, DOC_NONCE, DOC_PAYLOAD);
        assert_eq!(h[0], ("API-Key", KEY.to_string()));
        assert_eq!(h[1], ("API-Sign", DOC_API_SIGN.to_string()));
        // Every input is bound: another path, nonce or body signs differently.
        assert_ne!(
            s.sign("/0/private/Balance", DOC_NONCE, DOC_PAYLOAD),
            DOC_API_SIGN
        );
        assert_ne!(s.sign(DOC_PATH, DOC_NONCE + 1, DOC_PAYLOAD), DOC_API_SIGN);
        assert_ne!(
            s.sign(DOC_PATH, DOC_NONCE, &DOC_PAYLOAD.replace("1.25", "1.26")),
            DOC_API_SIGN
        );
    }

    #[test]
    fn signer_loads_from_the_shared_key_handling() {
        let keys = ApiKeys::new(
            crate::venue::live::keys::KeyKind::Hmac,
            KEY.into(),
            DOC_SECRET.into(),
            "test".into(),
        );
        let s = Signer::from_keys(&keys).unwrap();
        assert_eq!(s.sign(DOC_PATH, DOC_NONCE, DOC_PAYLOAD), DOC_API_SIGN);
    }

    #[test]
    fn debug_and_errors_never_show_the_secret() {
        let s = Signer::new(KEY, DOC_SECRET).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains(DOC_SECRET), "{shown}");
        assert!(!shown.contains(&DOC_SECRET[..12]), "{shown}");
        assert!(!shown.contains(&KEY[..20]), "{shown}");
        assert!(shown.contains("REDACTED"), "{shown}");

        // A secret that is not base64: a clear error, without the secret in it.
        let bad = "kQH5HW/8p1uG%VjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==";
        let err = Signer::new(KEY, bad).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("not valid base64"), "{text}");
        assert!(!text.contains("kQH5HW"), "{text}");
        assert!(!text.contains('%'), "{text}");
        let err = Signer::new(KEY, &DOC_SECRET[..87]).unwrap_err().to_string();
        assert!(err.contains("not valid base64"), "{err}");
        assert!(!err.contains(&DOC_SECRET[..10]), "{err}");
        assert_eq!(Signer::new(KEY, "  ").unwrap_err(), KeyError::EmptySecret);
        assert_eq!(Signer::new("", DOC_SECRET).unwrap_err(), KeyError::EmptyKey);
    }

    #[test]
    fn two_sources_on_one_file_never_repeat_and_the_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kraken.nonce");
        let mut seen = Vec::new();
        let mut a = NonceSource::open(&path).unwrap();
        for _ in 0..5 {
            seen.push(a.issue_at(1_000).unwrap());
        }
        drop(a);
        // A restart in the same millisecond (or with the clock behind): continues above.
        let mut b = NonceSource::open(&path).unwrap();
        for _ in 0..5 {
            seen.push(b.issue_at(1_000).unwrap());
        }
        // Side by side in one process: each reads what the other wrote.
        let mut c = NonceSource::open(&path).unwrap();
        seen.push(b.issue_at(1_000).unwrap());
        seen.push(c.issue_at(1_000).unwrap());
        seen.push(b.issue_at(1_000).unwrap());
        assert_eq!(seen, (1_000..1_013).collect::<Vec<u64>>());
        assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), "1012");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
        // The real clock is far above the test's: the next nonce follows it.
        let real = c.issue().unwrap();
        assert!(real > 1_600_000_000_000, "{real}");
    }

    #[test]
    fn a_clock_set_back_still_increases() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kraken.nonce");
        let mut s = NonceSource::open(&path).unwrap();
        let a = s.issue_at(1_700_000_000_000).unwrap();
        let b = s.issue_at(1_700_000_000_500).unwrap();
        // The wall clock jumps an hour back, in this run and after a restart.
        let c = s.issue_at(1_699_996_400_000).unwrap();
        drop(s);
        let mut s = NonceSource::open(&path).unwrap();
        let d = s.issue_at(1_699_996_400_001).unwrap();
        assert_eq!(
            [a, b, c, d],
            [
                1_700_000_000_000,
                1_700_000_000_500,
                1_700_000_000_501,
                1_700_000_000_502
            ]
        );
    }

    #[test]
    fn a_torn_or_garbage_file_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kraken.nonce");
        for content in [
            &b""[..],
            b"17000000\x00\x00",
            b"garbage\n",
            b"-5\n",
            b"\xff\xfe",
        ] {
            std::fs::write(&path, content).unwrap();
            let err = NonceSource::open(&path).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("damaged"), "{err}");
            // Nothing was reset behind the user's back.
            assert_eq!(std::fs::read(&path).unwrap(), content);
        }
        // Damaged after opening: the next nonce fails too, rather than restarting.
        std::fs::write(&path, "41\n").unwrap();
        let mut s = NonceSource::open(&path).unwrap();
        assert_eq!(s.issue_at(0).unwrap(), 42);
        std::fs::write(&path, "x").unwrap();
        let err = s.issue_at(0).unwrap_err().to_string();
        assert!(err.contains("kraken.nonce"), "{err}");
    }
}
