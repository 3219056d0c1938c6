//! The error codes and messages pit must tell apart, from Binance's errors.md ("Error codes
//! for Binance") and rest-api.md ("HTTP Return Codes", "LIMITS"), and what each means for a
//! client: retry, back off, stop, resync the clock, or ask the venue what happened.
//!
//! An error body is `{"code": -1121, "msg": "Invalid symbol."}` ("Codes are universal, but
//! messages can vary"); the WebSocket API carries the same object under `error`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Codes, by errors.md's names.
pub mod code {
    /// -1000 UNKNOWN: "An unknown error occurred while processing the request."
    pub const UNKNOWN: i64 = -1000;
    /// -1003 TOO_MANY_REQUESTS: "Too much request weight used; current limit is %s request
    /// weight per %s." (with HTTP 429, or 418 once banned).
    pub const TOO_MANY_REQUESTS: i64 = -1003;
    /// -1006 UNEXPECTED_RESP: "... Execution status unknown."
    pub const UNEXPECTED_RESP: i64 = -1006;
    /// -1007 TIMEOUT: "Timeout waiting for response from backend server. Send status
    /// unknown; execution status unknown."
    pub const TIMEOUT: i64 = -1007;
    /// -1008 SERVER_BUSY.
    pub const SERVER_BUSY: i64 = -1008;
    /// -1013 INVALID_MESSAGE: "The request is rejected by the API. (i.e. The request didn't
    /// reach the Matching Engine.)" Filter failures come with this code.
    pub const INVALID_MESSAGE: i64 = -1013;
    /// -1015 TOO_MANY_ORDERS: "Too many new orders; current limit is %s orders per %s."
    pub const TOO_MANY_ORDERS: i64 = -1015;
    /// -1021 INVALID_TIMESTAMP: "Timestamp for this request is outside of the recvWindow."
    pub const INVALID_TIMESTAMP: i64 = -1021;
    /// -1022 INVALID_SIGNATURE: "Signature for this request is not valid."
    pub const INVALID_SIGNATURE: i64 = -1022;
    /// -1100 ILLEGAL_CHARS.
    pub const ILLEGAL_CHARS: i64 = -1100;
    /// -1102 MANDATORY_PARAM_EMPTY_OR_MALFORMED: "Mandatory parameter '%s' was not sent,
    /// was empty/null, or malformed."
    pub const MANDATORY_PARAM_EMPTY_OR_MALFORMED: i64 = -1102;
    /// -1130 INVALID_PARAMETER: "Data sent for parameter '%s' is not valid."
    pub const INVALID_PARAMETER: i64 = -1130;
    /// -1111 BAD_PRECISION.
    pub const BAD_PRECISION: i64 = -1111;
    /// -1121 BAD_SYMBOL: "Invalid symbol."
    pub const BAD_SYMBOL: i64 = -1121;
    /// -2010 NEW_ORDER_REJECTED (the reason is in `msg`, e.g. "Duplicate order sent.",
    /// "Account has insufficient balance for requested action.").
    pub const NEW_ORDER_REJECTED: i64 = -2010;
    /// -2011 CANCEL_REJECTED (e.g. "Unknown order sent.").
    pub const CANCEL_REJECTED: i64 = -2011;
    /// -2013 NO_SUCH_ORDER: "Order does not exist."
    pub const NO_SUCH_ORDER: i64 = -2013;
    /// -2014 BAD_API_KEY_FMT: "API-key format invalid."
    pub const BAD_API_KEY_FMT: i64 = -2014;
    /// -2015 REJECTED_MBX_KEY: "Invalid API-key, IP, or permissions for action."
    pub const REJECTED_MBX_KEY: i64 = -2015;
    /// -2035 SUBSCRIPTION_ACTIVE: "User Data Stream subscription already active."
    pub const SUBSCRIPTION_ACTIVE: i64 = -2035;
    /// -2036 SUBSCRIPTION_INACTIVE: "User Data Stream subscription not active."
    pub const SUBSCRIPTION_INACTIVE: i64 = -2036;
}

/// Messages, verbatim from errors.md, that carry the meaning under a shared code.
pub mod msg {
    pub const INVALID_TIMESTAMP: &str = "Timestamp for this request is outside of the recvWindow.";
    pub const TIMESTAMP_AHEAD: &str =
        "Timestamp for this request was 1000ms ahead of the server's time.";
    pub const INVALID_SIGNATURE: &str = "Signature for this request is not valid.";
    pub const BAD_API_KEY_FMT: &str = "API-key format invalid.";
    pub const REJECTED_MBX_KEY: &str = "Invalid API-key, IP, or permissions for action.";
    pub const NO_SUCH_ORDER: &str = "Order does not exist.";
    /// Under -2011 (and -2010): "The order (by either `orderId`, `clOrdId`, `origClOrdId`)
    /// could not be found."
    pub const UNKNOWN_ORDER: &str = "Unknown order sent.";
    /// Under -2010: "The `clOrdId` is already in use."
    pub const DUPLICATE_ORDER: &str = "Duplicate order sent.";
    pub const INSUFFICIENT_BALANCE: &str = "Account has insufficient balance for requested action.";
    /// Under -2010, a LIMIT_MAKER that would take.
    pub const WOULD_TAKE: &str = "Order would immediately match and take.";
    pub const INVALID_SYMBOL: &str = "Invalid symbol.";
    pub const TIMEOUT: &str = "Timeout waiting for response from backend server. Send status unknown; execution status unknown.";
}

/// Binance's error body, `{code, msg}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        write!(f, "Binance error {}: {}", self.code, self.msg)
    }
}

impl std::error::Error for ApiError {}

/// What a client should do with a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The venue refused it; nothing happened (4xx with a code such as -1013, -2010, -2011).
    Rejected,
    /// The execution status is unknown: rest-api.md, "HTTP Return Codes": a 5XX "is
    /// important to NOT treat ... as a failure operation; the execution status is UNKNOWN
    /// and could have been a success" (also -1006, -1007). Query, never re-send.
    Unknown,
    /// HTTP 429 (-1003 / -1015): back off for `Retry-After` seconds; "Repeatedly violating
    /// rate limits and/or failing to back off after receiving 429s will result in an
    /// automated IP ban (HTTP status 418)."
    RateLimited,
    /// HTTP 418: the IP is banned ("from 2 minutes to 3 days"); stop sending.
    Banned,
    /// -1021: the clock is off; measure the server-time offset again.
    ClockSkew,
    /// -1022, -2014, -2015: the key or signature is wrong; retrying cannot help.
    Auth,
}

/// Classifies a failed response by its HTTP status and error code (if any).
pub fn classify(http_status: u16, code: Option<i64>) -> Outcome {
    match (http_status, code) {
        (418, _) => Outcome::Banned,
        (429, _) => Outcome::RateLimited,
        (500..=599, _) => Outcome::Unknown,
        (_, Some(code::UNEXPECTED_RESP | code::TIMEOUT)) => Outcome::Unknown,
        (_, Some(code::TOO_MANY_REQUESTS | code::TOO_MANY_ORDERS)) => Outcome::RateLimited,
        (_, Some(code::INVALID_TIMESTAMP)) => Outcome::ClockSkew,
        (_, Some(code::INVALID_SIGNATURE | code::BAD_API_KEY_FMT | code::REJECTED_MBX_KEY)) => {
            Outcome::Auth
        }
        _ => Outcome::Rejected,
    }
}

/// The weight and order-count headers (rest-api.md, "LIMITS": every response carries
/// `X-MBX-USED-WEIGHT-(intervalNum)(intervalLetter)`; a successful order response
/// `X-MBX-ORDER-COUNT-(intervalNum)(intervalLetter)`; 418 and 429 carry `Retry-After` in
/// seconds).
pub mod headers {
    pub const USED_WEIGHT_1M: &str = "x-mbx-used-weight-1m";
    pub const ORDER_COUNT_10S: &str = "x-mbx-order-count-10s";
    pub const ORDER_COUNT_1D: &str = "x-mbx-order-count-1d";
    pub const RETRY_AFTER: &str = "retry-after";
    pub const API_KEY: &str = "X-MBX-APIKEY";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_error_body_round_trips() {
        let e: ApiError =
            serde_json::from_str(r#"{"code":-1121,"msg":"Invalid symbol."}"#).unwrap();
        assert_eq!(e, ApiError::new(code::BAD_SYMBOL, msg::INVALID_SYMBOL));
        assert_eq!(e.to_string(), "Binance error -1121: Invalid symbol.");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":-1121,"msg":"Invalid symbol."}"#
        );
    }

    #[test]
    fn outcomes_follow_the_http_return_codes_section() {
        assert_eq!(classify(503, None), Outcome::Unknown);
        assert_eq!(classify(400, Some(code::TIMEOUT)), Outcome::Unknown);
        assert_eq!(
            classify(429, Some(code::TOO_MANY_REQUESTS)),
            Outcome::RateLimited
        );
        assert_eq!(
            classify(418, Some(code::TOO_MANY_REQUESTS)),
            Outcome::Banned
        );
        assert_eq!(
            classify(400, Some(code::INVALID_TIMESTAMP)),
            Outcome::ClockSkew
        );
        assert_eq!(classify(400, Some(code::INVALID_SIGNATURE)), Outcome::Auth);
        assert_eq!(classify(401, Some(code::REJECTED_MBX_KEY)), Outcome::Auth);
        assert_eq!(
            classify(400, Some(code::NEW_ORDER_REJECTED)),
            Outcome::Rejected
        );
        assert_eq!(
            classify(400, Some(code::INVALID_MESSAGE)),
            Outcome::Rejected
        );
        assert_eq!(classify(400, Some(code::NO_SUCH_ORDER)), Outcome::Rejected);
    }
}
