//! Test helpers for engine tests that feed inputs and look at the effects: an engine on
//! BTC-USD (tick 0.1, lot 0.001) with any strategies, books, manual orders and fills.

use super::risk::{RiskEngine, RiskLimits};
use super::{Alert, Effect, Engine, EngineConfig, EngineSetup, Input, KillSwitchConfig};
use crate::domain::{
    ClientOrderId, ExecReport, Fill, Instrument, InstrumentId, Level, Liquidity, MarketEvent,
    MarketEventKind, OrderKind, OrderRequest, OrderSpec, Price, Qty, Side, TimeInForce, Timestamp,
    TradingGate, TradingState,
};
use crate::strategy::StrategySlot;
use rust_decimal_macros::dec;

pub(crate) const BTC: InstrumentId = InstrumentId(0);

/// `2026-03-09T13:30:00Z` as engine time.
pub(crate) fn ts(rfc: &str) -> Timestamp {
    let t = chrono::DateTime::parse_from_rfc3339(rfc).expect("rfc 3339");
    Timestamp(t.timestamp() * 1_000_000_000 + i64::from(t.timestamp_subsec_nanos()))
}

pub(crate) fn btc() -> Instrument {
    Instrument::new(BTC, "BTC-USD", "sim", dec!(0.1), dec!(0.001), Qty(1))
}

/// An engine on BTC-USD at `start`, risk limits off but the price band, with these
/// strategies.
pub(crate) fn engine(start: Timestamp, strategies: Vec<StrategySlot>) -> Engine {
    let limits = RiskLimits {
        price_band_bps: dec!(500),
        ..RiskLimits::off()
    };
    engine_with(start, strategies, limits)
}

/// An engine on BTC-USD at `start` with these strategies and risk limits.
pub(crate) fn engine_with(
    start: Timestamp,
    strategies: Vec<StrategySlot>,
    limits: RiskLimits,
) -> Engine {
    Engine::new(EngineSetup {
        config: EngineConfig::default(),
        kill: KillSwitchConfig::default(),
        instruments: vec![btc()],
        strategies,
        sizing: crate::strategy::sizing::SizingParams::default(),
        risk: RiskEngine::new(limits),
        gate: TradingGate::new(true),
        initial_state: TradingState::Active,
        start,
    })
}

/// A book of bid/ask (in ticks), 5 BTC a side.
pub(crate) fn book(at: Timestamp, bid: i64, ask: i64) -> Input {
    Input::Market(MarketEvent {
        ts: at,
        instrument: BTC,
        kind: MarketEventKind::Snapshot {
            bids: vec![Level::new(Price(bid), Qty(5_000))],
            asks: vec![Level::new(Price(ask), Qty(5_000))],
        },
    })
}

pub(crate) fn manual(
    side: Side,
    kind: OrderKind,
    price: Option<i64>,
    lots: i64,
    reduce_only: bool,
) -> Input {
    Input::Command(super::Command::Manual(super::ManualOrder {
        spec: OrderSpec {
            instrument: BTC,
            side,
            kind,
            price: price.map(Price),
            qty: Qty(lots),
            tif: if kind == OrderKind::Market {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            },
            reduce_only,
        },
        client_id: None,
    }))
}

/// A fill of `req` in full at `price` ticks.
pub(crate) fn fill(at: Timestamp, seq: u64, req: &OrderRequest, price: i64) -> Input {
    fill_part(
        at,
        seq,
        &req.client_id,
        req.spec.side,
        price,
        req.spec.qty.0,
    )
}

pub(crate) fn fill_part(
    at: Timestamp,
    seq: u64,
    id: &ClientOrderId,
    side: Side,
    price: i64,
    lots: i64,
) -> Input {
    Input::Exec(ExecReport::Filled(Fill {
        seq,
        ts: at,
        client_id: id.clone(),
        instrument: BTC,
        side,
        price: Price(price),
        qty: Qty(lots),
        fee: dec!(0),
        liquidity: Liquidity::Taker,
        fee_base: rust_decimal::Decimal::ZERO,
    }))
}

/// Process one input at `at`; its effects.
pub(crate) fn step(e: &mut Engine, at: Timestamp, input: Input) -> Vec<Effect> {
    let mut out = Vec::new();
    e.process(at, input, &mut out);
    out
}

pub(crate) fn submits(out: &[Effect]) -> Vec<OrderRequest> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Submit(o) => Some((**o).clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn cancels(out: &[Effect]) -> Vec<ClientOrderId> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Cancel(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn alerts(out: &[Effect]) -> Vec<&Alert> {
    out.iter()
        .filter_map(|f| match f {
            Effect::Alert(a) => Some(a),
            _ => None,
        })
        .collect()
}

pub(crate) fn alert_texts(out: &[Effect]) -> String {
    alerts(out)
        .iter()
        .map(|a| format!("[{}] {}", a.kind, a.text))
        .collect::<Vec<_>>()
        .join("\n")
}
