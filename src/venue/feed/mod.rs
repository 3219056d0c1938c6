//! Market data arriving from outside the process: the live connection to a real venue
//! ([`live`]) and a recording read back ([`replay`]). Both hand every frame to the venue's
//! own [`FrameDecoder`](crate::venue::exchanges::decode::FrameDecoder) and serve the
//! normalized events through the [`MarketDataPort`](crate::venue::MarketDataPort).

pub mod compiled;
pub mod live;
pub mod replay;
