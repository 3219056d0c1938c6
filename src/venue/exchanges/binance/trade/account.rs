//! The account as Binance reports it, for a reconciliation: each symbol's base asset
//! (`GET /api/v3/exchangeInfo`), open orders (`GET /api/v3/openOrders`), the trades since
//! the first one the store knows (`GET /api/v3/myTrades`, paged by `fromId`), the client id
//! of each trade's order (`GET /api/v3/order` by `orderId`: myTrades does not carry it)
//! and the balances (`GET /api/v3/account`); rest-api.md, "Account endpoints".

use super::rest::Rest;
use crate::venue::live::reconcile::{Market, StoreSide, VenueOrder, VenueSide, VenueTrade};
use std::collections::BTreeMap;

/// What Binance says: each symbol's base asset (exchangeInfo), open orders, the trades
/// since the first one the store knows (paged by `fromId`, 1000 a page), the client id of
/// each trade's order, and the account's balances.
pub async fn fetch(
    rest: &Rest,
    symbols: &[String],
    store: &StoreSide,
) -> Result<(Vec<Market>, VenueSide), String> {
    use crate::venue::exchanges::binance::api::wire::{
        Account, ExchangeInfo, MyTrade, MyTradesParams, OrderRef, QueriedOrder, SymbolParam,
    };
    use crate::venue::exchanges::binance::trade::rest::Method;
    let mut markets = Vec::new();
    let mut venue = VenueSide::default();
    for s in symbols {
        let info: ExchangeInfo = rest
            .public(Method::Get, "/api/v3/exchangeInfo", &[("symbol", s)])
            .await
            .map_err(|e| format!("exchangeInfo {s}: {e}"))?;
        let base = info
            .symbols
            .first()
            .map(|i| i.base_asset.clone())
            .ok_or_else(|| format!("exchangeInfo does not list {s}"))?;
        markets.push(Market {
            symbol: s.clone(),
            base,
        });
        let open: Vec<QueriedOrder> = rest
            .signed(
                Method::Get,
                "/api/v3/openOrders",
                &SymbolParam {
                    symbol: Some(s.clone()),
                },
            )
            .await
            .map_err(|e| format!("open orders of {s}: {e}"))?;
        let mut names: BTreeMap<u64, String> = BTreeMap::new();
        for o in open {
            names.insert(o.order_id, o.client_order_id.clone());
            venue.open_orders.push(VenueOrder {
                symbol: o.symbol,
                client_order_id: o.client_order_id,
            });
        }
        let first = store
            .fills
            .iter()
            .filter(|f| &f.symbol == s)
            .map(|f| f.trade_id)
            .min();
        let mut from_id = first;
        loop {
            let page: Vec<MyTrade> = rest
                .signed(
                    Method::Get,
                    "/api/v3/myTrades",
                    &MyTradesParams {
                        symbol: s.clone(),
                        order_id: None,
                        start_time: None,
                        end_time: None,
                        from_id,
                        limit: Some(1000),
                    },
                )
                .await
                .map_err(|e| format!("trades of {s}: {e}"))?;
            let n = page.len();
            from_id = page.iter().map(|t| t.id + 1).max().or(from_id);
            for t in page {
                if let std::collections::btree_map::Entry::Vacant(slot) = names.entry(t.order_id) {
                    let q: Result<QueriedOrder, _> = rest
                        .signed(
                            Method::Get,
                            "/api/v3/order",
                            &OrderRef {
                                symbol: s.clone(),
                                order_id: Some(t.order_id),
                                orig_client_order_id: None,
                            },
                        )
                        .await;
                    if let Ok(o) = q {
                        slot.insert(o.client_order_id);
                    }
                }
                venue.trades.push(VenueTrade {
                    client_order_id: names.get(&t.order_id).cloned(),
                    symbol: t.symbol,
                    trade_id: t.id,
                    order_id: t.order_id.to_string(),
                    buy: t.is_buyer,
                    qty: t.qty,
                    price: t.price,
                    commission: t.commission,
                    commission_asset: t.commission_asset,
                });
            }
            // Without a first id the newest page is enough (no trade of pit to page from).
            if n < 1000 || first.is_none() {
                break;
            }
        }
    }
    let account: Account = rest
        .signed(Method::Get, "/api/v3/account", &())
        .await
        .map_err(|e| format!("account: {e}"))?;
    venue.account = account.uid.to_string();
    venue.balances = account
        .balances
        .into_iter()
        .map(|b| (b.asset, b.free + b.locked))
        .collect();
    Ok((markets, venue))
}
