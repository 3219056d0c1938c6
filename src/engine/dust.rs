//! Dust: the part of a position no order can close. A spot venue takes a buy's fee in the
//! coin bought, so the holding the engine books (what the wallet got, see
//! [`crate::domain::Fill::fee_base`]) is off the venue's lot step; the venue takes only
//! whole steps, at or above its minimum size and notional. Closing orders (the flatten,
//! the kill's flatten, a session's flat-before-close, the aged-position manager, the
//! strategies' reduce-only exits) carry the position rounded DOWN to the step, never up
//! past the holding, and a rest below the minimum is dust: said once (INFO), never sent,
//! and counted as flat wherever the engine waits for flat. On paper (no venue rules, and
//! positions always whole lots) the closable size is the position's whole lots, as before.

use super::{AlertLevel, Effect, Engine};
use crate::domain::{Qty, VenueRulesState};

impl Engine {
    /// The lots of instrument `i`'s position a closing market order can carry now: its
    /// whole lots, and with the venue's rules known, rounded down to their steps; none when
    /// that is below their minimum size, or notional at the touch the order would take.
    pub(super) fn closable_lots(&self, i: usize) -> Qty {
        let price = {
            let pos = self.positions[i].qty;
            let touch = if pos.is_sign_positive() {
                self.books[i].best_bid()
            } else {
                self.books[i].best_ask()
            };
            touch.map(|l| self.instruments[i].price(l.price))
        };
        self.closable_lots_at(i, price)
    }

    /// [`Engine::closable_lots`] at `price` (`None`: the size rules alone, no notional).
    fn closable_lots_at(&self, i: usize, price: Option<rust_decimal::Decimal>) -> Qty {
        let pos = self.positions[i].qty;
        let inst = &self.instruments[i];
        let lots = inst.qty_floor(pos.abs());
        let VenueRulesState::Known { rules, .. } = &self.venue_rules[i] else {
            return lots;
        };
        inst.qty_floor(rules.closable(inst.qty(lots), price))
    }

    /// A position is held on `i` that a closing order can close (not flat, not dust).
    pub(super) fn holds(&self, i: usize) -> bool {
        !self.positions[i].is_flat() && self.closable_lots(i).is_positive()
    }

    /// A position is held on `i` by the size rules alone (lot step and minimum size, not
    /// the notional at the touch): what opens and closes a round trip, so a small first
    /// partial fill, or a dip of the price, does not restart it (its fees and age kept).
    pub(super) fn holds_by_size(&self, i: usize) -> bool {
        !self.positions[i].is_flat() && self.closable_lots_at(i, None).is_positive()
    }

    /// Say once (per size) that `i`'s position is dust.
    pub(super) fn note_dust(&mut self, i: usize, out: &mut Vec<Effect>) {
        let pos = self.positions[i].qty;
        if pos.is_zero() || self.dust_noted[i] == pos {
            return;
        }
        self.dust_noted[i] = pos;
        let rules = match &self.venue_rules[i] {
            VenueRulesState::Known { rules, .. } => rules.summary(),
            _ => format!("lot {}", self.instruments[i].lot_size.normalize()),
        };
        let text = format!(
            "{} {} left is dust: below the venue's minimum ({rules}), not sellable; counted as flat",
            self.instruments[i].symbol,
            pos.normalize()
        );
        self.alert_kind(AlertLevel::Info, "position", "dust", text, out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::{Command, Input};
    use crate::domain::{
        ExecReport, Fill, Liquidity, OrderKind, Price, Qty, Side, VenueFilter, VenueRules,
    };
    use rust_decimal_macros::dec;

    fn fill_with(
        seq: u64,
        req: &crate::domain::OrderRequest,
        lots: i64,
        fee: rust_decimal::Decimal,
        fee_base: rust_decimal::Decimal,
    ) -> Input {
        Input::Exec(ExecReport::Filled(Fill {
            seq,
            ts: crate::domain::Timestamp(0),
            client_id: req.client_id.clone(),
            instrument: BTC,
            side: req.spec.side,
            price: Price(600_000),
            qty: Qty(lots),
            fee,
            liquidity: Liquidity::Taker,
            fee_base,
        }))
    }

    /// A buy of 0.005 with 0.000005 taken in BTC: the position is 0.004995, the order is
    /// filled in full (its fill is the executed 0.005), the fee counts once. The flatten
    /// sells 0.004 (rounded down); what is left, 0.000995, is dust: no order, said once,
    /// and flat for the kill's retries.
    #[test]
    fn a_netted_position_flattens_rounded_down_and_leaves_dust_said_once() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let mut e = engine(t0, Vec::new());
        step(&mut e, t0, book(t0, 600_000, 600_010));
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Market, None, 5, false),
        );
        let buy = submits(&out).pop().expect("the buy");
        step(
            &mut e,
            t0,
            fill_with(256, &buy, 5, dec!(0.3), dec!(0.000005)),
        );
        assert_eq!(e.position(BTC).qty, dec!(0.004995));
        assert_eq!(e.position(BTC).avg_price, dec!(60000));
        assert!(e.open_orders.is_empty(), "the buy is filled in full");
        // Cash out: 0.004995 at 60000 in the position's cost + 0.3 fee = 300 = 0.005 x
        // 60000; the equity at the buy's price is minus the fee, once.
        assert_eq!(e.fees, dec!(0.3));
        assert_eq!(
            e.position(BTC).qty * e.position(BTC).avg_price + e.fees,
            dec!(300)
        );

        let out = step(&mut e, t0, Input::Command(Command::Flatten(None)));
        let sell = submits(&out).pop().expect("the flatten's sell");
        assert_eq!((sell.spec.side, sell.spec.qty), (Side::Sell, Qty(4)));
        step(&mut e, t0, fill_with(512, &sell, 4, dec!(0.24), dec!(0)));
        assert_eq!(e.position(BTC).qty, dec!(0.000995));

        let out = step(&mut e, t0, Input::Command(Command::Flatten(None)));
        assert!(submits(&out).is_empty(), "no order for dust");
        assert!(
            alert_texts(&out).contains("0.000995 left is dust"),
            "{}",
            alert_texts(&out)
        );
        assert!(!e.holds(0), "dust counts as flat");
        let out = step(&mut e, t0, Input::Command(Command::Flatten(None)));
        assert!(!alert_texts(&out).contains("dust"), "said once");
    }

    /// A round trip that ends in dust is closed (reported, counted), and a buy on top of
    /// dust days later opens a new one, young (the aged-position manager ages it from
    /// then), not the old trip carried on.
    #[test]
    fn a_round_trip_ending_in_dust_closes_and_the_next_buy_is_a_new_trip() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let mut e = engine(t0, Vec::new());
        step(&mut e, t0, book(t0, 600_000, 600_010));
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Market, None, 5, false),
        );
        let buy = submits(&out).pop().expect("the buy");
        step(
            &mut e,
            t0,
            fill_with(256, &buy, 5, dec!(0.3), dec!(0.000005)),
        );
        let out = step(&mut e, t0, Input::Command(Command::Flatten(None)));
        let sell = submits(&out).pop().expect("the flatten's sell");
        let out = step(&mut e, t0, fill_with(512, &sell, 4, dec!(0.24), dec!(0)));
        assert!(
            out.iter()
                .any(|x| matches!(x, super::super::Effect::TradeClosed(_))),
            "the round trip closes at dust"
        );
        assert_eq!(e.day_trades(), 1);
        let t1 = ts("2026-03-12T13:30:00Z");
        step(&mut e, t1, book(t1, 600_000, 600_010));
        let out = step(
            &mut e,
            t1,
            manual(Side::Buy, OrderKind::Market, None, 5, false),
        );
        let b2 = submits(&out).pop().expect("the second buy");
        step(
            &mut e,
            t1,
            fill_with(768, &b2, 5, dec!(0.3), dec!(0.000005)),
        );
        assert_eq!(e.trips[0].opened, t1, "a position on top of dust is young");
    }

    /// An entry filled in parts, the first below the venue's minimum notional at the
    /// touch: the round trip opens with the first part (its fee and its time kept), as a
    /// notional that depends on the price of the moment does not decide a trip.
    #[test]
    fn a_first_partial_below_the_minimum_notional_opens_the_round_trip() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let mut e = engine(t0, Vec::new());
        step(&mut e, t0, book(t0, 600_000, 600_010));
        let rules = VenueRules {
            filters: vec![
                VenueFilter::LotSize {
                    min: dec!(0.001),
                    max: dec!(100),
                    step: dec!(0.001),
                },
                VenueFilter::Notional {
                    min: dec!(100),
                    apply_min_to_market: true,
                    max: dec!(0),
                    apply_max_to_market: false,
                },
            ],
            ..VenueRules::default()
        };
        step(
            &mut e,
            t0,
            Input::VenueRules {
                instrument: BTC,
                rules: Ok(rules),
            },
        );
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Limit, Some(600_000), 5, false),
        );
        let buy = submits(&out).pop().expect("the buy");
        // 0.001 at 60000 = 60: below the 100 minimum at the touch.
        step(&mut e, t0, fill_with(256, &buy, 1, dec!(0.06), dec!(0)));
        let t1 = ts("2026-03-09T13:31:00Z");
        step(&mut e, t1, fill_with(257, &buy, 4, dec!(0.24), dec!(0)));
        assert_eq!(e.position(BTC).qty, dec!(0.005));
        assert_eq!(e.trips[0].opened, t0, "the trip opened with the first part");
        assert_eq!(e.trips[0].fees, dec!(0.30), "both parts' fees in the trip");
    }

    /// A sell whose fee in the coin sold is more than what is left after it (the wallet
    /// held more of the coin than pit's position) closes the long; it does not open a
    /// phantom short.
    #[test]
    fn a_sells_fee_in_the_coin_sold_never_flips_the_position() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let mut e = engine(t0, Vec::new());
        step(&mut e, t0, book(t0, 600_000, 600_010));
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Market, None, 5, false),
        );
        let buy = submits(&out).pop().expect("the buy");
        step(
            &mut e,
            t0,
            fill_with(256, &buy, 5, dec!(0.3), dec!(0.000005)),
        );
        let out = step(
            &mut e,
            t0,
            manual(Side::Sell, OrderKind::Market, None, 4, false),
        );
        let sell = submits(&out).pop().expect("the sell");
        step(&mut e, t0, fill_with(512, &sell, 4, dec!(0), dec!(0.0011)));
        assert_eq!(e.position(BTC).qty, dec!(0));
    }

    /// A bracket's take-profit is sized to what the position holds: an entry of 0.005 with
    /// its fee taken in BTC holds 0.004995, so the take-profit is 0.004 (the whole entry
    /// would be refused as not reducing, and no take-profit would rest).
    #[test]
    fn a_brackets_take_profit_is_the_position_not_the_entry() {
        use crate::domain::{BracketLegs, OrderSpec, OrderTag, TimeInForce};
        let t0 = ts("2026-03-09T13:30:00Z");
        let mut e = engine(t0, Vec::new());
        step(&mut e, t0, book(t0, 600_000, 600_010));
        let cmd = Command::Bracket(crate::engine::BracketOrder {
            order: crate::engine::ManualOrder {
                spec: OrderSpec {
                    instrument: BTC,
                    side: Side::Buy,
                    kind: OrderKind::Limit,
                    price: Some(Price(600_000)),
                    qty: Qty(5),
                    tif: TimeInForce::Gtc,
                    reduce_only: false,
                },
                client_id: None,
            },
            legs: BracketLegs {
                take_profit: Some(Price(601_000)),
                stop_loss: Some(Price(599_000)),
            },
        });
        let out = step(&mut e, t0, Input::Command(cmd));
        let entry = submits(&out).pop().expect("the entry");
        let out = step(
            &mut e,
            t0,
            fill_with(256, &entry, 5, dec!(0.3), dec!(0.000005)),
        );
        let tp = submits(&out);
        assert!(
            matches!(&tp[..], [o] if o.tag == OrderTag::TakeProfit && o.spec.qty == Qty(4)),
            "{out:?}"
        );
    }

    /// With the venue's rules known, a whole lot worth less than the minimum notional at
    /// the touch is dust too; their step rounds the size down.
    #[test]
    fn the_venues_step_and_minimum_notional_make_dust() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let mut e = engine(t0, Vec::new());
        step(&mut e, t0, book(t0, 600_000, 600_010));
        let rules = VenueRules {
            filters: vec![
                VenueFilter::LotSize {
                    min: dec!(0.002),
                    max: dec!(100),
                    step: dec!(0.002),
                },
                VenueFilter::Notional {
                    min: dec!(100),
                    apply_min_to_market: true,
                    max: dec!(0),
                    apply_max_to_market: false,
                },
            ],
            ..VenueRules::default()
        };
        step(
            &mut e,
            t0,
            Input::VenueRules {
                instrument: BTC,
                rules: Ok(rules),
            },
        );
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Market, None, 6, false),
        );
        let buy = submits(&out).pop().expect("the buy");
        step(
            &mut e,
            t0,
            fill_with(256, &buy, 6, dec!(0.36), dec!(0.000006)),
        );
        // 0.005994 held: at a touch of 20000, 0.004 is worth 80 < 100: all of it is dust.
        step(&mut e, t0, book(t0, 200_000, 200_010));
        assert_eq!(e.closable_lots(0), Qty(0));
        // At 60000: 0.004 goes (step 0.002), 0.001994 is left.
        step(&mut e, t0, book(t0, 600_000, 600_010));
        assert_eq!(e.closable_lots(0), Qty(4));
        let out = step(&mut e, t0, Input::Command(Command::Flatten(None)));
        let sell = submits(&out).pop().expect("the flatten's sell");
        step(&mut e, t0, fill_with(512, &sell, 4, dec!(0.24), dec!(0)));
        // 0.001994: below the step's minimum 0.002.
        assert_eq!(e.closable_lots(0), Qty(0));
        assert!(!e.holds(0));
    }

    /// A position above the largest market order the venue takes is flattened in orders
    /// of that size (one refused order of the whole would leave it all open); the rest is
    /// no dust.
    #[test]
    fn a_flatten_above_the_venues_largest_market_order_goes_in_orders_of_it() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let mut e = engine(t0, Vec::new());
        step(&mut e, t0, book(t0, 600_000, 600_010));
        let rules = VenueRules {
            filters: vec![
                VenueFilter::LotSize {
                    min: dec!(0.001),
                    max: dec!(100),
                    step: dec!(0.001),
                },
                VenueFilter::MarketLotSize {
                    min: dec!(0.001),
                    max: dec!(0.002),
                    step: dec!(0.001),
                },
            ],
            ..VenueRules::default()
        };
        step(
            &mut e,
            t0,
            Input::VenueRules {
                instrument: BTC,
                rules: Ok(rules),
            },
        );
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Limit, Some(600_010), 5, false),
        );
        let buy = submits(&out)
            .pop()
            .expect("the buy (a limit: 5 lots is no market order here)");
        step(&mut e, t0, fill_with(256, &buy, 5, dec!(0.3), dec!(0)));
        let mut sells = Vec::new();
        for seq in 2..6 {
            let out = step(&mut e, t0, Input::Command(Command::Flatten(None)));
            let Some(sell) = submits(&out).pop() else {
                break;
            };
            sells.push(sell.spec.qty);
            step(
                &mut e,
                t0,
                fill_with(seq * 256, &sell, sell.spec.qty.0, dec!(0.1), dec!(0)),
            );
        }
        assert_eq!(sells, [Qty(2), Qty(2), Qty(1)]);
        assert!(e.positions[0].is_flat(), "{:?}", e.positions[0]);
    }

    /// Every rejected manual order is its own alert row, never folded into a count: each
    /// was a person's deliberate action.
    #[test]
    fn a_rejected_manual_order_is_never_folded_into_another() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let mut e = engine(t0, Vec::new());
        step(&mut e, t0, book(t0, 600_000, 600_010));
        for _ in 0..3 {
            let out = step(
                &mut e,
                t0,
                manual(Side::Buy, OrderKind::Limit, Some(590_000), 1, false),
            );
            let o = submits(&out).pop().expect("the order");
            step(
                &mut e,
                t0,
                Input::Exec(crate::domain::ExecReport::Rejected {
                    id: o.client_id.clone(),
                    ts: t0,
                    reason: "venue busy".into(),
                }),
            );
        }
        let rows: Vec<_> = e
            .alerts()
            .filter(|a| a.text.contains("rejected by venue: venue busy"))
            .map(|a| a.count)
            .collect();
        assert_eq!(rows, [1, 1, 1]);
    }

    /// Sends a reduce-only market sell of the account's whole lots on every book, as an
    /// exit strategy (the exit manager) sizes its exits.
    struct ExitAll;

    impl crate::strategy::Strategy for ExitAll {
        fn name(&self) -> &str {
            "exit-all"
        }
        fn instrument(&self) -> Option<crate::domain::InstrumentId> {
            Some(BTC)
        }
        fn on_book(
            &mut self,
            ctx: &crate::strategy::StrategyCtx<'_>,
            inst: crate::domain::InstrumentId,
            out: &mut Vec<crate::strategy::Intent>,
        ) {
            let pos = ctx.position(inst).qty;
            let lots = ctx.instrument(inst).qty_floor(pos);
            if !lots.is_positive() || ctx.own_orders(inst).next().is_some() {
                return;
            }
            out.push(crate::strategy::Intent::Place(
                crate::strategy::OrderIntent {
                    spec: crate::domain::OrderSpec {
                        instrument: inst,
                        side: Side::Sell,
                        kind: OrderKind::Market,
                        price: None,
                        qty: lots,
                        tif: crate::domain::TimeInForce::Ioc,
                        reduce_only: true,
                    },
                    tag: crate::domain::OrderTag::StopLoss,
                    risk: None,
                },
            ));
        }
        fn last_signal(&self) -> Option<&str> {
            None
        }
    }

    /// A strategy's exit of the position's whole lots is cut to the venue's step, and an
    /// exit of dust is not sent (said once), however often the strategy asks.
    #[test]
    fn a_strategys_exit_is_cut_to_the_venues_step_and_dust_is_not_sent() {
        let t0 = ts("2026-03-09T13:30:00Z");
        let slot = crate::strategy::StrategySlot::of(Box::new(ExitAll), true);
        let mut e = engine(t0, vec![slot]);
        let rules = VenueRules {
            filters: vec![VenueFilter::LotSize {
                min: dec!(0.002),
                max: dec!(100),
                step: dec!(0.002),
            }],
            ..VenueRules::default()
        };
        step(
            &mut e,
            t0,
            Input::VenueRules {
                instrument: BTC,
                rules: Ok(rules),
            },
        );
        step(&mut e, t0, book(t0, 600_000, 600_010));
        let out = step(
            &mut e,
            t0,
            manual(Side::Buy, OrderKind::Market, None, 6, false),
        );
        let buy = submits(&out).pop().expect("the buy");
        step(
            &mut e,
            t0,
            fill_with(256, &buy, 6, dec!(0.36), dec!(0.000006)),
        );
        // 0.005994 held: 5 whole lots, but the venue takes 0.004.
        let out = step(&mut e, t0, book(t0, 600_000, 600_020));
        let exit = submits(&out).pop().expect("the strategy's exit");
        assert_eq!((exit.spec.side, exit.spec.qty), (Side::Sell, Qty(4)));
        step(&mut e, t0, fill_with(512, &exit, 4, dec!(0.24), dec!(0)));
        // 0.001994 left: one whole lot, below the venue's 0.002: not sent, said once.
        let out = step(&mut e, t0, book(t0, 600_000, 600_010));
        assert!(submits(&out).is_empty(), "no exit of dust");
        assert!(
            alert_texts(&out).contains("0.001994 left is dust"),
            "{}",
            alert_texts(&out)
        );
        let out = step(&mut e, t0, book(t0, 600_000, 600_020));
        assert!(submits(&out).is_empty());
        assert!(!alert_texts(&out).contains("dust"), "said once");
    }
}
