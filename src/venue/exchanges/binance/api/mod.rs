//! Binance spot's order and account API as its docs define it (github.com/binance/
//! binance-spot-api-docs: rest-api.md, web-socket-api.md, user-data-stream.md, filters.md,
//! errors.md; read at the docs' 2026-07-17 changelog), shared by the live client and by
//! `pit emulate binance`, so both speak one definition:
//!
//! * [`sign`]: HMAC-SHA-256 and Ed25519 request signing, and verification;
//! * [`wire`]: the REST and WebSocket messages (orders, account, trades, exchangeInfo,
//!   user data stream events);
//! * [`filters`]: symbol filters and the check the venue applies (for the risk engine);
//! * [`errors`]: the error codes and what a client should do with each.
//!
//! The user data stream, as the docs now have it: the spot listen-key endpoints
//! (`POST/PUT/DELETE /api/v3/userDataStream`, and `userDataStream.start/ping/stop` on the
//! WebSocket API) "will no longer be available starting from 2026-02-20, 07:00 UTC"
//! (CHANGELOG.md, 2026-01-21). user-data-stream.md now says: "Subscribe via the WebSocket
//! API using an API Key", i.e. on `wss://ws-api.binance.com:443/ws-api/v3` either
//! `session.logon` then `userDataStream.subscribe` (Ed25519 keys only), or, with any key
//! type and no login, `userDataStream.subscribe.signature` with signed `apiKey` and
//! `timestamp` (web-socket-api.md, "User Data Stream requests"). Events then arrive as
//! `{"subscriptionId": N, "event": {...}}`; there is no keep-alive ping to send (the server
//! pings every 20 s and a connection lasts at most 24 h), and `eventStreamTerminated` /
//! `serverShutdown` say the stream has ended.
//!
//! Nothing here imports pit's engine or runner: this sits beside the market-data decoder.

pub mod errors;
pub mod filters;
pub mod sign;
pub mod wire;
