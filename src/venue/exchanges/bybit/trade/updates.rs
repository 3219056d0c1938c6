//! Bybit's order and execution messages (the private `order` and `execution` topics, and
//! the same shapes from "Get Open & Closed Orders" and "Get Trade History") as the
//! venue-generic [`VenueUpdate`]s the live tracker turns into execution reports, once each.
//!
//! * Order status (enum page, "orderStatus"): `New`, `PartiallyFilled`, `Untriggered`,
//!   `Triggered` and `Filled` say the venue has the order (fills come from executions, so a
//!   `Filled` adds nothing else); `Cancelled`, `PartiallyFilledCanceled` and `Deactivated`
//!   close it; `Rejected` refuses it, with Bybit's `rejectReason`.
//! * Executions: only `execType` `Trade` is a fill of an order (`Funding`, `AdlTrade`,
//!   `BustTrade`, `Settle`... are not). Bybit's `execId` is a string (a UUID on
//!   derivatives), and `seq` is shared by executions "at the same time", so neither is a
//!   trade number: the trade key is the first 56 bits of SHA-256 of the `execId`, placed
//!   like Binance's trade ids by [`trade_seq`] (times 256 plus the instrument), which keeps
//!   it the same across restarts and unique per instrument.
//! * Fees are given in `feeCurrency`: on spot the asset received (base on a buy, quote on a
//!   sell; with a negative maker rate the other way round: "Spot Fee Currency
//!   Instruction", https://bybit-exchange.github.io/docs/v5/enum#spot-fee-currency-instruction),
//!   priced into the quote here; a fee in the base coin is also handed on as `fee_base`, so
//!   the engine's position is what the wallet got (`execQty - execFee` on a buy); on
//!   linear the settle coin (the quote of a USDT or USDC contract), which the REST list
//!   may leave empty.

use crate::domain::{Instrument, Liquidity, Side, Timestamp};
use crate::venue::exchanges::bybit::api::wire::{self, Category, Execution, Order, OrderStatus};
use crate::venue::live::reconcile::{FeeCoin, fee_coin};
use crate::venue::live::tracker::{VenueUpdate, trade_seq};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// The trade key of an execution (see the module's notes).
pub fn trade_key(exec_id: &str, inst: &Instrument) -> u64 {
    trade_seq(exec_trade_id(exec_id), inst.id)
}

/// The number an execution stands for in the store (a stored fill's `seq / 256`): the
/// first 7 bytes of the SHA-256 of its `execId`, which is a string.
pub fn exec_trade_id(exec_id: &str) -> u64 {
    let h = Sha256::digest(exec_id.as_bytes());
    let mut b = [0u8; 8];
    b[1..].copy_from_slice(&h[..7]);
    u64::from_be_bytes(b)
}

/// What an order message says.
pub fn order_update(o: &Order, now: Timestamp) -> VenueUpdate {
    let venue_id = o.order_link_id.clone();
    match o.order_status {
        OrderStatus::New
        | OrderStatus::PartiallyFilled
        | OrderStatus::Untriggered
        | OrderStatus::Triggered
        | OrderStatus::Filled => VenueUpdate::Accepted { venue_id, ts: now },
        OrderStatus::Cancelled
        | OrderStatus::PartiallyFilledCanceled
        | OrderStatus::Deactivated => VenueUpdate::Closed { venue_id, ts: now },
        OrderStatus::Rejected => VenueUpdate::Rejected {
            venue_id,
            ts: now,
            reason: format!("rejected by Bybit: {}", o.reject_reason),
        },
    }
}

/// A commission in the quote currency.
/// The coin is told apart by the symbol's base and quote coin from instruments-info
/// (`assets`, see [`fee_coin`]; a symbol's spelling can be ambiguous).
pub fn fee_in_quote(
    category: Category,
    inst: &Instrument,
    assets: Option<(&str, &str)>,
    x: &Execution,
) -> Decimal {
    let fee = x.exec_fee.unwrap_or_default();
    let cur = x.fee_currency.as_str();
    // Linear with no currency given: the settle coin, which is the quote.
    if category.has_positions() && cur.is_empty() {
        return fee;
    }
    match fee_coin(&inst.symbol, assets, cur) {
        FeeCoin::Quote => fee,
        FeeCoin::Base => fee * x.exec_price,
        // Another coin (a fee discount token): not priced exactly here; the wallet
        // carries it.
        FeeCoin::Other => Decimal::ZERO,
    }
}

/// The part of a spot commission charged in the base coin, in base units (zero in the
/// quote, in another coin such as MNT, and on linear): the wallet got `execQty` less this
/// on a buy (see the module's notes).
pub fn fee_in_base(
    category: Category,
    inst: &Instrument,
    assets: Option<(&str, &str)>,
    x: &Execution,
) -> Decimal {
    if category.has_positions() || fee_coin(&inst.symbol, assets, &x.fee_currency) != FeeCoin::Base
    {
        return Decimal::ZERO;
    }
    x.exec_fee.unwrap_or_default()
}

/// What an execution says: a trade of an order, or nothing for pit.
pub fn execution_update(
    category: Category,
    x: &Execution,
    instruments: &[Instrument],
    assets: Option<(&str, &str)>,
    now: Timestamp,
) -> Option<VenueUpdate> {
    if !x.is_trade() {
        return None;
    }
    let inst = instruments.iter().find(|i| i.symbol == x.symbol)?;
    Some(VenueUpdate::Trade {
        venue_id: x.order_link_id.clone(),
        symbol: x.symbol.clone(),
        side: match x.side {
            wire::Side::Buy => Side::Buy,
            wire::Side::Sell => Side::Sell,
        },
        key: trade_key(&x.exec_id, inst),
        price: x.exec_price,
        qty: x.exec_qty,
        fee: fee_in_quote(category, inst, assets, x),
        fee_base: fee_in_base(category, inst, assets, x),
        liquidity: if x.is_maker {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        },
        ts: now,
    })
}

/// The venue's signed position per symbol ("Get Position Info" or the `position` topic;
/// one-way mode, hedge-mode sides summed), for
/// [`crate::venue::live::reconcile::compare_positions`].
pub fn venue_positions(list: &[wire::Position]) -> std::collections::BTreeMap<String, Decimal> {
    let mut out = std::collections::BTreeMap::new();
    for p in list {
        *out.entry(p.symbol.clone()).or_insert(Decimal::ZERO) += p.signed_size();
    }
    out
}

/// The symbols of `list` in hedge mode: an entry with `positionIdx` 1 ("Buy side of both
/// side mode") or 2 ("Sell side of both side mode"); one-way mode lists one entry with
/// `positionIdx` 0 ("Get Position Info", <https://bybit-exchange.github.io/docs/v5/position>,
/// and the `position` topic, <https://bybit-exchange.github.io/docs/v5/websocket/private/position>).
pub fn hedge_symbols(list: &[wire::Position]) -> std::collections::BTreeSet<String> {
    list.iter()
        .filter(|p| p.position_idx != 0)
        .map(|p| p.symbol.clone())
        .collect()
}

/// [`venue_positions`] with each symbol's `seq` (the highest listed; none when a list
/// says none).
pub fn venue_position_seqs(
    list: &[wire::Position],
) -> std::collections::BTreeMap<String, (Decimal, Option<i64>)> {
    let mut out = std::collections::BTreeMap::new();
    for (sym, q) in venue_positions(list) {
        let seq = list
            .iter()
            .filter(|p| p.symbol == sym)
            .map(|p| p.seq)
            .collect::<Option<Vec<i64>>>()
            .and_then(|v| v.into_iter().max());
        out.insert(sym, (q, seq));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientOrderId, ExecReport, InstrumentId, Qty};
    use crate::venue::exchanges::bybit::api::wire::{PrivateEvent, parse_private};
    use crate::venue::live::ids::VenueIds;
    use crate::venue::live::tracker::Tracker;
    use rust_decimal_macros::dec;

    fn btc() -> Instrument {
        Instrument::new(
            InstrumentId(0),
            "BTCUSDT",
            "bybit",
            dec!(0.1),
            dec!(0.001),
            Qty(1),
        )
    }

    /// The private `execution` example of the docs, with our id and a spot fee in BTC.
    fn exec(exec_id: &str, link: &str, fee_cur: &str) -> Execution {
        let doc = format!(
            r#"{{"topic":"execution","data":[{{"category":"spot","symbol":"BTCUSDT","execFee":"0.0005","execId":"{exec_id}","execPrice":"95900.1","execQty":"0.5","execType":"Trade","orderId":"9aac","orderLinkId":"{link}","side":"Buy","execTime":"1746270400353","isMaker":true,"seq":140612148849382,"feeCurrency":"{fee_cur}"}}]}}"#
        );
        let PrivateEvent::Executions(mut xs) = parse_private(&doc).unwrap() else {
            panic!()
        };
        xs.remove(0)
    }

    #[test]
    fn executions_become_trades_once_with_fees_in_quote() {
        let inst = btc();
        let ids = VenueIds::new(7, crate::venue::live::ids::IdPrefix::for_tests());
        let link = ids.to_venue(&ClientOrderId::new("M-1"));
        let x = exec("0ab1bdf7-4219-438b-b30a-32ec863018f7", &link, "BTC");
        let u = execution_update(
            Category::Spot,
            &x,
            std::slice::from_ref(&inst),
            None,
            Timestamp(5),
        )
        .unwrap();
        let VenueUpdate::Trade {
            key,
            fee,
            liquidity,
            ..
        } = &u
        else {
            panic!("{u:?}")
        };
        // 0.0005 BTC at 95900.1.
        assert_eq!(*fee, dec!(47.95005));
        assert_eq!(*liquidity, Liquidity::Maker);
        assert_eq!(key % 256, 0, "placed by the instrument");
        assert_eq!(
            *key,
            trade_key("0ab1bdf7-4219-438b-b30a-32ec863018f7", &inst)
        );
        assert_ne!(
            *key,
            trade_key("0ab1bdf7-4219-438b-b30a-32ec863018f8", &inst)
        );
        // Applied once, however often Bybit tells it (stream and trade list).
        let mut t = Tracker::new(ids, vec![inst.clone()], Default::default());
        let mut out = Vec::new();
        t.apply(u.clone(), &mut out);
        t.apply(u, &mut out);
        let fills = out
            .iter()
            .filter(|r| matches!(r, ExecReport::Filled(_)))
            .count();
        assert_eq!(fills, 1, "{out:?}");
        // USDT fee: as is. Linear with no feeCurrency (the REST example): the settle coin.
        assert_eq!(
            fee_in_quote(Category::Spot, &inst, None, &exec("a", &link, "USDT")),
            dec!(0.0005)
        );
        assert_eq!(
            fee_in_quote(Category::Linear, &inst, None, &exec("a", &link, "")),
            dec!(0.0005)
        );
        assert_eq!(
            fee_in_quote(Category::Spot, &inst, None, &exec("a", &link, "MNT")),
            dec!(0)
        );
        // Funding is not a trade.
        let mut f = exec("b", &link, "USDT");
        f.exec_type = "Funding".into();
        assert!(execution_update(Category::Linear, &f, &[inst], None, Timestamp(5)).is_none());
    }

    /// A spot buy's fee in the coin bought is netted out of what the position gets (the
    /// wallet got `execQty - execFee`), while the order's fill stays Bybit's `execQty`; a
    /// fee in the quote, in MNT, or none moves no base.
    #[test]
    fn a_spot_buys_fee_in_the_coin_bought_is_netted_from_the_position_only() {
        let inst = btc();
        let ids = VenueIds::new(7, crate::venue::live::ids::IdPrefix::for_tests());
        let link = ids.to_venue(&ClientOrderId::new("M-1"));
        let fill_of = |x: &Execution| {
            let u = execution_update(
                Category::Spot,
                x,
                std::slice::from_ref(&inst),
                None,
                Timestamp(5),
            )
            .unwrap();
            let mut t = Tracker::new(ids.clone(), vec![inst.clone()], Default::default());
            let mut out = Vec::new();
            t.apply(u, &mut out);
            out.into_iter()
                .find_map(|r| match r {
                    ExecReport::Filled(f) => Some(f),
                    _ => None,
                })
                .unwrap()
        };
        // Buy 0.5 BTC, fee 0.0005 BTC: the order filled 0.5, the wallet holds 0.4995.
        let f = fill_of(&exec("a", &link, "BTC"));
        assert_eq!(f.qty, Qty(500), "the order's fill is the executed size");
        assert_eq!(f.fee_base, dec!(0.0005));
        assert_eq!(f.fee, dec!(47.95005), "the fee counts once, in quote");
        assert_eq!(f.position_qty(inst.qty(f.qty)), dec!(0.4995));
        // Sell, fee in USDT: the position gives the executed size, no base fee.
        let mut x = exec("b", &link, "USDT");
        x.side = wire::Side::Sell;
        let f = fill_of(&x);
        assert_eq!(f.fee_base, dec!(0));
        assert_eq!(f.position_qty(inst.qty(f.qty)), dec!(0.5));
        // A fee in a third coin (MNT) moves no base and is not priced here.
        let f = fill_of(&exec("c", &link, "MNT"));
        assert_eq!((f.fee, f.fee_base), (dec!(0), dec!(0)));
        assert_eq!(f.position_qty(inst.qty(f.qty)), dec!(0.5));
        // No fee at all.
        let mut x = exec("d", &link, "BTC");
        x.exec_fee = Some(dec!(0));
        let f = fill_of(&x);
        assert_eq!(f.position_qty(inst.qty(f.qty)), dec!(0.5));
        // A maker rebate on a sell, paid in base (negative maker rate: the instruction's
        // other branch): the wallet gives up less than it sold.
        let mut x = exec("e", &link, "BTC");
        x.side = wire::Side::Sell;
        x.exec_fee = Some(dec!(-0.0001));
        let f = fill_of(&x);
        assert_eq!(f.position_qty(inst.qty(f.qty)), dec!(0.4999));
        // Linear: the fee is the settle coin's, never base.
        assert_eq!(
            fee_in_base(Category::Linear, &inst, None, &exec("f", &link, "BTC")),
            dec!(0)
        );
        // A symbol whose spelling is ambiguous (TUSDT: base T, quote USDT): the coins from
        // instruments-info decide; a fee in T is the base's.
        let t = Instrument::new(
            crate::domain::InstrumentId(0),
            "TUSDT",
            "bybit",
            dec!(0.00001),
            dec!(1),
            crate::domain::Qty(1),
        );
        let mut x = exec("g", &link, "T");
        x.symbol = "TUSDT".into();
        x.exec_price = dec!(0.02);
        x.exec_fee = Some(dec!(1));
        let coins = Some(("T", "USDT"));
        assert_eq!(fee_in_base(Category::Spot, &t, coins, &x), dec!(1));
        assert_eq!(fee_in_quote(Category::Spot, &t, coins, &x), dec!(0.02));
    }

    #[test]
    fn order_statuses_map_to_accepted_closed_rejected() {
        let doc = r#"{"orderId":"1","orderLinkId":"p7-M-1","symbol":"BTCUSDT","price":"50000","qty":"0.01","side":"Buy","orderStatus":"New","orderType":"Limit","rejectReason":"EC_NoError"}"#;
        let mut o: Order = serde_json::from_str(doc).unwrap();
        let ts = Timestamp(1);
        assert!(
            matches!(order_update(&o, ts), VenueUpdate::Accepted { venue_id, .. } if venue_id == "p7-M-1")
        );
        for s in [
            OrderStatus::Cancelled,
            OrderStatus::PartiallyFilledCanceled,
            OrderStatus::Deactivated,
        ] {
            o.order_status = s;
            assert!(
                matches!(order_update(&o, ts), VenueUpdate::Closed { .. }),
                "{s:?}"
            );
        }
        o.order_status = OrderStatus::Rejected;
        o.reject_reason = "EC_PostOnlyWillTakeLiquidity".into();
        assert!(matches!(
            order_update(&o, ts),
            VenueUpdate::Rejected { reason, .. } if reason.contains("EC_PostOnlyWillTakeLiquidity")
        ));
    }

    #[test]
    fn venue_positions_are_signed_and_summed() {
        let list: Vec<wire::Position> = serde_json::from_str(
            r#"[{"symbol":"BTCUSDT","side":"Buy","size":"0.03","positionIdx":1},
                {"symbol":"BTCUSDT","side":"Sell","size":"0.01","positionIdx":2},
                {"symbol":"ETHUSDT","side":"","size":"0","positionIdx":0}]"#,
        )
        .unwrap();
        let m = venue_positions(&list);
        assert_eq!(m["BTCUSDT"], dec!(0.02));
        assert_eq!(m["ETHUSDT"], dec!(0));
        // BTCUSDT's two entries (`positionIdx` 1 and 2) are hedge mode; ETHUSDT one-way.
        assert_eq!(
            hedge_symbols(&list).into_iter().collect::<Vec<_>>(),
            ["BTCUSDT"]
        );
        let store = [("BTCUSDT".to_string(), dec!(0.02))].into_iter().collect();
        assert!(crate::venue::live::reconcile::compare_positions(&store, &m).is_empty());
    }

    #[test]
    fn a_positions_seq_is_read_as_a_number_or_the_documented_string() {
        // The position topic's example gives a number; "Returns "-1" if the symbol has
        // never been traded" a string.
        let list: Vec<wire::Position> = serde_json::from_str(
            r#"[{"symbol":"BTCUSDT","side":"Buy","size":"0.03","positionIdx":0,"seq":8327597863},
                {"symbol":"ETHUSDT","side":"","size":"0","positionIdx":0,"seq":"-1"},
                {"symbol":"SOLUSDT","side":"","size":"0","positionIdx":0}]"#,
        )
        .unwrap();
        let m = venue_position_seqs(&list);
        assert_eq!(m["BTCUSDT"], (dec!(0.03), Some(8327597863)));
        assert_eq!(m["ETHUSDT"], (dec!(0), Some(-1)));
        assert_eq!(m["SOLUSDT"], (dec!(0), None));
    }
}
