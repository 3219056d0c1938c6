//! Bybit v5's private REST API as documented: request signing (`X-BAPI-*` headers).

pub mod sign;
