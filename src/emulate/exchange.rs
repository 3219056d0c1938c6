//! The emulated exchange: the built-in simulated market ([`SimMarket`]) as the order book
//! every client sees, the paper fill model ([`PaperVenue`], zero latency) as the matching
//! engine, and on top of them what Binance keeps per account: orders with Binance ids and
//! statuses, balances (free and locked), trades, and the user data stream's events.
//!
//! Fills follow the paper model (see `venue/paper`): takers walk the book, resting orders
//! fill as makers when the market trades at or through them. Commission is Binance's
//! default: `rate * notional`, charged in the asset received (a buy pays in the base asset,
//! a sell in the quote asset), at 0.1% maker and taker. Our orders do not move the
//! published book (the simulated market does not see them); the paper model remembers the
//! liquidity they took.

use crate::domain::{
    ClientOrderId, ExecReport, Fill, FilterOrder, Instrument, InstrumentId, Liquidity, MarketEvent,
    MarketEventKind, OrderBook, OrderKind, OrderRequest, OrderSpec, OrderTag, Owner, Price, Qty,
    Side as DSide, TimeInForce as DTif, Timestamp, TradingGate,
};
use crate::venue::exchanges::binance::api::errors::{ApiError, code, msg};
use crate::venue::exchanges::binance::api::filters::{SymbolFilter, SymbolRules, order_type_name};
use crate::venue::exchanges::binance::api::wire::{
    Account, Balance, CancelResponse, CommissionRates, DepthSnapshot, ExchangeInfo,
    ExecutionReport, ExecutionType, MyTrade, MyTradesParams, NewOrderParams, NewOrderResponse,
    OrderFill, OrderRespType, OrderStatus, OrderType, PositionBalance, QueriedOrder, RateLimit,
    Side, SymbolInfo, TimeInForce, UserEvent,
};
use crate::venue::paper::{PaperParams, PaperVenue};
use crate::venue::sim::SimMarket;
use crate::venue::sim::params::SimParams;
use crate::venue::{ExecutionPort, MarketDataPort};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Commission rate, maker and taker: Binance's base spot rate (0.1%).
pub const COMMISSION_BPS: i64 = 10;

/// A symbol the emulator lists.
#[derive(Debug, Clone)]
pub struct SymbolSpec {
    pub symbol: String,
    pub base: String,
    pub quote: String,
    pub tick: Decimal,
    pub lot: Decimal,
    pub start_price: Decimal,
    /// NOTIONAL's minNotional, in the quote asset.
    pub min_notional: Decimal,
    /// A linear perpetual (quantities in the base coin, settled in the quote asset): a
    /// fill moves a signed net position and books its realized PnL and fee in the quote
    /// asset, instead of moving the base asset (see [`Exchange::position`]). An open
    /// order locks its notional in the quote asset (1x: no leverage), a reduce-only one
    /// nothing; a position holds no margin, pays no funding and is never liquidated.
    pub linear: bool,
}

/// BTCUSDT and ETHUSDT, on the grids of pit's default simulated instruments.
pub fn default_symbols() -> Vec<SymbolSpec> {
    vec![
        SymbolSpec {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
            quote: "USDT".into(),
            tick: Decimal::new(1, 1),
            lot: Decimal::new(1, 3),
            start_price: Decimal::from(60_000),
            min_notional: Decimal::from(5),
            linear: false,
        },
        SymbolSpec {
            symbol: "ETHUSDT".into(),
            base: "ETH".into(),
            quote: "USDT".into(),
            tick: Decimal::new(1, 2),
            lot: Decimal::new(1, 2),
            start_price: Decimal::from(3_000),
            min_notional: Decimal::from(5),
            linear: false,
        },
    ]
}

/// A linear BTC perpetual settled in USDT (core symbol `BTCUSDTSWAP`), its quantities in
/// BTC on a lot of `lot` BTC (one contract of 0.01 BTC at OKX), listed after
/// [`default_symbols`] by `pit emulate okx`.
pub fn btc_linear_perpetual(lot: Decimal) -> SymbolSpec {
    SymbolSpec {
        symbol: "BTCUSDTSWAP".into(),
        base: "BTC".into(),
        quote: "USDT".into(),
        tick: Decimal::new(1, 1),
        lot,
        start_price: Decimal::from(60_000),
        min_notional: Decimal::ZERO,
        linear: true,
    }
}

/// The exchangeInfo filters of a symbol (real-looking: as Binance lists BTCUSDT's, less
/// PERCENT_PRICE_BY_SIDE, so that a rehearsal or a test can rest an order far from the
/// market; pit checks that filter too when a venue lists it).
pub fn filters_for(s: &SymbolSpec) -> Vec<SymbolFilter> {
    let d8 = |x: Decimal| d8(x);
    let s = &SymbolSpec {
        tick: d8(s.tick),
        lot: d8(s.lot),
        min_notional: d8(s.min_notional),
        ..s.clone()
    };
    vec![
        SymbolFilter::PriceFilter {
            min_price: s.tick,
            max_price: d8(Decimal::from(1_000_000)),
            tick_size: s.tick,
        },
        SymbolFilter::LotSize {
            min_qty: s.lot,
            max_qty: d8(Decimal::from(9_000)),
            step_size: s.lot,
        },
        SymbolFilter::MarketLotSize {
            min_qty: d8(Decimal::ZERO),
            max_qty: d8(Decimal::from(100)),
            step_size: d8(Decimal::ZERO),
        },
        SymbolFilter::Notional {
            min_notional: s.min_notional,
            apply_min_to_market: true,
            max_notional: d8(Decimal::from(9_000_000)),
            apply_max_to_market: false,
            avg_price_mins: 5,
        },
        SymbolFilter::MaxNumOrders {
            max_num_orders: MAX_NUM_ORDERS,
        },
    ]
}

/// MAX_NUM_ORDERS per symbol, as Binance lists BTCUSDT's (filters.md).
pub const MAX_NUM_ORDERS: u32 = 200;
/// EXCHANGE_MAX_NUM_ORDERS of the account (filters.md, "Exchange Filters").
pub const EXCHANGE_MAX_NUM_ORDERS: u32 = 1_000;

/// exchangeInfo's `exchangeFilters`.
pub fn exchange_filters() -> Vec<serde_json::Value> {
    vec![serde_json::json!({
        "filterType": "EXCHANGE_MAX_NUM_ORDERS",
        "maxNumOrders": EXCHANGE_MAX_NUM_ORDERS,
    })]
}

/// One symbol of exchangeInfo: what the emulator publishes and also what it checks
/// orders against (the same [`SymbolRules`] pit's risk engine checks).
pub fn symbol_info(s: &SymbolSpec) -> SymbolInfo {
    SymbolInfo {
        symbol: s.symbol.clone(),
        status: "TRADING".into(),
        base_asset: s.base.clone(),
        base_asset_precision: 8,
        quote_asset: s.quote.clone(),
        quote_asset_precision: 8,
        order_types: vec!["LIMIT".into(), "LIMIT_MAKER".into(), "MARKET".into()],
        is_spot_trading_allowed: true,
        filters: filters_for(s),
    }
}

/// One order as the exchange keeps it.
#[derive(Debug, Clone)]
pub struct Order {
    pub order_id: u64,
    pub client_order_id: String,
    pub inst: usize,
    pub side: Side,
    pub order_type: OrderType,
    pub tif: TimeInForce,
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    pub cum_quote: Decimal,
    pub status: OrderStatus,
    pub time: i64,
    pub update_time: i64,
    pub working_time: Option<i64>,
    /// What is still locked for it, in the quote asset (buy) or the base asset (sell).
    locked: Decimal,
    /// A linear perpetual's order (Bybit's `linear` category): it moves a position, not
    /// the base asset; see [`Exchange::place_linear`].
    pub linear: bool,
}

/// A linear perpetual's position in one symbol, one-way mode: `size` signed (long
/// positive), `avg` the average entry price (zero when flat).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinearPosition {
    pub size: Decimal,
    pub avg: Decimal,
}

impl LinearPosition {
    /// After a fill of `qty` (signed: buy positive) at `price`: the position and the PnL
    /// realised by the part that reduced it. Adding to a position averages its entry
    /// price; reducing realises `(price - avg)` per unit of a long (`avg - price` of a
    /// short) and keeps the entry price; going through zero opens the rest at `price`.
    pub fn fill(self, qty: Decimal, price: Decimal) -> (LinearPosition, Decimal) {
        let mut p = self;
        let mut realised = Decimal::ZERO;
        if p.size.is_zero() || p.size.is_sign_positive() == qty.is_sign_positive() {
            let size = p.size + qty;
            if !size.is_zero() {
                p.avg = (p.avg * p.size.abs() + price * qty.abs()) / size.abs();
            }
            p.size = size;
        } else {
            let closed = qty.abs().min(p.size.abs());
            realised = if p.size.is_sign_positive() {
                (price - p.avg) * closed
            } else {
                (p.avg - price) * closed
            };
            let size = p.size + qty;
            if size.is_zero() {
                p.avg = Decimal::ZERO;
            } else if size.is_sign_positive() != p.size.is_sign_positive() {
                p.avg = price;
            }
            p.size = size;
        }
        p.avg = p.avg.round_dp(8);
        (p, realised)
    }
}

/// A reduce-only order that would not reduce the position (none, or on its side).
pub const REDUCE_ONLY_NO_POSITION: &str = "reduce-only: no position to reduce on that side";
/// A reduce-only order (with the others open on its side) larger than the position.
pub const REDUCE_ONLY_TOO_LARGE: &str = "reduce-only: larger than the position";

/// A failed request: HTTP status and Binance's error body.
pub type Refusal = (u16, ApiError);

fn bad(code: i64, m: impl Into<String>) -> Refusal {
    (400, ApiError::new(code, m))
}

fn d8(mut x: Decimal) -> Decimal {
    x.rescale(8);
    x
}

fn dside(s: Side) -> DSide {
    match s {
        Side::Buy => DSide::Buy,
        Side::Sell => DSide::Sell,
    }
}

/// The emulated exchange. Not thread-safe by itself: the server holds it in a mutex.
pub struct Exchange {
    specs: Vec<SymbolSpec>,
    instruments: Vec<Instrument>,
    rules: Vec<SymbolRules>,
    market: SimMarket,
    paper: PaperVenue,
    books: Vec<OrderBook>,
    /// Per symbol: the last depth update id, and the diff not yet published.
    update_ids: Vec<u64>,
    diffs: Vec<Diff>,
    /// Trades printed by the simulated market, not yet published: (symbol index, id, price,
    /// qty, time ms, buyer is maker).
    prints: Vec<(usize, u64, Decimal, Decimal, i64, bool)>,
    next_print_id: u64,
    orders: BTreeMap<u64, Order>,
    next_order_id: u64,
    next_trade_id: u64,
    next_exec_id: u64,
    trades: Vec<MyTrade>,
    balances: BTreeMap<String, (Decimal, Decimal)>,
    events: Vec<UserEvent>,
    reports: Vec<ExecReport>,
    uid: u64,
    /// Every fee in the quote asset (Kraken's `oflags=fciq`), else a buy's in the base.
    fees_in_quote: bool,
    /// Linear perpetual positions per symbol index (moved by linear orders only).
    positions: BTreeMap<usize, LinearPosition>,
    /// The order being placed is a linear one (set by [`Exchange::place_linear`]).
    placing_linear: bool,
    /// The reduce-only orders (their ids).
    reduce_only: std::collections::BTreeSet<u64>,
}

#[derive(Default, Debug)]
struct Diff {
    first: Option<u64>,
    bids: BTreeMap<Price, Qty>,
    asks: BTreeMap<Price, Qty>,
}

impl Exchange {
    /// An exchange listing `specs`, the account holding `balances`, its market seeded with
    /// `seed` and starting at `now_ns` (Unix time).
    pub fn new(
        specs: Vec<SymbolSpec>,
        balances: &[(String, Decimal)],
        seed: u64,
        now_ns: i64,
    ) -> Self {
        let instruments: Vec<Instrument> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Instrument::new(
                    InstrumentId(i as u16),
                    s.symbol.clone(),
                    "binance",
                    s.tick,
                    s.lot,
                    Qty(1),
                )
            })
            .collect();
        let starts: Vec<Decimal> = specs.iter().map(|s| s.start_price).collect();
        let market = SimMarket::new(
            &SimParams::default(),
            instruments.clone(),
            &starts,
            seed,
            Timestamp(now_ns),
        );
        let paper = PaperVenue::new(
            &PaperParams {
                latency_in_ms: 0,
                latency_out_ms: 0,
                maker_fee_bps: Decimal::from(COMMISSION_BPS),
                taker_fee_bps: Decimal::from(COMMISSION_BPS),
            },
            instruments.clone(),
            TradingGate::new(true),
        );
        let n = specs.len();
        let mut ex = Exchange {
            rules: specs
                .iter()
                .map(|s| SymbolRules::from_info(&symbol_info(s), &exchange_filters()))
                .collect(),
            specs,
            instruments,
            market,
            paper,
            books: (0..n).map(|_| OrderBook::new()).collect(),
            update_ids: vec![1_000; n],
            diffs: (0..n).map(|_| Diff::default()).collect(),
            prints: Vec::new(),
            next_print_id: 1,
            orders: BTreeMap::new(),
            next_order_id: 1,
            next_trade_id: 1,
            next_exec_id: 1,
            trades: Vec::new(),
            balances: BTreeMap::new(),
            events: Vec::new(),
            reports: Vec::new(),
            uid: 354_937_868,
            fees_in_quote: false,
            positions: BTreeMap::new(),
            placing_linear: false,
            reduce_only: Default::default(),
        };
        for (asset, amount) in balances {
            ex.balances.insert(asset.clone(), (*amount, Decimal::ZERO));
        }
        ex.advance(now_ns);
        ex
    }

    /// Charge every fee in the quote asset from now on (a buy's too).
    pub fn charge_fees_in_quote(&mut self) {
        self.fees_in_quote = true;
    }

    pub fn specs(&self) -> &[SymbolSpec] {
        &self.specs
    }

    /// Places a linear perpetual order (USDT-margined, one-way mode) with the checks of
    /// [`Exchange::place`] but no balance locked: it moves the symbol's position, its fee
    /// and realised PnL settle in the quote asset. Margin is not emulated (a divergence:
    /// no initial margin is checked or held, no liquidation).
    pub fn place_linear(
        &mut self,
        p: NewOrderParams,
        now_ns: i64,
    ) -> Result<NewOrderResponse, Refusal> {
        self.placing_linear = true;
        let r = self.place(p, now_ns);
        self.placing_linear = false;
        r
    }

    /// Whether order `oid` is a linear one.
    pub fn is_linear(&self, oid: u64) -> bool {
        self.orders.get(&oid).is_some_and(|o| o.linear)
    }

    /// The linear position of `symbol` (flat if none).
    pub fn position(&self, symbol: &str) -> LinearPosition {
        self.index(symbol)
            .ok()
            .and_then(|i| self.positions.get(&i).copied())
            .unwrap_or_default()
    }

    /// Sets the linear position of `symbol` behind the account's back (a fault: a
    /// position moved by something else than the account's orders, as a liquidation or
    /// another client would).
    pub fn set_position(
        &mut self,
        symbol: &str,
        size: Decimal,
        avg: Decimal,
    ) -> Result<(), Refusal> {
        let i = self.index(symbol)?;
        self.positions.insert(i, LinearPosition { size, avg });
        Ok(())
    }

    /// A linear fill of `qty` (signed: buy positive) at `price` on symbol `i`: the PnL
    /// realised by the part that reduced the position (see [`LinearPosition::fill`]).
    fn move_position(&mut self, i: usize, qty: Decimal, price: Decimal) -> Decimal {
        let p = self.positions.entry(i).or_default();
        let (next, realised) = p.fill(qty, price);
        *p = next;
        realised
    }

    fn index(&self, symbol: &str) -> Result<usize, Refusal> {
        self.specs
            .iter()
            .position(|s| s.symbol == symbol)
            .ok_or_else(|| bad(code::BAD_SYMBOL, msg::INVALID_SYMBOL))
    }

    /// Runs the simulated market up to `now_ns`: the books, the paper venue's maker fills.
    pub fn advance(&mut self, now_ns: i64) {
        while let Some(t) = self.market.peek_time() {
            if t.0 > now_ns {
                break;
            }
            let Some(ev) = self.market.next_event() else {
                break;
            };
            self.paper.on_market(&ev);
            self.apply_market(&ev);
        }
        self.poll(now_ns);
    }

    fn apply_market(&mut self, ev: &MarketEvent) {
        let i = ev.instrument.index();
        let (Some(book), Some(diff)) = (self.books.get_mut(i), self.diffs.get_mut(i)) else {
            return;
        };
        match &ev.kind {
            MarketEventKind::Snapshot { bids, asks } => {
                // Published as a diff that deletes every old level and sets every new one.
                for l in book.levels(DSide::Buy) {
                    diff.bids.insert(l.price, Qty(0));
                }
                for l in book.levels(DSide::Sell) {
                    diff.asks.insert(l.price, Qty(0));
                }
                book.apply_snapshot(bids.iter().copied(), asks.iter().copied());
                for l in bids {
                    diff.bids.insert(l.price, l.qty);
                }
                for l in asks {
                    diff.asks.insert(l.price, l.qty);
                }
            }
            MarketEventKind::Level { side, price, qty } => {
                book.update(*side, *price, *qty);
                match side {
                    DSide::Buy => diff.bids.insert(*price, *qty),
                    DSide::Sell => diff.asks.insert(*price, *qty),
                };
            }
            MarketEventKind::Trade(t) => {
                let inst = &self.instruments[i];
                self.prints.push((
                    i,
                    self.next_print_id,
                    inst.price(t.price),
                    inst.qty(t.qty),
                    t.ts.0 / 1_000_000,
                    t.aggressor == DSide::Sell,
                ));
                self.next_print_id += 1;
                return;
            }
            MarketEventKind::Resyncing { .. } => return,
        }
        self.update_ids[i] += 1;
        diff.first.get_or_insert(self.update_ids[i]);
    }

    /// The market-data frames due: per symbol a `depthUpdate` (then a `bookTicker` whose
    /// `u` is that diff's last id) and the `trade` prints, as `(stream name, data)`.
    pub fn flush_market(&mut self, now_ms: i64) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        for (i, diff) in self.diffs.iter_mut().enumerate() {
            let Some(first) = diff.first.take() else {
                continue;
            };
            let inst = &self.instruments[i];
            let lower = self.specs[i].symbol.to_ascii_lowercase();
            let levels = |m: &BTreeMap<Price, Qty>| -> Vec<[String; 2]> {
                m.iter()
                    .map(|(p, q)| [d8(inst.price(*p)).to_string(), d8(inst.qty(*q)).to_string()])
                    .collect()
            };
            let u = self.update_ids[i];
            out.push((
                format!("{lower}@depth@100ms"),
                json!({"e": "depthUpdate", "E": now_ms, "s": self.specs[i].symbol,
                       "U": first, "u": u, "b": levels(&diff.bids), "a": levels(&diff.asks)}),
            ));
            diff.bids.clear();
            diff.asks.clear();
            let book = &self.books[i];
            if let (Some(b), Some(a)) = (book.best_bid(), book.best_ask()) {
                out.push((
                    format!("{lower}@bookTicker"),
                    json!({"u": u, "s": self.specs[i].symbol,
                           "b": d8(inst.price(b.price)).to_string(), "B": d8(inst.qty(b.qty)).to_string(),
                           "a": d8(inst.price(a.price)).to_string(), "A": d8(inst.qty(a.qty)).to_string()}),
                ));
            }
        }
        for (i, id, p, q, t, m) in self.prints.drain(..) {
            let s = &self.specs[i].symbol;
            out.push((
                format!("{}@trade", s.to_ascii_lowercase()),
                json!({"e": "trade", "E": now_ms, "s": s, "t": id, "p": d8(p).to_string(),
                       "q": d8(q).to_string(), "T": t, "m": m, "M": true}),
            ));
        }
        out
    }

    /// `GET /api/v3/depth`.
    pub fn depth(&self, symbol: &str, limit: usize) -> Result<DepthSnapshot, Refusal> {
        let i = self.index(symbol)?;
        let inst = &self.instruments[i];
        let side = |s| {
            self.books[i]
                .top(s, limit)
                .map(|l| [d8(inst.price(l.price)), d8(inst.qty(l.qty))])
                .collect()
        };
        // The published diffs run to `update_ids[i]` only once flushed: the snapshot is of
        // the book including the unpublished diff, whose first id is after the snapshot's
        // id... so a snapshot must say the id of everything it includes.
        Ok(DepthSnapshot {
            last_update_id: self.update_ids[i],
            bids: side(DSide::Buy),
            asks: side(DSide::Sell),
        })
    }

    /// `GET /api/v3/exchangeInfo` (all symbols, or one).
    pub fn exchange_info(
        &self,
        symbol: Option<&str>,
        now_ms: i64,
    ) -> Result<ExchangeInfo, Refusal> {
        if let Some(s) = symbol {
            self.index(s)?;
        }
        let symbols = self
            .specs
            .iter()
            .filter(|s| symbol.is_none_or(|x| x == s.symbol))
            .map(symbol_info)
            .collect();
        Ok(ExchangeInfo {
            timezone: "UTC".into(),
            server_time: now_ms,
            rate_limits: vec![
                rate_limit(
                    "REQUEST_WEIGHT",
                    "MINUTE",
                    1,
                    super::limits::WEIGHT_PER_MINUTE,
                ),
                rate_limit("ORDERS", "SECOND", 10, super::limits::ORDERS_PER_10S),
                rate_limit("ORDERS", "DAY", 1, super::limits::ORDERS_PER_DAY),
            ],
            exchange_filters: exchange_filters(),
            symbols,
        })
    }

    fn balance_mut(&mut self, asset: &str) -> &mut (Decimal, Decimal) {
        self.balances
            .entry(asset.to_string())
            .or_insert((Decimal::ZERO, Decimal::ZERO))
    }

    fn free(&self, asset: &str) -> Decimal {
        self.balances.get(asset).map(|b| b.0).unwrap_or_default()
    }

    fn push_position(&mut self, assets: &[&str], now_ms: i64) {
        let balances = assets
            .iter()
            .map(|a| {
                let (f, l) = self.balances.get(*a).copied().unwrap_or_default();
                PositionBalance {
                    asset: a.to_string(),
                    free: d8(f),
                    locked: d8(l),
                }
            })
            .collect();
        self.events.push(UserEvent::AccountPosition(
            crate::venue::exchanges::binance::api::wire::AccountPosition {
                event_time: now_ms,
                last_update: now_ms,
                balances,
            },
        ));
    }

    /// A deposit (`delta` > 0) or withdrawal (< 0, at most what is free) of `asset`, with
    /// its `balanceUpdate` and `outboundAccountPosition` events; what actually moved.
    pub fn move_balance(&mut self, asset: &str, delta: Decimal, now_ms: i64) -> Decimal {
        let b = self.balance_mut(asset);
        let delta = delta.max(-b.0);
        b.0 += delta;
        self.events.push(UserEvent::BalanceUpdate(
            crate::venue::exchanges::binance::api::wire::BalanceUpdate {
                event_time: now_ms,
                asset: asset.to_string(),
                delta: d8(delta),
                clear_time: now_ms,
            },
        ));
        self.push_position(&[asset], now_ms);
        delta
    }

    /// The user data stream events since the last call, in order.
    pub fn take_events(&mut self) -> Vec<UserEvent> {
        std::mem::take(&mut self.events)
    }

    /// Moves the paper venue's reports due by `now_ns` into the account.
    fn poll(&mut self, now_ns: i64) {
        let mut reports = std::mem::take(&mut self.reports);
        reports.clear();
        self.paper.poll_reports(Timestamp(now_ns), &mut reports);
        for r in reports.drain(..) {
            self.on_report(r, now_ns / 1_000_000);
        }
        self.reports = reports;
    }

    fn order_of(id: &ClientOrderId) -> Option<u64> {
        id.as_str().parse().ok()
    }

    fn on_report(&mut self, r: ExecReport, now_ms: i64) {
        match r {
            ExecReport::Filled(f) => self.on_fill(&f, now_ms),
            ExecReport::Cancelled { id, .. } => {
                // The unfilled rest of an IOC or MARKET order: EXPIRED, as Binance says.
                // (Cancels on request are handled where they are made.)
                if let Some(oid) = Self::order_of(&id)
                    && let Some(o) = self.orders.get(&oid)
                    && o.status.is_open()
                {
                    self.close(
                        oid,
                        OrderStatus::Expired,
                        ExecutionType::Expired,
                        now_ms,
                        None,
                    );
                }
            }
            // Accepted: already NEW. Rejected / CancelRejected: handled synchronously by
            // place/cancel, which look at the reports of their own request.
            _ => {}
        }
    }

    fn on_fill(&mut self, f: &Fill, now_ms: i64) {
        let Some(oid) = Self::order_of(&f.client_id) else {
            return;
        };
        let inst = self.instruments[f.instrument.index()].clone();
        let spec = self.specs[f.instrument.index()].clone();
        let price = inst.price(f.price);
        let qty = inst.qty(f.qty);
        let quote = price * qty;
        let Some(o) = self.orders.get_mut(&oid) else {
            return;
        };
        let (commission, commission_asset) = match o.side {
            // Linear: the fee in the settle coin (the quote).
            _ if o.linear => (f.fee.round_dp(8), spec.quote.clone()),
            Side::Buy if self.fees_in_quote => (f.fee.round_dp(8), spec.quote.clone()),
            Side::Buy => ((f.fee / price).round_dp(8), spec.base.clone()),
            Side::Sell => (f.fee.round_dp(8), spec.quote.clone()),
        };
        o.executed_qty += qty;
        o.cum_quote += quote;
        o.update_time = now_ms;
        let filled = o.executed_qty >= o.orig_qty;
        o.status = if filled {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        let side = o.side;
        let linear = o.linear;
        // Release what was locked for this part, then settle.
        let release = match side {
            _ if spec.linear && o.order_type == OrderType::Market => o.locked.min(quote),
            _ if spec.linear => (o.price * qty).min(o.locked),
            Side::Buy if o.order_type == OrderType::Market => o.locked.min(quote),
            Side::Buy => (o.price * qty).min(o.locked),
            Side::Sell => qty.min(o.locked),
        };
        o.locked -= release;
        let maker = f.liquidity == Liquidity::Maker;
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        let lock_asset = match side {
            _ if spec.linear => spec.quote.clone(),
            Side::Buy => spec.quote.clone(),
            Side::Sell => spec.base.clone(),
        };
        {
            let b = self.balance_mut(&lock_asset);
            b.1 -= release;
            b.0 += release;
        }
        match side {
            _ if linear => {
                let signed = if side == Side::Buy { qty } else { -qty };
                let realised = self.move_position(f.instrument.index(), signed, price);
                self.balance_mut(&spec.quote).0 += realised - commission;
            }
            Side::Buy if commission_asset == spec.quote => {
                self.balance_mut(&spec.quote).0 -= quote + commission;
                self.balance_mut(&spec.base).0 += qty;
            }
            Side::Buy => {
                self.balance_mut(&spec.quote).0 -= quote;
                self.balance_mut(&spec.base).0 += qty - commission;
            }
            Side::Sell => {
                self.balance_mut(&spec.base).0 -= qty;
                self.balance_mut(&spec.quote).0 += quote - commission;
            }
        }
        self.trades.push(MyTrade {
            symbol: spec.symbol.clone(),
            id: trade_id,
            order_id: oid,
            order_list_id: -1,
            price: d8(price),
            qty: d8(qty),
            quote_qty: d8(quote),
            commission: d8(commission),
            commission_asset: commission_asset.clone(),
            time: now_ms,
            is_buyer: side == Side::Buy,
            is_maker: maker,
            is_best_match: true,
        });
        let o = self.orders[&oid].clone();
        let mut r = self.report(&o, ExecutionType::Trade, now_ms);
        r.last_qty = d8(qty);
        r.last_price = d8(price);
        r.last_quote_qty = d8(quote);
        r.commission = d8(commission);
        r.commission_asset = Some(commission_asset);
        r.trade_id = trade_id as i64;
        r.is_maker = maker;
        self.events.push(UserEvent::ExecutionReport(Box::new(r)));
        if filled {
            self.release_rest(oid);
        }
        self.push_position(&[spec.base.as_str(), spec.quote.as_str()], now_ms);
    }

    /// Gives back whatever is still locked for a closed order.
    fn release_rest(&mut self, oid: u64) {
        let Some(o) = self.orders.get_mut(&oid) else {
            return;
        };
        let rest = std::mem::take(&mut o.locked);
        if rest.is_zero() {
            return;
        }
        let spec = &self.specs[o.inst];
        let asset = match o.side {
            _ if spec.linear => spec.quote.clone(),
            Side::Buy => spec.quote.clone(),
            Side::Sell => spec.base.clone(),
        };
        let b = self.balance_mut(&asset);
        b.1 -= rest;
        b.0 += rest;
    }

    /// Closes an open order (cancelled or expired), with its report and balances.
    fn close(
        &mut self,
        oid: u64,
        status: OrderStatus,
        x: ExecutionType,
        now_ms: i64,
        cancel_id: Option<&str>,
    ) {
        let Some(o) = self.orders.get_mut(&oid) else {
            return;
        };
        o.status = status;
        o.update_time = now_ms;
        let inst = o.inst;
        self.release_rest(oid);
        let o = self.orders[&oid].clone();
        let mut r = self.report(&o, x, now_ms);
        if let Some(c) = cancel_id {
            r.orig_client_order_id = o.client_order_id.clone();
            r.client_order_id = c.to_string();
        }
        self.events.push(UserEvent::ExecutionReport(Box::new(r)));
        let spec = self.specs[inst].clone();
        self.push_position(&[spec.base.as_str(), spec.quote.as_str()], now_ms);
    }

    fn report(&mut self, o: &Order, x: ExecutionType, now_ms: i64) -> ExecutionReport {
        let exec_id = self.next_exec_id;
        self.next_exec_id += 1;
        ExecutionReport {
            event_time: now_ms,
            symbol: self.specs[o.inst].symbol.clone(),
            client_order_id: o.client_order_id.clone(),
            side: o.side,
            order_type: o.order_type,
            time_in_force: o.tif,
            quantity: d8(o.orig_qty),
            price: d8(o.price),
            stop_price: d8(Decimal::ZERO),
            iceberg_qty: d8(Decimal::ZERO),
            order_list_id: -1,
            orig_client_order_id: String::new(),
            execution_type: x,
            order_status: o.status,
            reject_reason: "NONE".into(),
            order_id: o.order_id,
            last_qty: d8(Decimal::ZERO),
            cumulative_qty: d8(o.executed_qty),
            last_price: d8(Decimal::ZERO),
            commission: Decimal::ZERO,
            commission_asset: None,
            transaction_time: now_ms,
            trade_id: -1,
            execution_id: exec_id,
            is_working: o.status.is_open() && o.working_time.is_some(),
            is_maker: false,
            order_time: o.time,
            cumulative_quote_qty: d8(o.cum_quote),
            last_quote_qty: d8(Decimal::ZERO),
            quote_order_qty: d8(Decimal::ZERO),
            working_time: o.working_time,
            self_trade_prevention_mode: Some("NONE".into()),
            expiry_reason: None,
        }
    }

    /// `POST /api/v3/order`. Checks as Binance does (symbol, parameters, filters, balance,
    /// duplicate id), then matches at once.
    pub fn place(&mut self, p: NewOrderParams, now_ns: i64) -> Result<NewOrderResponse, Refusal> {
        self.place_with(p, false, now_ns)
    }

    /// [`Exchange::place`], reduce-only when asked (linear symbols only): an order that
    /// would not reduce the position (none, or on its side) or that is larger than it is
    /// refused with [`REDUCE_ONLY_NO_POSITION`] / [`REDUCE_ONLY_TOO_LARGE`].
    pub fn place_with(
        &mut self,
        p: NewOrderParams,
        reduce_only: bool,
        now_ns: i64,
    ) -> Result<NewOrderResponse, Refusal> {
        self.advance(now_ns);
        let now_ms = now_ns / 1_000_000;
        let i = self.index(&p.symbol)?;
        let missing = |name: &str| {
            bad(
                code::MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
            )
        };
        let unsupported = |what: &str| {
            (
                400,
                ApiError::new(
                    -1020,
                    format!("This operation is not supported. (pit emulate: {what})"),
                ),
            )
        };
        let qty = p.quantity.ok_or_else(|| missing("quantity"))?;
        if p.quote_order_qty.is_some() {
            return Err(unsupported("quoteOrderQty"));
        }
        let (kind, tif) = match p.order_type {
            OrderType::Limit => match p.time_in_force {
                Some(TimeInForce::Gtc) => (OrderKind::Limit, DTif::Gtc),
                Some(TimeInForce::Ioc) => (OrderKind::Limit, DTif::Ioc),
                Some(TimeInForce::Fok) => return Err(unsupported("FOK")),
                None => return Err(missing("timeInForce")),
            },
            OrderType::LimitMaker => (OrderKind::Limit, DTif::PostOnly),
            OrderType::Market => (OrderKind::Market, DTif::Ioc),
            other => return Err(unsupported(&format!("{other:?} orders"))),
        };
        let price = match kind {
            OrderKind::Limit => Some(p.price.ok_or_else(|| missing("price"))?),
            OrderKind::Market => None,
        };
        let book = &self.books[i];
        let inst = self.instruments[i].clone();
        let touch = book
            .best(dside(p.side).opposite())
            .map(|l| inst.price(l.price));
        // The average price PERCENT_PRICE_BY_SIDE is centred on: the book's mid here
        // (Binance: its reference or average price; pit's risk engine uses the mid too).
        let mid = book.mid_ticks().map(|m| m * inst.tick_size);
        let open_on_symbol = self
            .orders
            .values()
            .filter(|o| o.inst == i && o.status.is_open())
            .count();
        let open_on_venue = self.orders.values().filter(|o| o.status.is_open()).count();
        self.rules[i]
            .check(&FilterOrder {
                side: dside(p.side),
                order_type: order_type_name(kind, tif),
                price,
                qty,
                market_price: touch,
                average_price: mid,
                open_on_symbol,
                open_on_venue,
            })
            .map_err(|f| bad(code::INVALID_MESSAGE, f.message()))?;
        // On the grid now (the filters checked tick and step).
        let lots = inst
            .qty_from_decimal(qty)
            .map_err(|_| bad(code::INVALID_MESSAGE, "Filter failure: LOT_SIZE"))?;
        let ticks = match price {
            Some(px) => Some(
                inst.price_from_decimal(px)
                    .map_err(|_| bad(code::INVALID_MESSAGE, "Filter failure: PRICE_FILTER"))?,
            ),
            None => None,
        };
        let client_order_id = p
            .new_client_order_id
            .clone()
            .unwrap_or_else(|| format!("emu{}", self.next_order_id));
        if self
            .orders
            .values()
            .any(|o| o.client_order_id == client_order_id && o.status.is_open())
        {
            return Err(bad(code::NEW_ORDER_REJECTED, msg::DUPLICATE_ORDER));
        }
        let spec = self.specs[i].clone();
        let linear = std::mem::take(&mut self.placing_linear) || spec.linear;
        if reduce_only {
            if !linear {
                return Err(unsupported("reduce-only on a spot symbol"));
            }
            let pos = self.position_of(i).0;
            let reduces = match p.side {
                Side::Buy => pos < Decimal::ZERO,
                Side::Sell => pos > Decimal::ZERO,
            };
            if !reduces {
                return Err(bad(code::NEW_ORDER_REJECTED, REDUCE_ONLY_NO_POSITION));
            }
            // With the reduce-only orders already open on that side.
            let pending: Decimal = self
                .orders
                .values()
                .filter(|o| {
                    o.inst == i
                        && o.side == p.side
                        && o.status.is_open()
                        && self.reduce_only.contains(&o.order_id)
                })
                .map(|o| o.orig_qty - o.executed_qty)
                .sum();
            if qty + pending > pos.abs() {
                return Err(bad(code::NEW_ORDER_REJECTED, REDUCE_ONLY_TOO_LARGE));
            }
        }
        let (lock_asset, lock) = match (p.side, price) {
            _ if reduce_only => (spec.quote.clone(), Decimal::ZERO),
            // Bybit's linear category on a spot symbol's book: nothing locked (margin
            // is not emulated).
            _ if linear && !spec.linear => (spec.quote.clone(), Decimal::ZERO),
            (_, Some(px)) if spec.linear => (spec.quote.clone(), px * qty),
            (Side::Buy, Some(px)) => (spec.quote.clone(), px * qty),
            (Side::Sell, Some(_)) if !spec.linear => (spec.base.clone(), qty),
            (Side::Sell, None) if !spec.linear => (spec.base.clone(), qty),
            (side, _) => {
                let cost = self.books[i].cost_to_take(dside(side), lots, None);
                let notional = Decimal::from_i128_with_scale(cost.notional, 0)
                    * inst.tick_size
                    * inst.lot_size;
                // A margin for liquidity the paper model finds deeper than the book says.
                (spec.quote.clone(), notional * Decimal::new(101, 2))
            }
        };
        if self.free(&lock_asset) < lock {
            return Err(bad(code::NEW_ORDER_REJECTED, msg::INSUFFICIENT_BALANCE));
        }
        let oid = self.next_order_id;
        self.next_order_id += 1;
        let req = OrderRequest {
            client_id: ClientOrderId::new(oid.to_string()),
            spec: OrderSpec {
                instrument: InstrumentId(i as u16),
                side: dside(p.side),
                kind,
                price: ticks,
                qty: lots,
                tif,
                reduce_only: false,
            },
            owner: Owner::Manual,
            tag: OrderTag::Manual,
        };
        self.paper.submit_from_wire(Timestamp(now_ns), req);
        // Zero latency: the order's own reports are due now. Rejections first.
        let mut reports = Vec::new();
        self.paper.poll_reports(Timestamp(now_ns), &mut reports);
        if let Some(reason) = reports.iter().find_map(|r| match r {
            ExecReport::Rejected { reason, .. } => Some(reason.clone()),
            _ => None,
        }) {
            let m = if reason.contains("post-only") {
                msg::WOULD_TAKE.to_string()
            } else {
                reason
            };
            return Err(bad(code::NEW_ORDER_REJECTED, m));
        }
        {
            let b = self.balance_mut(&lock_asset);
            b.0 -= lock;
            b.1 += lock;
        }
        let order = Order {
            order_id: oid,
            client_order_id: client_order_id.clone(),
            inst: i,
            side: p.side,
            order_type: p.order_type,
            tif: p.time_in_force.unwrap_or(TimeInForce::Gtc),
            price: price.unwrap_or_default(),
            orig_qty: qty,
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: OrderStatus::New,
            time: now_ms,
            update_time: now_ms,
            working_time: (kind == OrderKind::Limit).then_some(now_ms),
            locked: lock,
            linear,
        };
        self.orders.insert(oid, order.clone());
        if reduce_only {
            self.reduce_only.insert(oid);
        }
        let r = self.report(&order, ExecutionType::New, now_ms);
        self.events.push(UserEvent::ExecutionReport(Box::new(r)));
        self.push_position(&[lock_asset.as_str()], now_ms);
        let trades_before = self.trades.len();
        for r in reports {
            self.on_report(r, now_ms);
        }
        let o = self.orders[&oid].clone();
        let fills = self.trades[trades_before..]
            .iter()
            .filter(|t| t.order_id == oid)
            .map(|t| OrderFill {
                price: t.price,
                qty: t.qty,
                commission: t.commission,
                commission_asset: t.commission_asset.clone(),
                trade_id: t.id,
            })
            .collect();
        let resp_type = p.new_order_resp_type.unwrap_or(match p.order_type {
            OrderType::Limit | OrderType::Market => OrderRespType::Full,
            _ => OrderRespType::Ack,
        });
        let mut resp = NewOrderResponse {
            symbol: spec.symbol.clone(),
            order_id: oid,
            order_list_id: -1,
            client_order_id,
            transact_time: now_ms,
            price: None,
            orig_qty: None,
            executed_qty: None,
            orig_quote_order_qty: None,
            cummulative_quote_qty: None,
            status: None,
            time_in_force: None,
            order_type: None,
            side: None,
            working_time: None,
            self_trade_prevention_mode: None,
            fills: Vec::new(),
        };
        if resp_type != OrderRespType::Ack {
            resp.price = Some(d8(o.price));
            resp.orig_qty = Some(d8(o.orig_qty));
            resp.executed_qty = Some(d8(o.executed_qty));
            resp.orig_quote_order_qty = Some(d8(Decimal::ZERO));
            resp.cummulative_quote_qty = Some(d8(o.cum_quote));
            resp.status = Some(o.status);
            resp.time_in_force = Some(o.tif);
            resp.order_type = Some(o.order_type);
            resp.side = Some(o.side);
            resp.working_time = o.working_time;
            resp.self_trade_prevention_mode = Some("NONE".into());
        }
        if resp_type == OrderRespType::Full {
            resp.fills = fills;
        }
        Ok(resp)
    }

    fn find(&self, i: usize, order_id: Option<u64>, orig: Option<&str>) -> Result<u64, Refusal> {
        let found = match (order_id, orig) {
            (Some(id), _) => self
                .orders
                .get(&id)
                .filter(|o| o.inst == i)
                .map(|o| o.order_id),
            // The latest order with that client id.
            (None, Some(c)) => self
                .orders
                .values()
                .rev()
                .find(|o| o.inst == i && o.client_order_id == c)
                .map(|o| o.order_id),
            (None, None) => {
                return Err(bad(
                    code::MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                    "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
                ));
            }
        };
        found.ok_or_else(|| bad(code::NO_SUCH_ORDER, msg::NO_SUCH_ORDER))
    }

    /// `GET /api/v3/order`.
    pub fn query(
        &mut self,
        symbol: &str,
        order_id: Option<u64>,
        orig: Option<&str>,
        now_ns: i64,
    ) -> Result<QueriedOrder, Refusal> {
        self.advance(now_ns);
        let i = self.index(symbol)?;
        let oid = self.find(i, order_id, orig)?;
        Ok(self.queried(&self.orders[&oid]))
    }

    fn queried(&self, o: &Order) -> QueriedOrder {
        QueriedOrder {
            symbol: self.specs[o.inst].symbol.clone(),
            order_id: o.order_id,
            order_list_id: -1,
            client_order_id: o.client_order_id.clone(),
            price: d8(o.price),
            orig_qty: d8(o.orig_qty),
            executed_qty: d8(o.executed_qty),
            cummulative_quote_qty: d8(o.cum_quote),
            status: o.status,
            time_in_force: o.tif,
            order_type: o.order_type,
            side: o.side,
            stop_price: Some(d8(Decimal::ZERO)),
            iceberg_qty: Some(d8(Decimal::ZERO)),
            time: o.time,
            update_time: o.update_time,
            is_working: o.working_time.is_some(),
            working_time: o.working_time,
            orig_quote_order_qty: d8(Decimal::ZERO),
            self_trade_prevention_mode: Some("NONE".into()),
        }
    }

    /// `GET /api/v3/openOrders`.
    pub fn open_orders(
        &mut self,
        symbol: Option<&str>,
        now_ns: i64,
    ) -> Result<Vec<QueriedOrder>, Refusal> {
        self.advance(now_ns);
        let i = symbol.map(|s| self.index(s)).transpose()?;
        Ok(self
            .orders
            .values()
            .filter(|o| o.status.is_open() && i.is_none_or(|i| o.inst == i))
            .map(|o| self.queried(o))
            .collect())
    }

    /// Fills half of an open order's rest at its own price as a maker (the
    /// `partial-fill-on-cancel` fault: a trade that beat the cancel to the matching engine).
    fn partial_fill_now(&mut self, oid: u64, now_ns: i64) {
        let Some(o) = self.orders.get(&oid) else {
            return;
        };
        let inst = &self.instruments[o.inst];
        let rest = inst
            .qty_from_decimal(o.orig_qty - o.executed_qty)
            .unwrap_or(Qty(0));
        let half = Qty((rest.0 / 2).max(1));
        if rest.0 <= 1 || o.order_type == OrderType::Market {
            return;
        }
        let Ok(price) = inst.price_from_decimal(o.price) else {
            return;
        };
        let fee =
            inst.notional(price, half) * Decimal::from(COMMISSION_BPS) / Decimal::from(10_000);
        let f = Fill {
            seq: 0,
            ts: Timestamp(now_ns),
            client_id: ClientOrderId::new(oid.to_string()),
            instrument: InstrumentId(o.inst as u16),
            side: dside(o.side),
            price,
            qty: half,
            fee,
            liquidity: Liquidity::Maker,
            fee_base: rust_decimal::Decimal::ZERO,
        };
        self.on_fill(&f, now_ns / 1_000_000);
    }

    /// `DELETE /api/v3/order`. With `partial_fill_first`, half the rest fills just before.
    pub fn cancel(
        &mut self,
        symbol: &str,
        order_id: Option<u64>,
        orig: Option<&str>,
        new_client_order_id: Option<String>,
        partial_fill_first: bool,
        now_ns: i64,
    ) -> Result<CancelResponse, Refusal> {
        self.advance(now_ns);
        let i = self.index(symbol)?;
        let oid = self
            .find(i, order_id, orig)
            .map_err(|_| bad(code::CANCEL_REJECTED, msg::UNKNOWN_ORDER))?;
        if !self.orders[&oid].status.is_open() {
            return Err(bad(code::CANCEL_REJECTED, msg::UNKNOWN_ORDER));
        }
        if partial_fill_first {
            self.partial_fill_now(oid, now_ns);
        }
        let cancel_id = new_client_order_id.unwrap_or_else(|| format!("emucancel{oid}"));
        Ok(self.cancel_one(oid, &cancel_id, now_ns))
    }

    fn cancel_one(&mut self, oid: u64, cancel_id: &str, now_ns: i64) -> CancelResponse {
        let now_ms = now_ns / 1_000_000;
        self.paper
            .cancel(Timestamp(now_ns), &ClientOrderId::new(oid.to_string()));
        let mut reports = Vec::new();
        self.paper.poll_reports(Timestamp(now_ns), &mut reports);
        // Cancelled or CancelRejected (it filled meanwhile): either way it is not resting.
        let _ = reports;
        if self.orders[&oid].status.is_open() {
            self.close(
                oid,
                OrderStatus::Canceled,
                ExecutionType::Canceled,
                now_ms,
                Some(cancel_id),
            );
        }
        let o = &self.orders[&oid];
        CancelResponse {
            symbol: self.specs[o.inst].symbol.clone(),
            orig_client_order_id: o.client_order_id.clone(),
            order_id: oid,
            order_list_id: -1,
            client_order_id: cancel_id.to_string(),
            transact_time: now_ms,
            price: d8(o.price),
            orig_qty: d8(o.orig_qty),
            executed_qty: d8(o.executed_qty),
            orig_quote_order_qty: d8(Decimal::ZERO),
            cummulative_quote_qty: d8(o.cum_quote),
            status: o.status,
            time_in_force: o.tif,
            order_type: o.order_type,
            side: o.side,
            self_trade_prevention_mode: Some("NONE".into()),
        }
    }

    /// `DELETE /api/v3/openOrders`: every open order on the symbol; -2011 "Unknown order
    /// sent." when there is none (as Binance answers).
    /// `DELETE /api/v3/openOrders`. `partial_fill_first` is asked once per open order:
    /// when it says so, half that order's rest fills just before its cancel.
    pub fn cancel_all(
        &mut self,
        symbol: &str,
        partial_fill_first: &mut dyn FnMut() -> bool,
        now_ns: i64,
    ) -> Result<Vec<CancelResponse>, Refusal> {
        self.advance(now_ns);
        let i = self.index(symbol)?;
        let open: Vec<u64> = self
            .orders
            .values()
            .filter(|o| o.inst == i && o.status.is_open())
            .map(|o| o.order_id)
            .collect();
        if open.is_empty() {
            return Err(bad(code::CANCEL_REJECTED, msg::UNKNOWN_ORDER));
        }
        Ok(open
            .into_iter()
            .map(|oid| {
                if partial_fill_first() {
                    self.partial_fill_now(oid, now_ns);
                }
                self.cancel_one(oid, &format!("emucancel{oid}"), now_ns)
            })
            .collect())
    }

    /// `GET /api/v3/account`.
    pub fn account(&mut self, now_ns: i64) -> Account {
        self.advance(now_ns);
        let rate = Decimal::new(COMMISSION_BPS, 4);
        Account {
            maker_commission: COMMISSION_BPS,
            taker_commission: COMMISSION_BPS,
            commission_rates: Some(CommissionRates {
                maker: d8(rate),
                taker: d8(rate),
                buyer: d8(Decimal::ZERO),
                seller: d8(Decimal::ZERO),
            }),
            can_trade: true,
            can_withdraw: false,
            can_deposit: false,
            update_time: now_ns / 1_000_000,
            account_type: "SPOT".into(),
            balances: self
                .balances
                .iter()
                .map(|(a, (f, l))| Balance {
                    asset: a.clone(),
                    free: d8(*f),
                    locked: d8(*l),
                })
                .collect(),
            permissions: vec!["SPOT".into()],
            uid: self.uid,
        }
    }

    /// `GET /api/v3/myTrades`.
    pub fn my_trades(&mut self, p: &MyTradesParams, now_ns: i64) -> Result<Vec<MyTrade>, Refusal> {
        self.advance(now_ns);
        self.index(&p.symbol)?;
        let limit = p.limit.unwrap_or(500).clamp(1, 1000) as usize;
        let matching: Vec<&MyTrade> = self
            .trades
            .iter()
            .filter(|t| t.symbol == p.symbol)
            .filter(|t| p.order_id.is_none_or(|o| t.order_id == o))
            .filter(|t| p.from_id.is_none_or(|f| t.id >= f))
            .filter(|t| p.start_time.is_none_or(|s| t.time >= s))
            .filter(|t| p.end_time.is_none_or(|e| t.time <= e))
            .collect();
        // fromId / startTime: the oldest from there; otherwise the most recent.
        let from_start = p.from_id.is_some() || p.start_time.is_some();
        let chosen: Vec<MyTrade> = if from_start {
            matching.into_iter().take(limit).cloned().collect()
        } else {
            let skip = matching.len().saturating_sub(limit);
            matching.into_iter().skip(skip).cloned().collect()
        };
        Ok(chosen)
    }

    /// Every trade of `symbol` made from `from_ms` to `to_ms` (inclusive), oldest first,
    /// however many (the front-end pages them).
    pub fn trades_between(
        &mut self,
        symbol: &str,
        from_ms: i64,
        to_ms: i64,
        now_ns: i64,
    ) -> Result<Vec<MyTrade>, Refusal> {
        self.advance(now_ns);
        self.index(symbol)?;
        Ok(self
            .trades
            .iter()
            .filter(|t| t.symbol == symbol && (from_ms..=to_ms).contains(&t.time))
            .cloned()
            .collect())
    }

    fn position_of(&self, i: usize) -> (Decimal, Decimal) {
        let p = self.positions.get(&i).copied().unwrap_or_default();
        (p.size, p.avg)
    }

    /// The net position of a linear symbol (base coin, + long) and its average entry
    /// price; zero for a symbol without one.
    pub fn net_position(&self, symbol: &str) -> Result<(Decimal, Decimal), Refusal> {
        let i = self.index(symbol)?;
        Ok(self.position_of(i))
    }

    /// Whether an order was placed reduce-only.
    pub fn is_reduce_only(&self, order_id: u64) -> bool {
        self.reduce_only.contains(&order_id)
    }

    /// Moves a linear symbol's position by `delta` (base coin) without a trade: a test's
    /// way to make the venue disagree with its client.
    pub fn shift_position(&mut self, symbol: &str, delta: Decimal) -> Result<(), Refusal> {
        let i = self.index(symbol)?;
        if !self.specs[i].linear {
            return Err(bad(code::BAD_SYMBOL, "not a linear symbol"));
        }
        let (pos, avg) = self.position_of(i);
        let avg = if avg.is_zero() {
            self.books[i]
                .mid_ticks()
                .map(|m| m * self.instruments[i].tick_size)
                .unwrap_or_default()
        } else {
            avg
        };
        self.positions.insert(
            i,
            LinearPosition {
                size: pos + delta,
                avg,
            },
        );
        Ok(())
    }

    /// Everything, exactly, for tests and `GET /emulator/state`.
    pub fn state_json(&self) -> Value {
        let orders: Vec<Value> = self
            .orders
            .values()
            .map(|o| serde_json::to_value(self.queried(o)).unwrap_or(Value::Null))
            .collect();
        let balances: BTreeMap<&String, Value> = self
            .balances
            .iter()
            .map(|(a, (f, l))| (a, json!({"free": d8(*f), "locked": d8(*l)})))
            .collect();
        let positions: BTreeMap<&String, Value> = self
            .positions
            .iter()
            .map(|(i, p)| {
                (
                    &self.specs[*i].symbol,
                    json!({"size": p.size, "qty": d8(p.size), "avg_price": d8(p.avg)}),
                )
            })
            .collect();
        let mut v = json!({"balances": balances, "orders": orders, "trades": self.trades});
        if !positions.is_empty() {
            v["positions"] = json!(positions);
        }
        v
    }
}

fn rate_limit(kind: &str, interval: &str, num: u32, limit: u64) -> RateLimit {
    RateLimit {
        rate_limit_type: kind.into(),
        interval: interval.into(),
        interval_num: num,
        limit,
        count: None,
    }
}

#[cfg(test)]
mod tests {
    use super::LinearPosition;
    use rust_decimal_macros::dec;

    /// A short opened, added to (the entry averaged), partly bought back (PnL realised at
    /// the entry price), flipped long (the rest opens at the fill's price), closed flat.
    #[test]
    fn a_linear_position_averages_realises_and_flips() {
        let flat = LinearPosition::default();
        let (p, r) = flat.fill(dec!(-0.01), dec!(60000));
        assert_eq!((p.size, p.avg, r), (dec!(-0.01), dec!(60000), dec!(0)));
        let (p, r) = p.fill(dec!(-0.01), dec!(62000));
        assert_eq!((p.size, p.avg, r), (dec!(-0.02), dec!(61000), dec!(0)));
        // Buy back 0.005 at 60000: a short gains (61000 - 60000) * 0.005 = 5.
        let (p, r) = p.fill(dec!(0.005), dec!(60000));
        assert_eq!((p.size, p.avg, r), (dec!(-0.015), dec!(61000), dec!(5)));
        // Buy 0.025 at 61500: 0.015 closed at a loss of 7.5, 0.01 long at 61500.
        let (p, r) = p.fill(dec!(0.025), dec!(61500));
        assert_eq!((p.size, p.avg, r), (dec!(0.01), dec!(61500), dec!(-7.5)));
        let (p, r) = p.fill(dec!(-0.01), dec!(61600));
        assert_eq!((p.size, p.avg, r), (dec!(0), dec!(0), dec!(1)));
    }
}
