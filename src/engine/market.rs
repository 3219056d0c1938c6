//! Market data in the engine: applying book snapshots and level updates, the trade tape,
//! resync and staleness alerts, our resting orders' queue estimates, and calling the
//! strategies on book changes and trades.

use super::{AlertLevel, Effect, Engine};
use crate::domain::{InstrumentId, MarketEvent, MarketEventKind, Timestamp, TradeTick};

impl Engine {
    pub(super) fn on_market(&mut self, ev: MarketEvent, out: &mut Vec<Effect>) {
        let i = ev.instrument.index();
        if i >= self.books.len() {
            return;
        }
        self.market_events += 1;
        match ev.kind {
            MarketEventKind::Snapshot { bids, asks } => {
                self.books[i].apply_snapshot(bids, asks);
                self.book_changed(ev.instrument, ev.ts, out);
                if self.resyncing[i] {
                    self.resyncing[i] = false;
                    let text = format!(
                        "{}: book restored from snapshot",
                        self.instruments[i].symbol
                    );
                    self.alert(AlertLevel::Info, "feed", text, out);
                }
            }
            MarketEventKind::Level { side, price, qty } => {
                self.books[i].update(side, price, qty);
                self.book_changed(ev.instrument, ev.ts, out);
            }
            MarketEventKind::Trade(t) => {
                self.last_trade[i] = Some(t);
                self.tape.push_back((ev.instrument, t));
                while self.tape.len() > self.cfg.tape_len {
                    self.tape.pop_front();
                }
                self.advance_queues(ev.instrument, &t);
                self.note_volume(ev.instrument, &t);
                self.run_strategies(out, |s, ctx, buf| s.on_trade(ctx, ev.instrument, &t, buf));
                self.check_stops(Some(ev.instrument), Some(&t), out);
            }
            MarketEventKind::Resyncing { reason } => {
                self.resyncing[i] = true;
                let text = format!("{}: RESYNCING ({reason})", self.instruments[i].symbol);
                self.alert(AlertLevel::Warn, "feed", text, out);
            }
        }
    }

    fn book_changed(&mut self, inst: InstrumentId, ts: Timestamp, out: &mut Vec<Effect>) {
        let i = inst.index();
        self.last_book_update[i] = Some(ts);
        if self.stale_flagged[i] {
            self.stale_flagged[i] = false;
            let text = format!("{}: book updates resumed", self.instruments[i].symbol);
            self.alert(AlertLevel::Info, "feed", text, out);
        }
        if !self.positions[i].is_flat() && self.needs_remark(i) {
            self.remark(i);
            self.check_loss_limits(out);
        }
        self.run_strategies(out, |s, ctx, buf| {
            if s.instrument().is_none_or(|x| x == inst) {
                s.on_book(ctx, inst, buf)
            }
        });
        self.check_stops(Some(inst), None, out);
    }

    /// Our resting orders' estimated queue position: trades at the level consume the size
    /// ahead (the paper venue's own estimate is authoritative for fills).
    fn advance_queues(&mut self, inst: InstrumentId, t: &TradeTick) {
        for o in self.open_orders.values_mut() {
            if o.req.spec.instrument == inst
                && o.req.spec.side != t.aggressor
                && o.req.spec.price == Some(t.price)
                && let Some(ahead) = o.queue_ahead.as_mut()
            {
                *ahead = ahead.saturating_sub(t.qty);
            }
        }
    }
}
