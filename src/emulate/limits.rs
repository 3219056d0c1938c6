//! Request weight and order counts, reported in the headers Binance sends (rest-api.md,
//! "LIMITS"): `X-MBX-USED-WEIGHT-1M` on every response, `X-MBX-ORDER-COUNT-10S` and
//! `X-MBX-ORDER-COUNT-1D` on successful order responses. Fixed windows on the wall clock.
//! The emulator reports the counts; refusing on them is left to the `429` fault.

/// REQUEST_WEIGHT per minute, as Binance's exchangeInfo lists it.
pub const WEIGHT_PER_MINUTE: u64 = 6_000;
/// ORDERS per 10 seconds.
pub const ORDERS_PER_10S: u64 = 100;
/// ORDERS per day.
pub const ORDERS_PER_DAY: u64 = 200_000;

/// Fixed-window counters.
#[derive(Debug, Default)]
pub struct Limits {
    weight: Window,
    orders_10s: Window,
    orders_1d: Window,
}

#[derive(Debug, Default)]
struct Window {
    start_ms: i64,
    count: u64,
}

impl Window {
    fn add(&mut self, now_ms: i64, len_ms: i64, n: u64) -> u64 {
        let start = now_ms - now_ms.rem_euclid(len_ms);
        if start != self.start_ms {
            self.start_ms = start;
            self.count = 0;
        }
        self.count += n;
        self.count
    }
}

impl Limits {
    /// Adds a request's weight; the minute's total.
    pub fn weigh(&mut self, now_ms: i64, weight: u64) -> u64 {
        self.weight.add(now_ms, 60_000, weight)
    }

    /// Counts an order; the (10 s, 1 day) totals.
    pub fn count_order(&mut self, now_ms: i64) -> (u64, u64) {
        (
            self.orders_10s.add(now_ms, 10_000, 1),
            self.orders_1d.add(now_ms, 86_400_000, 1),
        )
    }
}

/// The documented weight of each endpoint pit uses (rest-api.md, each endpoint's "Weight").
pub fn weight(method: &str, path: &str, query: &str) -> u64 {
    let has = |k: &str| query.split('&').any(|p| p.split('=').next() == Some(k));
    match (method, path) {
        ("GET", "/api/v3/order") => 4,
        ("GET", "/api/v3/openOrders") if has("symbol") => 6,
        ("GET", "/api/v3/openOrders") => 80,
        ("GET", "/api/v3/account") => 20,
        ("GET", "/api/v3/myTrades") if has("orderId") => 5,
        ("GET", "/api/v3/myTrades") => 20,
        ("GET", "/api/v3/exchangeInfo") => 20,
        ("GET", "/api/v3/depth") => {
            let limit = query
                .split('&')
                .find_map(|p| p.strip_prefix("limit="))
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(100);
            match limit {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            }
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_reset_on_their_boundary() {
        let mut l = Limits::default();
        assert_eq!(l.weigh(60_000, 4), 4);
        assert_eq!(l.weigh(119_999, 20), 24);
        assert_eq!(l.weigh(120_000, 1), 1);
        assert_eq!(l.count_order(10_000), (1, 1));
        assert_eq!(l.count_order(19_999), (2, 2));
        assert_eq!(l.count_order(20_000), (1, 3));
    }

    #[test]
    fn weights_follow_the_docs() {
        assert_eq!(
            weight("GET", "/api/v3/openOrders", "symbol=BTCUSDT&timestamp=1"),
            6
        );
        assert_eq!(weight("GET", "/api/v3/openOrders", "timestamp=1"), 80);
        assert_eq!(
            weight("GET", "/api/v3/depth", "symbol=BTCUSDT&limit=1000"),
            50
        );
        assert_eq!(weight("POST", "/api/v3/order", ""), 1);
    }
}
