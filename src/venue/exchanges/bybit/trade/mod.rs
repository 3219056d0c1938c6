//! Live trading on Bybit v5 (spot and linear), the client side so far: [`rest`], the
//! signed REST calls with Bybit's rate-limit headers, back-off, and unknown outcomes
//! resolved by asking for the `orderLinkId`; [`private`], the private stream client that
//! arms disconnection protection (DCP) and keeps its heartbeat; [`settings`], the
//! `[live.bybit]` section it will be configured by.
//!
//! Not yet here (see the README's live-trading section): the connection task that turns
//! the engine's requests into these calls and the stream's messages into execution
//! reports, reconciliation, the `LivePort`, and the `[live.bybit]` section in
//! `config.toml`; `pit run --live` still refuses venue "bybit". [`updates`] maps the
//! stream's and the lists' messages to the tracker's venue updates.

pub mod private;
pub mod rest;
pub mod settings;
pub mod updates;
