//! Kraken spot's private REST API as documented: request signing (`API-Sign`) and the
//! nonce that must always increase, even across restarts.

pub mod sign;
