//! The price ladder (a broker's DOM): fixed price rows at the instrument's tick or a
//! grouping of ticks, centred on the touch when opened and when asked (`z`), never
//! scrolling by themselves: the row under the cursor keeps its price while the market
//! moves. Each row gathers the book's bid and ask sizes, our working orders with their
//! estimated queue position, and the session's traded volume at its prices.
//!
//! [`Ladder`] is the state (grouping, centre, cursor, an order picked up to move) and the
//! row mapping, pure and unit-tested; [`App::ladder_rows`] fills the rows from the view;
//! the keys (`L`, `z`, `g`/`G`, and `↑↓ b s e x` while the ladder has the focus) are in
//! `keys.rs`.

use super::App;
use crate::domain::{ClientOrderId, Order, OrderKind, Owner, Price, Qty, Side};
use crate::engine::view::MarketView;

/// The groupings `g` / `G` step through, in ticks per row.
pub const GROUPINGS: [i64; 4] = [1, 2, 5, 10];

/// The ladder's state for the selected instrument.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ladder {
    /// Shown in place of the book.
    pub on: bool,
    /// Index into [`GROUPINGS`].
    group: usize,
    /// The price of the middle row (a row's price is the lowest price it gathers); `None`
    /// until the market has a touch.
    centre: Option<Price>,
    /// The selected row's price.
    cursor: Option<Price>,
    /// The instrument (market index) the centre and cursor are prices of.
    instrument: usize,
    /// A manual order picked up to move (`e`), and the row it was on.
    pub moving: Option<(ClientOrderId, Price)>,
}

/// The price the ladder centres on: the best bid, else the best ask, else the last trade.
pub fn touch(m: &MarketView) -> Option<Price> {
    m.bids
        .first()
        .or(m.asks.first())
        .map(|l| l.price)
        .or(m.last_trade.map(|t| t.price))
}

impl Ladder {
    /// Ticks per row.
    pub fn grouping(&self) -> i64 {
        GROUPINGS[self.group.min(GROUPINGS.len() - 1)]
    }

    /// The row (its price) that gathers price `p`: rows start at multiples of the
    /// grouping.
    pub fn row_of(&self, p: Price) -> Price {
        let g = self.grouping();
        Price(p.0.div_euclid(g).saturating_mul(g))
    }

    pub fn centre(&self) -> Option<Price> {
        self.centre
    }

    pub fn cursor(&self) -> Option<Price> {
        self.cursor
    }

    /// Centre the rows on `touch` and put the cursor there (instrument `instrument`).
    pub fn recentre(&mut self, touch: Option<Price>, instrument: usize) {
        self.instrument = instrument;
        self.centre = touch.map(|p| self.row_of(p));
        self.cursor = self.centre;
        self.moving = None;
    }

    /// Centre on `touch` only if nothing is centred yet or the instrument changed: the
    /// rows never follow the market by themselves.
    pub fn ensure(&mut self, touch: Option<Price>, instrument: usize) {
        if self.centre.is_none() || self.instrument != instrument {
            self.recentre(touch, instrument);
        }
    }

    /// The prices of `n` rows, highest first: the window around the centre, moved just
    /// enough to hold the cursor (after a resize made the ladder shorter).
    pub fn rows(&self, n: usize) -> Vec<Price> {
        let Some(centre) = self.centre else {
            return Vec::new();
        };
        let g = self.grouping();
        let mut top = self.top_for(centre, n);
        if let Some(c) = self.cursor {
            let bottom = top.offset(-g * (n as i64 - 1).max(0));
            if c > top {
                top = c;
            } else if c < bottom {
                top = c.offset(g * (n as i64 - 1).max(0));
            }
        }
        (0..n as i64).map(|i| top.offset(-g * i)).collect()
    }

    fn top_for(&self, centre: Price, n: usize) -> Price {
        centre.offset(self.grouping() * ((n as i64 - 1).max(0) / 2))
    }

    /// Move the cursor one row up or down, with `n` rows on screen: past the top or the
    /// bottom row the rows move with it (by one row), otherwise they stay.
    pub fn move_cursor(&mut self, up: bool, n: usize) {
        let (Some(centre), Some(cursor)) = (self.centre, self.cursor) else {
            return;
        };
        let g = self.grouping();
        let next = cursor.offset(if up { g } else { -g });
        if next.0 <= 0 {
            return;
        }
        self.cursor = Some(next);
        let rows = Ladder {
            cursor: None,
            ..self.clone()
        }
        .rows(n.max(1));
        let (top, bottom) = (rows[0], rows[rows.len() - 1]);
        if next > top {
            self.centre = Some(centre.offset(next.0 - top.0));
        } else if next < bottom {
            self.centre = Some(centre.offset(next.0 - bottom.0));
        }
    }

    /// The next coarser (`coarser`) or finer grouping; the centre and the cursor stay on
    /// the rows that gather their prices.
    pub fn step_grouping(&mut self, coarser: bool) -> bool {
        let next = if coarser {
            (self.group + 1).min(GROUPINGS.len() - 1)
        } else {
            self.group.saturating_sub(1)
        };
        if next == self.group {
            return false;
        }
        self.group = next;
        self.centre = self.centre.map(|p| self.row_of(p));
        self.cursor = self.cursor.map(|p| self.row_of(p));
        true
    }
}

/// Our working orders on one side of a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnAtRow {
    pub side: Side,
    /// Remaining size, summed.
    pub qty: Qty,
    pub orders: usize,
    /// The smallest estimated size ahead of one of them at its price (the paper venue's
    /// queue model: joined at the back of the level, moved up by trades at the price and
    /// by the level shrinking); `None` where no estimate exists (a live venue, a book
    /// that was resyncing when the order arrived).
    pub ahead: Option<Qty>,
    /// One of them is being moved (cancel/replace): its new price.
    pub moving_to: Option<Price>,
    /// One of them has a cancel in flight.
    pub cancelling: bool,
    /// Whose they are, in the order of the view (a strategy's, ours by hand, the system's).
    pub owners: Vec<Owner>,
}

/// One row of the ladder as drawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LadderRow {
    /// The lowest price the row gathers (its label).
    pub price: Price,
    /// The book's bid and ask sizes at the row's prices (`None`: no level there among the
    /// levels the engine publishes).
    pub bid: Option<Qty>,
    pub ask: Option<Qty>,
    /// The row holds the best bid / the best ask.
    pub best_bid: bool,
    pub best_ask: bool,
    pub buys: Option<OwnAtRow>,
    pub sells: Option<OwnAtRow>,
    /// Volume traded at the row's prices this session.
    pub traded: Option<Qty>,
    pub cursor: bool,
    /// The row an order is being moved from (`e`, then the cursor).
    pub moving_from: bool,
}

fn own_at(side: Side, orders: &[&Order]) -> Option<OwnAtRow> {
    let mine: Vec<&&Order> = orders.iter().filter(|o| o.req.spec.side == side).collect();
    if mine.is_empty() {
        return None;
    }
    Some(OwnAtRow {
        side,
        qty: mine.iter().fold(Qty::ZERO, |a, o| a + o.remaining()),
        orders: mine.len(),
        ahead: mine.iter().filter_map(|o| o.queue_ahead).min(),
        moving_to: mine.iter().find_map(|o| o.modify_to.map(|m| m.price)),
        cancelling: mine
            .iter()
            .any(|o| o.cancel_pending && o.modify_to.is_none()),
        owners: mine.iter().fold(Vec::new(), |mut v, o| {
            if !v.contains(&o.req.owner) {
                v.push(o.req.owner);
            }
            v
        }),
    })
}

impl<T, R> App<T, R> {
    pub fn ladder(&self) -> &Ladder {
        &self.ladder
    }

    /// Tell the app how many rows the ladder had when last drawn (the renderer sets it,
    /// so the cursor moves the rows only past the edge the user sees).
    pub fn set_ladder_height(&self, rows: usize) {
        self.ladder_height.set(rows);
    }

    /// Our open limit orders on the selected instrument whose price the row at `row`
    /// gathers.
    pub fn orders_at_row(&self, row: Price) -> Vec<&Order> {
        let Some(inst) = self.market().and_then(|m| m.instrument.as_ref()) else {
            return Vec::new();
        };
        self.view
            .open_orders
            .iter()
            .filter(|o| o.req.spec.instrument == inst.id && o.req.spec.kind == OrderKind::Limit)
            .filter(|o| {
                o.req
                    .spec
                    .price
                    .is_some_and(|p| self.ladder.row_of(p) == row)
            })
            .collect()
    }

    /// The manual order at `row` that `e` picks up to move.
    pub(super) fn movable_at_row(&self, row: Price) -> Option<&Order> {
        self.orders_at_row(row)
            .into_iter()
            .find(|o| o.req.owner == Owner::Manual && o.modify_to.is_none() && !o.cancel_pending)
    }

    /// The ladder's `n` rows from the current view, highest price first.
    pub fn ladder_rows(&self, n: usize) -> Vec<LadderRow> {
        let Some(m) = self.market() else {
            return Vec::new();
        };
        let l = &self.ladder;
        let best_bid = m.bids.first().map(|b| l.row_of(b.price));
        let best_ask = m.asks.first().map(|a| l.row_of(a.price));
        let sum = |levels: &[crate::domain::Level], row: Price| -> Option<Qty> {
            let mut hit = false;
            let q = levels
                .iter()
                .filter(|x| l.row_of(x.price) == row && x.qty.is_positive())
                .fold(Qty::ZERO, |a, x| {
                    hit = true;
                    a + x.qty
                });
            hit.then_some(q)
        };
        l.rows(n)
            .into_iter()
            .map(|price| {
                let ours = self.orders_at_row(price);
                LadderRow {
                    price,
                    bid: sum(&m.bids, price),
                    ask: sum(&m.asks, price),
                    best_bid: best_bid == Some(price),
                    best_ask: best_ask == Some(price),
                    buys: own_at(Side::Buy, &ours),
                    sells: own_at(Side::Sell, &ours),
                    traded: sum(&m.traded, price),
                    cursor: l.cursor == Some(price),
                    moving_from: l.moving.as_ref().is_some_and(|(_, p)| *p == price),
                }
            })
            .collect()
    }

    /// Whether the touch is above (`Some(true)`) or below (`Some(false)`) the rows shown.
    pub fn ladder_touch_off(&self, n: usize) -> Option<bool> {
        let rows = self.ladder.rows(n);
        let (top, bottom) = (*rows.first()?, *rows.last()?);
        let t = self.ladder.row_of(touch(self.market()?)?);
        if t > top {
            Some(true)
        } else if t < bottom {
            Some(false)
        } else {
            None
        }
    }

    /// Keep the ladder centred on the selected instrument (on first use, or after the
    /// instrument changed).
    pub(super) fn ladder_follow_instrument(&mut self) {
        if self.ladder.on {
            let t = self.market().and_then(touch);
            self.ladder.ensure(t, self.instrument);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(centre: i64) -> Ladder {
        let mut l = Ladder {
            on: true,
            ..Ladder::default()
        };
        l.recentre(Some(Price(centre)), 0);
        l
    }

    fn ticks(rows: &[Price]) -> Vec<i64> {
        rows.iter().map(|p| p.0).collect()
    }

    #[test]
    fn rows_are_fixed_prices_around_the_centre_highest_first() {
        let l = at(600_000);
        assert_eq!(
            ticks(&l.rows(5)),
            vec![600_002, 600_001, 600_000, 599_999, 599_998]
        );
        // An even count puts the centre just above the middle.
        assert_eq!(ticks(&l.rows(4)), vec![600_001, 600_000, 599_999, 599_998]);
        assert_eq!(l.cursor(), Some(Price(600_000)));
        assert!(Ladder::default().rows(5).is_empty(), "no touch, no rows");
    }

    #[test]
    fn grouping_gathers_prices_into_rows_that_start_at_multiples() {
        let mut l = at(600_003);
        assert!(l.step_grouping(true)); // 2
        assert!(l.step_grouping(true)); // 5
        assert_eq!(l.grouping(), 5);
        assert_eq!(l.row_of(Price(600_003)), Price(600_000));
        assert_eq!(l.row_of(Price(600_005)), Price(600_005));
        assert_eq!(l.row_of(Price(599_999)), Price(599_995));
        assert_eq!(l.centre(), Some(Price(600_000)));
        assert_eq!(l.cursor(), Some(Price(600_000)));
        assert_eq!(ticks(&l.rows(3)), vec![600_005, 600_000, 599_995]);
        assert!(l.step_grouping(true)); // 10
        assert!(!l.step_grouping(true), "10 is the coarsest");
        assert_eq!(l.cursor(), Some(Price(600_000)));
        while l.step_grouping(false) {}
        assert_eq!(l.grouping(), 1);
        assert_eq!(ticks(&l.rows(3)), vec![600_001, 600_000, 599_999]);
    }

    #[test]
    fn the_cursor_keeps_its_price_and_the_rows_stay_while_the_market_moves() {
        let mut l = at(600_000);
        l.move_cursor(true, 5);
        l.move_cursor(true, 5);
        assert_eq!(l.cursor(), Some(Price(600_002)));
        let before = l.rows(5);
        // The touch moves 40 ticks: nothing follows it until re-centred.
        l.ensure(Some(Price(600_040)), 0);
        assert_eq!(l.rows(5), before);
        assert_eq!(l.cursor(), Some(Price(600_002)));
        l.recentre(Some(Price(600_040)), 0);
        assert_eq!(l.cursor(), Some(Price(600_040)));
        assert_eq!(l.rows(3)[1], Price(600_040));
    }

    #[test]
    fn the_rows_move_only_when_the_cursor_passes_an_edge() {
        let mut l = at(600_000);
        // Top row is 600_002 with 5 rows: two moves stay inside.
        l.move_cursor(true, 5);
        l.move_cursor(true, 5);
        assert_eq!(ticks(&l.rows(5))[0], 600_002);
        // The third passes the top: the rows move one up, the cursor is the top row.
        l.move_cursor(true, 5);
        assert_eq!(
            ticks(&l.rows(5)),
            vec![600_003, 600_002, 600_001, 600_000, 599_999]
        );
        assert_eq!(l.cursor(), Some(Price(600_003)));
        // Down to the bottom and one past it.
        for _ in 0..5 {
            l.move_cursor(false, 5);
        }
        assert_eq!(l.cursor(), Some(Price(599_998)));
        assert_eq!(ticks(&l.rows(5))[4], 599_998);
    }

    #[test]
    fn a_shorter_ladder_still_shows_the_cursor() {
        let mut l = at(600_000);
        for _ in 0..10 {
            l.move_cursor(true, 21);
        }
        assert_eq!(l.cursor(), Some(Price(600_010)));
        // Resized to 5 rows: the window moves just enough to hold the cursor.
        assert_eq!(ticks(&l.rows(5))[0], 600_010);
    }

    #[test]
    fn another_instrument_recentres_and_drops_a_pick() {
        let mut l = at(600_000);
        l.moving = Some((ClientOrderId::new("M-1"), Price(600_000)));
        l.ensure(Some(Price(299_000)), 1);
        assert_eq!(l.centre(), Some(Price(299_000)));
        assert_eq!(l.moving, None);
    }
}
