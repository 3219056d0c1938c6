//! Wiring: from a [`Config`] to a ready engine with its market-data and execution ports.

use crate::config::Config;
use crate::domain::{Timestamp, TradingGate, TradingState};
use crate::engine::risk::RiskEngine;
use crate::engine::{Engine, EngineSetup};
use crate::venue::paper::PaperVenue;
use crate::venue::sim::SimMarket;

/// Where simulated time starts: 2026-01-01T00:00:00Z. A fixed epoch (never the wall clock)
/// keeps simulated runs byte-for-byte repeatable at any speed.
pub const SIM_EPOCH: Timestamp = Timestamp(1_767_225_600_000_000_000);

/// An engine and its ports, ready to run.
pub struct Assembled {
    pub engine: Engine,
    pub market: SimMarket,
    pub exec: PaperVenue,
}

/// Build the simulated market, the paper venue and the engine from a config.
pub fn assemble(cfg: &Config, seed: u64, initial_state: TradingState) -> anyhow::Result<Assembled> {
    let instruments = cfg.instrument_list();
    let strategies = crate::strategy::build(&cfg.strategies, &instruments)
        .map_err(|e| anyhow::anyhow!("strategies.{}: {}", e.key, e.message))?;
    let gate = TradingGate::new(initial_state != TradingState::Halted);
    let market = SimMarket::new(
        &cfg.sim,
        instruments.clone(),
        &cfg.start_prices(),
        seed,
        SIM_EPOCH,
    );
    let exec = PaperVenue::new(&cfg.paper, instruments.clone(), gate.clone());
    let engine = Engine::new(EngineSetup {
        config: cfg.engine.clone(),
        kill: cfg.kill_switch.clone(),
        instruments,
        strategies,
        risk: RiskEngine::new(cfg.risk.clone()),
        gate,
        initial_state,
        start: SIM_EPOCH,
    });
    Ok(Assembled {
        engine,
        market,
        exec,
    })
}
