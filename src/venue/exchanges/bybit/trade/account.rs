//! The account as Bybit v5 reports it, for `pit reconcile` run beside no engine (a
//! running engine's connection task reconciles itself): each symbol's base coin ("Get
//! Instruments Info"), open orders ("Get Open & Closed Orders", `/v5/order/realtime`), the
//! fills since the oldest one the store keeps ("Get Trade History", `/v5/execution/list`,
//! walked in 7-day windows by [`Rest::executions`]), the wallet ("Get Wallet Balance",
//! UNIFIED) and, for derivatives, the positions ("Get Position Info").
//! <https://bybit-exchange.github.io/docs/v5/intro>

use super::rest::Rest;
use super::updates::exec_trade_id;
use crate::venue::exchanges::bybit::api::wire::{Category, Side};
use crate::venue::live::reconcile::{Market, VenueOrder, VenueSide, VenueTrade};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long one request may keep retrying Bybit's rate limits and 5xx.
const PATIENCE: Duration = Duration::from_secs(30);

/// What Bybit says. `since_ms`: per symbol, fills are listed from this time (ms; a symbol
/// not here: Bybit's default, the last 7 days). Only trades (`execType` `Trade`) are
/// listed; funding and settlement executions move no order of pit's.
pub async fn fetch(
    rest: &Rest,
    category: Category,
    symbols: &[String],
    since_ms: &BTreeMap<String, u64>,
) -> Result<(Vec<Market>, VenueSide), String> {
    let mut markets = Vec::new();
    let mut venue = VenueSide::default();
    for s in symbols {
        // The base coin's balance explains a spot position; a derivatives position is the
        // venue's own (compared below), not a coin of the wallet.
        if category == Category::Spot {
            let i = rest
                .instrument(category, s)
                .await
                .map_err(|e| format!("instrument {s}: {e}"))?;
            markets.push(Market {
                symbol: s.clone(),
                base: i.base_coin,
            });
        }
        for o in rest
            .open_orders(category, s, PATIENCE)
            .await
            .map_err(|e| format!("open orders of {s}: {e}"))?
        {
            venue.open_orders.push(VenueOrder {
                symbol: o.symbol,
                client_order_id: o.order_link_id,
            });
        }
        for x in rest
            .executions(category, s, since_ms.get(s).copied(), PATIENCE)
            .await
            .map_err(|e| format!("fills of {s}: {e}"))?
        {
            if !x.is_trade() {
                continue;
            }
            venue.trades.push(VenueTrade {
                symbol: x.symbol,
                trade_id: exec_trade_id(&x.exec_id),
                order_id: x.order_id,
                client_order_id: (!x.order_link_id.is_empty()).then_some(x.order_link_id),
                buy: x.side == Side::Buy,
                qty: x.exec_qty,
                price: x.exec_price,
                // Bybit's `execFee` is positive when charged, in `feeCurrency` (spot) or
                // the settle coin (derivatives: left empty by the list, so the quote).
                commission: x.exec_fee.unwrap_or_default(),
                commission_asset: x.fee_currency,
            });
        }
        if category.has_positions() {
            let list = rest
                .positions(category, s, PATIENCE)
                .await
                .map_err(|e| format!("positions of {s}: {e}"))?;
            venue
                .positions
                .get_or_insert_with(BTreeMap::new)
                .extend(super::updates::venue_positions(&list));
            venue.hedge.extend(super::updates::hedge_symbols(&list));
        }
    }
    let wallet = rest
        .wallet(PATIENCE)
        .await
        .map_err(|e| format!("wallet: {e}"))?;
    venue.account = wallet
        .first()
        .map(|a| a.account_type.clone())
        .unwrap_or_default();
    venue.balances = wallet
        .iter()
        .flat_map(|a| a.coin.iter())
        .map(|c| (c.coin.clone(), c.wallet_balance.unwrap_or_default()))
        .collect();
    Ok((markets, venue))
}
