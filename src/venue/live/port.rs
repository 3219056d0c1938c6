//! [`LivePort`]: the execution port of a real venue, on the engine thread. It never
//! touches the network: `submit` and `cancel` put a request on the venue's connection task
//! channel and return; the task's execution reports come back on a channel that
//! `poll_reports` drains, in the order the task produced them.
//!
//! Around that, what every live venue needs on the engine side: the venue client id of
//! each order (run id + the engine's id, see [`super::ids`]), the store barrier (an order
//! leaves only once its record is durable), the refusal of new orders while the venue is
//! being reconciled or after it banned us (cancels always pass), and the kill switch's
//! cancel-all per symbol before the per-order cancels.

use super::ids::VenueIds;
use crate::domain::{
    ClientOrderId, ExecReport, Instrument, OrderKind, OrderRequest, Side, TimeInForce, Timestamp,
    TradingGate,
};
use crate::engine::risk::RiskApproved;
use crate::engine::view::ExecHealth;
use crate::venue::{ExecutionPort, PortStats};
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

/// What the engine side asks of a venue's connection task.
#[derive(Clone, Debug, PartialEq)]
pub enum ToVenue {
    Place {
        venue_id: String,
        symbol: String,
        side: Side,
        kind: OrderKind,
        tif: TimeInForce,
        price: Option<Decimal>,
        qty: Decimal,
        /// Send only once the store's durable watermark has reached this record number
        /// (0: nothing to wait for).
        barrier: u64,
        /// The engine asked for a reduce-only order (a flatten, a bracket's exit): a
        /// venue with a native flag for the category sends it (Bybit linear and OKX SWAP
        /// `reduceOnly`); spot venues have none and ignore it.
        reduce_only: bool,
    },
    Cancel {
        venue_id: String,
        symbol: String,
    },
    /// Cancel every open order on the symbol (the kill switch).
    CancelAll {
        symbol: String,
    },
    /// Compare the venue with the store now (`pit reconcile`).
    Reconcile {
        reason: String,
    },
}

/// The venue's state, shared by the connection task (writes) and the port (reads).
pub type SharedHealth = Arc<Mutex<ExecHealth>>;

/// The engine side of a live venue.
pub struct LivePort {
    tx: tokio::sync::mpsc::UnboundedSender<ToVenue>,
    reports: Receiver<ExecReport>,
    /// Reports taken off the channel, not yet polled (drained from `&self` too, so the
    /// runner sees a report's time as soon as it has arrived).
    pending: RefCell<VecDeque<ExecReport>>,
    ids: VenueIds,
    instruments: Vec<Instrument>,
    /// Venue id and symbol of every order sent and not closed, by engine id.
    open: BTreeMap<ClientOrderId, (String, String)>,
    gate: TradingGate,
    /// The gate's kill count when the last cancel-all went out.
    kills_done: u64,
    barrier: u64,
    health: SharedHealth,
    stats: PortStats,
    /// Refusals made here (reconciling, banned), reported at the next poll.
    refusals: Vec<ExecReport>,
    /// The venue's rules per symbol, as the connection task reads them.
    rules: Option<Receiver<(String, Result<crate::domain::VenueRules, String>)>>,
    /// Where the runner's heartbeat goes, for the connection task's dead-man refresher.
    engine: super::pulse::EngineWatch,
}

impl LivePort {
    pub fn new(
        tx: tokio::sync::mpsc::UnboundedSender<ToVenue>,
        reports: Receiver<ExecReport>,
        ids: VenueIds,
        instruments: Vec<Instrument>,
        gate: TradingGate,
        health: SharedHealth,
    ) -> Self {
        let kills_done = gate.kills();
        LivePort {
            tx,
            reports,
            pending: RefCell::new(VecDeque::new()),
            ids,
            instruments,
            open: BTreeMap::new(),
            gate,
            kills_done,
            barrier: 0,
            health,
            stats: PortStats::default(),
            refusals: Vec::new(),
            rules: None,
            engine: Default::default(),
        }
    }

    /// Hand the engine's heartbeat to `engine` when the runner gives it (see
    /// [`ExecutionPort::watch_engine`]): the connection task's dead-man refresher holds
    /// the same watch.
    pub fn with_engine_watch(mut self, engine: super::pulse::EngineWatch) -> Self {
        self.engine = engine;
        self
    }

    /// Take the venue's rules (exchange filters) per symbol from this channel, for the
    /// engine (see [`ExecutionPort::poll_venue_rules`]).
    pub fn with_venue_rules(
        mut self,
        rx: Receiver<(String, Result<crate::domain::VenueRules, String>)>,
    ) -> Self {
        self.rules = Some(rx);
        self
    }

    /// A sender of requests to the connection task (`pit reconcile` through the control
    /// socket uses one).
    pub fn requests(&self) -> tokio::sync::mpsc::UnboundedSender<ToVenue> {
        self.tx.clone()
    }

    /// Why a new order may not leave now, if it may not. `reduce_only`: the order is an
    /// exit; where the venue enforces reduce-only itself it passes a position
    /// difference and a reconciliation (the operator is told to flatten then, and the
    /// venue will not let it open or flip a position).
    fn refusal(&self, reduce_only: bool) -> Option<String> {
        let h = self.health.lock().ok()?;
        let exit = reduce_only && h.native_reduce_only;
        if let Some(s) = &h.stopped {
            return Some(format!("{} stopped: {s}", h.venue));
        }
        if !h.holds.is_empty() {
            // Fail closed: the account is set up in a way pit does not trade (exits
            // included: the venue would not read them as pit means them).
            return Some(format!("new orders refused: {}", h.holds.join("; ")));
        }
        if h.unresolved > 0 {
            // Fail closed: an order whose outcome is unknown may be working at the venue;
            // nothing new leaves until the venue has told what became of it (cancels
            // still pass).
            return Some(format!(
                "{} order(s) at {} of unknown outcome: new orders refused until the venue says what became of them",
                h.unresolved, h.venue
            ));
        }
        let off: Vec<&str> = h
            .balances
            .iter()
            .filter(|b| !exit && !b.agrees())
            .map(|b| b.asset.as_str())
            .collect();
        if !off.is_empty() {
            // Fail closed: the account moved in a way pit's fills do not explain (a
            // deposit, a withdrawal, a trade pit did not see); nothing new leaves until a
            // reconciliation finds the balances agreeing (cancels still pass).
            return Some(format!(
                "{} balance(s) at {} differ from what pit expects ({}): new orders refused until a reconciliation finds them agreeing",
                off.len(),
                h.venue,
                off.join(", ")
            ));
        }
        h.reconciling.as_ref().filter(|_| !exit).map(|r| {
            format!(
                "reconciling with {} ({r}): new orders refused until it is done",
                h.venue
            )
        })
    }

    fn drain(&self) {
        let mut p = self.pending.borrow_mut();
        while let Ok(r) = self.reports.try_recv() {
            p.push_back(r);
        }
    }
}

impl ExecutionPort for LivePort {
    fn watch_engine(&mut self, pulse: crate::domain::Heartbeat) {
        self.engine.attach(pulse);
    }
    fn submit(&mut self, now: Timestamp, order: RiskApproved<OrderRequest>) {
        let req = order.into_inner();
        if let Some(reason) = self.refusal(req.spec.reduce_only) {
            self.refusals.push(ExecReport::Rejected {
                id: req.client_id,
                ts: now,
                reason,
            });
            return;
        }
        let Some(inst) = self.instruments.get(req.spec.instrument.index()) else {
            self.refusals.push(ExecReport::Rejected {
                id: req.client_id,
                ts: now,
                reason: "unknown instrument".into(),
            });
            return;
        };
        let venue_id = self.ids.to_venue(&req.client_id);
        let msg = ToVenue::Place {
            venue_id: venue_id.clone(),
            symbol: inst.symbol.clone(),
            side: req.spec.side,
            kind: req.spec.kind,
            tif: req.spec.tif,
            price: req.spec.price.map(|p| inst.price(p)),
            qty: inst.qty(req.spec.qty),
            barrier: self.barrier,
            reduce_only: req.spec.reduce_only,
        };
        if self.tx.send(msg).is_err() {
            self.refusals.push(ExecReport::Rejected {
                id: req.client_id,
                ts: now,
                reason: "the venue connection has stopped".into(),
            });
            return;
        }
        self.stats.orders_sent += 1;
        self.open
            .insert(req.client_id, (venue_id, inst.symbol.clone()));
    }

    fn cancel(&mut self, now: Timestamp, id: &ClientOrderId) {
        // A kill closed the gate since the last cancel-all: every symbol's open orders go
        // at once (one request each), then the per-order cancels below catch anything
        // the cancel-all did not see (an order still on its way).
        if !self.gate.is_open() && self.gate.kills() > self.kills_done {
            self.kills_done = self.gate.kills();
            for inst in &self.instruments {
                let _ = self.tx.send(ToVenue::CancelAll {
                    symbol: inst.symbol.clone(),
                });
            }
        }
        let (venue_id, symbol) = match self.open.get(id) {
            Some(x) => x.clone(),
            None => match self.instruments.first() {
                // Not sent by this port (restored from the store): its venue id is the
                // engine's id spelled for this run; the venue answers unknown if it is not.
                Some(i) => (self.ids.to_venue(id), i.symbol.clone()),
                None => return,
            },
        };
        if self.tx.send(ToVenue::Cancel { venue_id, symbol }).is_err() {
            self.refusals.push(ExecReport::CancelRejected {
                id: id.clone(),
                ts: now,
                reason: "the venue connection has stopped".into(),
            });
            return;
        }
        self.stats.cancels_sent += 1;
    }

    fn next_report_time(&self) -> Option<Timestamp> {
        // Reports already here are due at once; the runner asks again every turn.
        if let Some(r) = self.refusals.first() {
            return Some(r.ts());
        }
        self.drain();
        self.pending.borrow().front().map(ExecReport::ts)
    }

    fn poll_reports(&mut self, now: Timestamp, out: &mut Vec<ExecReport>) {
        out.append(&mut self.refusals);
        self.drain();
        let drained: Vec<ExecReport> = self.pending.borrow_mut().drain(..).collect();
        for r in drained {
            // Engine time never goes back: a report stamped before `now` is due now.
            let r = restamp(r, now);
            if matches!(
                r,
                ExecReport::Rejected { .. } | ExecReport::Cancelled { .. }
            ) {
                self.open.remove(r.id());
            }
            out.push(r);
        }
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn store_barrier(&mut self, emitted: u64) {
        self.barrier = emitted;
    }

    fn health(&self) -> Option<ExecHealth> {
        self.health.lock().ok().map(|h| h.clone())
    }

    fn poll_venue_rules(&mut self, out: &mut Vec<crate::venue::VenueRulesUpdate>) {
        let Some(rx) = &self.rules else { return };
        while let Ok((symbol, rules)) = rx.try_recv() {
            if let Some(inst) = self.instruments.iter().find(|i| i.symbol == symbol) {
                out.push((inst.id, rules));
            }
        }
    }
}

fn restamp(r: ExecReport, now: Timestamp) -> ExecReport {
    match r {
        ExecReport::Accepted {
            id,
            ts,
            queue_ahead,
        } => ExecReport::Accepted {
            id,
            ts: ts.max(now),
            queue_ahead,
        },
        ExecReport::Rejected { id, ts, reason } => ExecReport::Rejected {
            id,
            ts: ts.max(now),
            reason,
        },
        ExecReport::Filled(mut f) => {
            f.ts = f.ts.max(now);
            ExecReport::Filled(f)
        }
        ExecReport::EarlierRunFill(mut f) => {
            f.ts = f.ts.max(now);
            ExecReport::EarlierRunFill(f)
        }
        ExecReport::Cancelled { id, ts } => ExecReport::Cancelled {
            id,
            ts: ts.max(now),
        },
        ExecReport::CancelRejected { id, ts, reason } => ExecReport::CancelRejected {
            id,
            ts: ts.max(now),
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InstrumentId, OrderSpec, OrderTag, Owner, Price, Qty};
    use rust_decimal_macros::dec;

    fn insts() -> Vec<Instrument> {
        ["BTCUSDT", "ETHUSDT"]
            .iter()
            .enumerate()
            .map(|(n, s)| {
                Instrument::new(
                    InstrumentId(n as u16),
                    *s,
                    "binance",
                    dec!(0.01),
                    dec!(0.001),
                    Qty(1),
                )
            })
            .collect()
    }

    fn order(id: &str) -> RiskApproved<OrderRequest> {
        RiskApproved::assume_approved_for_test(OrderRequest {
            client_id: ClientOrderId::new(id),
            spec: OrderSpec {
                instrument: InstrumentId(0),
                side: Side::Buy,
                kind: OrderKind::Limit,
                price: Some(Price(6_000_000)),
                qty: Qty(5),
                tif: TimeInForce::PostOnly,
                reduce_only: false,
            },
            owner: Owner::Manual,
            tag: OrderTag::Manual,
        })
    }

    type Rig = (
        LivePort,
        tokio::sync::mpsc::UnboundedReceiver<ToVenue>,
        std::sync::mpsc::Sender<ExecReport>,
        SharedHealth,
        TradingGate,
    );

    fn rig() -> Rig {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (rtx, rrx) = std::sync::mpsc::channel();
        let health: SharedHealth = Arc::new(Mutex::new(ExecHealth {
            venue: "binance".into(),
            ..ExecHealth::default()
        }));
        let gate = TradingGate::new(true);
        let port = LivePort::new(
            tx,
            rrx,
            VenueIds::new(4, crate::venue::live::ids::IdPrefix::for_tests()),
            insts(),
            gate.clone(),
            health.clone(),
        );
        (port, rx, rtx, health, gate)
    }

    #[test]
    fn an_order_goes_to_the_task_with_its_run_id_and_store_barrier_and_returns_at_once() {
        let (mut port, mut rx, _rtx, _h, _g) = rig();
        port.store_barrier(17);
        port.submit(Timestamp(1), order("M-1"));
        match rx.try_recv().unwrap() {
            ToVenue::Place {
                venue_id,
                symbol,
                price,
                qty,
                barrier,
                ..
            } => {
                assert_eq!(venue_id, "t3st004_M-1");
                assert_eq!(symbol, "BTCUSDT");
                assert_eq!(price, Some(dec!(60000.00)));
                assert_eq!(qty, dec!(0.005));
                assert_eq!(barrier, 17);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(port.stats().orders_sent, 1);
    }

    #[test]
    fn while_reconciling_new_orders_are_refused_with_the_reason_and_cancels_pass() {
        let (mut port, mut rx, _rtx, h, _g) = rig();
        h.lock().unwrap().reconciling = Some("user data stream reconnected".into());
        port.submit(Timestamp(1), order("M-1"));
        assert!(
            rx.try_recv().is_err(),
            "nothing may leave while reconciling"
        );
        let mut out = Vec::new();
        assert_eq!(port.next_report_time(), Some(Timestamp(1)));
        port.poll_reports(Timestamp(2), &mut out);
        match &out[..] {
            [ExecReport::Rejected { reason, .. }] => {
                assert!(reason.contains("reconciling with binance"), "{reason}");
                assert!(reason.contains("reconnected"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        port.cancel(Timestamp(3), &ClientOrderId::new("M-0"));
        assert!(matches!(rx.try_recv(), Ok(ToVenue::Cancel { .. })));
        h.lock().unwrap().stopped = Some("Binance banned this IP (HTTP 418)".into());
        h.lock().unwrap().reconciling = None;
        port.submit(Timestamp(4), order("M-2"));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_balance_that_differs_holds_new_orders_until_it_agrees_and_cancels_pass() {
        let (mut port, mut rx, _rtx, h, _g) = rig();
        let line = |venue| crate::engine::view::BalanceLine {
            asset: "USDT".into(),
            start: dec!(1000),
            traded: dec!(-60),
            expected: dec!(940),
            venue,
        };
        h.lock().unwrap().balances = vec![line(dec!(915))];
        port.submit(Timestamp(1), order("M-1"));
        assert!(rx.try_recv().is_err(), "fail closed: nothing new leaves");
        let mut out = Vec::new();
        port.poll_reports(Timestamp(2), &mut out);
        match &out[..] {
            [ExecReport::Rejected { reason, .. }] => {
                assert!(
                    reason.contains("differ from what pit expects (USDT)"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
        port.cancel(Timestamp(3), &ClientOrderId::new("M-0"));
        assert!(matches!(rx.try_recv(), Ok(ToVenue::Cancel { .. })));
        h.lock().unwrap().balances = vec![line(dec!(940))];
        port.submit(Timestamp(4), order("M-2"));
        assert!(matches!(rx.try_recv(), Ok(ToVenue::Place { .. })));
    }

    #[test]
    fn an_exit_passes_a_position_difference_and_a_reconciliation_only_where_the_venue_enforces_reduce_only()
     {
        let exit = |id: &str| {
            let mut o = order(id).into_inner();
            o.spec.reduce_only = true;
            o.spec.side = Side::Sell;
            RiskApproved::assume_approved_for_test(o)
        };
        for native in [true, false] {
            let (mut port, mut rx, _rtx, h, _g) = rig();
            {
                let mut h = h.lock().unwrap();
                h.native_reduce_only = native;
                h.balances = vec![crate::engine::view::BalanceLine {
                    asset: "BTCUSDT position".into(),
                    start: dec!(0),
                    traded: dec!(0.5),
                    expected: dec!(0.5),
                    venue: dec!(0.2),
                }];
            }
            // A new order stays home either way.
            port.submit(Timestamp(1), order("M-1"));
            assert!(rx.try_recv().is_err(), "native {native}: a new order left");
            // The flatten leaves only where the venue keeps it reduce-only.
            port.submit(Timestamp(2), exit("M-2"));
            match rx.try_recv() {
                Ok(ToVenue::Place { reduce_only, .. }) => {
                    assert!(native && reduce_only, "native {native}: the exit left")
                }
                Err(_) => assert!(!native, "the exit was held on a derivatives venue"),
                Ok(other) => panic!("{other:?}"),
            }
            // The same while a reconciliation runs.
            {
                let mut h = h.lock().unwrap();
                h.balances.clear();
                h.reconciling = Some("stream back".into());
            }
            port.submit(Timestamp(3), order("M-3"));
            assert!(rx.try_recv().is_err(), "native {native}: a new order left");
            port.submit(Timestamp(4), exit("M-4"));
            assert_eq!(rx.try_recv().is_ok(), native, "native {native}");
        }
    }

    #[test]
    fn an_order_of_unknown_outcome_holds_new_orders_until_the_venue_answers() {
        let (mut port, mut rx, _rtx, h, _g) = rig();
        h.lock().unwrap().unresolved = 1;
        port.submit(Timestamp(1), order("M-1"));
        assert!(rx.try_recv().is_err(), "fail closed: nothing new leaves");
        let mut out = Vec::new();
        port.poll_reports(Timestamp(2), &mut out);
        match &out[..] {
            [ExecReport::Rejected { reason, .. }] => {
                assert!(reason.contains("unknown outcome"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // Cancels still go.
        port.cancel(Timestamp(3), &ClientOrderId::new("M-0"));
        assert!(matches!(rx.try_recv(), Ok(ToVenue::Cancel { .. })));
        // Once the venue has said what became of it, orders leave again.
        h.lock().unwrap().unresolved = 0;
        port.submit(Timestamp(4), order("M-2"));
        assert!(matches!(rx.try_recv(), Ok(ToVenue::Place { .. })));
    }

    #[test]
    fn a_kill_sends_one_cancel_all_per_symbol_before_the_per_order_cancels() {
        let (mut port, mut rx, _rtx, _h, gate) = rig();
        port.submit(Timestamp(1), order("S1-1"));
        port.submit(Timestamp(1), order("S1-2"));
        let _ = rx.try_recv();
        let _ = rx.try_recv();
        gate.kill();
        port.cancel(Timestamp(2), &ClientOrderId::new("S1-1"));
        port.cancel(Timestamp(2), &ClientOrderId::new("S1-2"));
        let got: Vec<ToVenue> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            got,
            vec![
                ToVenue::CancelAll {
                    symbol: "BTCUSDT".into()
                },
                ToVenue::CancelAll {
                    symbol: "ETHUSDT".into()
                },
                ToVenue::Cancel {
                    venue_id: "t3st004_S1-1".into(),
                    symbol: "BTCUSDT".into()
                },
                ToVenue::Cancel {
                    venue_id: "t3st004_S1-2".into(),
                    symbol: "BTCUSDT".into()
                },
            ]
        );
    }

    #[test]
    fn reports_come_back_in_order_and_never_before_engine_time() {
        let (mut port, _rx, rtx, _h, _g) = rig();
        let id = ClientOrderId::new("M-1");
        rtx.send(ExecReport::Accepted {
            id: id.clone(),
            ts: Timestamp(5),
            queue_ahead: None,
        })
        .unwrap();
        rtx.send(ExecReport::Cancelled {
            id: id.clone(),
            ts: Timestamp(6),
        })
        .unwrap();
        assert_eq!(port.next_report_time(), Some(Timestamp(5)));
        let mut out = Vec::new();
        port.poll_reports(Timestamp(10), &mut out);
        assert_eq!(out.len(), 2);
        assert!(matches!(
            out[0],
            ExecReport::Accepted {
                ts: Timestamp(10),
                ..
            }
        ));
        assert!(matches!(
            out[1],
            ExecReport::Cancelled {
                ts: Timestamp(10),
                ..
            }
        ));
        assert_eq!(port.next_report_time(), None);
    }
}
