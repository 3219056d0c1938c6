//! Strategies: the [`Strategy`] trait and the built-in strategies, one file each, listed
//! in one table ([`BUILTINS`]) that the config, the wiring and the store read.
//!
//! A strategy never talks to a venue. The engine calls it on book updates, trades, its own
//! fills and order closes, and a timer; it answers with [`Intent`]s that the engine turns
//! into orders (through the risk engine, like every other order) or cancels.

use crate::domain::OrderSpec;

use crate::domain::{
    ClientOrderId, Fill, Instrument, InstrumentId, OpenOrders, Order, OrderBook, OrderTag,
    Position, Qty, StrategyId, Timestamp, TradeTick, TradingState,
};

pub mod edit;
pub mod exit_manager;
mod holding;
pub mod imbalance;
pub mod market_maker;
pub mod orb;
pub mod sizing;
pub mod vwap_revert;

/// What a strategy sees when it is called. Everything is read-only.
pub struct StrategyCtx<'a> {
    pub now: Timestamp,
    /// This strategy's id (its orders carry `Owner::Strategy(id)`).
    pub id: StrategyId,
    /// All instruments, indexed by `InstrumentId`.
    pub instruments: &'a [Instrument],
    /// Current books, indexed by `InstrumentId`.
    pub books: &'a [OrderBook],
    /// Account-wide positions, indexed by `InstrumentId`.
    pub positions: &'a [Position],
    /// Every open order of the account (all owners), by client id.
    pub open_orders: &'a OpenOrders,
    pub trading_state: TradingState,
    /// `[sizing]`: what a risk unit is and how far a risk-sized stop sits.
    pub sizing: &'a sizing::SizingParams,
}

impl<'a> StrategyCtx<'a> {
    pub fn instrument(&self, id: InstrumentId) -> &'a Instrument {
        &self.instruments[id.index()]
    }
    pub fn book(&self, id: InstrumentId) -> &'a OrderBook {
        &self.books[id.index()]
    }
    pub fn position(&self, id: InstrumentId) -> &'a Position {
        &self.positions[id.index()]
    }
    /// This strategy's open orders on an instrument, in client-id order.
    pub fn own_orders(&self, inst: InstrumentId) -> impl Iterator<Item = &'a Order> + 'a {
        let me = crate::domain::Owner::Strategy(self.id);
        self.open_orders
            .values()
            .filter(move |o| o.req.owner == me && o.req.spec.instrument == inst)
    }
}

/// An order a strategy wants. The engine assigns the client id and the owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderIntent {
    /// A limit order carries a price; a market order's is ignored.
    pub spec: OrderSpec,
    pub tag: OrderTag,
    /// A size in risk units ([`sizing`]): the engine replaces the quantity with the one
    /// the risk budget buys, with `spec.qty` as a ceiling when it is not zero. `None`:
    /// `spec.qty` is the quantity.
    pub risk: Option<sizing::RiskSize>,
}

/// What a strategy asks of the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intent {
    Place(OrderIntent),
    /// Place an entry with take-profit and/or stop-loss legs: the engine places the legs
    /// as the entry fills, holds the stop and cancels one leg when the other closes the
    /// position (see `engine/brackets.rs`). The legs are this strategy's orders too.
    PlaceBracket(OrderIntent, crate::domain::BracketLegs),
    /// Cancel one of this strategy's orders.
    Cancel(ClientOrderId),
    /// Cancel all of this strategy's open orders.
    CancelAll,
}

/// A trading strategy. Implementations must be deterministic: no wall clock, no unseeded
/// randomness, no iteration over hash maps in anything that decides.
pub trait Strategy: Send {
    /// Short name shown in the console, e.g. `market-maker`.
    fn name(&self) -> &str;
    /// The instrument it trades, or `None` when it watches all of them.
    fn instrument(&self) -> Option<InstrumentId>;
    /// The book of `inst` changed.
    fn on_book(&mut self, _ctx: &StrategyCtx<'_>, _inst: InstrumentId, _out: &mut Vec<Intent>) {}
    /// A market trade printed on `inst`.
    fn on_trade(
        &mut self,
        _ctx: &StrategyCtx<'_>,
        _inst: InstrumentId,
        _trade: &TradeTick,
        _out: &mut Vec<Intent>,
    ) {
    }
    /// One of this strategy's orders filled (partly or fully).
    fn on_fill(&mut self, _ctx: &StrategyCtx<'_>, _fill: &Fill, _out: &mut Vec<Intent>) {}
    /// One of this strategy's orders reached a terminal state (filled, cancelled, rejected).
    fn on_order_closed(&mut self, _ctx: &StrategyCtx<'_>, _order: &Order, _out: &mut Vec<Intent>) {}
    /// Called on the engine's timer (every `engine.timer_ms` of engine time).
    fn on_timer(&mut self, _ctx: &StrategyCtx<'_>, _out: &mut Vec<Intent>) {}
    /// The strategy was switched off. The engine cancels its open orders; the strategy
    /// forgets any state that would be wrong when it is switched on again.
    fn on_disable(&mut self) {}
    /// The last signal or action, for the console (e.g. `quote 60010.5/60012.0`).
    fn last_signal(&self) -> Option<&str>;
    /// What a restart with new parameters must not forget (the exit manager's peaks, the
    /// imbalance taker's signal count): taken from the old self before it is switched
    /// off, given to the new one by [`Strategy::take_over`]. `None`: nothing to keep.
    fn hand_over(&mut self) -> Option<Box<dyn std::any::Any + Send>> {
        None
    }
    /// The state the same built-in's old self handed over (see [`Strategy::hand_over`]).
    fn take_over(&mut self, _state: Box<dyn std::any::Any + Send>) {}
}

// ---------------------------------------------------------------------------------------
// Configuration and construction of the built-in strategies.
// ---------------------------------------------------------------------------------------

use crate::domain::Invalid;
use rust_decimal::Decimal;

/// `[strategies]` in config.toml: one section per entry of [`BUILTINS`], in the table's
/// order (1 market maker, 2 imbalance taker, 3 exit manager, 4 VWAP mean reversion,
/// 5 opening-range breakout; key N toggles strategy N).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StrategiesConfig {
    /// Strategy 1: two-sided post-only quotes around mid, skewed against inventory.
    pub market_maker: market_maker::MarketMakerParams,
    /// Strategy 2: takes liquidity when top-of-book imbalance and volatility are high.
    pub imbalance: imbalance::ImbalanceParams,
    /// Strategy 3: stop-loss, take-profit and trailing exits on every position.
    pub exit_manager: exit_manager::ExitParams,
    /// Strategy 4: enters toward the session VWAP when the price is stretched k ATRs away.
    pub vwap_revert: vwap_revert::VwapParams,
    /// Strategy 5: trades a breakout of the session's opening range.
    pub orb: orb::OrbParams,
    /// `[[strategies.instance]]`: more copies of the built-ins (strategies 6, 7, … in
    /// order), e.g. a second market maker on another instrument.
    pub instance: Vec<edit::InstanceConfig>,
}

/// How a table entry builds its strategy from the config and the instruments.
pub type BuildFn = fn(&StrategiesConfig, &[Instrument]) -> Result<Box<dyn Strategy>, Invalid>;

/// One built-in strategy: everything the rest of the program needs to know about it.
/// Adding a strategy takes its file, one entry in [`BUILTINS`] and its section (a field
/// of [`StrategiesConfig`]).
pub struct Builtin {
    /// Its name, as [`Strategy::name`] gives it (the console, the store, the audit).
    pub name: &'static str,
    /// Its section under `[strategies]`, the prefix of its keys in errors.
    pub section: &'static str,
    /// Check its section on its own (keys relative to the section).
    pub validate: fn(&StrategiesConfig) -> Result<(), Invalid>,
    /// Build it from its validated section and the instruments (keys relative to the
    /// section).
    pub build: BuildFn,
    /// Whether its section switches it on at start.
    pub enabled: fn(&StrategiesConfig) -> bool,
    /// Its `symbol` key, when it trades one instrument: a replay of another recording and
    /// `pit run --symbol` move it to an instrument that exists.
    pub symbol: Option<fn(&mut StrategiesConfig) -> &mut String>,
    /// Its `size` key (base units of one order), when it has one: the config refuses a
    /// size above `risk.max_order_qty`, which would have every order refused.
    pub size: Option<fn(&StrategiesConfig) -> Decimal>,
    /// Its section as a table of keys (the console edits it, `w` writes it).
    pub table: fn(&StrategiesConfig) -> edit::ParamTable,
    /// Check a table of its keys exactly as the config file's section is checked (keys
    /// relative to the section).
    pub check_table: fn(&edit::ParamTable) -> Result<(), Invalid>,
    /// Build it from a table of its keys: the strategy, and whether it starts on.
    pub from_table: TableBuildFn,
    /// Put a checked table in as its section.
    pub set_section: fn(&mut StrategiesConfig, &edit::ParamTable) -> Result<(), Invalid>,
    /// It counts its own position from its own fills (`holding.rs`): a restart with new
    /// parameters would forget it, so it waits until the strategy is flat with no orders.
    pub keeps_position: bool,
}

/// The most strategies a run holds (sections and instances, removed ones too): the
/// switches are kept in one 64-bit mask.
pub const MAX_STRATEGIES: usize = 64;

/// How a table entry builds its strategy from a table of its keys.
pub type TableBuildFn =
    fn(&edit::ParamTable, &[Instrument]) -> Result<(Box<dyn Strategy>, bool), Invalid>;

/// The five sections' types as [`edit::Params`].
macro_rules! params_of {
    ($($t:ty),*) => {$(
        impl edit::Params for $t {
            fn check(&self) -> Result<(), Invalid> {
                self.validate()
            }
            fn on(&self) -> bool {
                self.enabled
            }
        }
    )*};
}
params_of!(
    market_maker::MarketMakerParams,
    imbalance::ImbalanceParams,
    exit_manager::ExitParams,
    vwap_revert::VwapParams,
    orb::OrbParams
);

/// The built-in strategies, in key order: entry N is strategy N (`StrategyId` N-1).
pub static BUILTINS: [Builtin; 5] = [
    Builtin {
        name: market_maker::NAME,
        section: "market_maker",
        validate: |c| c.market_maker.validate(),
        build: |c, instruments| {
            let s = market_maker::MarketMaker::new(&c.market_maker, instruments)?;
            Ok(Box::new(s))
        },
        enabled: |c| c.market_maker.enabled,
        symbol: Some(|c| &mut c.market_maker.symbol),
        size: Some(|c| c.market_maker.size),
        table: |c| edit::to_table(&c.market_maker),
        check_table: |t| edit::checked::<market_maker::MarketMakerParams>(t).map(drop),
        from_table: |t, i| {
            let p = edit::checked::<market_maker::MarketMakerParams>(t)?;
            let s: Box<dyn Strategy> = Box::new(market_maker::MarketMaker::new(&p, i)?);
            Ok((s, p.enabled))
        },
        set_section: |c, t| {
            c.market_maker = edit::checked(t)?;
            Ok(())
        },
        keeps_position: false,
    },
    Builtin {
        name: imbalance::NAME,
        section: "imbalance",
        validate: |c| c.imbalance.validate(),
        build: |c, instruments| {
            let s = imbalance::ImbalanceTaker::new(&c.imbalance, instruments)?;
            Ok(Box::new(s))
        },
        enabled: |c| c.imbalance.enabled,
        symbol: Some(|c| &mut c.imbalance.symbol),
        size: Some(|c| c.imbalance.size),
        table: |c| edit::to_table(&c.imbalance),
        check_table: |t| edit::checked::<imbalance::ImbalanceParams>(t).map(drop),
        from_table: |t, i| {
            let p = edit::checked::<imbalance::ImbalanceParams>(t)?;
            let s: Box<dyn Strategy> = Box::new(imbalance::ImbalanceTaker::new(&p, i)?);
            Ok((s, p.enabled))
        },
        set_section: |c, t| {
            c.imbalance = edit::checked(t)?;
            Ok(())
        },
        keeps_position: false,
    },
    Builtin {
        name: exit_manager::NAME,
        section: "exit_manager",
        validate: |c| c.exit_manager.validate(),
        build: |c, instruments| {
            let s = exit_manager::ExitManager::new(&c.exit_manager, instruments);
            Ok(Box::new(s))
        },
        enabled: |c| c.exit_manager.enabled,
        symbol: None,
        size: None,
        table: |c| edit::to_table(&c.exit_manager),
        check_table: |t| edit::checked::<exit_manager::ExitParams>(t).map(drop),
        from_table: |t, i| {
            let p = edit::checked::<exit_manager::ExitParams>(t)?;
            let s: Box<dyn Strategy> = Box::new(exit_manager::ExitManager::new(&p, i));
            Ok((s, p.enabled))
        },
        set_section: |c, t| {
            c.exit_manager = edit::checked(t)?;
            Ok(())
        },
        keeps_position: false,
    },
    Builtin {
        name: vwap_revert::NAME,
        section: "vwap_revert",
        validate: |c| c.vwap_revert.validate(),
        build: |c, instruments| {
            let s = vwap_revert::VwapReversion::new(&c.vwap_revert, instruments)?;
            Ok(Box::new(s))
        },
        enabled: |c| c.vwap_revert.enabled,
        symbol: Some(|c| &mut c.vwap_revert.symbol),
        size: Some(|c| c.vwap_revert.size),
        table: |c| edit::to_table(&c.vwap_revert),
        check_table: |t| edit::checked::<vwap_revert::VwapParams>(t).map(drop),
        from_table: |t, i| {
            let p = edit::checked::<vwap_revert::VwapParams>(t)?;
            let s: Box<dyn Strategy> = Box::new(vwap_revert::VwapReversion::new(&p, i)?);
            Ok((s, p.enabled))
        },
        set_section: |c, t| {
            c.vwap_revert = edit::checked(t)?;
            Ok(())
        },
        keeps_position: true,
    },
    Builtin {
        name: orb::NAME,
        section: "orb",
        validate: |c| c.orb.validate(),
        build: |c, instruments| {
            let s = orb::OpeningRangeBreakout::new(&c.orb, instruments)?;
            Ok(Box::new(s))
        },
        enabled: |c| c.orb.enabled,
        symbol: Some(|c| &mut c.orb.symbol),
        size: Some(|c| c.orb.size),
        table: |c| edit::to_table(&c.orb),
        check_table: |t| edit::checked::<orb::OrbParams>(t).map(drop),
        from_table: |t, i| {
            let p = edit::checked::<orb::OrbParams>(t)?;
            let s: Box<dyn Strategy> = Box::new(orb::OpeningRangeBreakout::new(&p, i)?);
            Ok((s, p.enabled))
        },
        set_section: |c, t| {
            c.orb = edit::checked(t)?;
            Ok(())
        },
        keeps_position: true,
    },
];

impl StrategiesConfig {
    /// Checks every section on its own (no instruments needed); keys are prefixed with the
    /// section, e.g. `market_maker.spread_bps`.
    pub fn validate(&self) -> Result<(), Invalid> {
        for b in &BUILTINS {
            (b.validate)(self).map_err(|e| prefixed(b.section, e))?;
        }
        if BUILTINS.len() + self.instance.len() > MAX_STRATEGIES {
            return Err(Invalid::new(
                "instance",
                format!(
                    "{} instances; a run holds at most {} (with the {} sections)",
                    self.instance.len(),
                    MAX_STRATEGIES - BUILTINS.len(),
                    BUILTINS.len()
                ),
            ));
        }
        let mut names: Vec<String> = BUILTINS.iter().map(|b| b.name.to_string()).collect();
        for (n, inst) in self.instance.iter().enumerate() {
            let key = format!("instance[{n}]");
            edit::check_instance(inst).map_err(|e| prefixed(&key, e))?;
            let name = edit::instance_name(inst, n);
            if names.contains(&name) {
                return Err(Invalid::new(
                    format!("{key}.name"),
                    format!("{name:?} is taken by another strategy; give this one its own name"),
                ));
            }
            names.push(name);
        }
        Ok(())
    }
}

/// A built strategy and whether it starts switched on.
pub struct StrategySlot {
    /// The strategy; its index in the list is its `StrategyId`.
    pub strategy: Box<dyn Strategy>,
    /// Switched on at start-up (from the section's `enabled`).
    pub enabled: bool,
    /// Its name in the console, the store and the audit: the built-in's for a section,
    /// the instance's own for `[[strategies.instance]]`.
    pub name: String,
    /// Its entry in [`BUILTINS`].
    pub kind: usize,
    /// Its parameters: its section's keys.
    pub params: edit::ParamTable,
    /// An instance removed from the console: switched off for good, its id kept (its
    /// orders named it), not shown.
    pub removed: bool,
    /// An instance added from the console (not a section or an instance of the file).
    pub added: bool,
}

impl StrategySlot {
    /// A slot for a strategy built by hand (tests): named as the strategy names itself,
    /// with no parameters to edit.
    pub fn of(strategy: Box<dyn Strategy>, enabled: bool) -> Self {
        let name = strategy.name().to_string();
        let kind = BUILTINS.iter().position(|b| b.name == name).unwrap_or(0);
        StrategySlot {
            strategy,
            enabled,
            name,
            kind,
            params: edit::ParamTable::new(),
            removed: false,
            added: false,
        }
    }
    /// Whether it is one of the config's sections (not an instance): it can be switched
    /// off, not removed.
    pub fn is_section(&self, id: usize) -> bool {
        id < BUILTINS.len()
    }
}

impl std::fmt::Debug for StrategySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategySlot")
            .field("name", &self.name)
            .field("instrument", &self.strategy.instrument())
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Builds the strategies in key order ([`BUILTINS`]: market maker, imbalance taker, exit
/// manager, VWAP mean reversion, opening-range breakout); strategy N in the returned list gets `StrategyId` N-1. An unknown symbol or
/// a nonsense value is refused with the key relative to `[strategies]`, e.g.
/// `market_maker.symbol`. Symbols are matched exactly against [`Instrument::symbol`]; the
/// first match wins.
pub fn build(
    cfg: &StrategiesConfig,
    instruments: &[Instrument],
) -> Result<Vec<StrategySlot>, Invalid> {
    cfg.validate()?;
    let mut slots = BUILTINS
        .iter()
        .enumerate()
        .map(|(kind, b)| {
            Ok(StrategySlot {
                strategy: (b.build)(cfg, instruments).map_err(|e| prefixed(b.section, e))?,
                enabled: (b.enabled)(cfg),
                name: b.name.to_string(),
                kind,
                params: (b.table)(cfg),
                removed: false,
                added: false,
            })
        })
        .collect::<Result<Vec<_>, Invalid>>()?;
    for (n, inst) in cfg.instance.iter().enumerate() {
        let slot = edit::build_instance(inst, instruments, n)
            .map_err(|e| prefixed(&format!("instance[{n}]"), e))?;
        slots.push(slot);
    }
    Ok(slots)
}

fn prefixed(section: &str, e: Invalid) -> Invalid {
    Invalid::new(format!("{section}.{}", e.key), e.message)
}

/// The instrument named `symbol` (key `symbol` when unknown).
fn find_instrument<'a>(
    instruments: &'a [Instrument],
    symbol: &str,
) -> Result<&'a Instrument, Invalid> {
    instruments
        .iter()
        .find(|i| i.symbol == symbol)
        .ok_or_else(|| {
            let known: Vec<&str> = instruments.iter().map(|i| i.symbol.as_str()).collect();
            Invalid::new(
                "symbol",
                format!(
                    "unknown instrument {symbol:?} (known: {})",
                    known.join(", ")
                ),
            )
        })
}

/// A size in base units as whole lots of `inst`, at least the instrument's minimum order
/// size (key `key` otherwise).
fn order_lots(inst: &Instrument, size: Decimal, key: &str) -> Result<Qty, Invalid> {
    let lots = inst.qty_floor(size);
    let min = min_lots(inst);
    if lots < min {
        return Err(Invalid::new(
            key,
            format!(
                "{size} is below the minimum order size {} of {}",
                inst.qty(min),
                inst.symbol
            ),
        ));
    }
    Ok(lots)
}

/// The smallest order an instrument takes, in lots (never below one lot).
fn min_lots(inst: &Instrument) -> Qty {
    Qty(inst.min_qty.0.max(1))
}

/// Milliseconds as engine-time nanoseconds.
fn ms_to_nanos(ms: u64) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}

/// Positive decimal check shared by the params' `validate`.
fn require_positive(key: &str, v: Decimal) -> Result<(), Invalid> {
    if v <= Decimal::ZERO {
        return Err(Invalid::new(key, format!("must be > 0 (got {v})")));
    }
    Ok(())
}

/// Non-negative decimal check shared by the params' `validate`.
fn require_non_negative(key: &str, v: Decimal) -> Result<(), Invalid> {
    if v < Decimal::ZERO {
        return Err(Invalid::new(key, format!("must be >= 0 (got {v})")));
    }
    Ok(())
}

/// Hand-built contexts for the strategies' unit tests: a tiny stand-in for the engine.
#[cfg(test)]
pub(crate) mod test_util {
    use super::*;
    use crate::domain::{Level, OrderRequest, Owner};
    use rust_decimal_macros::dec;

    /// BTC-USD: tick 0.1, lot 0.001, minimum one lot.
    pub fn btc(id: u16) -> Instrument {
        Instrument::new(
            InstrumentId(id),
            "BTC-USD",
            "sim",
            dec!(0.1),
            dec!(0.001),
            Qty(1),
        )
    }

    /// ETH-USD: tick 0.01, lot 0.01, minimum one lot.
    pub fn eth(id: u16) -> Instrument {
        Instrument::new(
            InstrumentId(id),
            "ETH-USD",
            "sim",
            dec!(0.01),
            dec!(0.01),
            Qty(1),
        )
    }

    /// A fill of `qty` lots at `price` ticks for order `cid` on instrument 0.
    pub fn fill(
        cid: &ClientOrderId,
        side: crate::domain::Side,
        price: i64,
        qty: i64,
        ts_ms: i64,
    ) -> Fill {
        Fill {
            seq: 1,
            ts: Timestamp::from_millis(ts_ms),
            client_id: cid.clone(),
            instrument: InstrumentId(0),
            side,
            price: crate::domain::Price(price),
            qty: Qty(qty),
            fee: Decimal::ZERO,
            liquidity: crate::domain::Liquidity::Taker,
            fee_base: rust_decimal::Decimal::ZERO,
        }
    }

    /// The order intents in `out`, in order.
    pub fn placed(out: &[Intent]) -> Vec<OrderIntent> {
        out.iter()
            .filter_map(|i| match i {
                Intent::Place(o) => Some(o.clone()),
                _ => None,
            })
            .collect()
    }

    /// What the engine would hold: instruments, books, positions and open orders.
    #[derive(Clone, Debug)]
    pub struct World {
        pub instruments: Vec<Instrument>,
        pub books: Vec<OrderBook>,
        pub positions: Vec<Position>,
        pub orders: OpenOrders,
        pub state: TradingState,
        pub sizing: sizing::SizingParams,
        next_id: u64,
    }

    impl World {
        pub fn new(instruments: Vec<Instrument>) -> Self {
            let n = instruments.len();
            World {
                books: vec![OrderBook::new(); n],
                positions: (0..n)
                    .map(|i| Position::new(InstrumentId(i as u16)))
                    .collect(),
                instruments,
                orders: OpenOrders::new(),
                state: TradingState::Active,
                sizing: sizing::SizingParams::default(),
                next_id: 0,
            }
        }

        /// Replace a book: `(price ticks, qty lots)` per level.
        pub fn book(&mut self, i: usize, bids: &[(i64, i64)], asks: &[(i64, i64)]) {
            let lv = |&(p, q): &(i64, i64)| Level::new(crate::domain::Price(p), Qty(q));
            self.books[i].apply_snapshot(bids.iter().map(lv), asks.iter().map(lv));
        }

        pub fn position(&mut self, i: usize, qty: Decimal, avg: Decimal) {
            self.positions[i].qty = qty;
            self.positions[i].avg_price = if qty.is_zero() { Decimal::ZERO } else { avg };
        }

        pub fn ctx(&self, now_ms: i64, id: StrategyId) -> StrategyCtx<'_> {
            StrategyCtx {
                now: Timestamp::from_millis(now_ms),
                id,
                instruments: &self.instruments,
                books: &self.books,
                positions: &self.positions,
                open_orders: &self.orders,
                trading_state: self.state,
                sizing: &self.sizing,
            }
        }

        /// Do what the engine would with a strategy's intents: places become open orders
        /// (ids returned in order), cancels become pending.
        pub fn apply(&mut self, id: StrategyId, out: &[Intent], now_ms: i64) -> Vec<ClientOrderId> {
            let mut ids = Vec::new();
            for i in out {
                match i {
                    Intent::Place(o) | Intent::PlaceBracket(o, _) => {
                        self.next_id += 1;
                        let cid = ClientOrderId::new(format!("s{id}-{:04}", self.next_id));
                        let req = OrderRequest {
                            client_id: cid.clone(),
                            spec: o.spec,
                            owner: Owner::Strategy(id),
                            tag: o.tag,
                        };
                        self.orders
                            .insert(cid.clone(), Order::new(req, Timestamp::from_millis(now_ms)));
                        ids.push(cid);
                    }
                    Intent::Cancel(cid) => self.cancel_pending(cid),
                    Intent::CancelAll => {
                        let me = Owner::Strategy(id);
                        for o in self.orders.values_mut() {
                            if o.req.owner == me {
                                o.cancel_pending = true;
                            }
                        }
                    }
                }
            }
            ids
        }

        pub fn cancel_pending(&mut self, cid: &ClientOrderId) {
            if let Some(o) = self.orders.get_mut(cid) {
                o.cancel_pending = true;
            }
        }

        /// The order left the open set (filled, cancelled or rejected); returns it.
        pub fn close(&mut self, cid: &ClientOrderId) -> Order {
            self.orders.remove(cid).expect("open order")
        }
    }
}

#[cfg(test)]
mod build_tests {
    use super::test_util::{btc, eth};
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn each_table_entry_names_its_strategy_and_its_section() {
        let slots = build(&StrategiesConfig::default(), &[btc(0)]).unwrap();
        assert_eq!(slots.len(), BUILTINS.len());
        for (slot, b) in slots.iter().zip(&BUILTINS) {
            assert_eq!(slot.strategy.name(), b.name);
            let text = format!("[{}]\nenabled = false\n", b.section);
            let mut cfg: StrategiesConfig = toml::from_str(&text).unwrap();
            assert!(!(b.enabled)(&cfg), "{}", b.section);
            if let Some(symbol_of) = b.symbol {
                *symbol_of(&mut cfg) = "ETH-USD".into();
                let table = (b.table)(&cfg);
                assert_eq!(table["symbol"].as_str(), Some("ETH-USD"), "{}", b.section);
            }
        }
    }

    #[test]
    fn builds_in_key_order_and_carries_enabled_flags() {
        let mut cfg = StrategiesConfig::default();
        cfg.market_maker.enabled = false;
        let slots = build(&cfg, &[eth(0), btc(1)]).unwrap();
        let names: Vec<&str> = slots.iter().map(|s| s.strategy.name()).collect();
        assert_eq!(
            names,
            [
                "market-maker",
                "imbalance",
                "exit-manager",
                "vwap-revert",
                "orb-breakout"
            ]
        );
        let enabled: Vec<bool> = slots.iter().map(|s| s.enabled).collect();
        // Only the exit manager is on unless a section says otherwise (the market maker
        // is switched off above; the imbalance taker is off by default).
        assert_eq!(enabled, [false, false, true, false, false]);
        assert_eq!(slots[0].strategy.instrument(), Some(InstrumentId(1)));
        assert_eq!(slots[1].strategy.instrument(), Some(InstrumentId(1)));
        assert_eq!(slots[2].strategy.instrument(), None);
        assert!(slots.iter().all(|s| s.strategy.last_signal().is_none()));
    }

    #[test]
    fn unknown_symbol_is_refused_naming_the_key() {
        let mut cfg = StrategiesConfig::default();
        cfg.market_maker.symbol = "DOGE-USD".into();
        let e = build(&cfg, &[btc(0)]).unwrap_err();
        assert_eq!(e.key, "market_maker.symbol");
        assert!(
            e.message.contains("DOGE-USD") && e.message.contains("BTC-USD"),
            "{e}"
        );

        let mut cfg = StrategiesConfig::default();
        cfg.imbalance.symbol = "ETH-USD".into();
        assert_eq!(build(&cfg, &[btc(0)]).unwrap_err().key, "imbalance.symbol");
    }

    #[test]
    fn nonsense_values_are_refused_naming_the_key() {
        let mut cfg = StrategiesConfig::default();
        cfg.market_maker.size = dec!(0.0004); // below one lot of 0.001
        assert_eq!(build(&cfg, &[btc(0)]).unwrap_err().key, "market_maker.size");
        let mut cfg = StrategiesConfig::default();
        cfg.imbalance.imbalance_threshold = dec!(2);
        assert_eq!(
            build(&cfg, &[btc(0)]).unwrap_err().key,
            "imbalance.imbalance_threshold"
        );
        let mut cfg = StrategiesConfig::default();
        cfg.exit_manager.stop_loss_bps = dec!(-5);
        assert_eq!(
            build(&cfg, &[btc(0)]).unwrap_err().key,
            "exit_manager.stop_loss_bps"
        );
    }

    #[test]
    fn deserializes_from_toml_with_defaults_ints_and_floats() {
        let cfg: StrategiesConfig = toml::from_str(
            r#"
            [market_maker]
            enabled = true
            spread_bps = 3
            size = 0.002
            [imbalance]
            imbalance_threshold = 0.7
            [exit_manager]
            trailing_bps = 0
            "#,
        )
        .unwrap();
        assert!(cfg.market_maker.enabled);
        assert_eq!(cfg.market_maker.spread_bps, dec!(3));
        assert_eq!(cfg.market_maker.size, dec!(0.002));
        assert_eq!(cfg.market_maker.symbol, "BTC-USD");
        assert_eq!(cfg.imbalance.imbalance_threshold, dec!(0.7));
        assert_eq!(cfg.imbalance.levels, 5);
        assert_eq!(cfg.exit_manager.trailing_bps, dec!(0));
        assert_eq!(cfg.exit_manager.stop_loss_bps, dec!(50));
        assert_eq!(cfg.validate(), Ok(()));
        let empty: StrategiesConfig = toml::from_str("").unwrap();
        assert_eq!(empty, StrategiesConfig::default());

        let err = toml::from_str::<StrategiesConfig>("[market_maker]\nspred_bps = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("spred_bps"), "{err}");
        assert!(
            toml::from_str::<StrategiesConfig>("[exit_manager]\nsymbol = \"BTC-USD\"\n").is_err()
        );
    }
}
