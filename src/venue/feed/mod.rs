//! Market data arriving from outside the process: the live connection to a real venue
//! ([`live`]) and a recording read back ([`replay`]). Both hand every frame to the venue's
//! own [`FrameDecoder`](crate::venue::exchanges::decode::FrameDecoder) and serve the
//! normalized events through the [`MarketDataPort`](crate::venue::MarketDataPort).
//! A recording's events can be compiled ([`compile`]) to a binary file ([`compiled`])
//! that the replay reads faster; [`report`] is what a replay found, which a compiled file
//! carries.

pub mod compile;
pub mod compiled;
pub mod live;
pub mod replay;
pub mod report;
