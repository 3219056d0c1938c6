//! Reconciliation on demand (`pit reconcile`) and the balance check at a live start: what
//! the store believes (open orders, fills, positions) against what the venue says (open
//! orders, trades, account balances).
//!
//! [`compare`] is pure: plain rows in, a [`Reconciliation`] out. The venue's side is read
//! by the venue's folder (Binance: `exchanges/binance/trade/account.rs`), the store's by
//! `crate::reconcile`.
//!
//! What counts as a difference:
//! * an order of pit open in the store but not at the venue, or open at the venue but not
//!   in the store;
//! * a trade at the venue of one of pit's orders that the store does not have, or a trade
//!   in the store the venue does not list;
//! * a base asset whose venue balance is not the starting balance (`data/binance-start.json`,
//!   written by the first live run) plus pit's position minus the commissions the venue
//!   charged in that asset on pit's trades.
//!
//! Orders and trades of somebody else (not `p<run>-...` ids) are listed as `external`:
//! pit never touches them, and they are no difference about pit's own state.
//!
//! A running live engine compares balances too, through [`RunBalances`]: each asset of its
//! instruments (base, quote, and any asset a commission was charged in) at the venue
//! against its balance at the run's start plus what every trade on those symbols since
//! moved (the account's own trades explain their balances, whoever placed them; a
//! deposit, a withdrawal or a transfer does not).

use super::ids::{IdOwner, VenueIds};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One of pit's orders still open in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOrder {
    /// The venue's id (`p<run>-<engine id>`).
    pub venue_id: String,
    pub symbol: String,
}

/// One fill of a live run in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreFill {
    pub symbol: String,
    /// The venue's trade id.
    pub trade_id: u64,
    pub side: String,
    pub qty: Decimal,
    pub price: Decimal,
}

/// What the store believes.
#[derive(Clone, Debug, Default)]
pub struct StoreSide {
    pub open_orders: Vec<StoreOrder>,
    pub fills: Vec<StoreFill>,
    /// Signed position per symbol.
    pub positions: BTreeMap<String, Decimal>,
    /// The account's balances when pit first managed it, if recorded.
    pub start_balances: Option<BTreeMap<String, Decimal>>,
    /// This store's client order ids at the venue: what is pit's.
    pub ids: VenueIds,
    /// The oldest fill per symbol (ms): a venue that lists fills by time is asked from it.
    pub first_fill_ms: BTreeMap<String, u64>,
}

/// A trade as the venue lists it, with the client id of its order when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueTrade {
    pub symbol: String,
    pub trade_id: u64,
    /// The venue's order id (a number at Binance, a string at Bybit).
    pub order_id: String,
    pub client_order_id: Option<String>,
    pub buy: bool,
    pub qty: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
}

/// An open order at the venue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueOrder {
    pub symbol: String,
    pub client_order_id: String,
}

/// What the venue says.
#[derive(Clone, Debug, Default)]
pub struct VenueSide {
    pub account: String,
    pub open_orders: Vec<VenueOrder>,
    pub trades: Vec<VenueTrade>,
    /// free + locked per asset.
    pub balances: BTreeMap<String, Decimal>,
    /// Derivatives: the venue's signed position per symbol (none for spot, where the
    /// base coin's balance is the position).
    pub positions: Option<BTreeMap<String, Decimal>>,
    /// Derivatives: symbols the venue holds in a position mode pit does not trade (Bybit's
    /// hedge mode): each a difference.
    pub hedge: Vec<String>,
}

/// An instrument's symbol and its base asset.
#[derive(Clone, Debug)]
pub struct Market {
    pub symbol: String,
    pub base: String,
}

/// One line of the answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `order`, `trade`, `balance`.
    pub kind: &'static str,
    pub symbol: String,
    pub text: String,
}

/// A base asset's balance against what pit's trading explains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BalanceCheck {
    pub asset: String,
    pub venue: Decimal,
    pub start: Decimal,
    pub position: Decimal,
    pub commissions: Decimal,
    pub expected: Decimal,
}

/// The outcome.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Reconciliation {
    pub venue: String,
    pub account: String,
    pub store_open_orders: usize,
    pub venue_open_orders: usize,
    pub store_fills: usize,
    pub venue_trades: usize,
    pub balances: Vec<BalanceCheck>,
    /// Disagreements about pit's own orders, fills and balances.
    pub differences: Vec<Finding>,
    /// Somebody else's orders and trades on the account (shown, never touched).
    pub external: Vec<Finding>,
    /// What could not be checked, and why.
    pub notes: Vec<String>,
}

impl Reconciliation {
    pub fn agree(&self) -> bool {
        self.differences.is_empty()
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["agree"] = self.agree().into();
        v
    }

    pub fn to_text(&self) -> String {
        let mut s = format!("{} account {}\n", self.venue, self.account);
        s += &format!(
            "orders    store open {}, venue open {}\n",
            self.store_open_orders, self.venue_open_orders
        );
        s += &format!(
            "fills     store {}, venue {} (since the first the store knows)\n",
            self.store_fills, self.venue_trades
        );
        for b in &self.balances {
            s += &format!(
                "balance   {} venue {} {} start {} + position {} - commissions {} = {}\n",
                b.asset,
                b.venue.normalize(),
                if b.venue == b.expected { "=" } else { "!=" },
                b.start.normalize(),
                b.position.normalize(),
                b.commissions.normalize(),
                b.expected.normalize()
            );
        }
        for n in &self.notes {
            s += &format!("note      {n}\n");
        }
        for e in &self.external {
            s += &format!("external  {} {}: {}\n", e.kind, e.symbol, e.text);
        }
        for d in &self.differences {
            s += &format!("DIFFERS   {} {}: {}\n", d.kind, d.symbol, d.text);
        }
        if self.agree() {
            s += "the store and the venue agree\n";
        } else {
            s += &format!(
                "{} difference(s) between the store and the venue\n",
                self.differences.len()
            );
        }
        s
    }
}

/// One trade's effect on the account's balances (as the venue reports it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeMove {
    pub symbol: String,
    pub trade_id: u64,
    pub buy: bool,
    pub qty: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
}

/// The account's balances during a run: the balances at its start (the first
/// reconciliation that could read them consistently), and every trade on the run's
/// symbols since, each once (by symbol and the venue's trade id).
///
/// The coin a spot commission was charged in, relative to the symbol it traded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeeCoin {
    Quote,
    Base,
    /// A third coin (BNB, MNT: a discount token), or none given.
    Other,
}

/// Which of `symbol`'s coins `asset` is: by the venue's own base and quote asset when its
/// instrument list was read (`assets`), else by the symbol's spelling. The spelling can be
/// ambiguous (`TUSDT`: base `T`, quote `USDT`; a fee in `T` both starts and ends it): then
/// a quote is taken only if the rest before it is a plausible base of 2+ characters and
/// the coin is 3+ (quotes are), else the base.
pub fn fee_coin(symbol: &str, assets: Option<(&str, &str)>, asset: &str) -> FeeCoin {
    if asset.is_empty() {
        return FeeCoin::Other;
    }
    if let Some((base, quote)) = assets {
        return if asset == quote {
            FeeCoin::Quote
        } else if asset == base {
            FeeCoin::Base
        } else {
            FeeCoin::Other
        };
    }
    match (symbol.starts_with(asset), symbol.ends_with(asset)) {
        (false, true) => FeeCoin::Quote,
        (true, false) => FeeCoin::Base,
        (true, true) if asset.len() >= 3 && symbol.len() >= asset.len() + 2 => FeeCoin::Quote,
        (true, true) => FeeCoin::Base,
        (false, false) => FeeCoin::Other,
    }
}

/// A comparison needs balances read when the account had seen exactly the trades up to a
/// known trade id per symbol (`marks`): the connection task reads the trades, the account,
/// then the trades again, and compares only when no trade came in between. Trade ids grow
/// per symbol (Binance: `id` of `myTrades`, `t` of an execution report), so "the trades
/// after the start's marks, up to this reading's marks" is exact.
#[derive(Clone, Debug, Default)]
pub struct RunBalances {
    /// Symbol -> (base asset, quote asset).
    assets: BTreeMap<String, (String, String)>,
    start: Option<(BTreeMap<String, Decimal>, BTreeMap<String, u64>)>,
    trades: BTreeMap<(String, u64), TradeMove>,
}

impl RunBalances {
    /// Each symbol's base and quote asset (from the venue's instrument list).
    pub fn set_assets(&mut self, assets: BTreeMap<String, (String, String)>) {
        self.assets = assets;
    }

    pub fn knows_assets(&self) -> bool {
        !self.assets.is_empty()
    }

    /// `symbol`'s base and quote asset, once the venue's instrument list was read.
    pub fn assets_of(&self, symbol: &str) -> Option<(&str, &str)> {
        self.assets
            .get(symbol)
            .map(|(b, q)| (b.as_str(), q.as_str()))
    }

    /// A trade seen (stream, order answer, trade list); once per trade id.
    pub fn record(&mut self, t: TradeMove) {
        self.trades
            .entry((t.symbol.clone(), t.trade_id))
            .or_insert(t);
    }

    /// What the account should hold of the base asset of `symbol` now (free + locked):
    /// its balance at the run's start plus every trade recorded since, commissions in that
    /// asset taken off. `None` before the start's reading or for a symbol not known.
    pub fn base_held(&self, symbol: &str) -> Option<(String, Decimal)> {
        let (start, start_marks) = self.start.as_ref()?;
        let (base, _) = self.assets.get(symbol)?;
        let mut held = start.get(base).copied().unwrap_or_default();
        for ((sym, id), t) in &self.trades {
            let Some((b, _)) = self.assets.get(sym) else {
                continue;
            };
            if start_marks.get(sym).is_some_and(|m| id <= m) {
                continue;
            }
            if b == base {
                held += if t.buy { t.qty } else { -t.qty };
            }
            if &t.commission_asset == base {
                held -= t.commission;
            }
        }
        Some((base.clone(), held))
    }

    /// Compare `balances` (free + locked per asset), read when the account had seen the
    /// trades up to `marks`, with the start plus the trades since. The first call records
    /// the start (everything agrees then).
    pub fn compare(
        &mut self,
        balances: &BTreeMap<String, Decimal>,
        marks: &BTreeMap<String, u64>,
    ) -> Vec<crate::engine::view::BalanceLine> {
        if self.start.is_none() {
            self.start = Some((balances.clone(), marks.clone()));
        }
        let Some((start, start_marks)) = &self.start else {
            return Vec::new();
        };
        let mut traded: BTreeMap<String, Decimal> = BTreeMap::new();
        for (base, quote) in self.assets.values() {
            traded.entry(base.clone()).or_default();
            traded.entry(quote.clone()).or_default();
        }
        for ((symbol, id), t) in &self.trades {
            let Some((base, quote)) = self.assets.get(symbol) else {
                continue;
            };
            let after_start = start_marks.get(symbol).is_none_or(|m| id > m);
            let seen = marks.get(symbol).is_some_and(|m| id <= m);
            if !(after_start && seen) {
                continue;
            }
            let (b, q) = if t.buy {
                (t.qty, -(t.qty * t.price))
            } else {
                (-t.qty, t.qty * t.price)
            };
            *traded.entry(base.clone()).or_default() += b;
            *traded.entry(quote.clone()).or_default() += q;
            if !t.commission_asset.is_empty() {
                *traded.entry(t.commission_asset.clone()).or_default() -= t.commission;
            }
        }
        traded
            .into_iter()
            .map(|(asset, traded)| {
                let start = start.get(&asset).copied().unwrap_or_default();
                // Normalized: the same amount reads the same in every answer.
                crate::engine::view::BalanceLine {
                    venue: balances
                        .get(&asset)
                        .copied()
                        .unwrap_or_default()
                        .normalize(),
                    expected: (start + traded).normalize(),
                    start: start.normalize(),
                    traded: traded.normalize(),
                    asset,
                }
            })
            .collect()
    }
}

/// A balance that differs, as a reconciliation's note says it.
pub fn balance_note(b: &crate::engine::view::BalanceLine) -> String {
    format!(
        "{} balance at the venue is {}, pit expects {} (start {} + fills {}): off by {}",
        b.asset,
        b.venue.normalize(),
        b.expected.normalize(),
        b.start.normalize(),
        b.traded.normalize(),
        (b.venue - b.expected).normalize()
    )
}

/// Whether `venue_id` is one of this store's (any run's: the run does not matter here).
fn pits(ids: &VenueIds, venue_id: &str) -> bool {
    !matches!(ids.owner(venue_id), IdOwner::External)
}

/// Keep the account's balances when pit first manages it (`<data>/<venue>-start.json`,
/// written once: an existing file is never replaced): a spot position is what pit traded
/// since, which `pit reconcile` checks. Zero balances are left out.
pub fn record_start_balances(
    path: &std::path::Path,
    account: &str,
    balances: impl IntoIterator<Item = (String, Decimal)>,
) {
    if path.exists() {
        return;
    }
    let balances: BTreeMap<String, String> = balances
        .into_iter()
        .filter(|(_, b)| !b.is_zero())
        .map(|(a, b)| (a, b.to_string()))
        .collect();
    let rec = serde_json::json!({
        "account": account,
        "recorded_at": chrono::Utc::now().to_rfc3339(),
        "balances": balances,
    });
    if let Err(e) = std::fs::write(path, rec.to_string()) {
        tracing::warn!(path = %path.display(), error = %e, "cannot record the starting balances");
    }
}

/// Compare the two sides.
pub fn compare(markets: &[Market], store: &StoreSide, venue: &VenueSide) -> Reconciliation {
    let mut r = Reconciliation {
        account: venue.account.clone(),
        store_open_orders: store.open_orders.len(),
        venue_open_orders: venue.open_orders.len(),
        store_fills: store.fills.len(),
        venue_trades: venue.trades.len(),
        ..Reconciliation::default()
    };
    let finding = |kind, symbol: &str, text: String| Finding {
        kind,
        symbol: symbol.to_string(),
        text,
    };
    // Orders.
    let venue_open: BTreeSet<&str> = venue
        .open_orders
        .iter()
        .map(|o| o.client_order_id.as_str())
        .collect();
    let store_open: BTreeSet<&str> = store
        .open_orders
        .iter()
        .map(|o| o.venue_id.as_str())
        .collect();
    for o in &store.open_orders {
        if !venue_open.contains(o.venue_id.as_str()) {
            r.differences.push(finding(
                "order",
                &o.symbol,
                format!("{} is open in the store, not at the venue", o.venue_id),
            ));
        }
    }
    for o in &venue.open_orders {
        if store_open.contains(o.client_order_id.as_str()) {
            continue;
        }
        if pits(&store.ids, &o.client_order_id) {
            r.differences.push(finding(
                "order",
                &o.symbol,
                format!(
                    "{} (pit's) is open at the venue, not in the store",
                    o.client_order_id
                ),
            ));
        } else {
            r.external.push(finding(
                "order",
                &o.symbol,
                format!("{} is open (not pit's: never touched)", o.client_order_id),
            ));
        }
    }
    // Trades.
    let venue_ids: BTreeSet<(&str, u64)> = venue
        .trades
        .iter()
        .map(|t| (t.symbol.as_str(), t.trade_id))
        .collect();
    let store_ids: BTreeSet<(&str, u64)> = store
        .fills
        .iter()
        .map(|f| (f.symbol.as_str(), f.trade_id))
        .collect();
    for f in &store.fills {
        if !venue_ids.contains(&(f.symbol.as_str(), f.trade_id)) {
            r.differences.push(finding(
                "trade",
                &f.symbol,
                format!(
                    "trade {} ({} {} @ {}) is in the store, the venue does not list it",
                    f.trade_id,
                    f.side,
                    f.qty.normalize(),
                    f.price.normalize()
                ),
            ));
        }
    }
    let mut commissions: BTreeMap<String, Decimal> = BTreeMap::new();
    for t in &venue.trades {
        let of_pit = t
            .client_order_id
            .as_deref()
            .is_some_and(|c| pits(&store.ids, c));
        let text = format!(
            "trade {} ({} {} @ {}, order {})",
            t.trade_id,
            if t.buy { "BUY" } else { "SELL" },
            t.qty.normalize(),
            t.price.normalize(),
            t.client_order_id
                .clone()
                .unwrap_or_else(|| format!("#{}", t.order_id)),
        );
        if !of_pit {
            r.external.push(finding(
                "trade",
                &t.symbol,
                format!("{text}: not pit's order"),
            ));
            continue;
        }
        *commissions.entry(t.commission_asset.clone()).or_default() += t.commission;
        if !store_ids.contains(&(t.symbol.as_str(), t.trade_id)) {
            r.differences.push(finding(
                "trade",
                &t.symbol,
                format!("{text} is at the venue, not in the store"),
            ));
        }
    }
    // Derivatives: the venue's positions are the truth; a difference is said, never
    // traded away.
    if let Some(venue_positions) = &venue.positions {
        r.differences
            .extend(compare_positions(&store.positions, venue_positions));
    }
    for sym in &venue.hedge {
        r.differences.push(finding(
            "position",
            sym,
            format!("{sym} is in hedge mode at the venue; pit trades one-way mode only: switch it (Switch Position Mode) before a run"),
        ));
    }
    // Balances of the base assets (spot only: a derivative's position is not the base
    // coin held, and its PnL and funding move the settle coin).
    match &store.start_balances {
        _ if venue.positions.is_some() => r
            .notes
            .push("derivatives: positions compared, not the base coin's balance".into()),
        None => r.notes.push(
            "no starting balances recorded (the first live run writes them): balances not checked"
                .into(),
        ),
        Some(start) => {
            for m in markets {
                let venue_bal = venue.balances.get(&m.base).copied().unwrap_or_default();
                let start_bal = start.get(&m.base).copied().unwrap_or_default();
                let position = store.positions.get(&m.symbol).copied().unwrap_or_default();
                let fees = commissions.get(&m.base).copied().unwrap_or_default();
                let expected = start_bal + position - fees;
                if venue_bal != expected {
                    r.differences.push(finding(
                        "balance",
                        &m.symbol,
                        format!(
                            "{} at the venue is {}, pit's trading explains {} (start {} + position {} - commissions {}): off by {}",
                            m.base,
                            venue_bal.normalize(),
                            expected.normalize(),
                            start_bal.normalize(),
                            position.normalize(),
                            fees.normalize(),
                            (venue_bal - expected).normalize()
                        ),
                    ));
                }
                r.balances.push(BalanceCheck {
                    asset: m.base.clone(),
                    venue: venue_bal,
                    start: start_bal,
                    position,
                    commissions: fees,
                    expected,
                });
            }
        }
    }
    r
}

/// Derivatives positions are the venue's (a linear perpetual's position lives at the
/// venue, with its funding, liquidations and ADL): compare pit's signed position per
/// symbol with the venue's and list each difference as a `position` finding. Nothing here
/// or anywhere trades to "fix" one: the operator decides (flatten, or adjust by hand).
/// Symbols missing on one side count as flat there.
pub fn compare_positions(
    store: &BTreeMap<String, Decimal>,
    venue: &BTreeMap<String, Decimal>,
) -> Vec<Finding> {
    let symbols: BTreeSet<&String> = store.keys().chain(venue.keys()).collect();
    symbols
        .into_iter()
        .filter_map(|sym| {
            let ours = store.get(sym).copied().unwrap_or_default();
            let theirs = venue.get(sym).copied().unwrap_or_default();
            (ours != theirs).then(|| Finding {
                kind: "position",
                symbol: sym.clone(),
                text: format!(
                    "the venue holds {}, the store {}: pit does not trade to fix it (flatten or adjust by hand)",
                    theirs.normalize(),
                    ours.normalize()
                ),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_fee_coin_is_the_venues_base_or_quote_else_told_by_the_spelling() {
        use FeeCoin::*;
        let coins = Some(("T", "USDT"));
        assert_eq!(fee_coin("TUSDT", coins, "T"), Base);
        assert_eq!(fee_coin("TUSDT", coins, "USDT"), Quote);
        assert_eq!(fee_coin("TUSDT", coins, "BNB"), Other);
        assert_eq!(fee_coin("BTCUSDT", None, "BTC"), Base);
        assert_eq!(fee_coin("BTCUSDT", None, "USDT"), Quote);
        assert_eq!(fee_coin("BTCUSDT", None, "BNB"), Other);
        assert_eq!(fee_coin("BTCUSDT", None, ""), Other);
        // Ambiguous spellings without the venue's word: a one-letter coin is a base.
        assert_eq!(fee_coin("TUSDT", None, "T"), Base);
    }

    fn markets() -> Vec<Market> {
        vec![Market {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
        }]
    }

    fn trade(id: u64, client: &str, qty: Decimal, fee: Decimal) -> VenueTrade {
        VenueTrade {
            symbol: "BTCUSDT".into(),
            trade_id: id,
            order_id: (id * 10).to_string(),
            client_order_id: Some(client.into()),
            buy: true,
            qty,
            price: dec!(60000),
            commission: fee,
            commission_asset: "BTC".into(),
        }
    }

    fn fill(id: u64, qty: Decimal) -> StoreFill {
        StoreFill {
            symbol: "BTCUSDT".into(),
            trade_id: id,
            side: "BUY".into(),
            qty,
            price: dec!(60000),
        }
    }

    fn agreeing() -> (StoreSide, VenueSide) {
        let store = StoreSide {
            open_orders: vec![StoreOrder {
                venue_id: "t3st003_S1-9".into(),
                symbol: "BTCUSDT".into(),
            }],
            fills: vec![fill(7, dec!(0.002))],
            positions: [("BTCUSDT".to_string(), dec!(0.002))].into(),
            start_balances: Some([("BTC".to_string(), dec!(1))].into()),
            ids: VenueIds::new(4, crate::venue::live::ids::IdPrefix::for_tests()),
            first_fill_ms: BTreeMap::new(),
        };
        let venue = VenueSide {
            account: "42".into(),
            open_orders: vec![
                VenueOrder {
                    symbol: "BTCUSDT".into(),
                    client_order_id: "t3st003_S1-9".into(),
                },
                VenueOrder {
                    symbol: "BTCUSDT".into(),
                    client_order_id: "web_abc".into(),
                },
            ],
            trades: vec![trade(7, "t3st003_S1-4", dec!(0.002), dec!(0.000002))],
            balances: [("BTC".to_string(), dec!(1.001998))].into(),
            positions: None,
            hedge: Vec::new(),
        };
        (store, venue)
    }

    /// Derivatives: a venue position the store does not hold is a difference, named with
    /// both sizes; the same position agrees.
    #[test]
    fn a_derivatives_position_is_compared_with_the_venues() {
        let (store, mut venue) = agreeing();
        let m = [Market {
            symbol: "BTCUSDT".into(),
            base: "BTC".into(),
        }];
        venue.positions = Some([("BTCUSDT".to_string(), dec!(0.002))].into());
        assert!(compare(&m, &store, &venue).agree());
        venue.positions = Some([("BTCUSDT".to_string(), dec!(-0.001))].into());
        let r = compare(&m, &store, &venue);
        assert_eq!(r.differences.len(), 1, "{:?}", r.differences);
        assert_eq!(r.differences[0].kind, "position");
        assert!(
            r.differences[0]
                .text
                .starts_with("the venue holds -0.001, the store 0.002"),
            "{}",
            r.differences[0].text
        );
    }

    fn mv(id: u64, buy: bool, qty: Decimal, fee: Decimal, fee_asset: &str) -> TradeMove {
        TradeMove {
            symbol: "BTCUSDT".into(),
            trade_id: id,
            buy,
            qty,
            price: dec!(60000),
            commission: fee,
            commission_asset: fee_asset.into(),
        }
    }

    /// What the account holds of a symbol's base coin, for the check before a sell: the
    /// start plus every trade since, a buy's commission in the coin taken off; unknown
    /// before the start's reading.
    #[test]
    fn the_base_coin_held_is_the_start_plus_trades_less_commissions_in_it() {
        let mut rb = RunBalances::default();
        rb.set_assets(
            [(
                "BTCUSDT".to_string(),
                ("BTC".to_string(), "USDT".to_string()),
            )]
            .into(),
        );
        assert_eq!(rb.base_held("BTCUSDT"), None, "no start read yet");
        rb.record(mv(4, true, dec!(1), dec!(0), "BTC"));
        let start: BTreeMap<String, Decimal> = [("BTC".to_string(), dec!(0))].into();
        rb.compare(&start, &[("BTCUSDT".to_string(), 4)].into());
        rb.record(mv(5, true, dec!(0.005), dec!(0.000005), "BTC"));
        rb.record(mv(6, false, dec!(0.004), dec!(0.24), "USDT"));
        rb.record(mv(7, true, dec!(0.001), dec!(0.0001), "BNB"));
        assert_eq!(
            rb.base_held("BTCUSDT"),
            Some(("BTC".to_string(), dec!(0.001995)))
        );
        assert_eq!(rb.base_held("ETHUSDT"), None);
    }

    #[test]
    fn a_runs_balances_follow_its_fills_and_a_move_behind_its_back_is_named() {
        let mut rb = RunBalances::default();
        rb.set_assets(
            [(
                "BTCUSDT".to_string(),
                ("BTC".to_string(), "USDT".to_string()),
            )]
            .into(),
        );
        // Trade 4 happened before the start: the start's balances hold it already.
        rb.record(mv(4, true, dec!(1), dec!(0), "BTC"));
        let start: BTreeMap<String, Decimal> = [
            ("BTC".to_string(), dec!(1)),
            ("USDT".to_string(), dec!(1000)),
        ]
        .into();
        let lines = rb.compare(&start, &[("BTCUSDT".to_string(), 4)].into());
        assert!(lines.iter().all(|b| b.agrees()), "{lines:?}");
        // A buy (fee in BTC), a sell (fee in USDT), the same trade twice, and a trade the
        // reading did not see yet (id 7, above its mark).
        rb.record(mv(5, true, dec!(0.002), dec!(0.000002), "BTC"));
        rb.record(mv(5, true, dec!(0.002), dec!(0.000002), "BTC"));
        rb.record(mv(6, false, dec!(0.001), dec!(0.06), "USDT"));
        rb.record(mv(7, false, dec!(0.5), dec!(0), "USDT"));
        let venue: BTreeMap<String, Decimal> = [
            ("BTC".to_string(), dec!(1.000998)),
            ("USDT".to_string(), dec!(939.94)),
        ]
        .into();
        let marks: BTreeMap<String, u64> = [("BTCUSDT".to_string(), 6)].into();
        let lines = rb.compare(&venue, &marks);
        assert!(lines.iter().all(|b| b.agrees()), "{lines:?}");
        assert_eq!(lines[0].traded, dec!(0.000998));
        // 25 USDT withdrawn behind pit's back: that asset, and only it, differs.
        let mut moved = venue.clone();
        moved.insert("USDT".into(), dec!(914.94));
        let lines = rb.compare(&moved, &marks);
        let off: Vec<String> = lines
            .iter()
            .filter(|b| !b.agrees())
            .map(balance_note)
            .collect();
        assert_eq!(
            off,
            [
                "USDT balance at the venue is 914.94, pit expects 939.94 (start 1000 + fills -60.06): off by -25"
            ]
        );
    }

    #[test]
    fn the_same_orders_trades_and_balances_agree_and_externals_are_only_listed() {
        let (store, venue) = agreeing();
        let r = compare(&markets(), &store, &venue);
        assert!(r.agree(), "{}", r.to_text());
        assert_eq!(r.external.len(), 1);
        assert!(r.external[0].text.contains("web_abc"));
        let text = r.to_text();
        assert!(text.contains("balance   BTC venue 1.001998 = start 1 + position 0.002 - commissions 0.000002 = 1.001998"), "{text}");
        assert!(text.ends_with("the store and the venue agree\n"), "{text}");
        assert_eq!(r.to_json()["agree"], true);
    }

    #[test]
    fn each_kind_of_difference_is_named() {
        let (mut store, mut venue) = agreeing();
        // A fill missed by the store, an order the venue closed, a stray balance.
        venue
            .trades
            .push(trade(8, "t3st003_S1-9", dec!(0.001), dec!(0.000001)));
        venue.open_orders.remove(0);
        venue.balances.insert("BTC".into(), dec!(1.5));
        store.fills.push(fill(5, dec!(0.004)));
        let r = compare(&markets(), &store, &venue);
        let texts: Vec<String> = r
            .differences
            .iter()
            .map(|d| format!("{} {}", d.kind, d.text))
            .collect();
        assert_eq!(
            texts,
            [
                "order t3st003_S1-9 is open in the store, not at the venue",
                "trade trade 5 (BUY 0.004 @ 60000) is in the store, the venue does not list it",
                "trade trade 8 (BUY 0.001 @ 60000, order t3st003_S1-9) is at the venue, not in the store",
                "balance BTC at the venue is 1.5, pit's trading explains 1.001997 (start 1 + position 0.002 - commissions 0.000003): off by 0.498003",
            ]
        );
        assert!(!r.agree());
        assert!(
            r.to_text()
                .ends_with("4 difference(s) between the store and the venue\n")
        );
    }

    #[test]
    fn derivatives_positions_are_compared_never_fixed() {
        use rust_decimal_macros::dec;
        let store: BTreeMap<String, Decimal> = [
            ("BTCUSDT".to_string(), dec!(0.010)),
            ("ETHUSDT".to_string(), dec!(0)),
        ]
        .into_iter()
        .collect();
        let same: BTreeMap<String, Decimal> =
            [("BTCUSDT".to_string(), dec!(0.01))].into_iter().collect();
        assert!(compare_positions(&store, &same).is_empty());
        let venue: BTreeMap<String, Decimal> = [
            ("BTCUSDT".to_string(), dec!(-0.02)),
            ("SOLUSDT".to_string(), dec!(3)),
        ]
        .into_iter()
        .collect();
        let f = compare_positions(&store, &venue);
        assert_eq!(f.len(), 2, "{f:?}");
        assert_eq!((f[0].kind, f[0].symbol.as_str()), ("position", "BTCUSDT"));
        assert!(
            f[0].text.contains("holds -0.02, the store 0.01"),
            "{}",
            f[0].text
        );
        assert!(f[0].text.contains("does not trade to fix it"));
        assert_eq!(f[1].symbol, "SOLUSDT");
    }
}
