//! `pit reconcile`, the store's side: what the store believes, read from its rows. The
//! comparison is [`crate::venue::live::reconcile`], the venue's side
//! [`crate::venue::exchanges::binance::trade::account`].

pub use crate::venue::exchanges::binance::trade::account::fetch as fetch_binance;
use crate::venue::live::ids::VenueIds;
pub use crate::venue::live::reconcile::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet};

/// What the store believes, from the rows of `venue`'s live runs (`mode`
/// `<venue>/…` ending in [`crate::setup::LIVE_MODE`]): their orders not closed, their
/// fills (whose `seq` is the venue's trade id times 256 plus the instrument's index, see
/// [`crate::venue::live::tracker::trade_seq`]), the positions, and the starting balances
/// recorded in `start_file`.
pub fn store_side(
    store: &crate::store::Store,
    venue: &str,
    symbols: &[String],
    start_file: &std::path::Path,
) -> anyhow::Result<StoreSide> {
    let live_runs: BTreeSet<u64> = crate::setup::venue_live_runs(store, venue)?;
    let ids = VenueIds::new(0, crate::setup::stored_id_prefix(store)?);
    let open_orders = store
        .orders()?
        .into_iter()
        .filter(|o| live_runs.contains(&o.run))
        .filter(|o| matches!(o.status.as_str(), "NEW" | "ACKED" | "PARTIAL"))
        .map(|o| StoreOrder {
            venue_id: ids.of_run(
                o.run,
                &crate::domain::ClientOrderId::new(o.client_id.as_str()),
            ),
            symbol: o.symbol,
        })
        .collect();
    let fill_rows: Vec<_> = store
        .fills()?
        .into_iter()
        .filter(|f| live_runs.contains(&f.run) && symbols.contains(&f.symbol))
        .collect();
    let mut first_fill_ms: BTreeMap<String, u64> = BTreeMap::new();
    for f in &fill_rows {
        let ms = f.ts.as_millis().max(0) as u64;
        let e = first_fill_ms.entry(f.symbol.clone()).or_insert(ms);
        *e = (*e).min(ms);
    }
    let fills = fill_rows
        .iter()
        .cloned()
        .map(|f| StoreFill {
            trade_id: f.seq / 256,
            symbol: f.symbol,
            side: f.side,
            qty: f.qty,
            price: f.price,
        })
        .collect();
    // The position the engine books is what the wallet got (a buy's fee in the coin
    // bought netted out); the comparison counts the commissions apart, so the base fees
    // of the live fills are added back here (zero in stores written before them).
    let mut positions: BTreeMap<String, Decimal> = store
        .positions()?
        .into_iter()
        .map(|p| (p.symbol, p.qty))
        .collect();
    for f in &fill_rows {
        if !f.fee_base.is_zero()
            && let Some(p) = positions.get_mut(&f.symbol)
        {
            *p += f.fee_base;
        }
    }
    let start_balances = match std::fs::read_to_string(start_file) {
        Err(_) => None,
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", start_file.display()))?;
            let mut m = BTreeMap::new();
            if let Some(b) = v["balances"].as_object() {
                for (asset, amount) in b {
                    let d: Decimal =
                        amount
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .ok_or_else(|| {
                                anyhow::anyhow!(
                                    "{}: balance of {asset} unreadable",
                                    start_file.display()
                                )
                            })?;
                    m.insert(asset.clone(), d);
                }
            }
            Some(m)
        }
    };
    Ok(StoreSide {
        open_orders,
        fills,
        positions,
        start_balances,
        ids,
        first_fill_ms,
    })
}
