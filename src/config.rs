//! `config.toml` -> typed [`Config`]. Unknown keys and bad values are refused with the key
//! and the line.

/// A value that parsed but does not make sense. `key` is the dotted path of the offending
/// key relative to the section being validated (the config loader prefixes the section and
/// finds the line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

impl Invalid {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}
