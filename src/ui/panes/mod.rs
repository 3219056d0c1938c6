//! One file per pane; each draws into the area it is given.

pub mod alerts;
pub mod book;
pub mod fills;
pub mod ladder;
pub mod orders;
pub mod pnl;
pub mod positions;
pub mod status;
pub mod strategies;
pub mod tape;
