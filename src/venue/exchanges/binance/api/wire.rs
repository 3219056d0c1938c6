//! The REST and WebSocket messages of Binance spot that pit uses, field for field as
//! rest-api.md, web-socket-api.md and user-data-stream.md print them. Every type is both
//! `Serialize` and `Deserialize`: the live client parses exactly what `pit emulate binance`
//! writes. Prices and quantities travel as strings and are `rust_decimal::Decimal` here,
//! never floats. Unknown fields are ignored (Binance adds fields over time).

use super::errors::ApiError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Order side (enums.md, "Order side").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Side {
    Buy,
    Sell,
}

/// Order types (enums.md, "Order types"). pit sends LIMIT, LIMIT_MAKER and MARKET; the
/// others can appear on orders pit did not place (reconciliation shows them as external).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    Limit,
    Market,
    StopLoss,
    StopLossLimit,
    TakeProfit,
    TakeProfitLimit,
    LimitMaker,
}

/// Time in force (enums.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    #[serde(rename = "GTC")]
    Gtc,
    #[serde(rename = "IOC")]
    Ioc,
    #[serde(rename = "FOK")]
    Fok,
}

/// Order status (enums.md, "Order status").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    New,
    PendingNew,
    PartiallyFilled,
    Filled,
    Canceled,
    PendingCancel,
    Rejected,
    Expired,
    ExpiredInMatch,
}

impl OrderStatus {
    /// Whether the order can still trade.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::New
                | OrderStatus::PendingNew
                | OrderStatus::PartiallyFilled
                | OrderStatus::PendingCancel
        )
    }
}

/// Execution types of `executionReport` (enums.md, "Execution types").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionType {
    New,
    Canceled,
    Replaced,
    Rejected,
    Trade,
    Expired,
    TradePrevention,
}

/// `newOrderRespType` (enums.md): pit asks for FULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderRespType {
    Ack,
    Result,
    Full,
}

// ---------------------------------------------------------------------------------------
// Requests (query-string / form parameters, before `recvWindow`, `timestamp`, `signature`).

/// `POST /api/v3/order` parameters (rest-api.md, "New order (TRADE)").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderParams {
    pub symbol: String,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<TimeInForce>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote_order_qty: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    /// Our client order id: "A unique id among open orders."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_client_order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_order_resp_type: Option<OrderRespType>,
}

/// `DELETE /api/v3/order` and `GET /api/v3/order` parameters: by `orderId` or
/// `origClientOrderId` (rest-api.md, "Cancel order", "Query order").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRef {
    pub symbol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orig_client_order_id: Option<String>,
}

/// `symbol` alone: `DELETE /api/v3/openOrders`, `GET /api/v3/openOrders` (symbol optional
/// there), `GET /api/v3/exchangeInfo`, `GET /api/v3/depth` (with `limit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolParam {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
}

/// `GET /api/v3/myTrades` parameters (rest-api.md, "Account trade list").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyTradesParams {
    pub symbol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    /// "TradeId to fetch from."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_id: Option<u64>,
    /// "Default: 500; Maximum: 1000."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

// ---------------------------------------------------------------------------------------
// REST responses.

/// `GET /api/v3/time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    pub server_time: i64,
}

/// One fill in a FULL new-order response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFill {
    pub price: Decimal,
    pub qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub trade_id: u64,
}

/// `POST /api/v3/order` response: ACK has the first five fields, RESULT adds the order's
/// state, FULL adds `fills`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderResponse {
    pub symbol: String,
    pub order_id: u64,
    /// -1 unless part of an order list.
    pub order_list_id: i64,
    pub client_order_id: String,
    pub transact_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orig_qty: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executed_qty: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orig_quote_order_qty: Option<Decimal>,
    /// Binance's spelling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cummulative_quote_qty: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OrderStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<TimeInForce>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<OrderType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side: Option<Side>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_trade_prevention_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fills: Vec<OrderFill>,
}

/// `DELETE /api/v3/order` response, and each order entry of `DELETE /api/v3/openOrders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelResponse {
    pub symbol: String,
    pub orig_client_order_id: String,
    pub order_id: u64,
    pub order_list_id: i64,
    /// The cancel's own id.
    pub client_order_id: String,
    #[serde(default)]
    pub transact_time: i64,
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    #[serde(default)]
    pub orig_quote_order_qty: Decimal,
    pub cummulative_quote_qty: Decimal,
    pub status: OrderStatus,
    pub time_in_force: TimeInForce,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub side: Side,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_trade_prevention_mode: Option<String>,
}

/// One element of the `DELETE /api/v3/openOrders` answer: an order, or an order list
/// (kept as JSON: pit places no order lists).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CancelAllEntry {
    Order(CancelResponse),
    OrderList(Value),
}

/// `GET /api/v3/order` and each element of `GET /api/v3/openOrders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueriedOrder {
    pub symbol: String,
    pub order_id: u64,
    pub order_list_id: i64,
    pub client_order_id: String,
    pub price: Decimal,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    pub cummulative_quote_qty: Decimal,
    pub status: OrderStatus,
    pub time_in_force: TimeInForce,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub side: Side,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iceberg_qty: Option<Decimal>,
    pub time: i64,
    pub update_time: i64,
    pub is_working: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_time: Option<i64>,
    #[serde(default)]
    pub orig_quote_order_qty: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_trade_prevention_mode: Option<String>,
}

/// An asset's balance in `GET /api/v3/account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub asset: String,
    pub free: Decimal,
    pub locked: Decimal,
}

/// `commissionRates` of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionRates {
    pub maker: Decimal,
    pub taker: Decimal,
    pub buyer: Decimal,
    pub seller: Decimal,
}

/// `GET /api/v3/account` (rest-api.md, "Account information (USER_DATA)").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(default)]
    pub maker_commission: i64,
    #[serde(default)]
    pub taker_commission: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_rates: Option<CommissionRates>,
    pub can_trade: bool,
    #[serde(default)]
    pub can_withdraw: bool,
    #[serde(default)]
    pub can_deposit: bool,
    pub update_time: i64,
    pub account_type: String,
    pub balances: Vec<Balance>,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The account id pit shows in its status bar.
    #[serde(default)]
    pub uid: u64,
}

/// One element of `GET /api/v3/myTrades`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MyTrade {
    pub symbol: String,
    pub id: u64,
    pub order_id: u64,
    pub order_list_id: i64,
    pub price: Decimal,
    pub qty: Decimal,
    pub quote_qty: Decimal,
    pub commission: Decimal,
    pub commission_asset: String,
    pub time: i64,
    pub is_buyer: bool,
    pub is_maker: bool,
    pub is_best_match: bool,
}

/// A rate limit of `exchangeInfo` (and, with `count`, of WebSocket API responses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// REQUEST_WEIGHT, ORDERS or RAW_REQUESTS.
    pub rate_limit_type: String,
    /// SECOND, MINUTE or DAY.
    pub interval: String,
    pub interval_num: u32,
    pub limit: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// One symbol of `exchangeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SymbolInfo {
    pub symbol: String,
    /// TRADING, END_OF_DAY, HALT, BREAK, CANCEL_ONLY.
    pub status: String,
    pub base_asset: String,
    #[serde(default)]
    pub base_asset_precision: u32,
    pub quote_asset: String,
    #[serde(default)]
    pub quote_asset_precision: u32,
    #[serde(default)]
    pub order_types: Vec<String>,
    #[serde(default)]
    pub is_spot_trading_allowed: bool,
    pub filters: Vec<SymbolFilter>,
}

/// `GET /api/v3/exchangeInfo` (rest-api.md, "Exchange information").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfo {
    pub timezone: String,
    pub server_time: i64,
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    #[serde(default)]
    pub exchange_filters: Vec<Value>,
    pub symbols: Vec<SymbolInfo>,
}

/// `GET /api/v3/depth` (rest-api.md, "Order book"): levels as `[price, qty]` strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DepthSnapshot {
    pub last_update_id: u64,
    pub bids: Vec<[Decimal; 2]>,
    pub asks: Vec<[Decimal; 2]>,
}

// ---------------------------------------------------------------------------------------
// WebSocket API (web-socket-api.md, "Request format", "Response format", "Event format").

/// A request frame: `{"id", "method", "params"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WsRequest {
    pub id: Value,
    pub method: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub params: serde_json::Map<String, Value>,
}

/// A response frame: `result` on success, `error` on failure, `status` as in HTTP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsResponse {
    pub id: Value,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ApiError>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<RateLimit>,
}

/// The result of `userDataStream.subscribe` / `userDataStream.subscribe.signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeResult {
    pub subscription_id: u64,
}

/// An event frame: `{"subscriptionId": 0, "event": {...}}`. `serverShutdown` comes without
/// a `subscriptionId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<u64>,
    pub event: UserEvent,
}

/// A user data stream event (user-data-stream.md), tagged by `e`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "e")]
pub enum UserEvent {
    #[serde(rename = "executionReport")]
    ExecutionReport(Box<ExecutionReport>),
    #[serde(rename = "outboundAccountPosition")]
    AccountPosition(AccountPosition),
    #[serde(rename = "balanceUpdate")]
    BalanceUpdate(BalanceUpdate),
    /// "sent when ... the subscription is stopped via `userDataStream.unsubscribe`" (and on
    /// logout / token expiry): the stream has ended; resubscribe and reconcile.
    #[serde(rename = "eventStreamTerminated")]
    StreamTerminated {
        #[serde(rename = "E")]
        event_time: i64,
    },
    /// web-socket-api.md, "Server Shutdown": reconnect as soon as possible.
    #[serde(rename = "serverShutdown")]
    ServerShutdown {
        #[serde(rename = "E")]
        event_time: i64,
    },
    /// externalLockUpdate, listStatus, ...: not used by pit.
    #[serde(other)]
    Other,
}

/// `executionReport` (user-data-stream.md, "Order Update"), with Binance's field letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionReport {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "c")]
    pub client_order_id: String,
    #[serde(rename = "S")]
    pub side: Side,
    #[serde(rename = "o")]
    pub order_type: OrderType,
    #[serde(rename = "f")]
    pub time_in_force: TimeInForce,
    #[serde(rename = "q")]
    pub quantity: Decimal,
    #[serde(rename = "p")]
    pub price: Decimal,
    #[serde(rename = "P")]
    pub stop_price: Decimal,
    #[serde(rename = "F")]
    pub iceberg_qty: Decimal,
    #[serde(rename = "g")]
    pub order_list_id: i64,
    /// "Original client order ID; This is the ID of the order being canceled" (empty
    /// otherwise). On a cancel, `c` is the cancel's id and `C` our order's.
    #[serde(rename = "C")]
    pub orig_client_order_id: String,
    #[serde(rename = "x")]
    pub execution_type: ExecutionType,
    #[serde(rename = "X")]
    pub order_status: OrderStatus,
    /// "NONE" or the reject reason.
    #[serde(rename = "r")]
    pub reject_reason: String,
    #[serde(rename = "i")]
    pub order_id: u64,
    #[serde(rename = "l")]
    pub last_qty: Decimal,
    #[serde(rename = "z")]
    pub cumulative_qty: Decimal,
    #[serde(rename = "L")]
    pub last_price: Decimal,
    #[serde(rename = "n")]
    pub commission: Decimal,
    #[serde(rename = "N")]
    pub commission_asset: Option<String>,
    #[serde(rename = "T")]
    pub transaction_time: i64,
    /// -1 unless this report is a trade.
    #[serde(rename = "t")]
    pub trade_id: i64,
    #[serde(rename = "I", default)]
    pub execution_id: u64,
    #[serde(rename = "w")]
    pub is_working: bool,
    #[serde(rename = "m")]
    pub is_maker: bool,
    #[serde(rename = "O")]
    pub order_time: i64,
    #[serde(rename = "Z")]
    pub cumulative_quote_qty: Decimal,
    #[serde(rename = "Y")]
    pub last_quote_qty: Decimal,
    #[serde(rename = "Q")]
    pub quote_order_qty: Decimal,
    #[serde(rename = "W", default, skip_serializing_if = "Option::is_none")]
    pub working_time: Option<i64>,
    #[serde(rename = "V", default, skip_serializing_if = "Option::is_none")]
    pub self_trade_prevention_mode: Option<String>,
    /// Expiry reason, when the order expired.
    #[serde(rename = "eR", default, skip_serializing_if = "Option::is_none")]
    pub expiry_reason: Option<String>,
}

/// `outboundAccountPosition`: the balances that may have changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPosition {
    #[serde(rename = "E")]
    pub event_time: i64,
    /// "Time of last account update".
    #[serde(rename = "u")]
    pub last_update: i64,
    #[serde(rename = "B")]
    pub balances: Vec<PositionBalance>,
}

/// A balance in `outboundAccountPosition`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionBalance {
    #[serde(rename = "a")]
    pub asset: String,
    #[serde(rename = "f")]
    pub free: Decimal,
    #[serde(rename = "l")]
    pub locked: Decimal,
}

/// `balanceUpdate`: a deposit, withdrawal or transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceUpdate {
    #[serde(rename = "E")]
    pub event_time: i64,
    #[serde(rename = "a")]
    pub asset: String,
    #[serde(rename = "d")]
    pub delta: Decimal,
    #[serde(rename = "T")]
    pub clear_time: i64,
}

/// One entry of a symbol's `filters` array. Filters pit does not check are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "filterType")]
pub enum SymbolFilter {
    #[serde(rename = "PRICE_FILTER", rename_all = "camelCase")]
    PriceFilter {
        min_price: Decimal,
        max_price: Decimal,
        tick_size: Decimal,
    },
    #[serde(rename = "LOT_SIZE", rename_all = "camelCase")]
    LotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MARKET_LOT_SIZE", rename_all = "camelCase")]
    MarketLotSize {
        min_qty: Decimal,
        max_qty: Decimal,
        step_size: Decimal,
    },
    #[serde(rename = "MIN_NOTIONAL", rename_all = "camelCase")]
    MinNotional {
        min_notional: Decimal,
        #[serde(default)]
        apply_to_market: bool,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(rename = "NOTIONAL", rename_all = "camelCase")]
    Notional {
        min_notional: Decimal,
        #[serde(default)]
        apply_min_to_market: bool,
        max_notional: Decimal,
        #[serde(default)]
        apply_max_to_market: bool,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(rename = "PERCENT_PRICE", rename_all = "camelCase")]
    PercentPrice {
        multiplier_up: Decimal,
        multiplier_down: Decimal,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(rename = "PERCENT_PRICE_BY_SIDE", rename_all = "camelCase")]
    PercentPriceBySide {
        bid_multiplier_up: Decimal,
        bid_multiplier_down: Decimal,
        ask_multiplier_up: Decimal,
        ask_multiplier_down: Decimal,
        #[serde(default)]
        avg_price_mins: u32,
    },
    #[serde(rename = "MAX_NUM_ORDERS", rename_all = "camelCase")]
    MaxNumOrders { max_num_orders: u32 },
    /// ICEBERG_PARTS, MAX_NUM_ALGO_ORDERS, TRAILING_DELTA, MAX_POSITION, ...: not checked
    /// by pit (see [`crate::domain::filters`] for why each).
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_documented_full_order_response_parses() {
        // rest-api.md, "New order (TRADE)", Response - FULL (first two fills).
        let r: NewOrderResponse = serde_json::from_str(
            r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,
            "clientOrderId":"6gCrw2kRUAF9CvJDGP16IP","transactTime":1507725176595,
            "price":"0.00000000","origQty":"10.00000000","executedQty":"10.00000000",
            "origQuoteOrderQty":"0.000000","cummulativeQuoteQty":"10.00000000",
            "status":"FILLED","timeInForce":"GTC","type":"MARKET","side":"SELL",
            "workingTime":1507725176595,"selfTradePreventionMode":"NONE",
            "fills":[{"price":"4000.00000000","qty":"1.00000000","commission":"4.00000000",
            "commissionAsset":"USDT","tradeId":56},{"price":"3999.00000000","qty":"5.00000000",
            "commission":"19.99500000","commissionAsset":"USDT","tradeId":57}]}"#,
        )
        .unwrap();
        assert_eq!(r.status, Some(OrderStatus::Filled));
        assert_eq!(r.order_type, Some(OrderType::Market));
        assert_eq!(r.fills.len(), 2);
        assert_eq!(r.fills[1].commission, dec!(19.995));
        assert_eq!(r.fills[1].trade_id, 57);
        // And it writes back what it read (so the emulator's answers parse the same).
        let again: NewOrderResponse =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(again, r);
        // An ACK response has just the first five fields.
        let ack: NewOrderResponse = serde_json::from_str(
            r#"{"symbol":"BTCUSDT","orderId":28,"orderListId":-1,"clientOrderId":"x","transactTime":1}"#,
        )
        .unwrap();
        assert_eq!(ack.status, None);
        assert!(ack.fills.is_empty());
    }

    #[test]
    fn the_documented_execution_report_parses() {
        // user-data-stream.md, "Order Update", as delivered over the WebSocket API.
        let e: WsEvent = serde_json::from_str(
            r#"{"subscriptionId":0,"event":{"e":"executionReport","E":1499405658658,
            "s":"ETHBTC","c":"mUvoqJxFIILMdfAW5iGSOW","S":"BUY","o":"LIMIT","f":"GTC",
            "q":"1.00000000","p":"0.10264410","P":"0.00000000","F":"0.00000000","g":-1,
            "C":"","x":"NEW","X":"NEW","r":"NONE","i":4293153,"l":"0.00000000",
            "z":"0.00000000","L":"0.00000000","n":"0","N":null,"T":1499405658657,"t":-1,
            "v":3,"I":8641984,"w":true,"m":false,"M":false,"O":1499405658657,
            "Z":"0.00000000","Y":"0.00000000","Q":"0.00000000","W":1499405658657,"V":"NONE"}}"#,
        )
        .unwrap();
        assert_eq!(e.subscription_id, Some(0));
        let UserEvent::ExecutionReport(r) = &e.event else {
            panic!("not an executionReport: {e:?}")
        };
        assert_eq!(r.client_order_id, "mUvoqJxFIILMdfAW5iGSOW");
        assert_eq!(r.orig_client_order_id, "");
        assert_eq!(r.execution_type, ExecutionType::New);
        assert_eq!(r.price, dec!(0.10264410));
        assert_eq!(r.commission_asset, None);
        assert_eq!(r.trade_id, -1);
        let again: WsEvent = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(again, e);
    }

    #[test]
    fn account_events_and_unknown_events_parse() {
        let e: WsEvent = serde_json::from_str(
            r#"{"subscriptionId":0,"event":{"e":"outboundAccountPosition","E":1564034571105,
            "u":1564034571073,"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}]}}"#,
        )
        .unwrap();
        let UserEvent::AccountPosition(p) = e.event else {
            panic!()
        };
        assert_eq!(p.balances[0].free, dec!(10000));
        let e: WsEvent = serde_json::from_str(
            r#"{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1573200697110,"a":"BTC",
            "d":"100.00000000","T":1573200697068}}"#,
        )
        .unwrap();
        assert!(
            matches!(e.event, UserEvent::BalanceUpdate(BalanceUpdate { delta, .. }) if delta == dec!(100))
        );
        let e: WsEvent = serde_json::from_str(
            r#"{"subscriptionId":0,"event":{"e":"eventStreamTerminated","E":1728973001334}}"#,
        )
        .unwrap();
        assert_eq!(
            e.event,
            UserEvent::StreamTerminated {
                event_time: 1728973001334
            }
        );
        let e: WsEvent = serde_json::from_str(
            r#"{"event":{"e":"externalLockUpdate","E":1581557507324,"a":"NEO","d":"10.00000000","T":1581557507268}}"#,
        )
        .unwrap();
        assert_eq!(e.event, UserEvent::Other);
    }

    #[test]
    fn new_order_params_encode_in_the_documented_order() {
        let p = NewOrderParams {
            symbol: "LTCBTC".into(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            quantity: Some(dec!(1)),
            quote_order_qty: None,
            price: Some(dec!(0.1)),
            new_client_order_id: None,
            new_order_resp_type: None,
        };
        let q = serde_urlencoded::to_string(&p).unwrap();
        assert_eq!(
            q,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        );
        let back: NewOrderParams = serde_urlencoded::from_str(&q).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn account_trades_and_queried_orders_parse_the_documented_examples() {
        let a: Account = serde_json::from_str(
            r#"{"makerCommission":15,"takerCommission":15,"buyerCommission":0,"sellerCommission":0,
            "commissionRates":{"maker":"0.00150000","taker":"0.00150000","buyer":"0.00000000","seller":"0.00000000"},
            "canTrade":true,"canWithdraw":true,"canDeposit":true,"brokered":false,
            "requireSelfTradePrevention":false,"preventSor":false,"updateTime":123456789,
            "accountType":"SPOT","balances":[{"asset":"BTC","free":"4723846.89208129","locked":"0.00000000"}],
            "permissions":["SPOT"],"uid":354937868}"#,
        )
        .unwrap();
        assert_eq!(a.uid, 354937868);
        assert_eq!(a.balances[0].free, dec!(4723846.89208129));
        let t: Vec<MyTrade> = serde_json::from_str(
            r#"[{"symbol":"BNBBTC","id":28457,"orderId":100234,"orderListId":-1,"price":"4.00000100",
            "qty":"12.00000000","quoteQty":"48.000012","commission":"10.10000000","commissionAsset":"BNB",
            "time":1499865549590,"isBuyer":true,"isMaker":false,"isBestMatch":true}]"#,
        )
        .unwrap();
        assert_eq!(t[0].quote_qty, dec!(48.000012));
        let o: QueriedOrder = serde_json::from_str(
            r#"{"symbol":"LTCBTC","orderId":1,"orderListId":-1,"clientOrderId":"myOrder1","price":"0.1",
            "origQty":"1.0","executedQty":"0.0","cummulativeQuoteQty":"0.0","status":"NEW",
            "timeInForce":"GTC","type":"LIMIT","side":"BUY","stopPrice":"0.0","icebergQty":"0.0",
            "time":1499827319559,"updateTime":1499827319559,"isWorking":true,"workingTime":1499827319559,
            "origQuoteOrderQty":"0.000000","selfTradePreventionMode":"NONE"}"#,
        )
        .unwrap();
        assert!(o.status.is_open());
        let c: Vec<CancelAllEntry> = serde_json::from_str(
            r#"[{"symbol":"BTCUSDT","origClientOrderId":"E6APeyTJvkMvLMYMqu1KQ4","orderId":11,
            "orderListId":-1,"clientOrderId":"pXLV6Hz6mprAcVYpVMTGgx","transactTime":1684804350068,
            "price":"0.089853","origQty":"0.178622","executedQty":"0.000000","origQuoteOrderQty":"0.000000",
            "cummulativeQuoteQty":"0.000000","status":"CANCELED","timeInForce":"GTC","type":"LIMIT",
            "side":"BUY","selfTradePreventionMode":"NONE"},
            {"orderListId":1929,"contingencyType":"OCO","listStatusType":"ALL_DONE","orders":[]}]"#,
        )
        .unwrap();
        assert!(matches!(&c[0], CancelAllEntry::Order(o) if o.status == OrderStatus::Canceled));
        assert!(matches!(&c[1], CancelAllEntry::OrderList(_)));
    }

    #[test]
    fn ws_api_frames_parse() {
        let r: WsResponse =
            serde_json::from_str(r#"{"id":"d3df8a22","status":200,"result":{"subscriptionId":0}}"#)
                .unwrap();
        let s: SubscribeResult = serde_json::from_value(r.result.unwrap()).unwrap();
        assert_eq!(s.subscription_id, 0);
        let r: WsResponse = serde_json::from_str(
            r#"{"id":1,"status":400,"error":{"code":-2010,"msg":"Account has insufficient balance for requested action."},
            "rateLimits":[{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":50,"count":13}]}"#,
        )
        .unwrap();
        assert_eq!(r.error.unwrap().code, -2010);
        assert_eq!(r.rate_limits[0].count, Some(13));
    }
}
