//! Issue 15 item 10, "the out-of-box demo looks broken": the built-in market maker on the
//! simulated market with the shipped defaults earns a modest spread in the calm regime,
//! and loses when its quotes sit inside its fees or when the market turns turbulent.

use pit::config::Config;
use pit::domain::TradingState;
use pit::pace::Speed;
use pit::runner::{RunOptions, Runner};
use rust_decimal::Decimal;
use std::time::Duration;

/// The shipped defaults with the market maker alone, the simulated market held in one
/// regime (`calm` or `turbulent`) from the start.
fn alone_in(regime: &str) -> Config {
    let mut cfg = Config::default();
    cfg.strategies.imbalance.enabled = false;
    cfg.strategies.exit_manager.enabled = false;
    cfg.sim.normal_secs = 0.001;
    match regime {
        "calm" => {
            cfg.sim.turbulent_share = 0.0;
            cfg.sim.calm_secs = 1e6;
        }
        _ => {
            cfg.sim.turbulent_share = 1.0;
            cfg.sim.turbulent_secs = 1e6;
        }
    }
    cfg
}

/// Ten minutes at full speed, seed 42: the net PnL and the number of fills.
fn net_pnl(cfg: &Config) -> (Decimal, u64) {
    net_pnl_at(cfg, 42)
}

/// Ten minutes at full speed on the market of `seed`: the net PnL (realized less fees,
/// plus the inventory still held at the end marked at the mid: the engine's equity) and
/// the number of fills.
fn net_pnl_at(cfg: &Config, seed: u64) -> (Decimal, u64) {
    assert!(cfg.validate().is_ok());
    let parts = pit::setup::assemble(cfg, seed, TradingState::Active).expect("assemble");
    let opts = RunOptions {
        speed: Speed::Max,
        run_for: Some(Duration::from_secs(600)),
        ..Default::default()
    };
    let runner = Runner::new(
        parts.engine,
        Box::new(parts.market),
        Box::new(parts.exec),
        opts,
    );
    let (_tx, rx) = std::sync::mpsc::channel();
    let (view_tx, view_rx) =
        tokio::sync::watch::channel(std::sync::Arc::new(pit::engine::view::EngineView::default()));
    let r = runner.run(rx, Some(view_tx));
    // The run's last view is published as it finishes.
    let pnl = view_rx.borrow().pnl.clone();
    let s = r.summary;
    assert_eq!(
        pnl.realized - pnl.fees,
        s.realized_pnl - s.fees,
        "the last view"
    );
    (pnl.equity, s.fills)
}

#[test]
fn the_default_market_maker_earns_a_spread_in_the_calm_regime() {
    let cfg = alone_in("calm");
    assert!(cfg.warnings().is_empty(), "{:?}", cfg.warnings());
    // Three markets, not one lucky draw.
    for seed in [42, 7, 2026] {
        let (pnl, fills) = net_pnl_at(&cfg, seed);
        assert!(fills >= 20, "seed {seed}: {fills} fills");
        assert!(
            pnl > Decimal::ZERO,
            "seed {seed}: net PnL {pnl} over {fills} fills"
        );
        // Modest: well under a bp of the traded notional per fill (0.001 BTC at 60000 = 60).
        assert!(
            pnl < Decimal::from(fills) * Decimal::new(6, 3),
            "seed {seed}: net PnL {pnl} over {fills} fills"
        );
    }
}

#[test]
fn quoting_inside_its_fees_it_loses() {
    // A 1 bp maker tier: 1.5 bps quoted is less than the 2 bps a round trip pays.
    let mut cfg = alone_in("calm");
    cfg.paper.maker_fee_bps = Decimal::ONE;
    assert_eq!(cfg.warnings().len(), 1, "pit warns at start");
    let (pnl, fills) = net_pnl(&cfg);
    assert!(fills >= 20, "{fills} fills");
    assert!(pnl < Decimal::ZERO, "net PnL {pnl} over {fills} fills");
}

#[test]
fn in_the_turbulent_regime_it_loses() {
    let (pnl, fills) = net_pnl(&alone_in("turbulent"));
    assert!(fills >= 20, "{fills} fills");
    assert!(pnl < Decimal::ZERO, "net PnL {pnl} over {fills} fills");
}
