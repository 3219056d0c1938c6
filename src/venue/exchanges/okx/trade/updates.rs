//! OKX's order pushes and fills (the `orders` channel, "Get order details", "Get
//! transaction details") as the venue-generic [`VenueUpdate`]s the live tracker turns into
//! execution reports, once each.
//!
//! * `state` ("Get order details"): `live` and `partially_filled` say OKX has the order,
//!   as does `filled` (its fills come as fills); `canceled` and `mmp_canceled` close it.
//!   OKX has no rejected state: a refused order is refused in "Place order"'s answer.
//! * A fill's trade key is OKX's `tradeId` (a number per instrument on SPOT), placed by
//!   [`trade_seq`] like Binance's trade ids, so it is the same across restarts.
//! * Fees: `fee` / `fillFee` is negative when charged ("Get transaction details": "fee:
//!   ... negative number represents the user transaction fee charged by the platform.
//!   Positive number represents rebate"), in `feeCcy` (on SPOT the currency received: base
//!   on a buy, quote on a sell); priced into the quote here, and a fee in the base is also
//!   handed on as `fee_base` so the position is what the account got.

use super::wire::{Fill, Order, OrderState};
use crate::domain::{Instrument, Liquidity, Side, Timestamp};
use crate::venue::live::reconcile::{FeeCoin, fee_coin};
use crate::venue::live::tracker::{VenueUpdate, trade_seq};
use rust_decimal::Decimal;

/// What an order's state says.
pub fn order_update(o: &Order, now: Timestamp) -> VenueUpdate {
    let venue_id = o.venue_id();
    match o.state {
        OrderState::Canceled | OrderState::MmpCanceled => VenueUpdate::Closed { venue_id, ts: now },
        _ => VenueUpdate::Accepted { venue_id, ts: now },
    }
}

/// A fill as a trade of its order; `None` for an instrument pit does not trade or a trade
/// id that is not a number.
pub fn fill_update(
    f: &Fill,
    instruments: &[Instrument],
    assets: Option<(&str, &str)>,
    now: Timestamp,
) -> Option<VenueUpdate> {
    let inst = instruments.iter().find(|i| i.symbol == f.inst_id)?;
    let no = f.trade_no()?;
    let fee = f.commission();
    let coin = fee_coin(&inst.symbol.replace('-', ""), assets, &f.fee_ccy);
    let (fee_quote, fee_base) = match coin {
        FeeCoin::Quote => (fee, Decimal::ZERO),
        FeeCoin::Base => (fee * f.fill_px, fee),
        FeeCoin::Other => (Decimal::ZERO, Decimal::ZERO),
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
        liquidity: if f.exec_type == "M" {
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
    use crate::venue::exchanges::okx::trade::wire::{WsFrame, parse_ws, to_cl_ord_id};
    use crate::venue::live::ids::{IdPrefix, VenueIds};
    use crate::venue::live::tracker::Tracker;
    use rust_decimal_macros::dec;

    fn btc() -> Instrument {
        Instrument::new(
            InstrumentId(0),
            "BTC-USDT",
            "okx",
            dec!(0.1),
            dec!(0.00001),
            Qty(1),
        )
    }

    fn push(cl: &str, state: &str, fill: Option<(&str, &str, &str)>) -> Order {
        let (sz, trade, fee) = fill.unwrap_or(("0", "", "0"));
        let frame = format!(
            r#"{{"arg":{{"channel":"orders","instType":"SPOT"}},"data":[{{"instId":"BTC-USDT","ordId":"9","clOrdId":"{cl}","state":"{state}","side":"buy","sz":"0.002","accFillSz":"{sz}","fillPx":"60000","fillSz":"{sz}","tradeId":"{trade}","fillFee":"{fee}","fillFeeCcy":"BTC","execType":"T","fillTime":"1"}}]}}"#
        );
        let WsFrame::Orders(mut l) = parse_ws(&frame).unwrap() else {
            panic!()
        };
        l.remove(0)
    }

    #[test]
    fn pushes_become_one_ack_one_fill_each_and_one_close() {
        let ids = VenueIds::new(3, IdPrefix::for_tests());
        let v = ids.to_venue(&ClientOrderId::new("M-1"));
        let cl = to_cl_ord_id(&v).unwrap();
        let mut t = Tracker::new(ids, vec![btc()], Default::default());
        t.sent(&v, dec!(0.002));
        let mut out = Vec::new();
        let live = push(&cl, "live", None);
        assert!(live.fill().is_none());
        t.apply(order_update(&live, Timestamp(1)), &mut out);
        let filled = push(&cl, "filled", Some(("0.002", "77", "-0.000002")));
        let f = filled.fill().unwrap();
        let u = fill_update(&f, &[btc()], Some(("BTC", "USDT")), Timestamp(2)).unwrap();
        let VenueUpdate::Trade {
            fee, fee_base, key, ..
        } = &u
        else {
            panic!()
        };
        // 0.000002 BTC charged on a buy: 0.12 USDT, and the position is 0.002 less it.
        assert_eq!((*fee, *fee_base), (dec!(0.12), dec!(0.000002)));
        assert_eq!(*key, trade_seq(77, InstrumentId(0)));
        t.apply(u.clone(), &mut out);
        t.apply(u, &mut out);
        t.apply(order_update(&filled, Timestamp(3)), &mut out);
        let fills = out
            .iter()
            .filter(|r| matches!(r, ExecReport::Filled(_)))
            .count();
        assert_eq!(fills, 1, "{out:?}");
        assert!(matches!(out[0], ExecReport::Accepted { .. }), "{out:?}");
        // A cancelled push closes.
        assert!(matches!(
            order_update(&push(&cl, "canceled", None), Timestamp(4)),
            VenueUpdate::Closed { .. }
        ));
    }
}
