//! Kraken spot's trading messages as documented, read into the shapes pit's connection
//! task works with:
//!
//! * the REST envelope `{"error":[...],"result":{...}}` (every page of
//!   <https://docs.kraken.com/api-reference/>: an empty `error` list is success, else its
//!   strings such as `EOrder:Insufficient funds`);
//! * "Add Order" (`POST /0/private/AddOrder`,
//!   <https://docs.kraken.com/api-reference/trading/add-order>): `ordertype`, `type`,
//!   `volume`, `pair`, `price`, `oflags` (`post`: post-only; `fciq`: "prefer fee in quote
//!   currency"), `timeinforce` (`GTC`, `IOC`), `cl_ord_id`; the answer's `txid`;
//! * "Cancel Order" (`cl_ord_id` or `txid`; answer `count`), "Cancel All Orders"
//!   (`count`), "Cancel All Orders After X" (`currentTime`, `triggerTime`);
//! * an order as "Get Open Orders" / "Get Closed Orders" / "Query Orders Info" list it
//!   (`status` `pending`, `open`, `closed`, `canceled`, `expired`; `vol`, `vol_exec`,
//!   `descr.pair`, `descr.type`; `trades` with `trades=true`);
//! * a trade as "Get Trades History" / "Query Trades Info" list it (`ordertxid`, `pair`,
//!   `time`, `type`, `price`, `fee`, `vol`, `trade_id`, `maker`);
//! * "Get Account Balance", "Get Tradable Asset Pairs" (`tick_size`, `pair_decimals`,
//!   `lot_decimals`, `ordermin`, `costmin`, `status`), "Get WebSockets Token";
//! * the WebSocket v2 `executions` channel
//!   (<https://docs.kraken.com/api/docs/websocket-v2/executions>): `exec_type`,
//!   `order_status` (`pending_new`, `new`, `partially_filled`, `filled`, `canceled`,
//!   `expired`), `cum_qty`, and for a trade `exec_id`, `trade_id`, `last_qty`,
//!   `last_price`, `liquidity_ind`, `fees`.
//!
//! REST numbers are strings, WebSocket v2 numbers are JSON numbers: both are read from
//! their exact text ([`num`]), never through `f64`.
//!
//! Client order ids: `cl_ord_id` is a UUID (36 characters with dashes, or 32 hex digits)
//! or "free text" of up to 18 characters ("Spot Client Order Identifiers",
//! <https://docs.kraken.com/api/docs/guides/spot-clordid>, and the `cl_ord_id` field of
//! "Add Order"). pit's venue ids (`<prefix><run>_<head>-<no>`) are spelled as OKX's
//! `clOrdId`s are (alphanumerics, a length digit where a separator was: exactly
//! reversible, see `okx/trade/wire.rs`), which keeps them short: run 12's `S1-7` is 12
//! characters; within 18 while run, slot and order number together take at most 9 base-62
//! digits (order numbers past 62^6 on a strategy slot of one digit and a one-digit run).
//! An id that would not fit is refused before anything is sent.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The documented longest free-text `cl_ord_id`.
pub const CL_ORD_ID_MAX: usize = 18;

/// The `cl_ord_id` Kraken is sent for one of pit's venue ids; `None` when it cannot be
/// spelled within Kraken's free-text rule (the order is then refused unsent).
pub fn to_cl_ord_id(venue_id: &str) -> Option<String> {
    crate::venue::exchanges::okx::trade::wire::to_cl_ord_id(venue_id)
        .filter(|c| c.len() <= CL_ORD_ID_MAX)
}

/// pit's venue id of a `cl_ord_id` ([`to_cl_ord_id`] undone); anything else as it is.
pub fn from_cl_ord_id(cl: &str) -> String {
    if cl.len() > CL_ORD_ID_MAX {
        return cl.to_string();
    }
    crate::venue::exchanges::okx::trade::wire::from_cl_ord_id(cl)
}

/// A number written as a JSON string (REST) or a JSON number (WebSocket v2), exactly.
pub fn parse_num(raw: &str) -> Option<Decimal> {
    let t = raw.trim().trim_matches('"').trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(t))
        .ok()
}

/// serde: an optional exact number (string or number; `null`/"" as none).
pub fn num<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let r: Option<Box<RawValue>> = Option::deserialize(d)?;
    match r {
        None => Ok(None),
        Some(r) if r.get() == "null" || r.get() == "\"\"" => Ok(None),
        Some(r) => parse_num(r.get())
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not a number: {}", r.get()))),
    }
}

/// The REST envelope.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub error: Vec<String>,
    #[serde(default)]
    pub result: Option<Box<RawValue>>,
}

/// "Get Tradable Asset Pairs": one pair.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PairInfo {
    pub altname: String,
    pub wsname: String,
    pub base: String,
    pub quote: String,
    pub pair_decimals: Option<u32>,
    pub lot_decimals: Option<u32>,
    #[serde(deserialize_with = "num")]
    pub tick_size: Option<Decimal>,
    #[serde(deserialize_with = "num")]
    pub ordermin: Option<Decimal>,
    #[serde(deserialize_with = "num")]
    pub costmin: Option<Decimal>,
    /// `online`, `cancel_only`, `post_only`, `limit_only`, `reduce_only`, `maintenance`.
    pub status: String,
}

/// An order's `status` (REST) or `order_status` (WebSocket v2), as one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderState {
    /// `pending` / `pending_new` / `open` / `new`.
    Live,
    PartiallyFilled,
    /// `closed` (REST: "closed" is an order done: filled) / `filled`.
    Filled,
    Canceled,
    Expired,
}

impl OrderState {
    pub fn is_open(self) -> bool {
        matches!(self, OrderState::Live | OrderState::PartiallyFilled)
    }
    pub fn parse(s: &str) -> Option<OrderState> {
        Some(match s {
            "pending" | "pending_new" | "open" | "new" => OrderState::Live,
            "partially_filled" => OrderState::PartiallyFilled,
            "closed" | "filled" => OrderState::Filled,
            "canceled" => OrderState::Canceled,
            "expired" => OrderState::Expired,
            _ => return None,
        })
    }
}

/// An order, from REST or the `executions` channel. `inst_id` is pit's symbol (the
/// WebSocket v2 `symbol`, `BTC/USD`), mapped from REST's pair names by the caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub inst_id: String,
    /// Kraken's order id (`txid` / `order_id`).
    pub ord_id: String,
    pub cl_ord_id: String,
    pub state: OrderState,
    pub side: String,
    pub sz: Option<Decimal>,
    /// Filled so far (`vol_exec` / `cum_qty`); `None` when the message does not say.
    pub acc_fill_sz: Option<Decimal>,
    /// The trade this message carries (`executions`, `exec_type` `trade`).
    pub fill: Option<Fill>,
    /// The order's trade ids (`trades` of "Query Orders Info" with `trades=true`).
    pub trades: Vec<String>,
}

impl Order {
    pub fn venue_id(&self) -> String {
        from_cl_ord_id(&self.cl_ord_id)
    }
    pub fn fill(&self) -> Option<Fill> {
        self.fill.clone()
    }
}

/// A fill.
#[derive(Clone, Debug, PartialEq)]
pub struct Fill {
    pub inst_id: String,
    /// The trade's text id: the REST lists' `txid` key, the stream's `exec_id` (not said
    /// by Kraken to be the same id: see [`Fill::key`]).
    pub trade_id: String,
    /// Kraken's `trade_id` number (per pair).
    pub trade_no: Option<u64>,
    pub ord_id: String,
    pub cl_ord_id: String,
    pub fill_px: Decimal,
    pub fill_sz: Decimal,
    pub side: String,
    pub maker: bool,
    /// Charged, positive.
    pub fee: Decimal,
    pub fee_ccy: String,
    pub ts_ms: Option<u64>,
}

impl Fill {
    pub fn venue_id(&self) -> String {
        from_cl_ord_id(&self.cl_ord_id)
    }
    pub fn trade_no(&self) -> Option<u64> {
        self.trade_no
    }
    /// One trade's key however it was learned: (symbol, Kraken's per-pair `trade_id`
    /// number), which the REST lists and the `executions` stream both carry. Not the
    /// text id: the stream names a trade by `exec_id`, the REST lists by the trade's
    /// `txid`, and Kraken's pages do not say the two are the same (keyed by them, a
    /// trade seen both ways would be booked twice). A trade without its number keys by
    /// its text id.
    pub fn key(&self) -> (String, String) {
        self.keys().0
    }

    /// [`Fill::key`], and the text-id key when it is another: a fill is known when
    /// either was seen (one source without the number must not make a trade new again).
    pub fn keys(&self) -> ((String, String), Option<(String, String)>) {
        let text = (self.inst_id.clone(), self.trade_id.clone());
        match self.trade_no {
            Some(n) => ((self.inst_id.clone(), format!("#{n}")), Some(text)),
            None => (text, None),
        }
    }

    pub fn is_buy(&self) -> bool {
        self.side == "buy"
    }
    pub fn commission(&self) -> Decimal {
        self.fee
    }
}

/// `descr` of an order.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Descr {
    pub pair: String,
    #[serde(rename = "type")]
    pub side: String,
    pub ordertype: String,
}

/// An order as the REST order lists give it.
#[derive(Clone, Debug, Deserialize)]
pub struct RestOrder {
    #[serde(default)]
    pub cl_ord_id: Option<String>,
    pub status: String,
    #[serde(default)]
    pub descr: Descr,
    #[serde(default, deserialize_with = "num")]
    pub vol: Option<Decimal>,
    #[serde(default, deserialize_with = "num")]
    pub vol_exec: Option<Decimal>,
    #[serde(default)]
    pub trades: Option<Vec<String>>,
}

impl RestOrder {
    /// As an [`Order`] with its txid, on pit's `symbol`.
    pub fn into_order(self, txid: &str, symbol: String) -> Option<Order> {
        Some(Order {
            inst_id: symbol,
            ord_id: txid.to_string(),
            cl_ord_id: self.cl_ord_id.unwrap_or_default(),
            state: OrderState::parse(&self.status)?,
            side: self.descr.side,
            sz: self.vol,
            // Every REST order says `vol_exec`; none read as none filled.
            acc_fill_sz: Some(self.vol_exec.unwrap_or_default()),
            fill: None,
            trades: self.trades.unwrap_or_default(),
        })
    }
}

/// "Get Open Orders": `open`; "Get Closed Orders": `closed` and `count`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OrderLists {
    pub open: BTreeMap<String, RestOrder>,
    pub closed: BTreeMap<String, RestOrder>,
    pub count: Option<u64>,
}

/// A trade as the REST trade lists give it.
#[derive(Clone, Debug, Deserialize)]
pub struct RestTrade {
    pub ordertxid: String,
    pub pair: String,
    /// Unix seconds with a fraction.
    #[serde(deserialize_with = "num")]
    pub time: Option<Decimal>,
    #[serde(rename = "type")]
    pub side: String,
    #[serde(deserialize_with = "num")]
    pub price: Option<Decimal>,
    #[serde(default, deserialize_with = "num")]
    pub fee: Option<Decimal>,
    #[serde(deserialize_with = "num")]
    pub vol: Option<Decimal>,
    #[serde(default)]
    pub trade_id: Option<u64>,
    #[serde(default)]
    pub maker: Option<bool>,
}

impl RestTrade {
    /// As a [`Fill`]: its txid, pit's symbol, its order's `cl_ord_id`; the fee in `fee_ccy`
    /// (REST: "total fee (quote currency)").
    pub fn into_fill(
        self,
        txid: &str,
        symbol: String,
        cl_ord_id: String,
        fee_ccy: String,
    ) -> Option<Fill> {
        Some(Fill {
            inst_id: symbol,
            trade_id: txid.to_string(),
            trade_no: self.trade_id,
            ord_id: self.ordertxid,
            cl_ord_id,
            fill_px: self.price?,
            fill_sz: self.vol?,
            side: self.side,
            maker: self.maker.unwrap_or(false),
            fee: self.fee.unwrap_or_default(),
            fee_ccy,
            ts_ms: self.time.and_then(|t| {
                rust_decimal::prelude::ToPrimitive::to_u64(&(t * Decimal::ONE_THOUSAND).trunc())
            }),
        })
    }
}

/// "Get Trades History": `trades` (txid -> trade) and `count` (all matching).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TradesPage {
    pub trades: BTreeMap<String, RestTrade>,
    pub count: Option<u64>,
}

/// "Add Order"'s result.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Added {
    pub txid: Vec<String>,
}

/// "Cancel Order" / "Cancel All Orders": how many were cancelled.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct CancelCount {
    pub count: u64,
    pub pending: Option<bool>,
}

/// "Cancel All Orders After X"'s answer: RFC 3339 times; `triggerTime` "0" when disabled.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CaaAnswer {
    pub current_time: String,
    pub trigger_time: String,
}

impl CaaAnswer {
    fn ms(t: &str) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(t.trim())
            .ok()
            .map(|t| t.timestamp_millis())
    }
    /// Whether the answer confirms a countdown of `secs` armed: a trigger time later than
    /// the answer's own time by about `secs` (a second either way: the times are whole
    /// seconds in the page's example).
    pub fn confirms(&self, secs: u32) -> bool {
        match (Self::ms(&self.trigger_time), Self::ms(&self.current_time)) {
            (Some(t), Some(now)) => {
                let d = t - now;
                let s = i64::from(secs) * 1000;
                d >= s - 1000 && d <= s + 1000
            }
            _ => false,
        }
    }
    /// Whether it confirms the countdown off: `triggerTime` "0".
    pub fn confirms_off(&self) -> bool {
        self.trigger_time.trim() == "0"
    }
}

/// "Get WebSockets Token".
#[derive(Clone, Deserialize)]
pub struct WsToken {
    pub token: String,
    #[serde(default)]
    pub expires: u64,
}

impl std::fmt::Debug for WsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WsToken([REDACTED], expires {})", self.expires)
    }
}

/// One `fees` entry of an execution.
#[derive(Clone, Debug, Deserialize)]
pub struct ExecFee {
    #[serde(default)]
    pub asset: String,
    #[serde(default, deserialize_with = "num")]
    pub qty: Option<Decimal>,
}

/// One `executions` message item.
#[derive(Clone, Debug, Deserialize)]
pub struct Exec {
    #[serde(default)]
    pub exec_type: String,
    #[serde(default)]
    pub order_status: String,
    #[serde(default)]
    pub order_id: String,
    #[serde(default)]
    pub cl_ord_id: Option<String>,
    #[serde(default)]
    pub symbol: String,
    #[serde(default)]
    pub side: String,
    #[serde(default, deserialize_with = "num")]
    pub order_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "num")]
    pub cum_qty: Option<Decimal>,
    #[serde(default)]
    pub exec_id: Option<String>,
    #[serde(default)]
    pub trade_id: Option<u64>,
    #[serde(default, deserialize_with = "num")]
    pub last_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "num")]
    pub last_price: Option<Decimal>,
    #[serde(default)]
    pub liquidity_ind: Option<String>,
    #[serde(default)]
    pub fees: Vec<ExecFee>,
    #[serde(default)]
    pub timestamp: Option<String>,
}

impl Exec {
    /// As an [`Order`] (with its trade, for `exec_type` `trade`); `None` when it names no
    /// known state.
    pub fn into_order(self) -> Option<Order> {
        let state = OrderState::parse(&self.order_status).or(match self.exec_type.as_str() {
            "canceled" => Some(OrderState::Canceled),
            "expired" => Some(OrderState::Expired),
            "filled" => Some(OrderState::Filled),
            "new" | "pending_new" => Some(OrderState::Live),
            _ => None,
        })?;
        let cl = self.cl_ord_id.clone().unwrap_or_default();
        let ts_ms = self.timestamp.as_deref().and_then(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| t.timestamp_millis().max(0) as u64)
        });
        let fill = match (
            self.exec_type.as_str(),
            &self.exec_id,
            self.last_qty,
            self.last_price,
        ) {
            ("trade", Some(id), Some(q), Some(p)) if q > Decimal::ZERO => {
                let (fee, fee_ccy) = self
                    .fees
                    .first()
                    .map(|f| (f.qty.unwrap_or_default(), f.asset.clone()))
                    .unwrap_or_default();
                Some(Fill {
                    inst_id: self.symbol.clone(),
                    trade_id: id.clone(),
                    trade_no: self.trade_id,
                    ord_id: self.order_id.clone(),
                    cl_ord_id: cl.clone(),
                    fill_px: p,
                    fill_sz: q,
                    side: self.side.clone(),
                    maker: self.liquidity_ind.as_deref() == Some("m"),
                    fee,
                    fee_ccy,
                    ts_ms,
                })
            }
            _ => None,
        };
        Some(Order {
            inst_id: self.symbol,
            ord_id: self.order_id,
            cl_ord_id: cl,
            state,
            side: self.side,
            sz: self.order_qty,
            acc_fill_sz: self.cum_qty,
            fill,
            trades: Vec::new(),
        })
    }
}

/// An authenticated WebSocket v2 frame.
#[derive(Debug, Clone, PartialEq)]
pub enum WsFrame {
    /// A method's answer (`subscribe`, `pong`...): its `success` and `error`.
    Answer {
        method: String,
        success: bool,
        error: String,
    },
    /// `executions` (`snapshot` or `update`).
    Executions {
        snapshot: bool,
        items: Vec<Order>,
    },
    Heartbeat,
    Other,
}

/// Read a frame ("Spot WebSocket v2": method answers `{"method":"subscribe","success":
/// true,...}`, `{"method":"pong",...}`, channel messages `{"channel":"executions","type":
/// "snapshot","data":[...]}`, `{"channel":"heartbeat"}`).
pub fn parse_ws(text: &str) -> Result<WsFrame, String> {
    #[derive(Deserialize)]
    struct F {
        #[serde(default)]
        method: Option<String>,
        #[serde(default)]
        success: Option<bool>,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        channel: Option<String>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
        #[serde(default)]
        data: Option<Vec<Exec>>,
    }
    let f: F = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(method) = f.method {
        return Ok(WsFrame::Answer {
            success: f.success.unwrap_or(method == "pong"),
            error: f.error.unwrap_or_default(),
            method,
        });
    }
    match (f.channel.as_deref(), f.data) {
        (Some("executions"), Some(d)) => Ok(WsFrame::Executions {
            snapshot: f.kind.as_deref() == Some("snapshot"),
            items: d.into_iter().filter_map(Exec::into_order).collect(),
        }),
        (Some("heartbeat"), _) => Ok(WsFrame::Heartbeat),
        _ => Ok(WsFrame::Other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ClientOrderId;
    use crate::venue::live::ids::{IdOwner, IdPrefix, VenueIds};
    use rust_decimal_macros::dec;

    #[test]
    fn pits_ids_fit_krakens_free_text_client_order_id_both_ways() {
        let ids = VenueIds::new(
            12,
            IdPrefix {
                prefix: "k3x9q2".into(),
                legacy_before: 0,
            },
        );
        for engine in ["S1-7", "M-12", "X-3", "S3-238327"] {
            let v = ids.to_venue(&ClientOrderId::new(engine));
            let cl = to_cl_ord_id(&v).unwrap();
            assert!(
                cl.len() <= 18 && cl.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{cl}"
            );
            assert!(crate::emulate::kraken::valid_cl_ord_id(&cl), "{cl}");
            assert_eq!(from_cl_ord_id(&cl), v);
            assert_eq!(
                ids.owner(&from_cl_ord_id(&cl)),
                IdOwner::ThisRun(ClientOrderId::new(engine))
            );
        }
        assert_eq!(
            to_cl_ord_id(&ids.to_venue(&ClientOrderId::new("S1-7"))).as_deref(),
            Some("k3x9q21CS117")
        );
        // Past 18 characters: refused unsent.
        let v = ids.to_venue(&ClientOrderId::new("S65535-18446744073709551615"));
        assert_eq!(to_cl_ord_id(&v), None);
        // A UUID (somebody else's) stays theirs.
        for other in [
            "d15708c1-dbb6-465d-b77d-47258319cc90",
            "arb-20240509-00010",
            "",
        ] {
            assert_eq!(from_cl_ord_id(other), other);
            assert_eq!(ids.owner(&from_cl_ord_id(other)), IdOwner::External);
        }
    }

    #[test]
    fn an_executions_trade_reads_with_its_fill_exactly() {
        // "executions" update, abridged from the page's example shape.
        let frame = r#"{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","cl_ord_id":"k3x9q21CS117","symbol":"BTC/USD","side":"sell","order_qty":0.001,"order_status":"filled","exec_type":"trade","exec_id":"TRJUTH-L4NZP-C5V2MQ","trade_id":242589207,"last_qty":0.001,"last_price":31527.1,"cum_qty":0.001,"liquidity_ind":"m","fees":[{"asset":"USD","qty":0.0504}],"timestamp":"2023-09-22T10:33:05.709950Z"}]}"#;
        let WsFrame::Executions { snapshot, items } = parse_ws(frame).unwrap() else {
            panic!()
        };
        assert!(!snapshot);
        let o = &items[0];
        assert_eq!(o.state, OrderState::Filled);
        let f = o.fill().unwrap();
        assert_eq!(
            (f.trade_no(), f.fill_px, f.fill_sz, f.commission()),
            (Some(242589207), dec!(31527.1), dec!(0.001), dec!(0.0504))
        );
        assert!(f.maker && !f.is_buy() && f.fee_ccy == "USD");
        assert_eq!(f.trade_id, "TRJUTH-L4NZP-C5V2MQ");
        let new = r#"{"channel":"executions","type":"snapshot","data":[{"order_id":"O1","cl_ord_id":"x","symbol":"BTC/USD","side":"buy","order_qty":0.01,"order_status":"new","exec_type":"new","cum_qty":0}]}"#;
        let WsFrame::Executions { snapshot, items } = parse_ws(new).unwrap() else {
            panic!()
        };
        assert!(snapshot && items[0].fill().is_none() && items[0].state.is_open());
        assert_eq!(
            parse_ws(r#"{"method":"subscribe","result":{"channel":"executions"},"success":true,"time_in":"x","time_out":"y"}"#).unwrap(),
            WsFrame::Answer { method: "subscribe".into(), success: true, error: String::new() }
        );
        assert_eq!(
            parse_ws(r#"{"channel":"heartbeat"}"#).unwrap(),
            WsFrame::Heartbeat
        );
    }

    #[test]
    fn rest_orders_trades_and_the_countdown_read_as_documented() {
        let lists: OrderLists = serde_json::from_str(r#"{"open":{"OQCLML-BW3P3-BUCMWZ":{"refid":null,"userref":0,"cl_ord_id":"k3x9q21CS117","status":"open","opentm":1688666559.8974,"starttm":0,"expiretm":0,"descr":{"pair":"XBTUSD","type":"buy","ordertype":"limit","price":"30010.0","price2":"0","leverage":"none","order":"buy 1.25000000 XBTUSD @ limit 30010.0","close":""},"vol":"1.25000000","vol_exec":"0.37500000","cost":"11253.7","fee":"0.00000","price":"30010.0","stopprice":"0.00000","limitprice":"0.00000","misc":"","oflags":"fciq"}}}"#).unwrap();
        let (txid, o) = lists.open.into_iter().next().unwrap();
        let o = o.into_order(&txid, "BTC/USD".into()).unwrap();
        assert_eq!(o.state, OrderState::Live);
        assert_eq!(
            (o.acc_fill_sz, o.sz, o.side.as_str()),
            (Some(dec!(0.375)), Some(dec!(1.25)), "buy")
        );
        let page: TradesPage = serde_json::from_str(r#"{"count":1,"trades":{"THVRQM-33VKH-UCI7BS":{"ordertxid":"OQCLML-BW3P3-BUCMWZ","postxid":"TKH2SE-M7IF5-CFI7LT","pair":"XXBTZUSD","time":1688667796.8802,"type":"buy","ordertype":"limit","price":"30010.00000","cost":"600.20000","fee":"0.00000","vol":"0.02000000","margin":"0.00000","misc":"","trade_id":93748276,"maker":true}}}"#).unwrap();
        let (tx, t) = page.trades.into_iter().next().unwrap();
        let f = t
            .into_fill(&tx, "BTC/USD".into(), "c".into(), "ZUSD".into())
            .unwrap();
        assert_eq!(f.ts_ms, Some(1688667796880));
        assert_eq!((f.trade_no, f.fill_sz), (Some(93748276), dec!(0.02)));
        // One trade learned from the stream (its `exec_id`) and from the list (its
        // `txid`): one key, by the pair's trade number, whatever the text ids.
        let ws = r#"{"channel":"executions","type":"update","data":[{"order_id":"OQCLML-BW3P3-BUCMWZ","cl_ord_id":"c","symbol":"BTC/USD","side":"buy","order_qty":1.25,"order_status":"partially_filled","exec_type":"trade","exec_id":"EXEC-NOT-THE-TXID","trade_id":93748276,"last_qty":0.02,"last_price":30010.0,"cum_qty":0.395,"liquidity_ind":"m","fees":[{"asset":"USD","qty":0}],"timestamp":"2023-07-06T18:23:16.880200Z"}]}"#;
        let WsFrame::Executions { items, .. } = parse_ws(ws).unwrap() else {
            panic!()
        };
        let streamed = items[0].fill().unwrap();
        assert_ne!(streamed.trade_id, f.trade_id);
        assert_eq!(streamed.key(), f.key());
        let page: TradesPage = serde_json::from_str(r#"{"count":1,"trades":{"THVRQM-33VKH-UCI7BS":{"ordertxid":"O","pair":"XXBTZUSD","time":1.0,"type":"buy","price":"1","fee":"0","vol":"1","trade_id":93748277}}}"#).unwrap();
        let (tx, t) = page.trades.into_iter().next().unwrap();
        let other = t
            .into_fill(&tx, "BTC/USD".into(), "c".into(), "ZUSD".into())
            .unwrap();
        assert_ne!(other.key(), f.key());
        // The same trade without its number (one source leaving it out) is known by its
        // text id, which the numbered one also answers to.
        let bare = Fill {
            trade_no: None,
            ..f.clone()
        };
        assert_eq!(Some(bare.key()), f.keys().1);
        let a = CaaAnswer {
            current_time: "2023-03-24T17:41:56Z".into(),
            trigger_time: "2023-03-24T17:42:56Z".into(),
        };
        assert!(a.confirms(60) && !a.confirms(30) && !a.confirms_off());
        let off = CaaAnswer {
            current_time: "2023-03-24T17:41:56Z".into(),
            trigger_time: "0".into(),
        };
        assert!(off.confirms_off() && !off.confirms(60));
        let p: PairInfo = serde_json::from_str(r#"{"altname":"XBTUSD","wsname":"XBT/USD","aclass_base":"currency","base":"XXBT","aclass_quote":"currency","quote":"ZUSD","lot":"unit","cost_decimals":5,"pair_decimals":1,"lot_decimals":8,"lot_multiplier":1,"fees":[[0,0.26]],"ordermin":"0.0001","costmin":"0.5","tick_size":"0.1","status":"online"}"#).unwrap();
        assert_eq!(
            (p.tick_size, p.ordermin, p.costmin, p.lot_decimals),
            (
                Some(dec!(0.1)),
                Some(dec!(0.0001)),
                Some(dec!(0.5)),
                Some(8)
            )
        );
    }
}
