//! OKX v5's private REST API as documented: request signing (`OK-ACCESS-*` headers) and the
//! demo-trading header.

pub mod sign;
