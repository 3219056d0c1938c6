//! The `retCode`s pit must tell apart, from Bybit's v5 "Error Codes" page
//! (<https://bybit-exchange.github.io/docs/v5/error>) and "Rate Limit Rules"
//! (<https://bybit-exchange.github.io/docs/v5/rate-limit>), and what each means for a
//! client: accepted, refused, back off, resync the clock, stop, or ask the venue what
//! happened.
//!
//! Bybit answers most failures with HTTP 200 and a body
//! `{"retCode": 110001, "retMsg": "Order does not exist", "result": {}, ...}`; `retCode` 0
//! is success. HTTP statuses matter as well: 403 ("IP rate limit breached ... wait for at
//! least 10 minutes"), 429 ("System level frequency protection. Please retry"), 401 (the
//! key), and 5xx (no documented meaning: the outcome is unknown).

use std::fmt;

/// `retCode`s, by the error page's wording.
pub mod code {
    /// 0 "OK".
    pub const OK: i64 = 0;
    /// 10000 "Server Timeout": the outcome is unknown.
    pub const SERVER_TIMEOUT: i64 = 10000;
    /// 10001 "Request parameter error".
    pub const PARAMS: i64 = 10001;
    /// 10002 "The request time exceeds the time window range."
    pub const TIME_WINDOW: i64 = 10002;
    /// 10003 "API key is invalid."
    pub const INVALID_KEY: i64 = 10003;
    /// 10004 "Error sign, please check your signature generation algorithm."
    pub const ERROR_SIGN: i64 = 10004;
    /// 10005 "Permission denied, please check your API key permissions."
    pub const PERMISSION: i64 = 10005;
    /// 10006 "Too many visits. Exceeded the API Rate Limit."
    pub const TOO_MANY_VISITS: i64 = 10006;
    /// 10007 "User authentication failed."
    pub const AUTH_FAILED: i64 = 10007;
    /// 10010 "Unmatched IP, please check your API key's bound IP addresses."
    pub const UNMATCHED_IP: i64 = 10010;
    /// 10016 "Server error." (WS order entry: "internal server error; Service is
    /// restarting"): the outcome is unknown.
    pub const SERVER_ERROR: i64 = 10016;
    /// 10017 "Route not found."
    pub const ROUTE_NOT_FOUND: i64 = 10017;
    /// 10029 "The requested symbol is invalid".
    pub const INVALID_SYMBOL: i64 = 10029;
    /// 110001 "Order does not exist".
    pub const ORDER_NOT_EXIST: i64 = 110001;
    /// 110004 "Wallet balance is insufficient".
    pub const WALLET_INSUFFICIENT: i64 = 110004;
    /// 110007 "Available balance is insufficient".
    pub const AVAILABLE_INSUFFICIENT: i64 = 110007;
    /// 110008 "The order has been completed or cancelled."
    pub const ORDER_FINISHED: i64 = 110008;
    /// 110017 "orderQty will be truncated to zero".
    pub const QTY_TRUNCATED: i64 = 110017;
    /// 110072 "OrderLinkedID is duplicate".
    pub const DUPLICATE_LINK_ID: i64 = 110072;
    /// 170005 (spot) "Too many new orders; current limit is %s orders per %s."
    pub const SPOT_TOO_MANY_ORDERS: i64 = 170005;
    /// 170007 (spot) "Timeout waiting for response from backend server.": unknown.
    pub const SPOT_TIMEOUT: i64 = 170007;
    /// 170131 (spot) "Balance insufficient".
    pub const SPOT_BALANCE: i64 = 170131;
    /// 170136 (spot) "Order quantity lower than the minimum."
    pub const SPOT_QTY_MIN: i64 = 170136;
    /// 170140 (spot) "Order value exceeded lower limit".
    pub const SPOT_VALUE_MIN: i64 = 170140;
    /// 170141 (spot) "Duplicate clientOrderId".
    pub const SPOT_DUPLICATE_LINK_ID: i64 = 170141;
    /// 170146 (spot) "Order creation timeout": unknown.
    pub const SPOT_CREATE_TIMEOUT: i64 = 170146;
    /// 170147 (spot) "Order cancellation timeout": unknown.
    pub const SPOT_CANCEL_TIMEOUT: i64 = 170147;
    /// 170213 (spot) "Order does not exist."
    pub const SPOT_ORDER_NOT_EXIST: i64 = 170213;
    /// 170222 (spot) "Too many requests in this time frame."
    pub const SPOT_TOO_MANY_REQUESTS: i64 = 170222;
}

/// Bybit's error: `retCode` and `retMsg` (or an HTTP status without a body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i64,
    pub msg: String,
}

impl ApiError {
    pub fn new(code: i64, msg: impl Into<String>) -> Self {
        ApiError {
            code,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bybit retCode {}: {}", self.code, self.msg)
    }
}

impl std::error::Error for ApiError {}

/// What a client should do with a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The venue refused it; nothing happened.
    Rejected,
    /// The execution status is unknown (10000, 10016, 170007, 170146, 170147, a 5xx):
    /// ask the venue by `orderLinkId`, never re-send.
    Unknown,
    /// 10006 / 170005 / 170222 or HTTP 429: wait until `X-Bapi-Limit-Reset-Timestamp`
    /// (rate-limit page: "the timestamp indicating when your request limit resets if you
    /// have exceeded your rate_limit").
    RateLimited,
    /// HTTP 403 "access too frequent": "terminate all HTTP sessions and wait for at least
    /// 10 minutes".
    Banned,
    /// 10002: the clock is off; measure the server-time offset again.
    ClockSkew,
    /// 10003, 10004, 10005, 10007, 10010 or HTTP 401: the key, signature, permission or
    /// IP is wrong; retrying cannot help.
    Auth,
    /// 110072 / 170141: the `orderLinkId` is already taken, so an order with our id
    /// exists (or existed): ask for it, never send another.
    Duplicate,
}

/// Classifies a failed answer by its HTTP status and `retCode` (if the body had one).
pub fn classify(http_status: u16, ret_code: Option<i64>) -> Outcome {
    use code::*;
    match (http_status, ret_code) {
        (403, _) => Outcome::Banned,
        (429, _) => Outcome::RateLimited,
        (401, _) => Outcome::Auth,
        (500..=599, _) => Outcome::Unknown,
        (_, Some(TOO_MANY_VISITS | SPOT_TOO_MANY_ORDERS | SPOT_TOO_MANY_REQUESTS)) => {
            Outcome::RateLimited
        }
        (
            _,
            Some(SERVER_TIMEOUT | SERVER_ERROR | SPOT_TIMEOUT | SPOT_CREATE_TIMEOUT)
            | Some(SPOT_CANCEL_TIMEOUT),
        ) => Outcome::Unknown,
        (_, Some(TIME_WINDOW)) => Outcome::ClockSkew,
        (_, Some(INVALID_KEY | ERROR_SIGN | PERMISSION | AUTH_FAILED | UNMATCHED_IP)) => {
            Outcome::Auth
        }
        (_, Some(DUPLICATE_LINK_ID | SPOT_DUPLICATE_LINK_ID)) => Outcome::Duplicate,
        _ => Outcome::Rejected,
    }
}

/// Whether a refusal says the order is not (or no longer) open at the venue: a cancel
/// that gets it has nothing left to cancel.
pub fn order_gone(ret_code: i64) -> bool {
    matches!(
        ret_code,
        code::ORDER_NOT_EXIST | code::ORDER_FINISHED | code::SPOT_ORDER_NOT_EXIST
    )
}

/// The rate-limit headers of every answer (rate-limit page: "Every request to the API
/// returns response header": `X-Bapi-Limit-Status` "your remaining requests for current
/// endpoint", `X-Bapi-Limit` "your current limit for current endpoint",
/// `X-Bapi-Limit-Reset-Timestamp`), lowercase as HTTP/2 and `reqwest` give them.
pub mod headers {
    pub const LIMIT: &str = "x-bapi-limit";
    pub const LIMIT_STATUS: &str = "x-bapi-limit-status";
    pub const LIMIT_RESET: &str = "x-bapi-limit-reset-timestamp";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_error_and_rate_limit_pages() {
        assert_eq!(
            classify(200, Some(code::TOO_MANY_VISITS)),
            Outcome::RateLimited
        );
        assert_eq!(classify(429, None), Outcome::RateLimited);
        assert_eq!(classify(403, None), Outcome::Banned);
        assert_eq!(classify(502, None), Outcome::Unknown);
        assert_eq!(classify(200, Some(code::SERVER_TIMEOUT)), Outcome::Unknown);
        assert_eq!(classify(200, Some(code::SERVER_ERROR)), Outcome::Unknown);
        assert_eq!(
            classify(200, Some(code::SPOT_CREATE_TIMEOUT)),
            Outcome::Unknown
        );
        assert_eq!(classify(200, Some(code::TIME_WINDOW)), Outcome::ClockSkew);
        assert_eq!(classify(200, Some(code::ERROR_SIGN)), Outcome::Auth);
        assert_eq!(classify(401, None), Outcome::Auth);
        assert_eq!(
            classify(200, Some(code::DUPLICATE_LINK_ID)),
            Outcome::Duplicate
        );
        assert_eq!(
            classify(200, Some(code::SPOT_DUPLICATE_LINK_ID)),
            Outcome::Duplicate
        );
        assert_eq!(classify(200, Some(code::SPOT_BALANCE)), Outcome::Rejected);
        assert_eq!(
            classify(200, Some(code::ORDER_NOT_EXIST)),
            Outcome::Rejected
        );
        assert!(order_gone(code::ORDER_NOT_EXIST) && order_gone(code::SPOT_ORDER_NOT_EXIST));
        assert!(!order_gone(code::SPOT_BALANCE));
        assert_eq!(
            ApiError::new(code::ORDER_NOT_EXIST, "Order does not exist").to_string(),
            "Bybit retCode 110001: Order does not exist"
        );
    }
}
