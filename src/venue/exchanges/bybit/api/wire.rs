//! The REST and private WebSocket messages of Bybit v5 that pit uses, field for field as
//! the v5 pages print them (<https://bybit-exchange.github.io/docs/v5/intro>): "Place
//! Order", "Cancel Order", "Cancel All Orders", "Get Open & Closed Orders", "Get Trade
//! History" (execution list), "Get Position Info", "Get Wallet Balance", "Get Instruments
//! Info", "Set Disconnect Cancel All", and the private stream ("Connect" → Authentication,
//! "Order", "Execution", "Position", "Dcp").
//!
//! Every type is `Serialize` and `Deserialize`, so the live client parses exactly what
//! `pit emulate bybit` writes. Prices and quantities travel as strings and are
//! `rust_decimal::Decimal` here, never floats; Bybit sends `""` for a number it has no
//! value for (e.g. `avgPrice` of an unfilled order, `leavesQty` in an option's `order`
//! message), which reads as `None`. Unknown fields are ignored (Bybit adds fields).

use super::errors::{ApiError, code};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, de::DeserializeOwned};
use serde_json::Value;

/// `category` (enum page, "category"). pit trades `spot` and `linear`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Spot,
    Linear,
    Inverse,
    Option,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Spot => "spot",
            Category::Linear => "linear",
            Category::Inverse => "inverse",
            Category::Option => "option",
        }
    }
    /// The category of `[live] category`, for the two pit trades.
    pub fn parse_traded(s: &str) -> Result<Category, String> {
        match s {
            "spot" => Ok(Category::Spot),
            "linear" => Ok(Category::Linear),
            other => Err(format!(
                "bybit category {other:?} is not traded by pit (spot or linear)"
            )),
        }
    }
    /// Derivatives keep a position at the venue; spot has balances only.
    pub fn has_positions(self) -> bool {
        !matches!(self, Category::Spot)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

/// `orderType`: "`Market`, `Limit`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderType {
    Market,
    Limit,
    /// Anything else an order pit did not place may carry (e.g. `UNKNOWN`).
    #[serde(other)]
    Other,
}

/// `timeInForce` (enum page): `GTC`, `IOC`, `FOK`, `PostOnly` ("If the order would be
/// filled immediately when submitted, it will be cancelled"), `RPI`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeInForce {
    #[serde(rename = "GTC")]
    Gtc,
    #[serde(rename = "IOC")]
    Ioc,
    #[serde(rename = "FOK")]
    Fok,
    PostOnly,
    #[serde(rename = "RPI")]
    Rpi,
    #[serde(other)]
    Other,
}

/// `orderStatus` (enum page): open `New`, `PartiallyFilled`, `Untriggered`; closed
/// `Rejected`, `PartiallyFilledCanceled` ("Only spot"), `Filled`, `Cancelled` ("In
/// derivatives, orders with this status may have an executed qty"), `Triggered`,
/// `Deactivated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Untriggered,
    Rejected,
    PartiallyFilledCanceled,
    Filled,
    Cancelled,
    Triggered,
    Deactivated,
}

impl OrderStatus {
    /// Whether the order can still trade (the page's "open status", plus `Triggered`, the
    /// "instantaneous state" on the way to `New`).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::New
                | OrderStatus::PartiallyFilled
                | OrderStatus::Untriggered
                | OrderStatus::Triggered
        )
    }
}

/// A decimal Bybit may send as `""` (no value) or leave out.
pub fn opt_dec<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        S(String),
        D(Decimal),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::D(v)) => Ok(Some(v)),
        Some(N::S(s)) if s.trim().is_empty() => Ok(None),
        Some(N::S(s)) => s
            .trim()
            .parse::<Decimal>()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("bad decimal {s:?}: {e}"))),
    }
}

/// A millisecond timestamp Bybit sends as a string (`"createdTime": "1684738540559"`) or a
/// number (`"creationTime": 1672364262474`); `""` reads as `None`.
pub fn opt_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        U(u64),
        S(String),
    }
    match Option::<N>::deserialize(d)? {
        None => Ok(None),
        Some(N::U(v)) => Ok(Some(v)),
        Some(N::S(s)) if s.trim().is_empty() => Ok(None),
        Some(N::S(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("bad timestamp {s:?}: {e}"))),
    }
}

fn ms_str<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&v.to_string()),
        None => s.serialize_str(""),
    }
}

fn dec_str<S: serde::Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&v.to_string()),
        None => s.serialize_str(""),
    }
}

// ---------------------------------------------------------------------------------------
// The envelope.

/// Every v5 answer: `{"retCode":0,"retMsg":"OK","result":{...},"retExtInfo":{},"time":...}`.
/// `result` is kept raw until `retCode` says what it is (an error's is `{}`, a DCP
/// answer has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub ret_code: i64,
    #[serde(default)]
    pub ret_msg: String,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub result: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub ret_ext_info: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

impl Envelope {
    pub fn ok(result: Value, time: u64) -> Envelope {
        Envelope {
            ret_code: code::OK,
            ret_msg: "OK".into(),
            result,
            ret_ext_info: Value::Object(Default::default()),
            time: Some(time),
        }
    }
    pub fn error(code: i64, msg: &str, time: u64) -> Envelope {
        Envelope {
            ret_code: code,
            ret_msg: msg.into(),
            result: Value::Object(Default::default()),
            ret_ext_info: Value::Object(Default::default()),
            time: Some(time),
        }
    }
    /// The result as `T` when `retCode` is 0, else Bybit's error. A missing result reads
    /// as JSON `null` (for answers that have none, take `Value`).
    pub fn into_result<T: DeserializeOwned>(self) -> Result<Result<T, String>, ApiError> {
        if self.ret_code != code::OK {
            return Err(ApiError::new(self.ret_code, self.ret_msg));
        }
        Ok(serde_json::from_value(self.result).map_err(|e| e.to_string()))
    }
}

// ---------------------------------------------------------------------------------------
// Requests: JSON bodies of POSTs, query strings of GETs.

/// `POST /v5/order/create` ("Place Order").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder {
    pub category: Category,
    pub symbol: String,
    pub side: Side,
    pub order_type: OrderType,
    /// "Order quantity"; spot market orders: see `market_unit`.
    pub qty: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<TimeInForce>,
    /// Our client order id: "A max of 36 characters. Combinations of numbers, letters
    /// (upper and lower cases), dashes, and underscores are supported", "always unique".
    pub order_link_id: String,
    /// "Valid for `linear`, `inverse` & `option`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_only: Option<bool>,
    /// Spot market orders: "`baseCoin`" or "`quoteCoin`" (a spot market buy is by value
    /// "by default"; pit always sends `baseCoin` so `qty` means the same everywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_unit: Option<String>,
    /// `0`: one-way mode (pit's only mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_idx: Option<u8>,
}

/// Whether `id` is a valid `orderLinkId` by the Place Order page's rule.
pub fn valid_link_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 36
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The answer to create and cancel: `{"orderId": ..., "orderLinkId": ...}` ("The
/// acknowledgement ... indicates that the request was sucessfully accepted. This request
/// is asynchronous so please use the websocket to confirm the order status").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderIds {
    pub order_id: String,
    #[serde(default)]
    pub order_link_id: String,
}

/// `POST /v5/order/cancel`: "You must specify `orderId` or `orderLinkId`".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrder {
    pub category: Category,
    pub symbol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_link_id: Option<String>,
}

/// `POST /v5/order/cancel-all`: "for "linear" and "inverse", you must specify one of
/// those three params" (symbol, baseCoin, settleCoin); "category=_spot_, you can cancel
/// all spot open orders ... without passing other params".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAll {
    pub category: Category,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_coin: Option<String>,
}

/// Its answer: the cancelled orders and `success` ("1": success, "0": fail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAllResult {
    #[serde(default)]
    pub list: Vec<OrderIds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<String>,
}

/// `GET /v5/order/realtime` ("Get Open & Closed Orders"): by `orderLinkId` (then
/// "`openOnly` param will be ignored"), or the open orders of a symbol / settle coin
/// ("For **linear**, either `symbol`, `baseCoin`, `settleCoin` is **required**").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrdersQuery {
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_coin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_link_id: Option<String>,
    /// "[`1`, `50`]. Default: `20`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `GET /v5/execution/list` ("Get Trade History").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionsQuery {
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_link_id: Option<String>,
    /// "startTime and endTime are not passed, return 7 days by default".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<u64>,
    /// "If both are passed, the rule is endTime - startTime <= 7 days".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<u64>,
    /// "[`1`, `100`]. Default: `50`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `GET /v5/position/list` ("Get Position Info"): `symbol` or `settleCoin` for linear.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionsQuery {
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_coin: Option<String>,
}

/// `POST /v5/order/disconnected-cancel-all` ("Set Disconnect Cancel All"): `product`
/// "`OPTIONS`(default), `DERIVATIVES`, `SPOT`" and `timeWindow` "[`3`, `300`], unit:
/// second". pit always names the product: the default would protect options only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetDcp {
    pub product: DcpProduct,
    pub time_window: u32,
}

/// One product's entry of "Get DCP Info" (`GET /v5/account/query-dcp-info`,
/// <https://bybit-exchange.github.io/docs/v5/account/dcp-info>): `product` SPOT,
/// DERIVATIVES or OPTIONS, `dcpStatus` "ON", `timeWindow` in seconds as a string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DcpInfo {
    pub product: String,
    #[serde(default)]
    pub dcp_status: String,
    #[serde(default)]
    pub time_window: String,
}

/// The result of "Get DCP Info".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DcpInfos {
    #[serde(default)]
    pub dcp_infos: Vec<DcpInfo>,
}

impl DcpInfos {
    /// Whether Bybit reports DCP on for `product` with `window` seconds.
    pub fn confirms(&self, product: DcpProduct, window: u32) -> bool {
        let name = serde_json::to_value(product)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        self.dcp_infos.iter().any(|i| {
            i.product == name
                && i.dcp_status == "ON"
                && i.time_window.trim().parse::<u32>().ok() == Some(window)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DcpProduct {
    Options,
    Derivatives,
    Spot,
}

/// The documented range of `timeWindow`, in seconds.
pub const DCP_WINDOW_SECS: std::ops::RangeInclusive<u32> = 3..=300;

impl DcpProduct {
    /// The DCP product of a trading category.
    pub fn of(c: Category) -> DcpProduct {
        match c {
            Category::Spot => DcpProduct::Spot,
            Category::Linear | Category::Inverse => DcpProduct::Derivatives,
            Category::Option => DcpProduct::Options,
        }
    }
    /// The private stream's `dcp` topic that arms it (private "Dcp" page: "`dcp.future`,
    /// `dcp.spot`, `dcp.option`"; "for those private connections subscribing "dcp" topic
    /// are all dead, then DCP will be triggered").
    pub fn topic(self) -> &'static str {
        match self {
            DcpProduct::Options => "dcp.option",
            DcpProduct::Derivatives => "dcp.future",
            DcpProduct::Spot => "dcp.spot",
        }
    }
}

impl SetDcp {
    pub fn new(product: DcpProduct, time_window: u32) -> Result<SetDcp, String> {
        if !DCP_WINDOW_SECS.contains(&time_window) {
            return Err(format!(
                "bybit dead-man window {time_window}s is outside Bybit's 3..=300 s"
            ));
        }
        Ok(SetDcp {
            product,
            time_window,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Answers.

/// A page: `{"category": ..., "list": [...], "nextPageCursor": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default = "Vec::new")]
    pub list: Vec<T>,
    #[serde(default)]
    pub next_page_cursor: String,
}

/// An order, as `GET /v5/order/realtime` lists it and the private `order` topic pushes it
/// (the topic adds `category`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    pub order_id: String,
    #[serde(default)]
    pub order_link_id: String,
    pub symbol: String,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub price: Option<Decimal>,
    pub qty: Decimal,
    pub side: Side,
    pub order_status: OrderStatus,
    pub order_type: OrderType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<TimeInForce>,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub leaves_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub cum_exec_qty: Option<Decimal>,
    /// "returns `""` for those orders without avg price".
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub avg_price: Option<Decimal>,
    #[serde(default)]
    pub reduce_only: bool,
    #[serde(default)]
    pub reject_reason: String,
    #[serde(default)]
    pub cancel_type: String,
    #[serde(default, deserialize_with = "opt_ms", serialize_with = "ms_str")]
    pub created_time: Option<u64>,
    #[serde(default, deserialize_with = "opt_ms", serialize_with = "ms_str")]
    pub updated_time: Option<u64>,
}

/// A fill, as `GET /v5/execution/list` lists it and the private `execution` topic pushes
/// it. `execType` `Trade` is a fill; `Funding`, `AdlTrade`, `BustTrade`, `Settle` ... are
/// not our orders' trades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Execution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    pub symbol: String,
    pub order_id: String,
    #[serde(default)]
    pub order_link_id: String,
    pub side: Side,
    pub exec_id: String,
    pub exec_price: Decimal,
    pub exec_qty: Decimal,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub exec_fee: Option<Decimal>,
    #[serde(default)]
    pub fee_currency: String,
    pub exec_type: String,
    #[serde(default, deserialize_with = "opt_ms", serialize_with = "ms_str")]
    pub exec_time: Option<u64>,
    #[serde(default)]
    pub is_maker: bool,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub leaves_qty: Option<Decimal>,
    /// "Cross sequence ... please use seq + symbol to check unique".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
}

impl Execution {
    /// Whether this is a trade of an order ("execType" `Trade`).
    pub fn is_trade(&self) -> bool {
        self.exec_type == "Trade"
    }
}

/// A derivatives position (`GET /v5/position/list`, the `position` topic). `side` is
/// `Buy`, `Sell`, or `""` for an empty one-way position; `size` is always positive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    pub symbol: String,
    #[serde(default)]
    pub side: String,
    pub size: Decimal,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub avg_price: Option<Decimal>,
    #[serde(default)]
    pub position_idx: u8,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub mark_price: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub unrealised_pnl: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_ms", serialize_with = "ms_str")]
    pub updated_time: Option<u64>,
    /// "Cross sequence, used to associate each fill and each position update ... Returns
    /// `"-1"` if the symbol has never been traded ... Returns the seq updated by the last
    /// transaction when there are setting like leverage, risk limit"
    /// (<https://bybit-exchange.github.io/docs/v5/websocket/private/position>): the `seq`
    /// of the last fill the position holds (a number, or `"-1"` as a string).
    #[serde(
        default,
        deserialize_with = "opt_seq",
        skip_serializing_if = "Option::is_none"
    )]
    pub seq: Option<i64>,
}

/// A `seq` as a number or a string (the position page documents `"-1"`).
fn opt_seq<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seq {
        N(i64),
        S(String),
    }
    Ok(match Option::<Seq>::deserialize(d)? {
        Some(Seq::N(n)) => Some(n),
        Some(Seq::S(s)) => s.trim().parse().ok(),
        None => None,
    })
}

impl Position {
    /// The signed size: long positive, short negative.
    pub fn signed_size(&self) -> Decimal {
        match self.side.as_str() {
            "Sell" => -self.size,
            "Buy" => self.size,
            _ => Decimal::ZERO,
        }
    }
}

/// `GET /v5/account/wallet-balance?accountType=UNIFIED`: one account with its coins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletAccount {
    pub account_type: String,
    #[serde(default)]
    pub coin: Vec<CoinBalance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoinBalance {
    pub coin: String,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub wallet_balance: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub locked: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec", serialize_with = "dec_str")]
    pub equity: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletQuery {
    pub account_type: String,
}

/// An instrument of `GET /v5/market/instruments-info` with the filters pit checks before
/// sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instrument {
    pub symbol: String,
    #[serde(default)]
    pub status: String,
    /// "Base coin" and "Quote coin" of the instrument (spot: the assets a trade moves).
    #[serde(default)]
    pub base_coin: String,
    #[serde(default)]
    pub quote_coin: String,
    pub price_filter: PriceFilter,
    pub lot_size_filter: LotSizeFilter,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceFilter {
    pub tick_size: Decimal,
}

/// `lotSizeFilter`: linear has `qtyStep`, `minOrderQty`, `maxOrderQty`, `minNotionalValue`;
/// spot has `basePrecision`, `minOrderQty` ("deprecated, no longer check `minOrderQty`,
/// check `minOrderAmt` instead") and `minOrderAmt`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LotSizeFilter {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_dec"
    )]
    pub qty_step: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_dec"
    )]
    pub base_precision: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_dec"
    )]
    pub min_order_qty: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_dec"
    )]
    pub max_order_qty: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_dec"
    )]
    pub min_notional_value: Option<Decimal>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_dec"
    )]
    pub min_order_amt: Option<Decimal>,
}

/// The rules pit checks before an order leaves, read from an [`Instrument`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filters {
    pub tick: Decimal,
    pub step: Decimal,
    pub min_qty: Decimal,
    pub max_qty: Option<Decimal>,
    /// Minimum order value in the quote coin (linear `minNotionalValue`, spot
    /// `minOrderAmt`).
    pub min_notional: Decimal,
}

impl Instrument {
    pub fn filters(&self, category: Category) -> Result<Filters, String> {
        let l = &self.lot_size_filter;
        let step = match category {
            Category::Spot => l.base_precision.or(l.qty_step),
            _ => l.qty_step,
        }
        .ok_or_else(|| format!("bybit {}: no quantity step in lotSizeFilter", self.symbol))?;
        if step <= Decimal::ZERO || self.price_filter.tick_size <= Decimal::ZERO {
            return Err(format!("bybit {}: a step or tick of zero", self.symbol));
        }
        let (min_qty, min_notional) = match category {
            // Spot: "no longer check `minOrderQty`, check `minOrderAmt` instead".
            Category::Spot => (step, l.min_order_amt.unwrap_or_default()),
            _ => (
                l.min_order_qty.unwrap_or(step),
                l.min_notional_value.unwrap_or_default(),
            ),
        };
        Ok(Filters {
            tick: self.price_filter.tick_size,
            step,
            min_qty,
            max_qty: l.max_order_qty,
            min_notional,
        })
    }
}

impl Filters {
    /// Why an order of `qty` at `price` (`None`: market) would be refused, or `None`.
    pub fn check(&self, qty: Decimal, price: Option<Decimal>) -> Option<String> {
        if qty <= Decimal::ZERO || (qty % self.step) != Decimal::ZERO {
            return Some(format!(
                "quantity {qty} is not a multiple of the lot {}",
                self.step
            ));
        }
        if qty < self.min_qty {
            return Some(format!(
                "quantity {qty} is below the minimum {}",
                self.min_qty
            ));
        }
        if let Some(max) = self.max_qty
            && qty > max
        {
            return Some(format!("quantity {qty} is above the maximum {max}"));
        }
        if let Some(p) = price {
            if p <= Decimal::ZERO || (p % self.tick) != Decimal::ZERO {
                return Some(format!(
                    "price {p} is not a multiple of the tick {}",
                    self.tick
                ));
            }
            if qty * p < self.min_notional {
                return Some(format!(
                    "value {} is below the minimum order value {}",
                    qty * p,
                    self.min_notional
                ));
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// The private WebSocket (`wss://stream.bybit.com/v5/private`).

/// A request frame: `{"req_id": "10001", "op": "auth", "args": [api_key, expires,
/// signature]}`, `{"op": "subscribe", "args": ["order"]}`, `{"op": "ping"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WsOp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_id: Option<String>,
    pub op: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Value>,
}

impl WsOp {
    /// "Authentication": `expires` "is greater than your current timestamp"; the
    /// signature is hex HMAC-SHA256 over `GET/realtime{expires}` (see
    /// [`super::sign::Signer::ws_auth`]).
    pub fn auth(api_key: &str, expires_ms: u64, signature: String) -> WsOp {
        WsOp {
            req_id: None,
            op: "auth".into(),
            args: vec![api_key.into(), expires_ms.into(), signature.into()],
        }
    }
    pub fn subscribe(topics: &[&str]) -> WsOp {
        WsOp {
            req_id: None,
            op: "subscribe".into(),
            args: topics.iter().map(|t| Value::from(*t)).collect(),
        }
    }
    pub fn ping() -> WsOp {
        WsOp {
            req_id: None,
            op: "ping".into(),
            args: vec![],
        }
    }
}

/// The answer to an op: `{"success": true, "ret_msg": "", "op": "auth", "conn_id": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WsReply {
    #[serde(default)]
    pub success: bool,
    #[serde(default)]
    pub ret_msg: String,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub req_id: Option<String>,
}

/// A pushed message: `{"id": ..., "topic": "order", "creationTime": ..., "data": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WsPush {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub topic: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<u64>,
    pub data: Value,
}

/// What a private frame says.
#[derive(Debug, Clone, PartialEq)]
pub enum PrivateEvent {
    Orders(Vec<Order>),
    Executions(Vec<Execution>),
    Positions(Vec<Position>),
    /// An op's answer (auth, subscribe, pong).
    Reply(WsReply),
    /// A topic pit does not read (wallet, dcp, greeks ...).
    Other(String),
}

/// Reads one private-stream frame.
pub fn parse_private(text: &str) -> Result<PrivateEvent, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("bybit private frame: {e}"))?;
    if v.get("op").is_some() && v.get("topic").is_none() {
        return serde_json::from_value(v)
            .map(PrivateEvent::Reply)
            .map_err(|e| format!("bybit private reply: {e}"));
    }
    let push: WsPush =
        serde_json::from_value(v).map_err(|e| format!("bybit private frame: {e}"))?;
    let data = push.data;
    let err = |what: &str, e: serde_json::Error| format!("bybit {what} message: {e}");
    // The all-in-one topics (`order`) and the categorised ones (`order.spot`,
    // `order.linear`...) carry the same messages ("Private" → Order, Execution, Position).
    let kind = push.topic.split('.').next().unwrap_or_default();
    Ok(match kind {
        "order" => PrivateEvent::Orders(serde_json::from_value(data).map_err(|e| err("order", e))?),
        "execution" => {
            PrivateEvent::Executions(serde_json::from_value(data).map_err(|e| err("execution", e))?)
        }
        "position" => {
            PrivateEvent::Positions(serde_json::from_value(data).map_err(|e| err("position", e))?)
        }
        other => PrivateEvent::Other(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    //! The pages' examples, verbatim where they are complete.
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn place_order_body_is_the_documented_perp_close() {
        // "Perp close long position (one-way mode)" on the Place Order page.
        let doc = r#"{"category": "linear", "symbol": "BTCUSDT", "side": "Sell", "orderType": "Limit", "qty": "1", "price": "30000", "timeInForce": "GTC", "positionIdx": 0, "orderLinkId": "usdt-test-02", "reduceOnly": true}"#;
        let o: CreateOrder = serde_json::from_str(doc).unwrap();
        assert_eq!(
            o,
            CreateOrder {
                category: Category::Linear,
                symbol: "BTCUSDT".into(),
                side: Side::Sell,
                order_type: OrderType::Limit,
                qty: dec!(1),
                price: Some(dec!(30000)),
                time_in_force: Some(TimeInForce::Gtc),
                order_link_id: "usdt-test-02".into(),
                reduce_only: Some(true),
                market_unit: None,
                position_idx: Some(0),
            }
        );
        let ours: Value = serde_json::to_value(&o).unwrap();
        assert_eq!(ours, serde_json::from_str::<Value>(doc).unwrap());
        // Post-only is a time in force.
        let p = serde_json::to_value(TimeInForce::PostOnly).unwrap();
        assert_eq!(p, Value::from("PostOnly"));
    }

    #[test]
    fn link_ids_follow_the_documented_rule() {
        assert!(valid_link_id("usdt-test-02"));
        assert!(valid_link_id("pit_1_42"));
        assert!(!valid_link_id(""));
        assert!(!valid_link_id("has space"));
        assert!(!valid_link_id(&"x".repeat(37)));
        assert!(valid_link_id(&"x".repeat(36)));
    }

    #[test]
    fn create_and_cancel_answers_read() {
        let doc = r#"{"retCode":0,"retMsg":"OK","result":{"orderId":"1321003749386327552","orderLinkId":"spot-test-postonly"},"retExtInfo":{},"time":1672211918471}"#;
        let e: Envelope = serde_json::from_str(doc).unwrap();
        let ids: OrderIds = e.into_result().unwrap().unwrap();
        assert_eq!(ids.order_id, "1321003749386327552");
        assert_eq!(ids.order_link_id, "spot-test-postonly");
        let err = r#"{"retCode":110001,"retMsg":"Order does not exist","result":{},"retExtInfo":{},"time":1}"#;
        let e: Envelope = serde_json::from_str(err).unwrap();
        assert_eq!(
            e.into_result::<OrderIds>().unwrap_err(),
            ApiError::new(110001, "Order does not exist")
        );
        // DCP: `{"retCode": 0, "retMsg": "success"}`, no result at all.
        let e: Envelope = serde_json::from_str(r#"{"retCode": 0, "retMsg": "success"}"#).unwrap();
        assert_eq!(e.into_result::<Value>().unwrap().unwrap(), Value::Null);
    }

    #[test]
    fn cancel_all_answer_reads() {
        let doc = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"orderId":"1616024329462743808","orderLinkId":"1616024329462743809"},{"orderId":"1616024287544869632","orderLinkId":"1616024287544869633"}],"success":"1"},"retExtInfo":{},"time":1707381118116}"#;
        let r: CancelAllResult = serde_json::from_str::<Envelope>(doc)
            .unwrap()
            .into_result()
            .unwrap()
            .unwrap();
        assert_eq!(r.list.len(), 2);
        assert_eq!(r.list[1].order_link_id, "1616024287544869633");
        assert_eq!(r.success.as_deref(), Some("1"));
    }

    #[test]
    fn the_open_orders_example_reads() {
        let doc = r#"{"retCode":0,"retMsg":"OK","result":{"list":[{"orderId":"fd4300ae-7847-404e-b947-b46980a4d140","orderLinkId":"test-000005","blockTradeId":"","symbol":"ETHUSDT","price":"1600.00","qty":"0.10","side":"Buy","isLeverage":"","positionIdx":1,"orderStatus":"New","cancelType":"UNKNOWN","rejectReason":"EC_NoError","avgPrice":"0","leavesQty":"0.10","leavesValue":"160","cumExecQty":"0.00","cumExecValue":"0","cumExecFee":"0","timeInForce":"GTC","orderType":"Limit","stopOrderType":"UNKNOWN","orderIv":"","triggerPrice":"0.00","takeProfit":"2500.00","stopLoss":"1500.00","tpTriggerBy":"LastPrice","slTriggerBy":"LastPrice","triggerDirection":0,"triggerBy":"UNKNOWN","lastPriceOnCreated":"","reduceOnly":false,"closeOnTrigger":false,"smpType":"None","smpGroup":0,"smpOrderId":"","tpslMode":"Full","tpLimitPrice":"","slLimitPrice":"","placeType":"","createdTime":"1684738540559","updatedTime":"1684738540561","cumFeeDetail":{"MNT":"0.00242968"}}],"nextPageCursor":"page_args%3Dfd4300ae-7847-404e-b947-b46980a4d140%26symbol%3D6%26","category":"linear"},"retExtInfo":{},"time":1684765770483}"#;
        let p: Page<Order> = serde_json::from_str::<Envelope>(doc)
            .unwrap()
            .into_result()
            .unwrap()
            .unwrap();
        assert_eq!(p.category, Some(Category::Linear));
        let o = &p.list[0];
        assert_eq!(o.order_link_id, "test-000005");
        assert_eq!(o.price, Some(dec!(1600.00)));
        assert_eq!(o.leaves_qty, Some(dec!(0.10)));
        assert_eq!(o.order_status, OrderStatus::New);
        assert!(o.order_status.is_open());
        assert_eq!(o.created_time, Some(1684738540559));
        // What the emulator writes reads back the same.
        let again: Order = serde_json::from_value(serde_json::to_value(o).unwrap()).unwrap();
        assert_eq!(&again, o);
    }

    #[test]
    fn the_private_order_example_reads_with_empty_numbers() {
        let doc = r#"{"id":"5923240c6880ab-c59f-420b-9adb-3639adc9dd90","topic":"order","creationTime":1672364262474,"data":[{"symbol":"ETH-30DEC22-1400-C","orderId":"5cf98598-39a7-459e-97bf-76ca765ee020","side":"Sell","orderType":"Market","cancelType":"UNKNOWN","price":"72.5","qty":"1","orderIv":"","timeInForce":"IOC","orderStatus":"Filled","orderLinkId":"","lastPriceOnCreated":"","reduceOnly":false,"leavesQty":"","leavesValue":"","cumExecQty":"1","cumExecValue":"75","avgPrice":"75","blockTradeId":"","positionIdx":0,"cumExecFee":"0.358635","closedPnl":"0","createdTime":"1672364262444","updatedTime":"1672364262457","rejectReason":"EC_NoError","stopOrderType":"","tpslMode":"","triggerPrice":"","takeProfit":"","stopLoss":"","tpTriggerBy":"","slTriggerBy":"","tpLimitPrice":"","slLimitPrice":"","triggerDirection":0,"triggerBy":"","closeOnTrigger":false,"category":"option","placeType":"price","smpType":"None","smpGroup":0,"smpOrderId":"","feeCurrency":"","cumFeeDetail":{"MNT":"0.00242968"},"rpiTakerAccess":false,"rpiMatchedQty":"0"}]}"#;
        let PrivateEvent::Orders(os) = parse_private(doc).unwrap() else {
            panic!("not orders")
        };
        assert_eq!(os[0].leaves_qty, None);
        assert_eq!(os[0].cum_exec_qty, Some(dec!(1)));
        assert_eq!(os[0].order_status, OrderStatus::Filled);
        assert!(!os[0].order_status.is_open());
        assert_eq!(os[0].category, Some(Category::Option));
    }

    #[test]
    fn the_execution_examples_read() {
        let ws = r#"{"topic":"execution","id":"386825804_BTCUSDT_140612148849382","creationTime":1746270400355,"data":[{"category":"linear","symbol":"BTCUSDT","closedSize":"0.5","execFee":"26.3725275","execId":"0ab1bdf7-4219-438b-b30a-32ec863018f7","execPrice":"95900.1","execQty":"0.5","execType":"Trade","execValue":"47950.05","feeRate":"0.00055","tradeIv":"","markIv":"","blockTradeId":"","markPrice":"95901.48","indexPrice":"","underlyingPrice":"","leavesQty":"0","orderId":"9aac161b-8ed6-450d-9cab-c5cc67c21784","orderLinkId":"","orderPrice":"94942.5","orderQty":"0.5","orderType":"Market","stopOrderType":"UNKNOWN","side":"Sell","execTime":"1746270400353","isLeverage":"0","isMaker":false,"seq":140612148849382,"marketUnit":"","execPnl":"0.05","createType":"CreateByUser","extraFees":[{"feeCoin":"USDT","feeType":"GST","subFeeType":"IND_GST","feeRate":"0.0000675","fee":"0.006403779"}],"feeCurrency":"USDT"}]}"#;
        let PrivateEvent::Executions(xs) = parse_private(ws).unwrap() else {
            panic!("not executions")
        };
        assert_eq!(xs[0].exec_price, dec!(95900.1));
        assert_eq!(xs[0].exec_fee, Some(dec!(26.3725275)));
        assert_eq!(xs[0].exec_time, Some(1746270400353));
        assert!(xs[0].is_trade() && !xs[0].is_maker);
        // REST: extraFees is a string there, feeCurrency empty.
        let rest = r#"{"retCode":0,"retMsg":"OK","result":{"nextPageCursor":"132766%3A2%2C132766%3A2","category":"linear","list":[{"symbol":"ETHPERP","orderType":"Market","underlyingPrice":"","orderLinkId":"","side":"Buy","indexPrice":"","orderId":"8c065341-7b52-4ca9-ac2c-37e31ac55c94","stopOrderType":"UNKNOWN","leavesQty":"0","execTime":"1672282722429","feeCurrency":"","isMaker":false,"execFee":"0.071409","feeRate":"0.0006","execId":"e0cbe81d-0f18-5866-9415-cf319b5dab3b","tradeIv":"","blockTradeId":"","markPrice":"1183.54","execPrice":"1190.15","markIv":"","orderQty":"0.1","orderPrice":"1236.9","execValue":"119.015","execType":"Trade","execQty":"0.1","closedSize":"","extraFees":"","seq":4688002127}]},"retExtInfo":{},"time":1672283754510}"#;
        let p: Page<Execution> = serde_json::from_str::<Envelope>(rest)
            .unwrap()
            .into_result()
            .unwrap()
            .unwrap();
        assert_eq!(p.list[0].exec_qty, dec!(0.1));
        assert_eq!(p.list[0].seq, Some(4688002127));
        assert_eq!(p.next_page_cursor, "132766%3A2%2C132766%3A2");
    }

    #[test]
    fn positions_and_wallet_read() {
        let pos = r#"{"positionIdx":0,"riskId":1,"riskLimitValue":"150","symbol":"BTCUSD","side":"Sell","size":"300","avgPrice":"27464.50441675","positionValue":"0.01092319","tradeMode":0,"positionStatus":"Normal","autoAddMargin":1,"adlRankIndicator":2,"leverage":"10","breakEvenPrice":"93556.73034991","positionBalance":"0.00139186","markPrice":"28224.50","liqPrice":"","bustPrice":"999999.00","positionMM":"0.0000015","positionMMByMp":"0.0000015","positionIM":"0.00010923","positionIMByMp":"0.00010923","tpslMode":"Full","takeProfit":"0.00","stopLoss":"0.00","trailingStop":"0.00","unrealisedPnl":"-0.00029413","curRealisedPnl":"0.00013123","cumRealisedPnl":"-0.00096902","seq":5723621632,"isReduceOnly":false,"mmrSysUpdateTime":"","leverageSysUpdatedTime":"","sessionAvgPrice":"","createdTime":"1676538056258","updatedTime":"1697673600012"}"#;
        let p: Position = serde_json::from_str(pos).unwrap();
        assert_eq!(p.signed_size(), dec!(-300));
        assert_eq!(p.avg_price, Some(dec!(27464.50441675)));
        let empty: Position =
            serde_json::from_str(r#"{"symbol":"BTCUSDT","side":"","size":"0","avgPrice":""}"#)
                .unwrap();
        assert_eq!(empty.signed_size(), Decimal::ZERO);
        let w = r#"{"totalEquity":"3.31216591","accountType":"UNIFIED","coin":[{"availableToBorrow":"3","bonus":"0","accruedInterest":"0","availableToWithdraw":"0","totalOrderIM":"0","equity":"0","totalPositionMM":"0","usdValue":"0","spotHedgingQty":"0.01592413","unrealisedPnl":"0","collateralSwitch":true,"borrowAmount":"0.0","totalPositionIM":"0","walletBalance":"0","cumRealisedPnl":"0","locked":"0","marginCollateral":true,"coin":"BTC","spotBorrow":"0"}]}"#;
        let a: WalletAccount = serde_json::from_str(w).unwrap();
        assert_eq!(a.coin[0].coin, "BTC");
        assert_eq!(a.coin[0].wallet_balance, Some(Decimal::ZERO));
    }

    #[test]
    fn instrument_filters_check_tick_lot_and_minimum_value() {
        let linear = r#"{"symbol":"BTCUSDT","status":"Trading","priceFilter":{"minPrice":"0.10","maxPrice":"199999.80","tickSize":"0.10"},"lotSizeFilter":{"maxOrderQty":"1190.000","minOrderQty":"0.001","qtyStep":"0.001","postOnlyMaxOrderQty":"1190.000","maxMktOrderQty":"500.000","minNotionalValue":"5"}}"#;
        let i: Instrument = serde_json::from_str(linear).unwrap();
        let f = i.filters(Category::Linear).unwrap();
        assert_eq!(f.check(dec!(0.01), Some(dec!(60000.1))), None);
        assert!(
            f.check(dec!(0.0005), Some(dec!(60000)))
                .unwrap()
                .contains("lot")
        );
        assert!(
            f.check(dec!(0.01), Some(dec!(60000.05)))
                .unwrap()
                .contains("tick")
        );
        assert!(
            f.check(dec!(0.001), Some(dec!(1000)))
                .unwrap()
                .contains("minimum order value")
        );
        assert!(
            f.check(dec!(2000), Some(dec!(1)))
                .unwrap()
                .contains("maximum")
        );
        let spot = r#"{"symbol":"BTCUSDT","priceFilter":{"tickSize":"0.01"},"lotSizeFilter":{"basePrecision":"0.000001","quotePrecision":"0.00000001","minOrderQty":"0.000048","maxOrderQty":"71.73956243","minOrderAmt":"1","maxOrderAmt":"2000000"}}"#;
        let i: Instrument = serde_json::from_str(spot).unwrap();
        let f = i.filters(Category::Spot).unwrap();
        assert_eq!(f.step, dec!(0.000001));
        assert_eq!(f.min_notional, dec!(1));
        assert!(f.check(dec!(0.0001), Some(dec!(60000))).is_none());
        assert!(f.check(dec!(0.00001), Some(dec!(60000))).is_some());
        assert!(f.check(dec!(0.00001), Some(dec!(60))).is_some());
    }

    #[test]
    fn dcp_window_and_topic_follow_the_pages() {
        assert!(SetDcp::new(DcpProduct::Spot, 2).is_err());
        assert!(SetDcp::new(DcpProduct::Spot, 301).is_err());
        let d = SetDcp::new(DcpProduct::of(Category::Linear), 40).unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"product":"DERIVATIVES","timeWindow":40}"#
        );
        assert_eq!(DcpProduct::of(Category::Spot).topic(), "dcp.spot");
        assert_eq!(DcpProduct::of(Category::Linear).topic(), "dcp.future");
    }

    #[test]
    fn private_stream_frames() {
        let auth = WsOp::auth("key", 1662350400000, "sig".into());
        assert_eq!(
            serde_json::to_string(&auth).unwrap(),
            r#"{"op":"auth","args":["key",1662350400000,"sig"]}"#
        );
        assert_eq!(
            serde_json::to_string(&WsOp::subscribe(&["order", "execution"])).unwrap(),
            r#"{"op":"subscribe","args":["order","execution"]}"#
        );
        let ok = r#"{"success":true,"ret_msg":"","op":"auth","conn_id":"cejreaspqfh3sjdnldmg-p"}"#;
        let PrivateEvent::Reply(r) = parse_private(ok).unwrap() else {
            panic!("not a reply")
        };
        assert!(r.success && r.op == "auth");
        assert!(matches!(
            parse_private(r#"{"topic":"wallet","data":[]}"#).unwrap(),
            PrivateEvent::Other(t) if t == "wallet"
        ));
        assert!(parse_private("not json").is_err());
    }
}
