//! Wiring: from a [`Config`] to a ready engine with its market-data and execution ports.

use crate::config::Config;
use crate::domain::{Timestamp, TradingGate, TradingState};
use crate::engine::risk::RiskEngine;
use crate::engine::{Engine, EngineSetup};
use crate::venue::paper::PaperVenue;
use crate::venue::sim::SimMarket;

/// Where simulated time starts: 2026-01-01T00:00:00Z. A fixed epoch (never the wall clock)
/// keeps simulated runs byte-for-byte repeatable at any speed.
pub const SIM_EPOCH: Timestamp = Timestamp(1_767_225_600_000_000_000);

/// An engine and its ports, ready to run.
pub struct Assembled {
    pub engine: Engine,
    pub market: SimMarket,
    pub exec: PaperVenue,
}

/// Build the simulated market, the paper venue and the engine from a config.
pub fn assemble(cfg: &Config, seed: u64, initial_state: TradingState) -> anyhow::Result<Assembled> {
    let instruments = cfg.instrument_list();
    let strategies = crate::strategy::build(&cfg.strategies, &instruments)
        .map_err(|e| anyhow::anyhow!("strategies.{}: {}", e.key, e.message))?;
    let gate = TradingGate::new(initial_state != TradingState::Halted);
    let market = SimMarket::new(
        &cfg.sim,
        instruments.clone(),
        &cfg.start_prices(),
        seed,
        SIM_EPOCH,
    );
    let exec = PaperVenue::new(&cfg.paper, instruments.clone(), gate.clone());
    // A live venue's events come at wall-clock times: its engine starts now.
    let start = if cfg.venue == "sim" {
        SIM_EPOCH
    } else {
        crate::runner::wall_now()
    };
    let sessions = crate::engine::session::build_sessions(&cfg.sessions, &instruments)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.key, e.message))?;
    let mut engine = Engine::new(EngineSetup {
        config: cfg.engine.clone(),
        kill: cfg.kill_switch.clone(),
        instruments,
        strategies,
        sizing: cfg.sizing.clone(),
        risk: RiskEngine::new(cfg.risk.clone()),
        gate,
        initial_state,
        start,
    });
    engine.set_sessions(sessions);
    engine.set_aged(cfg.aged_positions.clone());
    engine.set_group_config(cfg.brackets.clone(), cfg.algos.clone());
    Ok(Assembled {
        engine,
        market,
        exec,
    })
}

/// A run that persists: the open store, the store task's sink and the run's id.
pub struct Persisted {
    pub store: crate::store::Store,
    pub sink: crate::store::writer::StoreSink,
    pub run: u64,
    /// The data folder (of `store.path`): the halt latch, the clean-exit record, `HALT`.
    pub dir: std::path::PathBuf,
    /// Orders earlier live runs left open (run, client id, symbol): the venue settles them.
    pub at_venue: Vec<(u64, String, String)>,
}

/// Open the configured store, read back what a previous run left (positions, the day's
/// PnL, strategy switches, the trading state, open orders), build the engine and the paper
/// venue on it, record the run and start the store task.
///
/// `mode` is written in the run record (`headless`, `console`); `fills_out`, if given,
/// gets a line per fill once it is durable.
pub fn assemble_persisted(
    cfg: &Config,
    seed: u64,
    mode: &str,
    fills_out: Option<std::path::PathBuf>,
) -> anyhow::Result<(Assembled, Persisted)> {
    use crate::store::{Store, schema::RunRow, writer};
    let store = Store::open_with_cache(&cfg.store.path, cfg.store.cache_mb)?;
    let instruments = cfg.instrument_list();
    let restore = cfg.store.open_orders_on_restart == "restore";
    let dir = crate::emergency::latch::data_dir(&cfg.store.path);
    // A paper run keeps the paper venue's own log: ask it what the store may lack.
    let log_path = dir.join(crate::venue::paper::journal::FILE);
    let paper_log = if mode.ends_with(LIVE_MODE) {
        None
    } else {
        crate::store::guard(&cfg.store.path, || {
            read_paper_log(&store, &log_path, &instruments)
        })?
    };
    let mut rec = crate::store::guard(&cfg.store.path, || {
        store.recover_with(
            &instruments,
            restore,
            paper_log.as_ref().map(|l| &l.answers),
        )
    })?;
    if let Some(l) = &paper_log {
        rec.venue_notes.extend(l.notes.iter().cloned());
        if rec.counts.orders_settled > 0 {
            rec.venue_notes.push(format!(
                "{} order(s) left open were settled by the paper venue's log (filled, cancelled or rejected there)",
                rec.counts.orders_settled
            ));
        }
    }
    let halted_at_start = halt_at_start(&dir, rec.counts.runs > 0, &mut rec)?;
    // The strategies as the console left them (kept in the store) over the file's.
    let rows = crate::store::guard(&cfg.store.path, || store.strategy_rows())?;
    let edits: Vec<crate::strategy::edit::ConsoleEdit> = rows
        .iter()
        .filter(|r| r.console && !r.kind.is_empty())
        .map(|r| crate::strategy::edit::ConsoleEdit {
            name: r.name.clone(),
            kind: r.kind.clone(),
            params: r.params.clone(),
            removed: r.removed,
            slot: r.slot.map(|n| n as usize),
            added: r.added,
        })
        .collect();
    let mut edited = cfg.clone();
    let applied = crate::strategy::edit::apply_console(
        &mut edited.strategies,
        &edits,
        &instruments,
        cfg.risk.max_order_qty,
    );
    rec.strategy_notes = applied.notes;
    let cfg = &edited;
    let mut parts = assemble(cfg, seed, TradingState::Active)?;
    for (symbol, p) in &rec.positions {
        if let Some(inst) = instruments.iter().find(|i| &i.symbol == symbol) {
            let lots = (p.qty / inst.lot_size).round();
            let lots = i64::try_from(lots).unwrap_or(0);
            parts.exec.seed_position(inst.id, lots);
        }
    }
    let at_venue = rec.at_venue.clone();
    let first_run = rec.counts.runs == 0;
    if !first_run || halted_at_start {
        parts.engine.restore(rec);
    }
    // The rows of this start's strategies (a removed instance's row and an edit that
    // could not be used this time stay as they are).
    let mut strategies: Vec<crate::store::schema::StrategyRow> =
        crate::strategy::build(&cfg.strategies, &instruments)
            .map_err(|e| anyhow::anyhow!("strategies.{}: {}", e.key, e.message))?
            .iter()
            .filter(|s| !s.removed && !applied.refused.contains(&s.name))
            .map(|s| crate::store::schema::StrategyRow {
                name: s.name.clone(),
                enabled: s.enabled,
                params: crate::strategy::edit::table_text(&s.params),
                kind: crate::strategy::BUILTINS[s.kind].section.to_string(),
                console: applied.console.contains(&s.name),
                removed: false,
                slot: None,
                added: s.added,
            })
            .collect();
    // A removal the file no longer needs (it lists no such instance) is forgotten.
    for e in edits
        .iter()
        .filter(|e| e.removed && !applied.removed.contains(&e.name))
    {
        strategies.push(crate::store::schema::StrategyRow {
            name: e.name.clone(),
            enabled: false,
            params: e.params.clone(),
            kind: e.kind.clone(),
            console: false,
            removed: true,
            slot: None,
            added: e.added,
        });
    }
    // An edit of a file instance the file no longer lists is forgotten (it is not the
    // console's any more: the file took the instance out).
    for e in edits.iter().filter(|e| applied.gone.contains(&e.name)) {
        strategies.push(crate::store::schema::StrategyRow {
            name: e.name.clone(),
            enabled: false,
            params: e.params.clone(),
            kind: e.kind.clone(),
            console: false,
            removed: false,
            slot: None,
            added: false,
        });
    }
    store.note_strategies(&strategies)?;
    let run = store.begin_run(RunRow {
        id: 0,
        started: chrono::Utc::now().to_rfc3339(),
        engine_start: parts.engine.now(),
        mode: format!("{}/{} {mode}", cfg.venue, cfg.execution),
        version: env!("CARGO_PKG_VERSION").to_string(),
        seed,
        config: format!("{cfg:?}"),
        pid: std::process::id(),
    })?;
    if !mode.ends_with(LIVE_MODE) {
        let (next_seq, keep, missing) = match paper_log {
            Some(l) => (l.next_seq, l.keep, l.missing),
            None => (1, false, Vec::new()),
        };
        let journal = crate::venue::paper::journal::Journal::open(
            &log_path,
            run,
            next_seq,
            keep,
            parts.engine.gate().clone(),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the paper venue's log {}: {e}",
                log_path.display()
            )
        })?;
        parts.exec.keep_log(journal, next_seq);
        parts.exec.hand_over(parts.engine.now(), missing);
    }
    let sink = writer::spawn(
        &store,
        writer::WriterOptions {
            run,
            instruments,
            batch_max: cfg.store.batch_max,
            fills_out,
            gate: Some(parts.engine.gate().clone()),
            day_boundary: cfg.engine.day_boundary,
        },
    )?;
    Ok((
        parts,
        Persisted {
            store,
            sink,
            run,
            dir,
            at_venue,
        },
    ))
}

/// What the paper venue's log says at start-up (see [`crate::venue::paper::journal`]).
struct PaperLog {
    /// Its word on every order of the runs it covers.
    answers: crate::store::VenueAnswers,
    /// Fills it made that the store never got, in the order it made them.
    missing: Vec<crate::domain::Fill>,
    /// The venue's next fill number.
    next_seq: u64,
    /// The log still holds what the store lacks: append to it rather than start afresh.
    keep: bool,
    /// What a person should know (raised as warnings).
    notes: Vec<String>,
}

/// Read the paper venue's log at `path` against the store: `None` if there is none.
///
/// A fill is in the store when its run's newest stored fill on its symbol is at or past
/// it (the engine stores a run's fills in the venue's order), or when a later run of
/// the log stored it under the same number (handed over at an earlier start). The rest
/// is missing: handed to this run's engine as fills of an earlier run.
fn read_paper_log(
    store: &crate::store::Store,
    path: &std::path::Path,
    instruments: &[crate::domain::Instrument],
) -> Result<Option<PaperLog>, crate::store::StoreError> {
    use crate::store::{VenueAnswer, VenueWord};
    use crate::venue::paper::journal::{End, VenueLog};
    let log = match VenueLog::read(path) {
        Ok(Some(log)) => log,
        Ok(None) => return Ok(None),
        Err(e) => {
            // Unreadable (permissions, I/O, not a file): the orders are settled without
            // it, as before, and the log is kept as it is (appended to, never truncated:
            // it may hold fills the store lacks); a person should know.
            tracing::error!(path = %path.display(), error = %e, "cannot read the paper venue's log");
            return Ok(Some(PaperLog {
                answers: Default::default(),
                missing: Vec::new(),
                next_seq: 1,
                keep: true,
                notes: vec![format!(
                    "the paper venue's log {} could not be read ({e}): orders left open were cancelled without its word; it is kept as it is",
                    path.display()
                )],
            }));
        }
    };
    let last: std::collections::BTreeMap<(u64, String), u64> = store
        .last_fills()?
        .into_iter()
        .map(|(run, symbol, seq)| ((run, symbol), seq))
        .collect();
    let candidates: Vec<_> = log
        .fills
        .iter()
        .filter(|f| f.seq > last.get(&(f.run, f.symbol.clone())).copied().unwrap_or(0))
        .collect();
    let runs = &log.runs;
    let later = |f: &crate::venue::paper::journal::LoggedFill| -> Vec<(u64, u64)> {
        runs.iter()
            .filter(|&&r| r > f.run)
            .map(|&r| (r, f.seq))
            .collect()
    };
    let keys: Vec<(u64, u64)> = candidates.iter().flat_map(|f| later(f)).collect();
    let present = store.fills_present(&keys)?;
    let mut missing = Vec::new();
    let mut notes = Vec::new();
    let mut unusable = 0usize;
    for f in candidates {
        if later(f).iter().any(|k| present.contains(k)) {
            continue;
        }
        let fill = instruments
            .iter()
            .find(|i| i.symbol == f.symbol)
            .ok_or_else(|| format!("{} is not configured now", f.symbol))
            .and_then(|i| f.to_fill(i));
        match fill {
            Ok(fill) => missing.push(fill),
            Err(why) => {
                unusable += 1;
                tracing::error!(run = f.run, id = %f.id, seq = f.seq, %why, "a fill in the paper venue's log cannot be applied");
            }
        }
    }
    if !missing.is_empty() {
        notes.push(format!(
            "the paper venue's log has {} fill(s) the store never got (made just before the last run ended): applied now as fills of an earlier run",
            missing.len()
        ));
    }
    if unusable > 0 {
        notes.push(format!(
            "{unusable} fill(s) in the paper venue's log cannot be applied (instrument not configured now, or its tick or lot changed): positions may be off; see the log, {}",
            path.display()
        ));
    }
    if log.skipped > 0 {
        notes.push(format!(
            "{} unreadable line(s) in the paper venue's log skipped (first at line {}; a line torn by a crash)",
            log.skipped,
            log.first_skipped.unwrap_or(0)
        ));
    }
    let answers = crate::store::VenueAnswers {
        runs: log.runs.iter().copied().collect(),
        orders: log
            .orders
            .iter()
            .map(|(k, o)| {
                let word = match o.end {
                    Some(End::Cancelled) => VenueWord::Cancelled,
                    Some(End::Rejected(_)) => VenueWord::Rejected,
                    None => VenueWord::Open,
                };
                (
                    k.clone(),
                    VenueAnswer {
                        word,
                        filled: o.filled,
                    },
                )
            })
            .collect(),
    };
    Ok(Some(PaperLog {
        answers,
        keep: !missing.is_empty() || unusable > 0,
        missing,
        next_seq: log.max_seq + 1,
        notes,
    }))
}

/// The halt latch and the clean-exit record at start-up: a latch on disk means HALTED
/// with its reason; a store with runs but no clean-exit record means the last run died
/// (HALTED, "recovered from a crash"), whatever the store says. Such a halt is latched
/// before the engine starts. Then the clean-exit record goes: from here on, dying is a
/// crash. Returns whether the run starts halted by either.
fn halt_at_start(
    dir: &std::path::Path,
    had_runs: bool,
    rec: &mut crate::engine::Recovered,
) -> anyhow::Result<bool> {
    use crate::emergency::latch::{self, CRASH_REASON};
    let latched = latch::read_latch(dir);
    let crashed = had_runs && !latch::clean_exit_present(dir);
    let reason = match (&latched, crashed) {
        (Some(l), true) if l.reason != CRASH_REASON => {
            Some(format!("{CRASH_REASON}; halted before: {}", l.reason))
        }
        (Some(l), false) => Some(l.reason.clone()),
        (_, true) => Some(CRASH_REASON.to_string()),
        (None, false) => None,
    };
    if crashed {
        tracing::error!(
            "the last run in {} did not end in order: starting HALTED",
            dir.display()
        );
    }
    if let Some(reason) = &reason {
        rec.trading_state = TradingState::Halted;
        rec.halt_reason = Some(reason.clone());
        if latched.is_none() {
            let record = latch::LatchRecord {
                reason: reason.clone(),
                source: "start-up".into(),
                at: chrono::Utc::now().to_rfc3339(),
            };
            if let Err(e) = latch::write_latch(dir, &record) {
                tracing::error!(error = %e, "cannot latch the halt at start-up");
            }
        }
    }
    latch::clear_clean_exit(dir)
        .map_err(|e| anyhow::anyhow!("cannot remove the clean-exit record: {e}"))?;
    Ok(reason.is_some())
}

/// An engine over a recording, with the paper venue: what `pit replay` and
/// `pit backtest` run.
pub struct ReplayAssembled {
    pub engine: Engine,
    pub market: crate::venue::feed::replay::ReplayFeed,
    pub exec: PaperVenue,
    /// How long to run (engine time) so the replay ends where the recorded run did: the
    /// recording's `--for`, measured from the recorded run's start.
    pub run_for: Option<std::time::Duration>,
    /// What a person should know about the run: how a real capture's ticks and lots were
    /// chosen, and strategies moved to the recording's instrument.
    pub notes: Vec<String>,
}

/// A strategy whose configured `symbol` is not in the recording trades the recording's
/// first instrument instead (what a backtest of someone else's capture needs; set the
/// key to choose another). Returns one note per strategy switched on that was moved; also
/// logged.
pub fn map_strategy_symbols(
    s: &mut crate::strategy::StrategiesConfig,
    instruments: &[crate::domain::Instrument],
) -> Vec<String> {
    let Some(first) = instruments.first() else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    for b in &crate::strategy::BUILTINS {
        let Some(symbol_of) = b.symbol else {
            continue;
        };
        let key = format!("strategies.{}.symbol", b.section);
        // A strategy switched off is moved too (every strategy is built), without a note.
        let on = (b.enabled)(s);
        let symbol = symbol_of(s);
        if instruments.iter().any(|i| &i.symbol == symbol) {
            continue;
        }
        if !on {
            *symbol = first.symbol.clone();
            continue;
        }
        let note = format!(
            "{key} = {symbol:?} is not in the recording: trading {:?}, its first instrument (set {key} to choose; in the recording: {})",
            first.symbol,
            instruments
                .iter()
                .map(|i| i.symbol.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        tracing::warn!("{note}");
        notes.push(note);
        *symbol = first.symbol.clone();
    }
    let symbols: Vec<&str> = instruments.iter().map(|i| i.symbol.as_str()).collect();
    for note in crate::strategy::edit::drop_instances_without(s, &symbols) {
        tracing::warn!("{note}");
        notes.push(note);
    }
    notes
}

/// Open a recording and build the engine on its instruments. The engine starts at the
/// first event's time (a recording of the simulated market starts at [`SIM_EPOCH`], as
/// the run that made it did), so timers, risk windows and the paper venue see the same
/// inputs as that run.
pub fn assemble_replay(
    cfg: &Config,
    path: &std::path::Path,
    initial_state: TradingState,
) -> anyhow::Result<ReplayAssembled> {
    let market = crate::venue::feed::replay::ReplayFeed::open_with(
        path,
        &cfg.instrument_list(),
        cfg.book,
        &cfg.sanity_bands(),
        &cfg.contract_values(),
    )?;
    use crate::venue::MarketDataPort;
    let instruments = market.instruments().to_vec();
    let mut notes = market.grid_notes().to_vec();
    let mut strategy_cfg = cfg.strategies.clone();
    let moved = map_strategy_symbols(&mut strategy_cfg, &instruments);
    let strategies = crate::strategy::build(&strategy_cfg, &instruments).map_err(|e| {
        let mut why = moved
            .iter()
            .map(|n| format!("\n  note: {n}"))
            .collect::<String>();
        if e.message.contains("minimum order size") {
            // The recording's own lot (an imported file's: the finest size it holds,
            // unless `pit import --lot` chose one).
            why.push_str(&format!(
                "\n  hint: the lot and minimum size come from the recording; set strategies.{} for it (pit backtest --set strategies.{}=N), or import with a finer --lot",
                e.key, e.key
            ));
        }
        anyhow::anyhow!("strategies.{}: {}{why}", e.key, e.message)
    })?;
    notes.extend(moved);
    let gate = TradingGate::new(initial_state != TradingState::Halted);
    let exec = PaperVenue::new(&cfg.paper, instruments.clone(), gate.clone());
    let start = market.start_time();
    let run_for = market.header().and_then(|h| {
        let (s, d) = (h.start_ns?, h.run_for_ns?);
        let left = s.saturating_add(d).saturating_sub(start.0);
        Some(std::time::Duration::from_nanos(left.max(0) as u64))
    });
    // Sessions apply to the recording's instruments of the same symbol; one for a symbol
    // the recording lacks is said and left out.
    let mut sessions = Vec::new();
    for (n, sc) in cfg.sessions.iter().enumerate() {
        if instruments.iter().any(|i| i.symbol == sc.symbol) {
            let s = sc
                .build(&instruments)
                .map_err(|e| anyhow::anyhow!("sessions[{n}].{}: {}", e.key, e.message))?;
            sessions.push(s);
        } else {
            notes.push(format!(
                "sessions[{n}].symbol = {:?} is not in the recording: that session is not applied",
                sc.symbol
            ));
        }
    }
    let mut engine = Engine::new(EngineSetup {
        config: cfg.engine.clone(),
        kill: cfg.kill_switch.clone(),
        instruments,
        strategies,
        sizing: cfg.sizing.clone(),
        risk: RiskEngine::new(cfg.risk.clone()),
        gate,
        initial_state,
        start,
    });
    engine.set_sessions(sessions);
    engine.set_aged(cfg.aged_positions.clone());
    engine.set_group_config(cfg.brackets.clone(), cfg.algos.clone());
    Ok(ReplayAssembled {
        engine,
        market,
        exec,
        run_for,
        notes,
    })
}

/// The simulated market, recorded when `record = true` (or `out` is given: one file,
/// never rotated). The recording starts with the instruments header and the run's `--for`,
/// and holds exactly the events the engine consumed.
pub fn maybe_record(
    cfg: &Config,
    market: SimMarket,
    out: Option<&std::path::Path>,
    run_for: Option<std::time::Duration>,
) -> anyhow::Result<(
    Box<dyn crate::venue::MarketDataPort>,
    Option<crate::record::RecordedFiles>,
)> {
    if !cfg.record && out.is_none() {
        return Ok((Box::new(market), None));
    }
    let recorder = match out {
        Some(p) => crate::record::Recorder::to_file(p),
        None => crate::record::Recorder::rotating(cfg.recording.clone(), &cfg.venue),
    };
    let files = recorder.files();
    let run_for_ns = run_for.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    let feed = crate::venue::sim::wire::RecordingFeed::new(market, recorder, SIM_EPOCH, run_for_ns);
    Ok((Box::new(feed), Some(files)))
}

/// `pit run --venue V --symbol S ...`: follow these symbols on venue `venue`. Tick and lot
/// come from `[[instruments]]` when it lists the symbol, else from the venue's instrument
/// endpoint, else [`crate::venue::feed::live::FALLBACK_STEP`] with a warning (printed and
/// logged). Strategies whose symbol is no longer listed move to the first symbol.
pub fn select_live(
    cfg: &mut Config,
    venue: Option<&str>,
    symbols: &[String],
) -> anyhow::Result<Vec<String>> {
    use crate::config::InstrumentConfig;
    use crate::venue::feed::live::{FALLBACK_STEP, fetch_tick_lot};
    let mut warnings = Vec::new();
    if let Some(v) = venue {
        cfg.venue = v.to_string();
    }
    if symbols.is_empty() {
        return Ok(warnings);
    }
    let mut list = Vec::new();
    for sym in symbols {
        if let Some(ic) = cfg.instruments.iter().find(|i| &i.symbol == sym) {
            list.push(ic.clone());
            continue;
        }
        let fetched = if cfg.live.fetch_instruments && cfg.venue != "sim" {
            fetch_tick_lot(&cfg.venue, &cfg.live, sym)
        } else {
            Err("instrument lookup is off".into())
        };
        let (tick, lot, ct) = match fetched {
            Ok(tl) => tl,
            Err(e) => {
                let w = format!(
                    "warning: {sym}: tick and lot sizes unknown ({e}); using {FALLBACK_STEP} for both. \
                     List it under [[instruments]] in config.toml with its real sizes."
                );
                tracing::warn!("{w}");
                warnings.push(w);
                (FALLBACK_STEP, FALLBACK_STEP, None)
            }
        };
        if cfg.venue == "okx" && crate::config::okx_contract(sym) && ct.is_none() {
            let w = format!(
                "warning: {sym}: OKX writes this contract's sizes in contracts and its contract value is not known here (an inverse contract, or the lookup failed): its book and trade sizes are shown in contracts, not coins"
            );
            tracing::warn!("{w}");
            warnings.push(w);
        }
        list.push(InstrumentConfig {
            symbol: sym.clone(),
            tick_size: tick,
            lot_size: lot,
            min_qty: None,
            start_price: Some(
                rust_decimal::Decimal::from(100_000) * tick.max(rust_decimal::Decimal::ONE),
            ),
            sanity_band_pct: None,
            contract_value: ct,
        });
    }
    cfg.instruments = list;
    let first = &symbols[0];
    for symbol_of in crate::strategy::BUILTINS.iter().filter_map(|b| b.symbol) {
        let symbol = symbol_of(&mut cfg.strategies);
        if !symbols.contains(symbol) {
            *symbol = first.clone();
        }
    }
    let listed: Vec<&str> = symbols.iter().map(String::as_str).collect();
    for note in crate::strategy::edit::drop_instances_without(&mut cfg.strategies, &listed) {
        warnings.push(format!("warning: {note}"));
    }
    Ok(warnings)
}

/// The live market-data port of the configured venue (a connection task on its own
/// thread), recorded when `record = true`.
pub fn live_market(cfg: &Config) -> anyhow::Result<Box<dyn crate::venue::MarketDataPort>> {
    let (spec, mut decoder) =
        crate::venue::feed::live::venue_spec(&cfg.venue, &cfg.live, cfg.instrument_list())
            .map_err(|e| anyhow::anyhow!(e))?;
    decoder.set_book_limits(cfg.book);
    decoder.set_sanity_bands(&cfg.sanity_bands());
    decoder.set_contract_values(&cfg.contract_values());
    let recorder = cfg
        .record
        .then(|| crate::record::Recorder::rotating(cfg.recording.clone(), &cfg.venue));
    tracing::info!(venue = %cfg.venue, url = %spec.url, "live market data");
    Ok(Box::new(crate::venue::feed::live::LiveFeed::start(
        spec, decoder, recorder,
    )?))
}

/// Whether this run trades for real on its venue: `[live.<venue>] mode = "live"` and
/// `--live`, both. One without the other is paper on the venue's live data, said in the
/// log (and refused outright for `--live` without the config).
pub fn live_trading(cfg: &Config, live_flag: bool) -> anyhow::Result<bool> {
    let wants = match cfg.venue.as_str() {
        "binance" => cfg.live.binance.wants_live(),
        "bybit" => cfg.live.bybit.wants_live(),
        "okx" => cfg.live.okx.wants_live(),
        "kraken" => cfg.live.kraken.wants_live(),
        _ => false,
    };
    if wants
        && live_flag
        && let Some(w) = live_hosts(cfg)?
    {
        tracing::warn!("{w}");
    }
    match (wants, live_flag) {
        (true, true) => Ok(true),
        (false, true) => anyhow::bail!(
            "--live needs a venue that trades for real, set up for it: venue = \"binance\", \"bybit\", \"okx\" or \"kraken\" and its [live.<venue>] mode = \"live\" in the config (venue is \"{}\")",
            cfg.venue
        ),
        (true, false) => {
            tracing::warn!(
                venue = %cfg.venue,
                "[live.<venue>] mode = \"live\" but no --live: paper execution on live data"
            );
            Ok(false)
        }
        (false, false) => Ok(false),
    }
}

/// Bybit live trading runs on Bybit's testnet (its documented hosts, the default) or
/// against `pit emulate bybit` on this machine. Real money (Bybit's main hosts) is the
/// operator's explicit choice (`[live.bybit] real_money = true`): pit has been rehearsed
/// against Bybit's documented protocol and its own emulator, not yet against Bybit's live
/// API (issue 12). Any other host is refused: keys go to Bybit or this machine only.
fn bybit_rehearsal_only(cfg: &Config) -> anyhow::Result<Option<String>> {
    let b = &cfg.live.bybit;
    let (rest, ws) = b.endpoints();
    use crate::venue::exchanges::bybit::trade::settings::{REST, WS_PRIVATE};
    let loopback = is_local(&rest) && is_local(&ws);
    let rest = rest.trim_end_matches('/');
    let testnet = rest == REST.0 && ws == WS_PRIVATE.0;
    let main = rest == REST.1 && ws == WS_PRIVATE.1;
    real_money_gate(
        "Bybit",
        "bybit",
        testnet || loopback,
        main,
        b.real_money,
        &format!(
            "Bybit's testnet ({}, [live.bybit] testnet = true and no rest_url/ws_private_url) or `pit emulate bybit` on this machine (both on 127.0.0.1 or localhost)",
            REST.0
        ),
        &format!("Bybit's main hosts ({}, testnet = false)", REST.1),
        (rest, &ws),
    )
}

/// OKX live trading runs on OKX's demo trading (`[live.okx] demo = true`, the default:
/// every request carries `x-simulated-trading: 1`) or against `pit emulate okx` on this
/// machine. Real money (`demo = false` on OKX's own hosts) is the operator's explicit
/// choice (`[live.okx] real_money = true`), as for Bybit (issue 12).
fn okx_rehearsal_only(cfg: &Config) -> anyhow::Result<Option<String>> {
    let o = &cfg.live.okx;
    let (rest, ws) = o.endpoints();
    use crate::venue::exchanges::okx::trade::settings::{REST, WS_PRIVATE};
    let loopback = is_local(&rest) && is_local(&ws);
    let rest = rest.trim_end_matches('/');
    let main = !o.demo && rest == REST && ws == WS_PRIVATE.1;
    // Demo trading on OKX's own hosts (the demo header goes to OKX only).
    let demo = o.demo && rest == REST && ws == WS_PRIVATE.0;
    real_money_gate(
        "OKX",
        "okx",
        demo || loopback,
        main,
        o.real_money,
        "OKX's demo trading ([live.okx] demo = true, the default, on OKX's hosts: no rest_url/ws_private_url) or `pit emulate okx` on this machine (rest_url and ws_private_url both on 127.0.0.1 or localhost)",
        &format!("OKX's own hosts ({REST}, demo = false)"),
        (rest, &ws),
    )
}

/// Kraken spot has no test network: every Kraken host is real money. `--live` on Kraken
/// runs against `pit emulate kraken` on this machine (`[live.kraken] rest_url` and
/// `ws_private_url` both on 127.0.0.1 or localhost), or on Kraken's own hosts when the
/// operator says so (`[live.kraken] real_money = true`): pit has not traded Kraken's real
/// API itself yet (issue 12).
fn kraken_rehearsal_only(cfg: &Config) -> anyhow::Result<Option<String>> {
    let k = &cfg.live.kraken;
    let (rest, ws) = k.endpoints();
    use crate::venue::exchanges::kraken::trade::settings::{REST, WS_PRIVATE};
    let loopback = is_local(&rest) && is_local(&ws);
    let rest = rest.trim_end_matches('/');
    let main = rest == REST && ws == WS_PRIVATE;
    real_money_gate(
        "Kraken",
        "kraken",
        loopback,
        main,
        k.real_money,
        "`pit emulate kraken` on this machine (rest_url and ws_private_url both on 127.0.0.1 or localhost; Kraken spot has no test network)",
        &format!("Kraken's own hosts ({REST})"),
        (rest, &ws),
    )
}

/// Where a venue pit has rehearsed but not yet traded for real may trade: its test
/// network or this machine always; its own real-money hosts only when the operator set
/// `[live.<key>] real_money = true` (then the warning to raise at start); any other host
/// never.
#[allow(clippy::too_many_arguments)]
fn real_money_gate(
    name: &str,
    key: &str,
    rehearsal: bool,
    real_hosts: bool,
    real_money: bool,
    rehearsal_text: &str,
    real_text: &str,
    (rest, ws): (&str, &str),
) -> anyhow::Result<Option<String>> {
    if rehearsal {
        return Ok(None);
    }
    if !real_hosts {
        anyhow::bail!(
            "--live on {name} runs on {rehearsal_text}, or on {real_text} with [live.{key}] real_money = true; rest_url and ws_private_url point at {rest} and {ws}: pit sends its {name} keys to no other host"
        );
    }
    if !real_money {
        anyhow::bail!(
            "--live on {name} would trade real money on {real_text}: pit's {name} path is rehearsed against {name}'s documented protocol and `pit emulate {key}`, not yet against {name}'s live API. Set [live.{key}] real_money = true to trade real money anyway, or run on {rehearsal_text}"
        );
    }
    Ok(Some(format!(
        "REAL MONEY on {real_text} ([live.{key}] real_money = true): pit's {name} path has been rehearsed against the documented protocol and `pit emulate {key}`, not yet against {name}'s live API"
    )))
}

/// The hosts a venue's keys may go to, checked as `--live` does: `Err` when refused, the
/// real-money warning when the operator chose real money on a venue pit has rehearsed
/// only (Bybit, OKX, Kraken). Binance: no check here.
pub fn live_hosts(cfg: &Config) -> anyhow::Result<Option<String>> {
    match cfg.venue.as_str() {
        "bybit" => bybit_rehearsal_only(cfg),
        "okx" => okx_rehearsal_only(cfg),
        "kraken" => kraken_rehearsal_only(cfg),
        _ => Ok(None),
    }
}

/// What a live run should say at start, printed and raised as a WARN alert (a log line
/// alone is hidden from a console): real money on a venue pit has rehearsed only.
pub fn real_money_note(cfg: &Config) -> Option<String> {
    live_hosts(cfg).ok().flatten()
}

/// Whether a URL's host is this machine.
fn is_local(url: &str) -> bool {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or("")
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// A live run's market data comes from the network it trades on (testnet streams with
/// testnet orders, or `pit emulate`): `[live] ws_url`/`rest_url` default to the trading
/// section's endpoints.
pub fn live_market_endpoints(cfg: &mut Config) {
    let (rest, ws) = if cfg.venue == "bybit" {
        bybit_market_endpoints(&cfg.live.bybit, &cfg.live.category)
    } else if cfg.venue == "okx" {
        (cfg.live.okx.endpoints().0, cfg.live.okx.ws_public())
    } else if cfg.venue == "kraken" {
        (cfg.live.kraken.endpoints().0, cfg.live.kraken.ws_public())
    } else {
        let (rest, ws, _) = crate::venue::exchanges::binance::trade::endpoints(&cfg.live.binance);
        (rest, ws)
    };
    if cfg.live.ws_url.is_empty() {
        cfg.live.ws_url = ws;
    }
    if cfg.live.rest_url.is_empty() {
        cfg.live.rest_url = rest;
    }
}

/// The live execution port of the configured venue, on the run's store: the keys (from
/// the environment or the owner-only key file), the trades earlier live runs stored (so
/// none is applied twice), the durable watermark (no order leaves before its record).
/// Returns the port and the hooks to bind once the engine runs (alerts, the halt).
pub fn live_exec(
    cfg: &Config,
    persisted: &Persisted,
    gate: TradingGate,
) -> anyhow::Result<(
    Box<dyn crate::venue::ExecutionPort>,
    LiveHooks,
    AskReconcile,
)> {
    if cfg.venue == "bybit" {
        return live_exec_bybit(cfg, persisted, gate);
    }
    if cfg.venue == "okx" {
        return live_exec_okx(cfg, persisted, gate);
    }
    if cfg.venue == "kraken" {
        return live_exec_kraken(cfg, persisted, gate);
    }
    use crate::venue::exchanges::binance::trade;
    let s = &cfg.live.binance;
    let keys = crate::venue::live::keys::load("binance", s.key_file.as_deref(), &|n| {
        std::env::var(n).ok()
    })?;
    tracing::info!(keys = ?keys, testnet = s.testnet, "binance: live trading");
    let instruments = cfg.instrument_list();
    let at_venue = left_open_at(&persisted.store, "binance", &persisted.at_venue)?;
    let (known, last_trade) =
        live_trades_seen(&persisted.store, "binance", &instruments, &at_venue)?;
    let id_prefix = venue_id_prefix(&persisted.store, persisted.run)?;
    let started = trade::start(
        s,
        trade::LiveStart {
            keys,
            instruments,
            run: persisted.run,
            id_prefix,
            gate,
            known_trades: known,
            last_trade,
            durable: Some(persisted.sink.durable_watch()),
            data_dir: Some(persisted.dir.clone()),
            at_venue,
            settle: Some(settle_in(persisted.store.clone())),
        },
    )?;
    let reconcile = reconcile_asker(started.port.requests());
    Ok((Box::new(started.port), started.hooks, reconcile))
}

/// Bybit's market data on the network it trades on: the public stream of the category
/// (testnet or mainnet), or `pit emulate bybit`'s (`/v5/public/{category}` beside its
/// `/v5/private`) when `[live.bybit]` points there.
fn bybit_market_endpoints(
    s: &crate::venue::exchanges::bybit::trade::settings::BybitSettings,
    category: &str,
) -> (String, String) {
    let (rest, private) = s.endpoints();
    let ws = match private.strip_suffix("/v5/private") {
        Some(base) if !s.ws_private_url.is_empty() => format!("{base}/v5/public/{category}"),
        _ => crate::venue::exchanges::bybit::trade::settings::ws_public(s.testnet, category),
    };
    (rest, ws)
}

/// [`live_exec`] for Bybit v5: the keys (`PIT_BYBIT_API_KEY` / `PIT_BYBIT_API_SECRET` or
/// the owner-only key file), every fill earlier live runs stored on these symbols (Bybit's
/// trade ids are strings: a fill listed again is known by its key), the durable watermark,
/// the orders earlier runs left open.
fn live_exec_bybit(
    cfg: &Config,
    persisted: &Persisted,
    gate: TradingGate,
) -> anyhow::Result<(
    Box<dyn crate::venue::ExecutionPort>,
    LiveHooks,
    AskReconcile,
)> {
    use crate::venue::exchanges::bybit::trade;
    let s = &cfg.live.bybit;
    let category =
        crate::venue::exchanges::bybit::api::wire::Category::parse_traded(&cfg.live.category)
            .map_err(|e| anyhow::anyhow!("[live] category: {e}"))?;
    let keys =
        crate::venue::live::keys::load("bybit", s.key_file.as_deref(), &|n| std::env::var(n).ok())?;
    tracing::info!(keys = ?keys, testnet = s.testnet, "bybit: live trading");
    bybit_category_of_folder(&persisted.store, &persisted.dir, category, true)?;
    let instruments = cfg.instrument_list();
    let at_venue = left_open_at(&persisted.store, "bybit", &persisted.at_venue)?;
    let StoredLive {
        known,
        mut since_ms,
        ..
    } = stored_live(persisted, "bybit", &instruments, trade::task::LIST_LAG_MS)?;
    // Per symbol, fills are asked for from the newest one stored (less the list's lag),
    // and at least the last 7 days (Bybit's default; a fill the stream missed just before
    // a crash was stored after later ones): however long pit was stopped, nothing after
    // it is missed (Bybit answers 7 days a request; the task walks them).
    let week_ago =
        (chrono::Utc::now().timestamp_millis().max(0) as u64).saturating_sub(7 * 86_400_000);
    for v in since_ms.values_mut() {
        *v = (*v).min(week_ago);
    }
    let id_prefix = venue_id_prefix(&persisted.store, persisted.run)?;
    let started = trade::start(
        s,
        trade::LiveStart {
            keys,
            category,
            instruments,
            run: persisted.run,
            id_prefix,
            gate,
            known_trades: known,
            since_ms,
            durable: Some(persisted.sink.durable_watch()),
            data_dir: Some(persisted.dir.clone()),
            at_venue,
            settle: Some(settle_in(persisted.store.clone())),
            positions: persisted
                .store
                .positions()?
                .into_iter()
                .map(|p| (p.symbol, p.qty))
                .collect(),
        },
    )?;
    let reconcile = reconcile_asker(started.port.requests());
    Ok((Box::new(started.port), started.hooks, reconcile))
}

/// [`live_exec`] for OKX v5 spot: the keys (`PIT_OKX_API_KEY` / `PIT_OKX_API_SECRET` /
/// `PIT_OKX_API_PASSPHRASE` or the owner-only key file with `passphrase`), every fill
/// earlier live runs stored on these symbols (a fill listed again is known by its key),
/// fills asked for from the newest stored one (within OKX's 3 days), the durable
/// watermark, the orders earlier runs left open.
fn live_exec_okx(
    cfg: &Config,
    persisted: &Persisted,
    gate: TradingGate,
) -> anyhow::Result<(
    Box<dyn crate::venue::ExecutionPort>,
    LiveHooks,
    AskReconcile,
)> {
    use crate::venue::exchanges::okx::trade;
    let s = &cfg.live.okx;
    let keys =
        crate::venue::live::keys::load("okx", s.key_file.as_deref(), &|n| std::env::var(n).ok())?;
    tracing::info!(keys = ?keys, demo = s.demo, "okx: live trading");
    let instruments = cfg.instrument_list();
    let at_venue = left_open_at(&persisted.store, "okx", &persisted.at_venue)?;
    let StoredLive {
        fills,
        known,
        since_ms,
    } = stored_live(persisted, "okx", &instruments, trade::task::LIST_LAG_MS)?;
    if s.swap()
        && let Some(i) = instruments.iter().find(|i| !i.symbol.ends_with("-SWAP"))
    {
        anyhow::bail!(
            "[live.okx] inst_type = \"SWAP\" but instrument {} is not a swap (OKX's swaps end in -SWAP, e.g. BTC-USDT-SWAP)",
            i.symbol
        );
    }
    if !s.swap()
        && let Some(i) = instruments.iter().find(|i| i.symbol.ends_with("-SWAP"))
    {
        anyhow::bail!(
            "instrument {} is a swap: set [live.okx] inst_type = \"SWAP\" to trade it",
            i.symbol
        );
    }
    // SWAP: pit's position per symbol, from every fill earlier live runs stored (coins).
    let mut positions = std::collections::BTreeMap::new();
    if s.swap() {
        for f in fills {
            let q = if f.side.eq_ignore_ascii_case("buy") {
                f.qty - f.fee_base
            } else {
                -f.qty
            };
            *positions
                .entry(f.symbol.clone())
                .or_insert(rust_decimal::Decimal::ZERO) += q;
        }
    }
    let id_prefix = venue_id_prefix(&persisted.store, persisted.run)?;
    let started = trade::start(
        s,
        trade::LiveStart {
            positions,
            contract_values: cfg.contract_values(),
            keys,
            instruments,
            run: persisted.run,
            id_prefix,
            gate,
            known_trades: known,
            since_ms,
            durable: Some(persisted.sink.durable_watch()),
            at_venue,
            settle: Some(settle_in(persisted.store.clone())),
        },
    )?;
    let reconcile = reconcile_asker(started.port.requests());
    Ok((Box::new(started.port), started.hooks, reconcile))
}

/// [`live_exec`] for Kraken spot: the keys (`PIT_KRAKEN_API_KEY` / `PIT_KRAKEN_API_SECRET`
/// or the owner-only key file), every fill earlier live runs stored on these symbols (a
/// fill listed again is known by its key), fills asked for from the newest stored one,
/// the durable watermark, the data folder (the nonce file), the orders earlier runs left
/// open.
fn live_exec_kraken(
    cfg: &Config,
    persisted: &Persisted,
    gate: TradingGate,
) -> anyhow::Result<(
    Box<dyn crate::venue::ExecutionPort>,
    LiveHooks,
    AskReconcile,
)> {
    use crate::venue::exchanges::kraken::trade;
    let s = &cfg.live.kraken;
    let keys = crate::venue::live::keys::load("kraken", s.key_file.as_deref(), &|n| {
        std::env::var(n).ok()
    })?;
    tracing::info!(keys = ?keys, "kraken: live trading");
    let instruments = cfg.instrument_list();
    let at_venue = left_open_at(&persisted.store, "kraken", &persisted.at_venue)?;
    let StoredLive {
        known, since_ms, ..
    } = stored_live(persisted, "kraken", &instruments, trade::task::LIST_LAG_MS)?;
    let id_prefix = venue_id_prefix(&persisted.store, persisted.run)?;
    let started = trade::start(
        s,
        trade::LiveStart {
            keys,
            instruments,
            run: persisted.run,
            id_prefix,
            gate,
            known_trades: known,
            since_ms,
            durable: Some(persisted.sink.durable_watch()),
            data_dir: persisted.dir.clone(),
            at_venue,
            settle: Some(settle_in(persisted.store.clone())),
        },
    )?;
    let reconcile = reconcile_asker(started.port.requests());
    Ok((Box::new(started.port), started.hooks, reconcile))
}

/// A reconciliation asked of a live connection task (`pit reconcile` through the control
/// socket): whether the task still takes requests.
fn reconcile_asker(
    requests: tokio::sync::mpsc::UnboundedSender<crate::venue::live::port::ToVenue>,
) -> AskReconcile {
    std::sync::Arc::new(move |reason| {
        requests
            .send(crate::venue::live::port::ToVenue::Reconcile { reason })
            .is_ok()
    })
}

/// What earlier live runs on a venue stored, as a new run's connection task starts from it
/// (one read of the store's fills).
struct StoredLive {
    /// Every stored fill of the venue's live runs.
    fills: Vec<crate::store::schema::FillRow>,
    /// Their trade keys, taken again by symbol (see [`live_trades_seen`]): a reordered
    /// `[[instruments]]` cannot make a stored trade look new.
    known: std::collections::BTreeSet<u64>,
    /// Per symbol, where the venue's fill lists are asked from: the newest stored fill
    /// less the lists' lag (`lag_ms`).
    since_ms: std::collections::BTreeMap<String, u64>,
}

fn stored_live(
    persisted: &Persisted,
    venue: &str,
    instruments: &[crate::domain::Instrument],
    lag_ms: u64,
) -> anyhow::Result<StoredLive> {
    let live_runs = venue_live_runs(&persisted.store, venue)?;
    let fills: Vec<_> = persisted
        .store
        .fills()?
        .into_iter()
        .filter(|f| live_runs.contains(&f.run))
        .collect();
    let mut since_ms = std::collections::BTreeMap::new();
    for f in &fills {
        let ms = (f.ts.as_millis().max(0) as u64).saturating_sub(lag_ms);
        let e = since_ms.entry(f.symbol.clone()).or_insert(ms);
        *e = (*e).max(ms);
    }
    let known = fills
        .iter()
        .filter_map(|f| {
            instruments
                .iter()
                .find(|i| i.symbol == f.symbol)
                .map(|i| crate::venue::live::tracker::trade_seq(f.seq / 256, i.id))
        })
        .collect();
    Ok(StoredLive {
        fills,
        known,
        since_ms,
    })
}

/// The trades of earlier live runs that a live venue can report again after a restart, to
/// be applied once (as `(known trade seqs, newest trade id per symbol)`):
/// - the newest trade per symbol earlier live runs stored (the venue's trades are asked
///   from it on, so it comes back), read from the last-fill index;
/// - every stored trade of the orders earlier runs left open at the venue (`at_venue`:
///   asked for by order, the venue answers with all of that order's trades, some already
///   stored), read run by run for those runs only.
///
/// Not by walking every fill: a restart costs the same whatever the history's length.
#[allow(clippy::type_complexity)]
pub fn live_trades_seen(
    store: &crate::store::Store,
    venue: &str,
    instruments: &[crate::domain::Instrument],
    at_venue: &[(u64, String, String)],
) -> Result<
    (
        std::collections::BTreeSet<u64>,
        std::collections::BTreeMap<String, u64>,
    ),
    crate::store::StoreError,
> {
    use crate::venue::live::tracker::trade_seq;
    let live_runs = venue_live_runs(store, venue)?;
    // A stored key is the venue's trade number times 256 plus the instrument's place in
    // the config *of its run*: taken again by symbol, so a reordered [[instruments]]
    // cannot make a stored trade look new (it would be applied twice).
    let ours = |symbol: &str| instruments.iter().find(|i| i.symbol == symbol);
    let mut newest: std::collections::BTreeMap<String, (u64, crate::domain::InstrumentId)> =
        std::collections::BTreeMap::new();
    for (run, symbol, seq) in store.last_fills()? {
        let Some(inst) = ours(&symbol).filter(|_| live_runs.contains(&run)) else {
            continue;
        };
        let e = newest.entry(symbol).or_insert((0, inst.id));
        e.0 = e.0.max(seq / 256);
    }
    let mut known: std::collections::BTreeSet<u64> = newest
        .values()
        .map(|&(trade, id)| trade_seq(trade, id))
        .collect();
    let left_open: Vec<(u64, String)> = at_venue
        .iter()
        .map(|(run, id, _)| (*run, id.clone()))
        .collect();
    for f in store.fills_of_orders(&left_open)? {
        if live_runs.contains(&f.run)
            && let Some(inst) = ours(&f.symbol)
        {
            known.insert(trade_seq(f.seq / 256, inst.id));
        }
    }
    let last_trade = newest.into_iter().map(|(s, (t, _))| (s, t)).collect();
    Ok((known, last_trade))
}

/// The `meta` key of the Bybit category (`spot`, `linear`) a data folder's live runs
/// trade, recorded by the first Bybit live run that finds none.
pub const BYBIT_CATEGORY_KEY: &str = "bybit_category";

/// A data folder trades one Bybit category: its orders, fills and positions are asked
/// about in that category's lists only (a spot run would ask Bybit's spot lists about
/// linear orders left open, find none, and settle them as not placed while they may still
/// work; a linear position would be compared with a spot wallet). A store that records
/// another category than `category` is refused, whatever it holds, with the way out.
/// `record`: a live run writes `category` into a store that records none (a folder from
/// before pit recorded it is taken to be of the category its next live run trades, as the
/// README told to keep one folder per category); `pit reconcile` with no run only checks.
pub fn bybit_category_of_folder(
    store: &crate::store::Store,
    dir: &std::path::Path,
    category: crate::venue::exchanges::bybit::api::wire::Category,
    record: bool,
) -> anyhow::Result<()> {
    let wanted = category.as_str();
    let recorded = if record {
        let before = store.meta(BYBIT_CATEGORY_KEY)?;
        let now = store.meta_or_insert(BYBIT_CATEGORY_KEY, || wanted.to_string())?;
        if before.is_none() && !venue_live_runs(store, "bybit")?.is_empty() {
            tracing::warn!(
                category = wanted,
                "bybit: this data folder's earlier live runs recorded no category: taken to be {wanted}, recorded from now on"
            );
        }
        Some(now)
    } else {
        store.meta(BYBIT_CATEGORY_KEY)?
    };
    match recorded {
        Some(r) if r != wanted => anyhow::bail!(
            "data folder {}: its store holds Bybit {r} orders, fills and positions (recorded by an earlier live run), and this run trades Bybit {wanted} ([live] category): refused, a data folder keeps one category (a {wanted} run would ask Bybit's {wanted} lists about the {r} orders left open, settle them as not placed while they may still work, and compare the wrong balances or positions). Trade {wanted} from a fresh data folder ([store] path), or set [live] category = \"{r}\" back to use this one",
            std::path::absolute(dir)
                .unwrap_or_else(|_| dir.to_path_buf())
                .display()
        ),
        _ => Ok(()),
    }
}

/// The `meta` key of the store's prefix for live client order ids
/// ([`crate::venue::live::ids::IdPrefix`], as JSON).
pub const ID_PREFIX_KEY: &str = "venue_id_prefix";

/// This store's prefix for live client order ids, drawn at random the first time a live
/// run (`run`) asks and kept: another data folder, or another pit on the account, never
/// sends (or adopts) the same ids. A store with live runs from before prefixes keeps
/// their `p<run>-` ids recognised: `legacy_before` is the run after the last of them.
pub fn venue_id_prefix(
    store: &crate::store::Store,
    run: u64,
) -> anyhow::Result<crate::venue::live::ids::IdPrefix> {
    use crate::venue::live::ids::IdPrefix;
    let legacy_before = store
        .runs()?
        .iter()
        .filter(|r| r.id < run && r.mode.ends_with(LIVE_MODE))
        .map(|r| r.id + 1)
        .max()
        .unwrap_or(0);
    let text = store.meta_or_insert(ID_PREFIX_KEY, || {
        serde_json::to_string(&IdPrefix::random(legacy_before)).unwrap_or_default()
    })?;
    parse_id_prefix(&text)
}

/// The store's prefix as kept, without drawing one: a store that never traded live since
/// prefixes came sent only the old `p<run>-` ids.
pub fn stored_id_prefix(
    store: &crate::store::Store,
) -> anyhow::Result<crate::venue::live::ids::IdPrefix> {
    match store.meta(ID_PREFIX_KEY)? {
        Some(text) => parse_id_prefix(&text),
        None => Ok(crate::venue::live::ids::IdPrefix::none_yet()),
    }
}

fn parse_id_prefix(text: &str) -> anyhow::Result<crate::venue::live::ids::IdPrefix> {
    let p: crate::venue::live::ids::IdPrefix = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!("store: meta `{ID_PREFIX_KEY}` is not a venue id prefix ({e})")
    })?;
    if !crate::venue::live::ids::IdPrefix::is_valid(&p.prefix) {
        anyhow::bail!(
            "store: meta `{ID_PREFIX_KEY}` holds {:?}, not 6 characters of [0-9a-z]",
            p.prefix
        );
    }
    Ok(p)
}

/// The live runs of `venue` in the store (their mode is `"<venue>/… live"`): another
/// venue's trade numbers mean nothing here.
pub fn venue_live_runs(
    store: &crate::store::Store,
    venue: &str,
) -> Result<std::collections::BTreeSet<u64>, crate::store::StoreError> {
    let prefix = format!("{venue}/");
    Ok(store
        .runs()?
        .into_iter()
        .filter(|r| r.mode.starts_with(&prefix) && r.mode.ends_with(LIVE_MODE))
        .map(|r| r.id)
        .collect())
}

/// The orders earlier live runs left open (`at_venue`, every live venue's) that were sent
/// to `venue`: another venue's orders are nothing to ask this one about (nor to settle by
/// its word).
pub fn left_open_at(
    store: &crate::store::Store,
    venue: &str,
    at_venue: &[(u64, String, String)],
) -> Result<Vec<(u64, String, String)>, crate::store::StoreError> {
    let live_runs = venue_live_runs(store, venue)?;
    Ok(at_venue
        .iter()
        .filter(|(run, _, _)| live_runs.contains(run))
        .cloned()
        .collect())
}

/// Asks a live venue's connection task to reconcile now (`pit reconcile` through the
/// control socket); `false` once the task has stopped.
pub type AskReconcile = std::sync::Arc<dyn Fn(String) -> bool + Send + Sync>;

/// Writes what the venue said became of an earlier live run's order into the store.
fn settle_in(store: crate::store::Store) -> trade_task::Settle {
    std::sync::Arc::new(move |run, id, status, filled, note| {
        match store.settle_order(run, id, status, filled, note) {
            Ok(true) => tracing::info!(
                run,
                id,
                status = status.as_str(),
                "store: order settled by the venue"
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(run, id, error = %e, "store: cannot settle an order the venue ended")
            }
        }
    })
}

use crate::venue::exchanges::binance::trade::task as trade_task;

/// Where a live venue's connection task finds the running engine's alerts and halt, bound
/// once the engine runs.
pub type LiveHooks = std::sync::Arc<
    std::sync::OnceLock<std::sync::Arc<dyn crate::venue::exchanges::binance::trade::task::Hooks>>,
>;

/// The end of a live run's `mode` in the store's run record.
pub const LIVE_MODE: &str = crate::store::LIVE_RUN_SUFFIX;

/// Alerts and the halt of a live venue's connection task, into the running engine.
pub struct EngineHooks {
    pub alerts: crate::watchdog::AlertInbox,
    pub killer: crate::emergency::killer::Killer,
}

impl crate::venue::exchanges::binance::trade::task::Hooks for EngineHooks {
    fn alert(&self, level: crate::engine::AlertLevel, text: String) {
        self.alerts.push(level, "venue", text);
    }
    fn halt(&self, reason: String) {
        self.killer.kill("venue", &reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An order a Binance live run left open is not asked about on OKX or Bybit (OKX
    /// would answer "no such order" and pit would settle it as never placed).
    #[test]
    fn orders_left_open_are_asked_about_at_their_own_venue_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("pit.redb")).unwrap();
        let row = |mode: &str| crate::store::schema::RunRow {
            id: 0,
            started: "2026-01-01T00:00:00Z".into(),
            engine_start: crate::domain::Timestamp::from_millis(1_767_225_600_000),
            mode: mode.into(),
            version: "test".into(),
            seed: 1,
            config: String::new(),
            pid: 1,
        };
        let b = store
            .begin_run(row(&format!("binance/live headless{LIVE_MODE}")))
            .unwrap();
        let o = store
            .begin_run(row(&format!("okx/live headless{LIVE_MODE}")))
            .unwrap();
        let y = store
            .begin_run(row(&format!("bybit/live headless{LIVE_MODE}")))
            .unwrap();
        let left = vec![
            (b, "S1-1".to_string(), "BTCUSDT".to_string()),
            (o, "S1-2".to_string(), "BTC-USDT".to_string()),
            (y, "S1-3".to_string(), "BTCUSDT".to_string()),
        ];
        let at = |v| left_open_at(&store, v, &left).unwrap();
        assert_eq!(at("okx"), [left[1].clone()]);
        assert_eq!(at("binance"), [left[0].clone()]);
        assert_eq!(at("bybit"), [left[2].clone()]);
    }

    /// A data folder keeps the Bybit category its first live run traded: a folder that
    /// records none (new, or from before pit recorded it) takes the run's; another category
    /// is refused, naming both and the way out; `pit reconcile` only checks (writes none).
    #[test]
    fn a_folder_keeps_its_bybit_category_and_refuses_another() {
        use crate::venue::exchanges::bybit::api::wire::Category;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("pit.redb")).unwrap();
        let check = |c, record| bybit_category_of_folder(&store, dir.path(), c, record);
        assert!(
            check(Category::Spot, false).is_ok(),
            "none recorded: allowed"
        );
        assert_eq!(
            store.meta(BYBIT_CATEGORY_KEY).unwrap(),
            None,
            "a check writes none"
        );
        assert!(
            check(Category::Linear, true).is_ok(),
            "recorded by a live run"
        );
        assert_eq!(
            store.meta(BYBIT_CATEGORY_KEY).unwrap().as_deref(),
            Some("linear")
        );
        assert!(check(Category::Linear, true).is_ok());
        for record in [true, false] {
            let e = check(Category::Spot, record).unwrap_err().to_string();
            assert!(
                e.contains("holds Bybit linear") && e.contains("this run trades Bybit spot"),
                "{e}"
            );
            assert!(e.contains("category = \"linear\" back"), "{e}");
        }
        assert_eq!(
            store.meta(BYBIT_CATEGORY_KEY).unwrap().as_deref(),
            Some("linear"),
            "a refused run changes nothing"
        );
    }

    /// Bybit's testnet (its documented hosts, the default) and `pit emulate bybit` on this
    /// machine are allowed; its main hosts, a host of the operator's and `linear` are not.
    #[test]
    fn bybit_live_runs_on_its_testnet_or_the_emulator_and_real_money_only_when_asked() {
        let bybit = || {
            let mut c = Config {
                venue: "bybit".into(),
                ..Config::default()
            };
            c.live.category = "spot".into();
            c
        };
        let mut cfg = bybit();
        assert!(
            bybit_rehearsal_only(&cfg).is_ok(),
            "the testnet, by default"
        );
        cfg.live.bybit.rest_url = "http://127.0.0.1:9000".into();
        cfg.live.bybit.ws_private_url = "ws://127.0.0.1:9000/v5/private".into();
        assert!(bybit_rehearsal_only(&cfg).is_ok(), "the emulator");
        cfg.live.bybit.ws_private_url = "wss://stream-testnet.bybit.com/v5/private".into();
        assert!(bybit_rehearsal_only(&cfg).is_err(), "mixed");
        let mut main = bybit();
        main.live.bybit.testnet = false;
        let e = bybit_rehearsal_only(&main).unwrap_err().to_string();
        assert!(e.contains("real_money = true"), "{e}");
        // Linear as spot: the testnet yes, real money only when asked.
        main.live.category = "linear".into();
        let e = bybit_rehearsal_only(&main).unwrap_err().to_string();
        assert!(e.contains("would trade real money"), "{e}");
        main.live.bybit.real_money = true;
        assert!(bybit_rehearsal_only(&main).is_ok(), "real money, asked for");
        // Another host never gets the keys, real_money or not.
        main.live.bybit.rest_url = "https://api.example.com".into();
        let e = bybit_rehearsal_only(&main).unwrap_err().to_string();
        assert!(e.contains("no other host"), "{e}");
        main.live.bybit.rest_url = String::new();
        main.live.bybit.testnet = true;
        main.live.bybit.real_money = false;
        assert!(bybit_rehearsal_only(&main).is_ok(), "linear on the testnet");
    }

    /// OKX: demo trading and the emulator always; real money on OKX's hosts only with
    /// `real_money = true`. Kraken: the emulator; its own hosts only with it.
    #[test]
    fn okx_and_kraken_trade_real_money_only_when_asked() {
        let mut cfg = Config {
            venue: "okx".into(),
            ..Config::default()
        };
        assert_eq!(
            okx_rehearsal_only(&cfg).unwrap(),
            None,
            "demo trading, by default: no warning"
        );
        // Demo trading's header and keys go to OKX's hosts only.
        cfg.live.okx.rest_url = "https://okx.example.net".into();
        assert!(okx_rehearsal_only(&cfg).is_err(), "demo on another host");
        cfg.live.okx.rest_url = String::new();
        cfg.live.okx.demo = false;
        let e = okx_rehearsal_only(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("would trade real money") && e.contains("real_money = true"),
            "{e}"
        );
        cfg.live.okx.real_money = true;
        let w = okx_rehearsal_only(&cfg)
            .unwrap()
            .expect("the real-money warning");
        assert!(w.contains("REAL MONEY") && w.contains("OKX"), "{w}");
        assert_eq!(real_money_note(&cfg), Some(w));
        cfg.live.okx.rest_url = "https://okx.example.net".into();
        assert!(
            okx_rehearsal_only(&cfg)
                .unwrap_err()
                .to_string()
                .contains("no other host")
        );

        let mut cfg = Config {
            venue: "kraken".into(),
            ..Config::default()
        };
        let e = kraken_rehearsal_only(&cfg).unwrap_err().to_string();
        assert!(e.contains("would trade real money"), "{e}");
        cfg.live.kraken.real_money = true;
        assert!(kraken_rehearsal_only(&cfg).is_ok());
        cfg.live.kraken.real_money = false;
        cfg.live.kraken.rest_url = "http://127.0.0.1:9100".into();
        cfg.live.kraken.ws_private_url = "ws://127.0.0.1:9100/ws-auth/v2".into();
        assert!(kraken_rehearsal_only(&cfg).is_ok(), "the emulator");
    }
}
