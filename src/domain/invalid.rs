//! [`Invalid`]: a setting that parsed but does not make sense. It lives in `domain`, the
//! ground floor, so every section's `validate()` (engine, venues, store, strategies,
//! console) can name it without importing the config loader above them.

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
