//! `pit export`: fills, closed trades or orders as CSV (RFC 4180), for spreadsheets.
//! Money is written as exact decimals, times as RFC 3339 UTC.

use super::{Store, StoreError};
use crate::domain::Timestamp;
use chrono::NaiveDate;
use std::io::Write;

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    Fills,
    Trades,
    Orders,
}

/// One row, quoted where a field needs it (by the `csv` crate).
fn line(out: &mut csv::Writer<&mut dyn Write>, fields: &[String]) -> std::io::Result<()> {
    out.write_record(fields).map_err(std::io::Error::other)
}

/// Write the CSV to `out`: a header, then one row per record on or after `since`.
pub fn write_csv(
    store: &Store,
    what: What,
    since: Option<NaiveDate>,
    out: &mut dyn Write,
) -> Result<(), StoreError> {
    let from = since
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(Timestamp(i64::MIN), |t| {
            Timestamp(t.and_utc().timestamp().saturating_mul(1_000_000_000))
        });
    let io = |e: std::io::Error| StoreError::Io(format!("cannot write the CSV: {e}"));
    // A reader that went away (`| head`) has all it wanted: stop quietly.
    let mut quiet = QuietPipe(out);
    let out = &mut csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(&mut quiet as &mut dyn Write);
    match what {
        What::Fills => {
            line(
                out,
                &strs(&[
                    "run",
                    "seq",
                    "time",
                    "client_id",
                    "symbol",
                    "side",
                    "price",
                    "qty",
                    "fee",
                    "liquidity",
                    "owner",
                    "tag",
                ]),
            )
            .map_err(io)?;
            for f in store.fills()?.into_iter().filter(|f| f.ts >= from) {
                line(
                    out,
                    &[
                        f.run.to_string(),
                        f.seq.to_string(),
                        f.ts.to_rfc3339(),
                        f.client_id,
                        f.symbol,
                        f.side,
                        f.price.normalize().to_string(),
                        f.qty.normalize().to_string(),
                        f.fee.normalize().to_string(),
                        f.liquidity,
                        f.owner,
                        f.tag.map(|t| t.as_str().to_string()).unwrap_or_default(),
                    ],
                )
                .map_err(io)?;
            }
        }
        What::Trades => {
            line(
                out,
                &strs(&[
                    "run",
                    "opened",
                    "closed",
                    "symbol",
                    "side",
                    "qty",
                    "entry_price",
                    "exit_price",
                    "realized",
                    "fees",
                    "pnl",
                    "strategy",
                    "reason",
                ]),
            )
            .map_err(io)?;
            for t in store
                .trades()?
                .into_iter()
                .filter(|t| t.trade.closed >= from)
            {
                let r = t.run;
                let t = t.trade;
                line(
                    out,
                    &[
                        r.to_string(),
                        t.opened.to_rfc3339(),
                        t.closed.to_rfc3339(),
                        t.symbol,
                        if t.side == crate::domain::Side::Buy {
                            "long"
                        } else {
                            "short"
                        }
                        .into(),
                        t.qty.normalize().to_string(),
                        t.entry_price.round_dp(10).normalize().to_string(),
                        t.exit_price.round_dp(10).normalize().to_string(),
                        t.realized.round_dp(10).normalize().to_string(),
                        t.fees.normalize().to_string(),
                        t.pnl.round_dp(10).normalize().to_string(),
                        t.strategy,
                        t.reason.as_str().to_string(),
                    ],
                )
                .map_err(io)?;
            }
        }
        What::Orders => {
            line(
                out,
                &strs(&[
                    "run",
                    "client_id",
                    "created",
                    "updated",
                    "symbol",
                    "side",
                    "kind",
                    "price",
                    "qty",
                    "filled",
                    "avg_price",
                    "status",
                    "reduce_only",
                    "owner",
                    "tag",
                    "reason",
                ]),
            )
            .map_err(io)?;
            for o in store.orders()?.into_iter().filter(|o| o.updated >= from) {
                line(
                    out,
                    &[
                        o.run.to_string(),
                        o.client_id,
                        o.created.to_rfc3339(),
                        o.updated.to_rfc3339(),
                        o.symbol,
                        o.side,
                        o.kind,
                        o.price
                            .map(|p| p.normalize().to_string())
                            .unwrap_or_default(),
                        o.qty.normalize().to_string(),
                        o.filled.normalize().to_string(),
                        o.avg_price
                            .map(|p| p.normalize().to_string())
                            .unwrap_or_default(),
                        o.status,
                        o.reduce_only.to_string(),
                        o.owner,
                        o.tag.as_str().to_string(),
                        o.reason.unwrap_or_default(),
                    ],
                )
                .map_err(io)?;
            }
        }
    }
    out.flush().map_err(io)?;
    Ok(())
}

fn strs(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

/// A writer whose reader went away (a broken pipe) swallows the rest: the CSV stops there
/// without an error.
struct QuietPipe<'a>(&'a mut dyn Write);

impl Write for QuietPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(buf.len()),
            r => r,
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r,
        }
    }
}
