//! Bybit v5's private API as documented: request signing (`X-BAPI-*` headers), the
//! `retCode`s and what each means, and the wire types of trading and the private stream.

pub mod errors;
pub mod sign;
pub mod wire;
