//! What a live venue says about orders, turned into the engine's execution reports: once
//! each, in an order the engine's order state machine accepts.
//!
//! A real venue tells the same thing more than once and in no fixed order: the REST answer
//! to a new order and the user data stream's `NEW` race each other; a fill arrives on the
//! stream and again in the trade list a reconciliation fetches. The tracker is the one
//! place that decides what the engine has already been told: an order is acknowledged once
//! (before any fill of it), a trade is applied once (by its venue trade key, also across
//! restarts: the stored keys the venue can report again are seeded in — the newest
//! trade per symbol, from which its trade list is asked, and every stored trade of an
//! order an earlier run left open, which the venue answers for whole; see
//! `setup::live_exec`), and an order closes once.
//!
//! Pure and synchronous (the connection task owns one), so it is tested without a network.

use super::ids::{IdOwner, VenueIds};
use crate::domain::{
    ClientOrderId, ExecReport, Fill, Instrument, InstrumentId, Liquidity, Side, Timestamp,
};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// One thing a venue said about one order (its venue client id).
#[derive(Clone, Debug, PartialEq)]
pub enum VenueUpdate {
    /// The venue has the order (working, or about to fill).
    Accepted { venue_id: String, ts: Timestamp },
    /// An execution. `key` is the venue's trade id made unique across instruments
    /// ([`trade_seq`]); `qty` the venue's executed quantity; `fee` is in the quote
    /// currency, and `fee_base` the part of it charged in the base coin, in base units
    /// (see [`Fill::fee_base`]: the holding moves by `qty - fee_base` on a buy).
    Trade {
        venue_id: String,
        symbol: String,
        side: Side,
        key: u64,
        price: Decimal,
        qty: Decimal,
        fee: Decimal,
        fee_base: Decimal,
        liquidity: Liquidity,
        ts: Timestamp,
    },
    /// Closed without (more) fills: cancelled, expired, or the unfilled rest of an IOC.
    Closed { venue_id: String, ts: Timestamp },
    /// Refused; nothing happened.
    Rejected {
        venue_id: String,
        ts: Timestamp,
        reason: String,
    },
    /// A cancel was refused (the order had filled, or was unknown).
    CancelRejected {
        venue_id: String,
        ts: Timestamp,
        reason: String,
    },
}

/// The fill sequence number of a venue trade: its id times 256 plus the instrument's
/// index, so trades of different symbols (each numbered on its own at Binance) never
/// share a key in the store's (run, seq) table, and a trade already stored is known again
/// after a restart.
pub fn trade_seq(trade_id: u64, instrument: InstrumentId) -> u64 {
    trade_id
        .saturating_mul(256)
        .saturating_add(u64::from(instrument.0 & 0xff))
}

#[derive(Clone, Debug, Default)]
struct Tracked {
    acked: bool,
    closed: bool,
    filled: Decimal,
    /// The order's size, when this run sent it.
    qty: Option<Decimal>,
}

/// The orders of this run and what the engine was told about them.
#[derive(Debug)]
pub struct Tracker {
    ids: VenueIds,
    instruments: Vec<Instrument>,
    orders: BTreeMap<String, Tracked>,
    /// Trade keys applied (this run and the store's earlier ones).
    applied: BTreeSet<u64>,
    /// Trades of orders pit did not place, seen and left alone.
    pub external_trades: u64,
}

impl Tracker {
    pub fn new(ids: VenueIds, instruments: Vec<Instrument>, known: BTreeSet<u64>) -> Self {
        Tracker {
            ids,
            instruments,
            orders: BTreeMap::new(),
            applied: known,
            external_trades: 0,
        }
    }

    pub fn ids(&self) -> &VenueIds {
        &self.ids
    }

    /// An order of this run of size `qty` (base units) is about to leave.
    pub fn sent(&mut self, venue_id: &str, qty: Decimal) {
        self.orders.entry(venue_id.to_string()).or_default().qty = Some(qty);
    }

    /// Whether this run sent `venue_id` (an id of this run's form it never sent means
    /// another pit uses this store's id prefix: a copied or restored data folder).
    pub fn was_sent(&self, venue_id: &str) -> bool {
        self.orders.get(venue_id).is_some_and(|t| t.qty.is_some())
    }

    /// Whether a trade key has been applied.
    pub fn knows_trade(&self, key: u64) -> bool {
        self.applied.contains(&key)
    }

    /// This run's orders not closed yet, by venue id.
    pub fn open_orders(&self) -> Vec<String> {
        self.orders
            .iter()
            .filter(|(_, t)| !t.closed)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether `venue_id` is one of this run's orders still open.
    pub fn is_open(&self, venue_id: &str) -> bool {
        self.orders.get(venue_id).is_some_and(|t| !t.closed)
    }

    /// How much of `venue_id` the engine has been told filled (base units).
    pub fn filled(&self, venue_id: &str) -> Decimal {
        self.orders
            .get(venue_id)
            .map_or(Decimal::ZERO, |t| t.filled)
    }

    /// The instrument traded as `symbol`.
    pub fn instrument(&self, symbol: &str) -> Option<&Instrument> {
        self.instruments.iter().find(|i| i.symbol == symbol)
    }

    /// Apply one update; the reports the engine must get, in order.
    pub fn apply(&mut self, u: VenueUpdate, out: &mut Vec<ExecReport>) {
        match u {
            VenueUpdate::Accepted { venue_id, ts } => {
                let Some(id) = self.this_run(&venue_id) else {
                    return;
                };
                let t = self.orders.entry(venue_id).or_default();
                if !t.acked && !t.closed {
                    t.acked = true;
                    out.push(ExecReport::Accepted {
                        id,
                        ts,
                        queue_ahead: None,
                    });
                }
            }
            VenueUpdate::Trade {
                venue_id,
                symbol,
                side,
                key,
                price,
                qty,
                fee,
                fee_base,
                liquidity,
                ts,
            } => {
                if self.applied.contains(&key) {
                    return;
                }
                let Some(inst) = self.instrument(&symbol).cloned() else {
                    return;
                };
                let (client_id, this_run) = match self.ids.owner(&venue_id) {
                    IdOwner::ThisRun(id) => (id, true),
                    // An earlier run's order: the store knows it by the venue's id; its
                    // fill still moves pit's inventory.
                    IdOwner::EarlierRun { .. } => (ClientOrderId::new(venue_id.clone()), false),
                    IdOwner::External => {
                        self.applied.insert(key);
                        self.external_trades += 1;
                        return;
                    }
                };
                self.applied.insert(key);
                let t = self.orders.entry(venue_id).or_default();
                if !t.acked && this_run {
                    t.acked = true;
                    out.push(ExecReport::Accepted {
                        id: client_id.clone(),
                        ts,
                        queue_ahead: None,
                    });
                }
                t.filled += qty;
                if t.qty.is_some_and(|q| t.filled >= q) {
                    // Filled in full: the engine closes it; nothing more will come.
                    t.closed = true;
                }
                let fill = Fill {
                    seq: key,
                    ts,
                    client_id,
                    instrument: inst.id,
                    side,
                    price: inst.price_round(price, side == Side::Sell),
                    // The order's fill is the venue's executed size; what the wallet
                    // got is netted by the engine from `fee_base`.
                    qty: inst.qty_floor(qty),
                    fee,
                    liquidity,
                    fee_base,
                };
                out.push(if this_run {
                    ExecReport::Filled(fill)
                } else {
                    ExecReport::EarlierRunFill(fill)
                });
            }
            VenueUpdate::Closed { venue_id, ts } => {
                let Some(id) = self.this_run(&venue_id) else {
                    return;
                };
                let t = self.orders.entry(venue_id).or_default();
                if !t.closed {
                    t.closed = true;
                    out.push(ExecReport::Cancelled { id, ts });
                }
            }
            VenueUpdate::Rejected {
                venue_id,
                ts,
                reason,
            } => {
                let Some(id) = self.this_run(&venue_id) else {
                    return;
                };
                let t = self.orders.entry(venue_id).or_default();
                if !t.closed && !t.acked {
                    t.closed = true;
                    out.push(ExecReport::Rejected { id, ts, reason });
                }
            }
            VenueUpdate::CancelRejected {
                venue_id,
                ts,
                reason,
            } => {
                if let Some(id) = self.this_run(&venue_id) {
                    out.push(ExecReport::CancelRejected { id, ts, reason });
                }
            }
        }
    }

    fn this_run(&self, venue_id: &str) -> Option<ClientOrderId> {
        match self.ids.owner(venue_id) {
            IdOwner::ThisRun(id) => Some(id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn inst() -> Instrument {
        Instrument::new(
            InstrumentId(0),
            "BTCUSDT",
            "binance",
            dec!(0.01),
            dec!(0.00001),
            crate::domain::Qty(1),
        )
    }

    fn trade(venue_id: &str, key: u64, qty: Decimal) -> VenueUpdate {
        VenueUpdate::Trade {
            venue_id: venue_id.into(),
            symbol: "BTCUSDT".into(),
            side: Side::Buy,
            key,
            price: dec!(60000.01),
            qty,
            fee: dec!(0.06),
            fee_base: Decimal::ZERO,
            liquidity: Liquidity::Maker,
            ts: Timestamp(5),
        }
    }

    #[test]
    fn each_fact_reaches_the_engine_once_and_acks_come_first() {
        let mut t = Tracker::new(
            VenueIds::new(7, crate::venue::live::ids::IdPrefix::for_tests()),
            vec![inst()],
            BTreeSet::new(),
        );
        let mut out = Vec::new();
        t.sent("t3st007_S1-1", dec!(0.01));
        // The stream's fill overtakes the REST ack: an ack is made up first.
        t.apply(trade("t3st007_S1-1", 256, dec!(0.001)), &mut out);
        t.apply(
            VenueUpdate::Accepted {
                venue_id: "t3st007_S1-1".into(),
                ts: Timestamp(6),
            },
            &mut out,
        );
        // The same trade again (the REST FULL answer, then a reconciliation).
        t.apply(trade("t3st007_S1-1", 256, dec!(0.001)), &mut out);
        t.apply(trade("t3st007_S1-1", 512, dec!(0.002)), &mut out);
        t.apply(
            VenueUpdate::Closed {
                venue_id: "t3st007_S1-1".into(),
                ts: Timestamp(7),
            },
            &mut out,
        );
        t.apply(
            VenueUpdate::Closed {
                venue_id: "t3st007_S1-1".into(),
                ts: Timestamp(8),
            },
            &mut out,
        );
        let kinds: Vec<String> = out
            .iter()
            .map(|r| match r {
                ExecReport::Accepted { .. } => "ack".to_string(),
                ExecReport::Filled(f) => format!("fill {} {}", f.seq, f.qty.0),
                ExecReport::Cancelled { .. } => "cancelled".into(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds, ["ack", "fill 256 100", "fill 512 200", "cancelled"]);
        assert_eq!(out[0].id().as_str(), "S1-1");
        assert!(t.open_orders().is_empty());
    }

    #[test]
    fn trades_in_the_store_are_not_applied_again_and_strangers_are_left_alone() {
        let mut t = Tracker::new(
            VenueIds::new(8, crate::venue::live::ids::IdPrefix::for_tests()),
            vec![inst()],
            BTreeSet::from([256]),
        );
        let mut out = Vec::new();
        // Stored by run 7 before the restart: known, not applied twice.
        t.apply(trade("t3st007_S1-1", 256, dec!(0.001)), &mut out);
        assert!(out.is_empty());
        // Missed while down: applied once, under the venue's id.
        t.apply(trade("t3st007_S1-1", 512, dec!(0.001)), &mut out);
        t.apply(trade("t3st007_S1-1", 512, dec!(0.001)), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id().as_str(), "t3st007_S1-1");
        assert!(
            matches!(out[0], ExecReport::EarlierRunFill(_)),
            "an earlier run's fill is told apart from this run's: {:?}",
            out[0]
        );
        // Somebody else's order: no report at all.
        t.apply(trade("web_1", 768, dec!(0.001)), &mut out);
        t.apply(
            VenueUpdate::Closed {
                venue_id: "web_1".into(),
                ts: Timestamp(1),
            },
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(t.external_trades, 1);
    }

    #[test]
    fn a_rejection_after_an_ack_is_not_passed_on() {
        let mut t = Tracker::new(
            VenueIds::new(1, crate::venue::live::ids::IdPrefix::for_tests()),
            vec![inst()],
            BTreeSet::new(),
        );
        let mut out = Vec::new();
        let ack = VenueUpdate::Accepted {
            venue_id: "t3st001_M-1".into(),
            ts: Timestamp(1),
        };
        t.apply(ack, &mut out);
        t.apply(
            VenueUpdate::Rejected {
                venue_id: "t3st001_M-1".into(),
                ts: Timestamp(2),
                reason: "late".into(),
            },
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(trade_seq(5, InstrumentId(2)), 5 * 256 + 2);
    }
}
