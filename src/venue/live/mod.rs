//! The live execution path, venue-generic: what every real venue's order API shares.
//! [`settings`] (`[live.<venue>]`: mode, network, endpoints, keys' place), [`keys`] (API
//! keys from the environment or an owner-only file, never shown).
//!
//! The venue-specific parts (signing, the wire, the connection task) live in the venue's
//! folder under `exchanges/`.

pub mod backoff;
pub mod dead_man;
pub mod gate;
pub mod ids;
pub mod keys;
pub mod latency;
pub mod port;
pub mod pulse;
pub mod reconcile;
pub mod settings;
pub mod tracker;
