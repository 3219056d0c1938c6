//! The real exchanges pit knows: one folder each, owning everything pit knows about that
//! exchange (its frame decoder; in `endpoints.rs` its hosts, subscribe and keep-alive
//! frames, instrument endpoint and registry entry), the venue table ([`registry`]), what an
//! entry is made of and the `[live]` settings it is built from ([`entry`]), the
//! frame-decoder interface ([`decode`]) and the pieces every decoder shares ([`common`]).
//! Adding a venue: a new folder here and its line in [`registry::EXCHANGES`].

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod common;
pub mod decode;
pub mod entry;
pub mod kraken;
pub mod okx;
pub mod polymarket;
pub mod registry;
