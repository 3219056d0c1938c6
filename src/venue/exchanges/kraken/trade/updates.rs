//! Kraken's order states and fills (the `executions` channel, the REST order and trade
//! lists) as the venue-generic [`VenueUpdate`]s the live tracker turns into execution
//! reports, once each.
//!
//! * States: `pending`/`pending_new`, `open`/`new` and `partially_filled` say Kraken has
//!   the order, as does `closed`/`filled` (its fills come as fills); `canceled` and
//!   `expired` close it. A refused order is refused in "Add Order"'s answer.
//! * A fill's trade key is Kraken's `trade_id` ("unique identifier of trade executed",
//!   a number per pair), placed by [`trade_seq`], the same across restarts and in the
//!   REST lists and the stream.
//! * Fees: pit sends every order with `oflags=fciq` ("prefer fee in quote currency"), so a
//!   fee is in the quote; one in the base (should Kraken charge it so) is priced at the
//!   fill and handed on as `fee_base` too, so the position is what the account got.
//!   REST gives the fee positive "(quote currency)"; the stream's `fees` name the asset.

use super::wire::{Fill, Order, OrderState};
use crate::domain::{Instrument, Liquidity, Side, Timestamp};
use crate::venue::live::tracker::{VenueUpdate, trade_seq};
use rust_decimal::Decimal;

/// What an order's state says.
pub fn order_update(o: &Order, now: Timestamp) -> VenueUpdate {
    let venue_id = o.venue_id();
    match o.state {
        OrderState::Canceled | OrderState::Expired => VenueUpdate::Closed { venue_id, ts: now },
        _ => VenueUpdate::Accepted { venue_id, ts: now },
    }
}

/// Whether a fee asset is the symbol's (base, quote): Kraken's asset names
/// (`assets`, from "Get Tradable Asset Pairs": `XXBT`, `ZUSD`) or the WebSocket v2
/// spelling (`BTC/USD`'s parts).
fn fee_side(symbol: &str, assets: Option<(&str, &str)>, asset: &str) -> (bool, bool) {
    let (b, q) = symbol.split_once('/').unwrap_or(("", ""));
    let (ab, aq) = assets.unwrap_or(("", ""));
    (
        !asset.is_empty() && (asset == b || asset == ab),
        !asset.is_empty() && (asset == q || asset == aq),
    )
}

/// A fill as a trade of its order; `None` for an instrument pit does not trade or a trade
/// without its number.
pub fn fill_update(
    f: &Fill,
    instruments: &[Instrument],
    assets: Option<(&str, &str)>,
    now: Timestamp,
) -> Option<VenueUpdate> {
    let inst = instruments.iter().find(|i| i.symbol == f.inst_id)?;
    let no = f.trade_no()?;
    let fee = f.commission();
    let (base, quote) = fee_side(&inst.symbol, assets, &f.fee_ccy);
    let (fee_quote, fee_base) = if quote || fee.is_zero() {
        (fee, Decimal::ZERO)
    } else if base {
        (fee * f.fill_px, fee)
    } else {
        (Decimal::ZERO, Decimal::ZERO)
    };
    Some(VenueUpdate::Trade {
        venue_id: f.venue_id(),
        symbol: f.inst_id.clone(),
        side: if f.is_buy() { Side::Buy } else { Side::Sell },
        key: trade_seq(no, inst.id),
        price: f.fill_px,
        qty: f.fill_sz,
        fee: fee_quote,
        fee_base,
        liquidity: if f.maker {
            Liquidity::Maker
        } else {
            Liquidity::Taker
        },
        ts: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClientOrderId, ExecReport, InstrumentId, Qty};
    use crate::venue::exchanges::kraken::trade::wire::{WsFrame, parse_ws, to_cl_ord_id};
    use crate::venue::live::ids::{IdPrefix, VenueIds};
    use crate::venue::live::tracker::Tracker;
    use rust_decimal_macros::dec;

    fn btc() -> Instrument {
        Instrument::new(
            InstrumentId(0),
            "BTC/USD",
            "kraken",
            dec!(0.1),
            dec!(0.00001),
            Qty(1),
        )
    }

    fn exec(cl: &str, exec_type: &str, status: &str, trade: Option<(&str, u64)>) -> Order {
        let t = match trade {
            Some((id, no)) => format!(
                r#","exec_id":"{id}","trade_id":{no},"last_qty":0.002,"last_price":60000,"liquidity_ind":"t","fees":[{{"asset":"USD","qty":0.12}}]"#
            ),
            None => String::new(),
        };
        let frame = format!(
            r#"{{"channel":"executions","type":"update","data":[{{"order_id":"O9","cl_ord_id":"{cl}","symbol":"BTC/USD","side":"buy","order_qty":0.002,"cum_qty":0.002,"exec_type":"{exec_type}","order_status":"{status}"{t}}}]}}"#
        );
        let WsFrame::Executions { mut items, .. } = parse_ws(&frame).unwrap() else {
            panic!()
        };
        items.remove(0)
    }

    #[test]
    fn executions_become_one_ack_one_fill_each_and_one_close() {
        let ids = VenueIds::new(3, IdPrefix::for_tests());
        let v = ids.to_venue(&ClientOrderId::new("M-1"));
        let cl = to_cl_ord_id(&v).unwrap();
        let mut t = Tracker::new(ids, vec![btc()], Default::default());
        t.sent(&v, dec!(0.002));
        let mut out = Vec::new();
        let new = exec(&cl, "new", "new", None);
        assert!(new.fill().is_none());
        t.apply(order_update(&new, Timestamp(1)), &mut out);
        let traded = exec(&cl, "trade", "filled", Some(("TX1", 77)));
        let f = traded.fill().unwrap();
        let u = fill_update(&f, &[btc()], Some(("XXBT", "ZUSD")), Timestamp(2)).unwrap();
        let VenueUpdate::Trade {
            fee, fee_base, key, ..
        } = &u
        else {
            panic!()
        };
        // 0.12 USD: the quote of BTC/USD, as the stream spells it.
        assert_eq!((*fee, *fee_base), (dec!(0.12), dec!(0)));
        assert_eq!(*key, trade_seq(77, InstrumentId(0)));
        t.apply(u.clone(), &mut out);
        t.apply(u, &mut out);
        t.apply(order_update(&traded, Timestamp(3)), &mut out);
        let fills = out
            .iter()
            .filter(|r| matches!(r, ExecReport::Filled(_)))
            .count();
        assert_eq!(fills, 1, "{out:?}");
        assert!(matches!(out[0], ExecReport::Accepted { .. }), "{out:?}");
        assert!(matches!(
            order_update(&exec(&cl, "canceled", "canceled", None), Timestamp(4)),
            VenueUpdate::Closed { .. }
        ));
        // A fee in the base is priced and handed on.
        let mut fb = f.clone();
        fb.fee = dec!(0.000002);
        fb.fee_ccy = "XXBT".into();
        let VenueUpdate::Trade { fee, fee_base, .. } =
            fill_update(&fb, &[btc()], Some(("XXBT", "ZUSD")), Timestamp(5)).unwrap()
        else {
            panic!()
        };
        assert_eq!((fee, fee_base), (dec!(0.12), dec!(0.000002)));
    }
}
