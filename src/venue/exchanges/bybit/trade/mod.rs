//! Live trading on Bybit v5 (spot and linear), the client side: [`rest`], the signed REST
//! calls with Bybit's rate-limit headers, back-off, and unknown outcomes resolved by
//! asking for the `orderLinkId`.
//!
//! Not yet here (see the README's live-trading section): the connection task, the
//! private stream client, `[live.bybit]` settings and the `LivePort`; `pit run --live`
//! still refuses venue "bybit".

pub mod rest;
