//! OKX v5's trading messages as documented (<https://www.okx.com/docs-v5/en/>), for
//! instType SPOT in trade mode `cash`: the REST envelope, "Place order", "Cancel order",
//! "Get order details" / "Get order List" / the `orders` channel's order, "Get transaction
//! details (last 3 days)"'s fill, "Get balance", "Get instruments", "Cancel All After",
//! and the private WebSocket's `login` / `subscribe` / push frames. Numbers are OKX's
//! strings (empty when not applicable), read exactly as decimals.
//!
//! Client order ids: OKX's `clOrdId` is "A combination of case-sensitive alphanumerics,
//! all numbers, or all letters of up to 32 characters" ("Place order"). pit's venue ids
//! (`venue/live/ids.rs`: `<prefix><run>_<head>-<no>`, base 62) carry `_` and `-`, so
//! [`to_cl_ord_id`] spells the same id without them, with a length digit where a
//! separator was: `<prefix><len(run)><run>` then `S<len(slot)><slot><no>`, `M<no>` or
//! `X<no>`. The mapping is exact both ways ([`from_cl_ord_id`]), so reconciliation tells
//! pit's orders from anybody else's as on the other venues. Length: 6 + 1 + run + 1 (plus
//! 1 + slot) + number; for run 12's `S1-7` it is 12 characters, and it stays within 32
//! until run and order number together need more than 22 base-62 digits (about 10^39):
//! never in practice; an id that would not fit is refused before anything is sent.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// The documented maximum length of a `clOrdId`.
pub const CL_ORD_ID_MAX: usize = 32;

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn digit(n: usize) -> Option<char> {
    DIGITS.get(n).map(|&b| char::from(b))
}
fn undigit(c: u8) -> Option<usize> {
    DIGITS.iter().position(|&d| d == c)
}

/// The `clOrdId` OKX is sent for one of pit's venue ids; `None` when it cannot be spelled
/// within OKX's rule (the order is then refused unsent).
pub fn to_cl_ord_id(venue_id: &str) -> Option<String> {
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let (head, tail) = venue_id.split_once('_')?;
    let prefix_len = crate::venue::live::ids::PREFIX_LEN;
    if head.len() <= prefix_len || !head.is_char_boundary(prefix_len) {
        return None;
    }
    let (prefix, run) = head.split_at(prefix_len);
    let (who, no) = tail.split_once('-')?;
    if !alnum(prefix) || !alnum(run) || !alnum(no) {
        return None;
    }
    let who = match who {
        "M" | "X" => who.to_string(),
        s => {
            let slot = s.strip_prefix('S').filter(|x| alnum(x))?;
            format!("S{}{slot}", digit(slot.len())?)
        }
    };
    let id = format!("{prefix}{}{run}{who}{no}", digit(run.len())?);
    (id.len() <= CL_ORD_ID_MAX).then_some(id)
}

/// pit's venue id of a `clOrdId` ([`to_cl_ord_id`] undone); anything else as it is (an
/// order pit did not place: `External` to the id rules).
pub fn from_cl_ord_id(cl: &str) -> String {
    fn parse(cl: &str) -> Option<String> {
        let b = cl.as_bytes();
        let p = crate::venue::live::ids::PREFIX_LEN;
        if !cl.is_ascii() || b.len() < p + 4 {
            return None;
        }
        let prefix = &cl[..p];
        let rl = undigit(b[p])?;
        let run = cl.get(p + 1..p + 1 + rl)?;
        let mut i = p + 1 + rl;
        let who = match *b.get(i)? {
            b'M' => "M".to_string(),
            b'X' => "X".to_string(),
            b'S' => {
                let sl = undigit(*b.get(i + 1)?)?;
                let slot = cl.get(i + 2..i + 2 + sl)?;
                i += 1 + sl;
                format!("S{slot}")
            }
            _ => return None,
        };
        let no = cl.get(i + 1..)?;
        (!run.is_empty() && !no.is_empty()).then(|| format!("{prefix}{run}_{who}-{no}"))
    }
    parse(cl)
        .filter(|v| to_cl_ord_id(v).as_deref() == Some(cl))
        .unwrap_or_else(|| cl.to_string())
}

/// OKX's numbers are strings, "" when not applicable.
pub fn opt_dec<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(t))
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    match s.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => t.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// The REST envelope `{"code":"0","msg":"","data":[...]}` ("Error Code" > "General
/// Class": "0" is success; an order endpoint whose order failed says "1", the order's own
/// `sCode`/`sMsg` in `data`).
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
}

/// "Place order" (`POST /api/v5/trade/order`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrder {
    pub inst_id: String,
    /// `cash`: a spot (non-margin) order; `cross`: a SWAP order on the cross-margin
    /// account ("Place order" `tdMode`: "Margin mode cross isolated; Non-Margin mode
    /// cash").
    pub td_mode: String,
    pub side: String,
    /// `limit`, `post_only`, `ioc`, `market`.
    pub ord_type: String,
    pub sz: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub px: Option<String>,
    pub cl_ord_id: String,
    /// SPOT market orders: "base_ccy" so `sz` is in the base currency for a buy too (a
    /// market buy's `sz` is quote by default: "tgtCcy ... Default is quote_ccy for buy").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tgt_ccy: Option<String>,
    /// SWAP: `true` for a reduce-only order ("reduceOnly: Whether orders can only reduce
    /// in position size. [...] Only applicable to MARGIN orders, and FUTURES/SWAP orders
    /// in net mode"); never sent on SPOT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduce_only: Option<bool>,
}

/// One order's result in "Place order" / "Cancel order".
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderAck {
    pub cl_ord_id: String,
    pub ord_id: String,
    pub s_code: String,
    pub s_msg: String,
}

/// "Cancel order" (`POST /api/v5/trade/cancel-order`) by our `clOrdId`, or by OKX's
/// `ordId` for an order without one ("Either ordId or clOrdId is required. If both are
/// passed, ordId will be used.").
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrder {
    pub inst_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cl_ord_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ord_id: Option<String>,
}

/// An order's `state` ("Get order details": `canceled`, `live`, `partially_filled`,
/// `filled`, `mmp_canceled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Live,
    PartiallyFilled,
    Filled,
    Canceled,
    MmpCanceled,
    #[serde(other)]
    Other,
}

impl OrderState {
    pub fn is_open(self) -> bool {
        matches!(self, OrderState::Live | OrderState::PartiallyFilled)
    }
}

/// An order as "Get order details", "Get order List" and the `orders` channel give it
/// (the channel adds the last fill: `fillPx`, `fillSz`, `tradeId`, `fillFee`...).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub inst_id: String,
    #[serde(default)]
    pub inst_type: String,
    #[serde(default)]
    pub ord_id: String,
    #[serde(default)]
    pub cl_ord_id: String,
    pub state: OrderState,
    #[serde(default)]
    pub side: String,
    #[serde(default, deserialize_with = "opt_dec")]
    pub sz: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec")]
    pub acc_fill_sz: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec")]
    pub fill_px: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec")]
    pub fill_sz: Option<Decimal>,
    #[serde(default)]
    pub trade_id: String,
    /// The last fill's fee, negative when charged ("fillFee").
    #[serde(default, deserialize_with = "opt_dec")]
    pub fill_fee: Option<Decimal>,
    #[serde(default)]
    pub fill_fee_ccy: String,
    /// `T` taker, `M` maker.
    #[serde(default)]
    pub exec_type: String,
    #[serde(default, deserialize_with = "opt_u64")]
    pub fill_time: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub c_time: Option<u64>,
}

impl Order {
    /// pit's venue id of the order (see [`from_cl_ord_id`]).
    pub fn venue_id(&self) -> String {
        from_cl_ord_id(&self.cl_ord_id)
    }
    /// The fill this push carries, if it carries one (the `orders` channel: "fillSz" and
    /// "tradeId" of the latest fill; a push without a fill leaves them "" or "0").
    pub fn fill(&self) -> Option<Fill> {
        let sz = self.fill_sz.filter(|s| *s > Decimal::ZERO)?;
        if self.trade_id.is_empty() {
            return None;
        }
        Some(Fill {
            inst_id: self.inst_id.clone(),
            trade_id: self.trade_id.clone(),
            ord_id: self.ord_id.clone(),
            cl_ord_id: self.cl_ord_id.clone(),
            bill_id: String::new(),
            fill_px: self.fill_px?,
            fill_sz: sz,
            side: self.side.clone(),
            exec_type: self.exec_type.clone(),
            fee: self.fill_fee,
            fee_ccy: self.fill_fee_ccy.clone(),
            ts: self.fill_time,
        })
    }
}

/// A fill ("Get transaction details (last 3 days)", or the fill of an `orders` push).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fill {
    pub inst_id: String,
    pub trade_id: String,
    #[serde(default)]
    pub ord_id: String,
    #[serde(default)]
    pub cl_ord_id: String,
    #[serde(default)]
    pub bill_id: String,
    #[serde(deserialize_with = "dec")]
    pub fill_px: Decimal,
    #[serde(deserialize_with = "dec")]
    pub fill_sz: Decimal,
    pub side: String,
    #[serde(default)]
    pub exec_type: String,
    /// Negative when charged, positive a rebate.
    #[serde(default, deserialize_with = "opt_dec")]
    pub fee: Option<Decimal>,
    #[serde(default)]
    pub fee_ccy: String,
    #[serde(default, deserialize_with = "opt_u64")]
    pub ts: Option<u64>,
}

fn dec<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    opt_dec(d)?.ok_or_else(|| serde::de::Error::custom("empty number"))
}

impl Fill {
    /// pit's venue id of the fill's order.
    pub fn venue_id(&self) -> String {
        from_cl_ord_id(&self.cl_ord_id)
    }
    /// OKX's trade id as a number (SPOT trade ids are numeric strings).
    pub fn trade_no(&self) -> Option<u64> {
        self.trade_id.trim().parse().ok()
    }
    pub fn is_buy(&self) -> bool {
        self.side == "buy"
    }
    /// The commission charged (positive), in `fee_ccy`.
    pub fn commission(&self) -> Decimal {
        -self.fee.unwrap_or_default()
    }
}

/// "Get balance": one account, its currencies.
#[derive(Clone, Debug, Deserialize)]
pub struct Balance {
    #[serde(default)]
    pub details: Vec<BalanceDetail>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceDetail {
    pub ccy: String,
    /// "Cash balance": free and frozen together.
    #[serde(default, deserialize_with = "opt_dec")]
    pub cash_bal: Option<Decimal>,
}

/// "Get instruments" (instType SPOT or SWAP). A SWAP's `lotSz` and `minSz` are in
/// contracts ("If it is a derivatives contract, the value is the number of contracts"),
/// one contract `ctVal` of `ctValCcy` ("Contract value"; linear: the base coin), settled
/// in `settleCcy`; its `baseCcy`/`quoteCcy` are empty ("Only applicable to SPOT/MARGIN").
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instrument {
    pub inst_id: String,
    #[serde(default)]
    pub inst_type: String,
    #[serde(default, deserialize_with = "opt_dec")]
    pub ct_val: Option<Decimal>,
    #[serde(default)]
    pub ct_val_ccy: String,
    #[serde(default)]
    pub ct_type: String,
    #[serde(default)]
    pub settle_ccy: String,
    #[serde(default)]
    pub base_ccy: String,
    #[serde(default)]
    pub quote_ccy: String,
    #[serde(default, deserialize_with = "opt_dec")]
    pub tick_sz: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec")]
    pub lot_sz: Option<Decimal>,
    #[serde(default, deserialize_with = "opt_dec")]
    pub min_sz: Option<Decimal>,
    #[serde(default)]
    pub state: String,
}

impl Instrument {
    /// A SWAP's contract: its value and lot in the base coin; `None` for SPOT. Only a
    /// linear contract (`ctType` linear, valued in the base coin) is taken.
    pub fn contract(&self) -> Result<Option<Contract>, String> {
        if self.inst_type != "SWAP" && !self.inst_id.ends_with("-SWAP") {
            return Ok(None);
        }
        let ct_val = self
            .ct_val
            .filter(|c| *c > Decimal::ZERO)
            .ok_or_else(|| format!("{}: no ctVal", self.inst_id))?;
        if !self.ct_type.is_empty() && self.ct_type != "linear" {
            return Err(format!(
                "{}: ctType {} (pit trades linear swaps only: quantities in the coin)",
                self.inst_id, self.ct_type
            ));
        }
        let lot_sz = self
            .lot_sz
            .filter(|l| *l > Decimal::ZERO)
            .ok_or_else(|| format!("{}: no lotSz", self.inst_id))?;
        Ok(Some(Contract {
            ct_val,
            lot_sz,
            min_sz: self.min_sz.unwrap_or(lot_sz).max(lot_sz),
            coin: self.ct_val_ccy.clone(),
            settle: self.settle_ccy.clone(),
        }))
    }
}

/// A linear SWAP's contract: pit counts the base coin, OKX's `sz` counts contracts of
/// `ct_val` coins each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contract {
    /// Coins per contract (`ctVal`).
    pub ct_val: Decimal,
    /// The order size's step and minimum, in contracts (`lotSz`, `minSz`).
    pub lot_sz: Decimal,
    pub min_sz: Decimal,
    /// `ctValCcy` (the base coin) and `settleCcy` (fees and PnL).
    pub coin: String,
    pub settle: String,
}

impl Contract {
    /// A quantity in coins as contracts: `Err` (never sent) unless it is a whole number
    /// of lots of at least the minimum.
    pub fn contracts(&self, inst_id: &str, qty: Decimal) -> Result<Decimal, String> {
        let n = qty / self.ct_val;
        if !(n % self.lot_sz).is_zero() {
            return Err(format!(
                "{} {} is {} contracts of {} {}: not a whole multiple of the lot ({} contracts); not sent",
                qty.normalize(),
                self.coin,
                n.normalize(),
                self.ct_val.normalize(),
                self.coin,
                self.lot_sz.normalize()
            ));
        }
        if n < self.min_sz {
            return Err(format!(
                "{} {} is {} contracts, below {inst_id}'s minimum of {}; not sent",
                qty.normalize(),
                self.coin,
                n.normalize(),
                self.min_sz.normalize()
            ));
        }
        Ok(n)
    }

    /// Contracts as coins.
    pub fn coins(&self, contracts: Decimal) -> Decimal {
        contracts * self.ct_val
    }

    /// An order as OKX gave it, its sizes in coins.
    pub fn order_in_coins(&self, mut o: Order) -> Order {
        o.sz = o.sz.map(|x| self.coins(x));
        o.acc_fill_sz = o.acc_fill_sz.map(|x| self.coins(x));
        o.fill_sz = o.fill_sz.map(|x| self.coins(x));
        o
    }

    /// A fill as OKX gave it, its size in coins.
    pub fn fill_in_coins(&self, mut f: Fill) -> Fill {
        f.fill_sz = self.coins(f.fill_sz);
        f
    }
}

/// "Get positions" / the `positions` channel ("WS / Positions channel"): in net mode one
/// position per instrument, `pos` signed ("Quantity of positions. In the mode of
/// net, it will be positive when the position is long, and negative when short"), in
/// contracts for a SWAP.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Position {
    pub inst_id: String,
    #[serde(default)]
    pub inst_type: String,
    #[serde(default)]
    pub pos_side: String,
    #[serde(default, deserialize_with = "opt_dec")]
    pub pos: Option<Decimal>,
}

/// "Get account configuration" (`GET /api/v5/account/config`): the account's mode
/// (`acctLv` "1" Spot mode, "2" Spot and futures mode, "3" Multi-currency margin, "4"
/// Portfolio margin) and position mode (`posMode` `long_short_mode` or `net_mode`, "only
/// applicable to FUTURES/SWAP").
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountConfig {
    #[serde(default)]
    pub acct_lv: String,
    #[serde(default)]
    pub pos_mode: String,
}

impl AccountConfig {
    /// Why pit cannot trade swaps on this account as it is set up, if it cannot. pit sends
    /// swap orders in the net position mode (no `posSide`; `reduceOnly` "only applicable
    /// to [...] FUTURES/SWAP orders in net mode", "Place order") and in the cross margin
    /// mode, which the Spot mode (`acctLv` 1) does not have. pit never changes either.
    pub fn swap_refusal(&self) -> Option<String> {
        if self.acct_lv == "1" {
            return Some(
                "the OKX account is in the Spot mode (acctLv 1), which trades no swaps: switch the account mode at OKX; pit does not change it".into(),
            );
        }
        if self.pos_mode != "net_mode" {
            return Some(format!(
                "the OKX account is in the {} position mode (posMode {}); pit trades swaps in the net mode only: set the position mode to net at OKX (Settings > Position mode, or \"Set position mode\") with nothing open; pit does not change it",
                if self.pos_mode == "long_short_mode" {
                    "long/short"
                } else {
                    "unknown"
                },
                if self.pos_mode.is_empty() {
                    "not given"
                } else {
                    &self.pos_mode
                }
            ));
        }
        None
    }
}

/// "Cancel All After"'s body.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAllAfter {
    pub time_out: String,
}

/// "Cancel All After"'s answer: `triggerTime` "0" when disabled, else when it fires (the
/// page's example gives seconds, `"triggerTime":"1587971460"`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaaAnswer {
    #[serde(default, deserialize_with = "opt_u64")]
    pub trigger_time: Option<u64>,
    #[serde(default, deserialize_with = "opt_u64")]
    pub ts: Option<u64>,
}

impl CaaAnswer {
    /// Whether the answer confirms a countdown of `secs` armed: a trigger time later than
    /// the answer's own time by about `secs` (seconds or, should OKX answer so, ms).
    pub fn confirms(&self, secs: u32) -> bool {
        match (self.trigger_time, self.ts) {
            (Some(t), Some(now)) if t > 0 => {
                let d = t.saturating_sub(now);
                let s = u64::from(secs);
                (d + 1 >= s && d <= s + 1) || (d + 1000 >= s * 1000 && d <= s * 1000 + 1000)
            }
            _ => false,
        }
    }

    /// Whether the answer confirms the countdown disarmed (`timeOut` 0): `triggerTime`
    /// "0".
    pub fn confirms_off(&self) -> bool {
        self.trigger_time == Some(0)
    }
}

/// A private WebSocket frame: an event answer (`login`, `subscribe`, `error`) or a push.
#[derive(Debug, Clone, PartialEq)]
pub enum WsFrame {
    Event {
        event: String,
        code: String,
        msg: String,
    },
    Orders(Vec<Order>),
    Positions(Vec<Position>),
    Pong,
    Other,
}

/// Read a private WebSocket text frame ("WebSocket" > "Login", "Subscribe", "Order
/// channel": `{"event":"login","code":"0",...}`, `{"arg":{"channel":"orders"},"data":[...]}`,
/// and the text `pong`).
pub fn parse_ws(text: &str) -> Result<WsFrame, String> {
    if text == "pong" {
        return Ok(WsFrame::Pong);
    }
    #[derive(Deserialize)]
    struct F {
        #[serde(default)]
        event: Option<String>,
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        msg: Option<String>,
        #[serde(default)]
        arg: Option<Arg>,
        #[serde(default)]
        data: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct Arg {
        #[serde(default)]
        channel: String,
    }
    let f: F = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(event) = f.event {
        return Ok(WsFrame::Event {
            event,
            code: f.code.unwrap_or_default(),
            msg: f.msg.unwrap_or_default(),
        });
    }
    match (f.arg, f.data) {
        (Some(a), Some(d)) if a.channel == "orders" => Ok(WsFrame::Orders(
            serde_json::from_value(d).map_err(|e| e.to_string())?,
        )),
        (Some(a), Some(d)) if a.channel == "positions" => Ok(WsFrame::Positions(
            serde_json::from_value(d).map_err(|e| e.to_string())?,
        )),
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
    fn pits_ids_fit_okxs_client_order_id_both_ways() {
        let ids = VenueIds::new(
            12,
            IdPrefix {
                prefix: "k3x9q2".into(),
                legacy_before: 0,
            },
        );
        for engine in ["S1-7", "M-12", "X-3", "S65535-18446744073709551615"] {
            let v = ids.to_venue(&ClientOrderId::new(engine));
            let cl = to_cl_ord_id(&v).unwrap();
            assert!(
                cl.len() <= 32 && cl.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{cl}"
            );
            assert!(crate::emulate::okx::valid_cl_ord_id(&cl), "{cl}");
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
        // Largest run and order number: more than 32 characters, refused unsent.
        let big = VenueIds::new(u64::MAX, ids_prefix());
        let v = big.to_venue(&ClientOrderId::new("S65535-18446744073709551615"));
        assert_eq!(to_cl_ord_id(&v), None);
        // Somebody else's ids stay theirs.
        for other in ["myOrder1", "k3x9q2", "", "abc-def"] {
            assert_eq!(from_cl_ord_id(other), other);
            assert_eq!(ids.owner(&from_cl_ord_id(other)), IdOwner::External);
        }
    }

    fn ids_prefix() -> IdPrefix {
        IdPrefix {
            prefix: "k3x9q2".into(),
            legacy_before: 0,
        }
    }

    #[test]
    fn the_docs_order_push_reads_with_its_fill() {
        // "WS / Order channel" push data, abridged from the page's example.
        let frame = r#"{"arg":{"channel":"orders","instType":"SPOT","uid":"614488474791936"},"data":[{"accFillSz":"0.001","avgPx":"31527.1","cTime":"1654084334977","category":"normal","ccy":"","clOrdId":"k3x9q21CS117","code":"0","execType":"M","fee":"-0.02522168","feeCcy":"USDT","fillFee":"-0.02522168","fillFeeCcy":"USDT","fillNotionalUsd":"31.50818374","fillPx":"31527.1","fillSz":"0.001","fillTime":"1654084353263","instId":"BTC-USDT","instType":"SPOT","msg":"","ordId":"452197707845865472","ordType":"limit","posSide":"","px":"31527.1","side":"sell","state":"filled","sz":"0.001","tdMode":"cash","tgtCcy":"","tradeId":"242589207","uTime":"1654084353264"}]}"#;
        let WsFrame::Orders(list) = parse_ws(frame).unwrap() else {
            panic!()
        };
        let o = &list[0];
        assert_eq!(o.state, OrderState::Filled);
        assert_eq!(o.acc_fill_sz, Some(dec!(0.001)));
        let f = o.fill().unwrap();
        assert_eq!(
            (f.trade_no(), f.fill_px, f.commission()),
            (Some(242589207), dec!(31527.1), dec!(0.02522168))
        );
        assert!(!f.is_buy() && f.exec_type == "M");
        // A push without a fill (an order accepted) has none.
        let live = r#"{"arg":{"channel":"orders","instType":"SPOT"},"data":[{"instId":"BTC-USDT","ordId":"1","clOrdId":"x","state":"live","side":"buy","sz":"0.01","accFillSz":"0","fillSz":"0","fillPx":"","tradeId":"","fillFee":"0","fillFeeCcy":"","execType":""}]}"#;
        let WsFrame::Orders(list) = parse_ws(live).unwrap() else {
            panic!()
        };
        assert!(list[0].fill().is_none() && list[0].state.is_open());
        assert_eq!(
            parse_ws(r#"{"event":"login","code":"0","msg":"","connId":"a4d3ae55"}"#).unwrap(),
            WsFrame::Event {
                event: "login".into(),
                code: "0".into(),
                msg: "".into()
            }
        );
        assert_eq!(parse_ws("pong").unwrap(), WsFrame::Pong);
    }

    #[test]
    fn the_positions_channel_and_swap_instruments_are_read() {
        let frame = r#"{"arg":{"channel":"positions","instType":"SWAP"},"data":[{"instType":"SWAP","instId":"BTC-USDT-SWAP","mgnMode":"cross","posSide":"net","pos":"-3","avgPx":"60000"}]}"#;
        let WsFrame::Positions(p) = parse_ws(frame).unwrap() else {
            panic!("a positions push")
        };
        assert_eq!(
            (p[0].inst_id.as_str(), p[0].pos),
            ("BTC-USDT-SWAP", Some(dec!(-3)))
        );
        // An empty snapshot (no position).
        let empty = r#"{"arg":{"channel":"positions","instType":"SWAP"},"data":[]}"#;
        assert_eq!(parse_ws(empty).unwrap(), WsFrame::Positions(vec![]));
        let i: Instrument = serde_json::from_str(r#"{"instType":"SWAP","instId":"BTC-USDT-SWAP","ctVal":"0.01","ctValCcy":"BTC","ctType":"linear","settleCcy":"USDT","tickSz":"0.1","lotSz":"0.1","minSz":"0.1","baseCcy":"","quoteCcy":"","state":"live"}"#).unwrap();
        let c = i.contract().unwrap().unwrap();
        assert_eq!(c.contracts("BTC-USDT-SWAP", dec!(0.003)), Ok(dec!(0.3)));
        assert!(c.contracts("BTC-USDT-SWAP", dec!(0.0015)).is_err());
        assert_eq!((c.coin.as_str(), c.settle.as_str()), ("BTC", "USDT"));
        // An inverse contract is not taken (quantities would not be in the coin).
        let inv = Instrument {
            ct_type: "inverse".into(),
            ..i.clone()
        };
        assert!(inv.contract().is_err());
        let spot = Instrument {
            inst_type: "SPOT".into(),
            inst_id: "BTC-USDT".into(),
            ..i
        };
        assert_eq!(spot.contract(), Ok(None));
    }

    #[test]
    fn the_account_configuration_says_whether_swaps_can_be_traded() {
        // The fields of "Get account configuration"'s response example.
        let body = r#"[{"acctLv":"2","autoLoan":false,"ctIsoMode":"automatic","greeksType":"PA","level":"Lv1","levelTmp":"","mgnIsoMode":"automatic","posMode":"long_short_mode","uid":"44705892343619584","label":"V5 Test","roleType":"0","traderInsts":[],"spotRoleType":"0","spotTraderInsts":[],"opAuth":"0","kycLv":"3","ip":"120.255.24.182,49.245.196.13","perm":"read_only,withdraw,trade","mainUid":"44705892343619584"}]"#;
        let c: Vec<AccountConfig> = serde_json::from_str(body).unwrap();
        let why = c[0].swap_refusal().expect("long/short mode is refused");
        assert!(
            why.contains("long/short") && why.contains("posMode long_short_mode"),
            "{why}"
        );
        let net = AccountConfig {
            pos_mode: "net_mode".into(),
            ..c[0].clone()
        };
        assert_eq!(net.swap_refusal(), None);
        let spot_mode = AccountConfig {
            acct_lv: "1".into(),
            ..net.clone()
        };
        assert!(spot_mode.swap_refusal().unwrap().contains("Spot mode"));
        let missing: AccountConfig = serde_json::from_str(r#"{"acctLv":"2"}"#).unwrap();
        assert!(
            missing
                .swap_refusal()
                .unwrap()
                .contains("posMode not given")
        );
    }

    #[test]
    fn orders_are_written_as_the_place_order_page_says() {
        let o = PlaceOrder {
            inst_id: "BTC-USDT".into(),
            td_mode: "cash".into(),
            side: "buy".into(),
            ord_type: "market".into(),
            sz: "0.001".into(),
            px: None,
            cl_ord_id: "k3x9q21CS117".into(),
            tgt_ccy: Some("base_ccy".into()),
            reduce_only: None,
        };
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"market","sz":"0.001","clOrdId":"k3x9q21CS117","tgtCcy":"base_ccy"}"#
        );
        let f: Fill = serde_json::from_str(r#"{"side":"buy","fillSz":"0.00192834","fillPx":"51858","fee":"-0.00000192834","feeCcy":"BTC","instId":"BTC-USDT","billId":"389213583838871552","tradeId":"744876980","ordId":"680800019749904384","clOrdId":"","execType":"T","ts":"1708587373361"}"#).unwrap();
        assert_eq!(f.commission(), dec!(0.00000192834));
        assert_eq!(f.ts, Some(1708587373361));
        let a = CaaAnswer {
            trigger_time: Some(1587971460),
            ts: Some(1587971400),
        };
        assert!(a.confirms(60) && !a.confirms(30));
        assert!(
            !CaaAnswer {
                trigger_time: Some(0),
                ts: Some(1)
            }
            .confirms(60)
        );
    }
}
