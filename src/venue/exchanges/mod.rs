//! The real exchanges pit knows: one folder each (its frame decoder and everything else
//! pit knows about it), the decoder interface ([`decode`]) and the pieces every decoder
//! shares ([`common`]).

pub mod binance;
pub mod bybit;
pub mod coinbase;
pub mod common;
pub mod decode;
pub mod kraken;
pub mod okx;
pub mod polymarket;
