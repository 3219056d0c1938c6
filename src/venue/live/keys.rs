//! API keys for a live venue: read from environment variables or from an owner-only key
//! file, never from `config.toml`, and held in [`secrecy::SecretString`] so that they
//! cannot reach a log line, a recording, the store, an error text or a panic by way of
//! `Debug` or `Display` (both print `[REDACTED]`). Only the request signer calls
//! `expose_secret()`.
//!
//! Why `secrecy`: it is the well-kept crate for exactly this (redacting `Debug`, no
//! `Display`, zeroized on drop); a home-made wrapper would have to get all three right.
//!
//! Sources, in order:
//! 1. `[live.<venue>] key_file = "path"`: a TOML file `api_key = "..."` plus either
//!    `secret = "..."` (HMAC-SHA256) or `ed25519_private_key = """-----BEGIN PRIVATE
//!    KEY-----..."""` (an Ed25519 key in PKCS#8 PEM). The file must be readable by its
//!    owner only (mode `600` or `400`); a group- or world-readable file is refused with its
//!    path and the fix.
//! 2. The environment: `PIT_<VENUE>_API_KEY` with `PIT_<VENUE>_API_SECRET` (HMAC) or
//!    `PIT_<VENUE>_ED25519_KEY` (the PEM text).
//!
//! OKX adds a passphrase ("REST Authentication": `OK-ACCESS-PASSPHRASE`, the one chosen
//! when the key was made): `passphrase = "..."` in the key file, or
//! `PIT_<VENUE>_API_PASSPHRASE`; held like the secret.

use secrecy::{ExposeSecret, SecretString};
use std::path::{Path, PathBuf};

/// How requests are signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// HMAC-SHA256 over the query string with the secret key.
    Hmac,
    /// Ed25519 over the query string with the private key (PKCS#8 PEM).
    Ed25519,
}

/// A venue's API key and the secret that signs with it. `Debug` shows the kind and the
/// key's last four characters only; the secret never.
#[derive(Clone)]
pub struct ApiKeys {
    pub kind: KeyKind,
    api_key: SecretString,
    secret: SecretString,
    /// OKX's third part, the passphrase chosen when the key was made (key file
    /// `passphrase = "..."` or `PIT_<VENUE>_API_PASSPHRASE`); other venues have none.
    passphrase: Option<SecretString>,
    /// Where they came from (a path or the variable names), for messages.
    pub source: String,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ApiKeys {{ kind: {:?}, api_key: …{}, secret: [REDACTED], source: {} }}",
            self.kind,
            self.key_hint(),
            self.source
        )
    }
}

impl ApiKeys {
    pub fn new(kind: KeyKind, api_key: String, secret: String, source: String) -> Self {
        ApiKeys {
            kind,
            api_key: SecretString::from(api_key),
            secret: SecretString::from(secret),
            passphrase: None,
            source,
        }
    }
    /// The same keys with a passphrase (OKX).
    pub fn with_passphrase(mut self, passphrase: Option<String>) -> Self {
        self.passphrase = passphrase
            .filter(|p| !p.trim().is_empty())
            .map(|p| SecretString::from(p.trim().to_string()));
        self
    }
    /// The passphrase, if the keys came with one. For the signer only.
    pub fn passphrase(&self) -> Option<&SecretString> {
        self.passphrase.as_ref()
    }
    /// The API key (sent in a header; not a secret to the venue, but kept out of logs too).
    pub fn api_key(&self) -> &str {
        self.api_key.expose_secret()
    }
    /// The signing secret: the HMAC key, or the Ed25519 private key's PEM text. For the
    /// signer only.
    pub fn signing_secret(&self) -> &str {
        self.secret.expose_secret()
    }
    /// The key's last four characters, enough for a person to tell keys apart.
    pub fn key_hint(&self) -> String {
        key_hint(self.api_key.expose_secret())
    }
}

/// The last four characters of an API key: enough to tell keys apart in a message, never
/// enough to use one (every signer's `Debug` shows only this).
pub fn key_hint(api_key: &str) -> String {
    let n = api_key.chars().count();
    api_key.chars().skip(n.saturating_sub(4)).collect()
}

/// Why keys could not be had. The texts name paths and variables, never a value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "key file {path} is readable by {who} (mode {mode:o}); API keys must be owner-only: run `chmod 600 {path}`"
    )]
    NotOwnerOnly {
        path: PathBuf,
        who: &'static str,
        mode: u32,
    },
    #[error("cannot read key file {path}: {error}")]
    Read { path: PathBuf, error: String },
    #[error("key file {path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "no API keys for {venue}: set [live.{venue}] key_file (an owner-only file), or the environment variables {key_var} and {secret_var} (or {ed_var})"
    )]
    Missing {
        venue: String,
        key_var: String,
        secret_var: String,
        ed_var: String,
    },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
}

/// The environment variable names for `venue`.
pub fn env_names(venue: &str) -> (String, String, String) {
    let v = venue.to_ascii_uppercase();
    (
        format!("PIT_{v}_API_KEY"),
        format!("PIT_{v}_API_SECRET"),
        format!("PIT_{v}_ED25519_KEY"),
    )
}

/// The keys of `venue`: from `key_file` when it is given, else from the environment
/// (read through `env`, so tests need not touch the process's environment).
pub fn load(
    venue: &str,
    key_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ApiKeys, KeyError> {
    match key_file {
        Some(p) => from_file(p),
        None => from_env(venue, env),
    }
}

fn from_env(venue: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<ApiKeys, KeyError> {
    let (key_var, secret_var, ed_var) = env_names(venue);
    let key_var_base = format!("PIT_{}", venue.to_ascii_uppercase());
    let get = |n: &str| env(n).filter(|v| !v.trim().is_empty());
    let missing = || KeyError::Missing {
        venue: venue.to_string(),
        key_var: key_var.clone(),
        secret_var: secret_var.clone(),
        ed_var: ed_var.clone(),
    };
    let key = get(&key_var).ok_or_else(missing)?;
    let (kind, secret, source) = match (get(&secret_var), get(&ed_var)) {
        (Some(_), Some(_)) => {
            return Err(KeyError::Invalid {
                what: format!("{secret_var} and {ed_var}"),
                message: "both are set; set one (HMAC or Ed25519)".into(),
            });
        }
        (Some(s), None) => (KeyKind::Hmac, s, format!("{key_var}/{secret_var}")),
        (None, Some(s)) => (KeyKind::Ed25519, s, format!("{key_var}/{ed_var}")),
        (None, None) => return Err(missing()),
    };
    check_shape(kind, &key, &secret, &source)?;
    Ok(
        ApiKeys::new(kind, key.trim().into(), secret.trim().into(), source)
            .with_passphrase(get(&format!("{key_var_base}_API_PASSPHRASE"))),
    )
}

/// The key file: owner-only, then its TOML.
fn from_file(path: &Path) -> Result<ApiKeys, KeyError> {
    check_owner_only(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read {
        path: path.to_path_buf(),
        error: e.to_string(),
    })?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KeyFile {
        api_key: String,
        secret: Option<String>,
        ed25519_private_key: Option<String>,
        /// OKX only: the key's passphrase.
        passphrase: Option<String>,
    }
    let fmt = |message: String| KeyError::Format {
        path: path.to_path_buf(),
        message,
    };
    // toml's message quotes the offending line: the file's own secret could be in it, so
    // only the position and the kind of mistake are passed on.
    let kf: KeyFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        fmt(format!(
            "not a key file (line {}): expected api_key = \"...\" and secret = \"...\" (HMAC) or ed25519_private_key = \"\"\"...\"\"\"",
            line.map_or("?".into(), |l| l.to_string())
        ))
    })?;
    let (kind, secret) = match (kf.secret, kf.ed25519_private_key) {
        (Some(s), None) => (KeyKind::Hmac, s),
        (None, Some(s)) => (KeyKind::Ed25519, s),
        (Some(_), Some(_)) => {
            return Err(fmt(
                "has both secret and ed25519_private_key; keep one".into()
            ));
        }
        (None, None) => {
            return Err(fmt(
                "needs secret (HMAC) or ed25519_private_key (Ed25519)".into()
            ));
        }
    };
    let source = path.display().to_string();
    check_shape(kind, &kf.api_key, &secret, &source)?;
    Ok(
        ApiKeys::new(kind, kf.api_key.trim().into(), secret.trim().into(), source)
            .with_passphrase(kf.passphrase),
    )
}

/// What can be said about a key without showing it.
fn check_shape(kind: KeyKind, key: &str, secret: &str, source: &str) -> Result<(), KeyError> {
    let bad = |message: &str| {
        Err(KeyError::Invalid {
            what: source.to_string(),
            message: message.into(),
        })
    };
    if key.trim().is_empty() {
        return bad("the API key is empty");
    }
    if key
        .trim()
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return bad("the API key holds whitespace or control characters");
    }
    match kind {
        KeyKind::Hmac if secret.trim().is_empty() => bad("the secret is empty"),
        KeyKind::Ed25519 if !secret.contains("BEGIN PRIVATE KEY") => {
            bad("the Ed25519 key must be a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)")
        }
        _ => Ok(()),
    }
}

/// Refuse a key file that anybody but its owner can read (or write).
pub fn check_owner_only(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| KeyError::Read {
        path: path.to_path_buf(),
        error: e.to_string(),
    })?;
    if !meta.is_file() {
        return Err(KeyError::Read {
            path: path.to_path_buf(),
            error: "not a regular file".into(),
        });
    }
    let mode = meta.permissions().mode() & 0o777;
    let who = if mode & 0o007 != 0 {
        Some("everyone")
    } else if mode & 0o070 != 0 {
        Some("its group")
    } else {
        None
    };
    match who {
        Some(who) => Err(KeyError::NotOwnerOnly {
            path: path.to_path_buf(),
            who,
            mode,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn key_file(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let p = dir.join("binance.keys");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_group_or_world_readable_key_file_is_refused_with_the_fix() {
        let d = tempfile::tempdir().unwrap();
        let text = format!("api_key = \"abcd1234\"\nsecret = \"{SECRET}\"\n");
        for (mode, who) in [
            (0o644, "everyone"),
            (0o640, "its group"),
            (0o604, "everyone"),
        ] {
            let p = key_file(d.path(), &text, mode);
            let e = load("binance", Some(&p), &|_| None).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains("chmod 600"), "{msg}");
            assert!(msg.contains(who), "{msg}");
            assert!(!msg.contains(SECRET), "{msg}");
        }
        let p = key_file(d.path(), &text, 0o600);
        let k = load("binance", Some(&p), &|_| None).unwrap();
        assert_eq!(k.kind, KeyKind::Hmac);
        assert_eq!(k.signing_secret(), SECRET);
        assert_eq!(k.api_key(), "abcd1234");
    }

    #[test]
    fn keys_never_show_in_debug_or_errors() {
        let d = tempfile::tempdir().unwrap();
        let k = ApiKeys::new(
            KeyKind::Hmac,
            "KEYabcd1234".into(),
            SECRET.into(),
            "t".into(),
        );
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(SECRET) && !dbg.contains("KEYabcd"), "{dbg}");
        assert!(dbg.contains("1234"), "{dbg}");
        // A malformed file whose bad line holds the secret: the message names the line only.
        let p = key_file(
            d.path(),
            &format!("api_key = \"k\"\nsecret = {SECRET}\n"),
            0o600,
        );
        let msg = load("binance", Some(&p), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(!msg.contains(SECRET), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        // An unknown field is refused without echoing values either.
        let p = key_file(
            d.path(),
            &format!("api_key = \"k\"\npassword = \"{SECRET}\"\n"),
            0o600,
        );
        let msg = load("binance", Some(&p), &|_| None)
            .unwrap_err()
            .to_string();
        assert!(!msg.contains(SECRET), "{msg}");
    }

    #[test]
    fn environment_variables_hmac_or_ed25519_but_not_both() {
        fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
        }
        let e = load("binance", None, &env(&[])).unwrap_err().to_string();
        assert!(
            e.contains("PIT_BINANCE_API_KEY") && e.contains("key_file"),
            "{e}"
        );
        let k = load(
            "binance",
            None,
            &env(&[
                ("PIT_BINANCE_API_KEY", "k1"),
                ("PIT_BINANCE_API_SECRET", "s1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (k.kind, k.api_key(), k.signing_secret()),
            (KeyKind::Hmac, "k1", "s1")
        );
        assert!(k.passphrase().is_none());
        // OKX's passphrase, from its own variable; never shown.
        let k = load(
            "okx",
            None,
            &env(&[
                ("PIT_OKX_API_KEY", "k1"),
                ("PIT_OKX_API_SECRET", "s1"),
                ("PIT_OKX_API_PASSPHRASE", "okx-pass-phrase-42"),
            ]),
        )
        .unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(
            k.passphrase().map(|p| p.expose_secret()),
            Some("okx-pass-phrase-42")
        );
        assert!(!format!("{k:?}").contains("okx-pass-phrase-42"));
        let pem =
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----";
        let k = load(
            "binance",
            None,
            &env(&[
                ("PIT_BINANCE_API_KEY", "k1"),
                ("PIT_BINANCE_ED25519_KEY", pem),
            ]),
        )
        .unwrap();
        assert_eq!(k.kind, KeyKind::Ed25519);
        let e = load(
            "binance",
            None,
            &env(&[
                ("PIT_BINANCE_API_KEY", "k1"),
                ("PIT_BINANCE_API_SECRET", "s1"),
                ("PIT_BINANCE_ED25519_KEY", pem),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("both are set"));
        let e = load(
            "binance",
            None,
            &env(&[
                ("PIT_BINANCE_API_KEY", "k1"),
                ("PIT_BINANCE_ED25519_KEY", "raw"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("PKCS#8"), "{e}");
    }
}
