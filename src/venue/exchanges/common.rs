//! Pieces every venue decoder shares: exact decimal-text parsing into ticks and lots, an
//! allocation-free scanner for the level arrays venues send, and the per-instrument book
//! state (book, counters, RESYNCING flag) with the events it emits.
//!
//! ## Units
//!
//! A [`Scale`] turns decimal text into whole units of a step `step x 10^-dp` exactly, with
//! integer arithmetic only (no `f64`): the text is read as an integer at `dp` decimals
//! (refused if it has a non-zero digit beyond them), then divided by `step` (refused if
//! not a multiple). With configured instruments the step is the instrument's tick or lot.
//! For `pit verify` on a capture, where no config names the instruments, every decoder
//! uses [`Scale::AUTO`], a grid of `1e-8`: Binance publishes every price and size with
//! exactly 8 decimals, and no venue capture here (Bybit, Kraken, OKX) publishes finer
//! numbers, so the grid is exact for all of them; a finer number is a malformed frame.

use crate::domain::{
    Instrument, InstrumentId, Level, MarketEvent, MarketEventKind, OrderBook, Price, Qty, Side,
    Timestamp, TradeTick,
};
use crate::venue::exchanges::decode::{BookLimits, FeedStats};
use rust_decimal::Decimal;

/// Decimal text -> whole units of `step x 10^-dp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Decimals the text is read at.
    pub dp: u32,
    /// The step in units of `10^-dp` (1 for a power-of-ten step).
    pub step: i64,
}

impl Scale {
    /// `1e-8`: the grid `pit verify` uses (see the module docs).
    pub const AUTO: Scale = Scale { dp: 8, step: 1 };

    /// The scale of a tick or lot size; `None` if it is not positive or too fine.
    pub fn of(step: Decimal) -> Option<Scale> {
        let n = step.normalize();
        if n <= Decimal::ZERO || n.scale() > 18 {
            return None;
        }
        let m = i64::try_from(n.mantissa()).ok()?;
        Some(Scale {
            dp: n.scale(),
            step: m,
        })
    }

    /// The step as a decimal.
    pub fn decimal(&self) -> Decimal {
        Decimal::from_i128_with_scale(i128::from(self.step), self.dp)
    }

    /// Exact units of the text, or `None` if malformed, off the grid or out of range.
    #[inline]
    pub fn parse(&self, text: &str) -> Option<i64> {
        let v = parse_fixed(text.as_bytes(), self.dp)?;
        if self.step == 1 {
            Some(v)
        } else if v % self.step == 0 {
            Some(v / self.step)
        } else {
            None
        }
    }
}

/// Powers of ten up to 10^18.
const POW10: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `text` read as an integer count of `10^-dp`: `"1.50"` at 3 decimals is 1500. Accepts an
/// optional `-`, digits, an optional `.` and digits (at least one digit in all). Digits
/// beyond `dp` decimals must be zeros. No exponent. `None` on anything else or overflow.
#[inline]
pub fn parse_fixed(text: &[u8], dp: u32) -> Option<i64> {
    let (neg, s) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    if s.len() <= 18 && dp <= 18 {
        return if s.len() >= 8 {
            parse_words(neg, s, dp)
        } else {
            parse_short(neg, s, dp)
        };
    }
    parse_long(neg, s, dp)
}

/// Eight `'0'` bytes.
const ZEROS: u64 = 0x3030_3030_3030_3030;
/// One in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;

/// The first zero byte of `x` (`s[0]` in the lowest byte): the usual test, whose lowest
/// bit set is exact (bits above it may be false alarms).
#[inline(always)]
fn first_zero_byte(x: u64) -> Option<usize> {
    let hit = x.wrapping_sub(ONES) & !x & (ONES << 7);
    (hit != 0).then(|| (hit.trailing_zeros() / 8) as usize)
}

/// Whether any byte of `d` (text less `'0'` in every byte) is not a digit: a byte below
/// `'0'` wraps to 0xd0 or more, one above `'9'` is 0x0a or more and reaches 0x10 when 6
/// is added; either sets a high nibble. (A wrap borrows only from a byte itself caught.)
#[inline(always)]
fn not_digits(d: u64) -> bool {
    (d | d.wrapping_add(ONES * 6)) & (ONES * 0xf0) != 0
}

/// Eight digit values (0-9, the most significant in the lowest byte) -> their number, in
/// three multiplies: pairs, then quads, then the octet.
#[inline(always)]
fn fold8(d: u64) -> u64 {
    let d = (d.wrapping_mul(10).wrapping_add(d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul(100).wrapping_add(d >> 16)) & 0x0000_ffff_0000_ffff;
    (d.wrapping_mul(10_000).wrapping_add(d >> 32)) & 0xffff_ffff
}

/// [`parse_fixed`] of text of 8 to 16 bytes with a dot, at most eight digits either side
/// of it (`"61837.63000000"`, `"0.00123000"`), a word at a time; any other text goes to
/// [`parse_short`]. The same result (the property test compares both with
/// [`parse_long`]), without the chain of a dependent multiply-add per digit that made
/// number reading a quarter of the Binance depth decoder's time.
///
/// Why by hand (no crate reads decimal text to an exact integer at a given scale): the
/// usual SWAR reading. The first and last eight bytes are loaded; the dot is the first
/// zero byte of either xor dots; the integer digits are the first word's bytes before
/// it, the fraction's the last word's bytes after it; each is checked to be digits and
/// folded in three multiplies.
#[inline(always)]
fn parse_words(neg: bool, s: &[u8], dp: u32) -> Option<i64> {
    let n = s.len();
    let (Some(lo), Some(hi)) = (s.get(..8), s.get(n.wrapping_sub(8)..)) else {
        return parse_short(neg, s, dp);
    };
    let lo = u64::from_le_bytes(lo.try_into().ok()?);
    let hi = u64::from_le_bytes(hi.try_into().ok()?);
    let dots = ONES * u64::from(b'.');
    // The first dot (`hi`'s bytes shared with `lo` hold none if `lo` has none).
    let dot = match first_zero_byte(lo ^ dots) {
        Some(d) => d,
        None => match first_zero_byte(hi ^ dots) {
            Some(j) => n - 8 + j,
            None => return parse_short(neg, s, dp),
        },
    };
    // Integer digits: `lo`'s first `dot` bytes; fraction digits: `hi`'s last `frac`.
    let frac = n - dot - 1;
    if dot > 8 || frac > 8 {
        return parse_short(neg, s, dp);
    }
    let int_bytes = u64::MAX.checked_shr(8 * (8 - dot) as u32).unwrap_or(0);
    let int = ((lo & int_bytes) | (ZEROS & !int_bytes)).wrapping_sub(ZEROS);
    let frac_bytes = u64::MAX.checked_shl(8 * (8 - frac) as u32).unwrap_or(0);
    let fr = ((hi & frac_bytes) | (ZEROS & !frac_bytes)).wrapping_sub(ZEROS);
    if not_digits(int) | not_digits(fr) {
        return None;
    }
    let keep = frac.min(dp as usize);
    let drop = frac - keep;
    // Digits beyond `dp` decimals (the top `drop` bytes) must be zeros.
    if fr.checked_shr(8 * (8 - drop) as u32).unwrap_or(0) != 0 {
        return None;
    }
    // Each part's last digit moved to the top byte: the zeros below read as leading zeros.
    let int = fold8(int.checked_shl(8 * (8 - dot) as u32).unwrap_or(0));
    let fr = fold8(fr.checked_shl(8 * drop as u32).unwrap_or(0));
    // At most 16 digits: below 10^16.
    let v = (int * POW10[keep] as u64 + fr) as i64;
    let v = v.checked_mul(POW10[dp as usize - keep])?;
    Some(if neg { -v } else { v })
}

/// [`parse_fixed`] of any text, each step checked for overflow.
fn parse_long(neg: bool, s: &[u8], dp: u32) -> Option<i64> {
    let mut v: i64 = 0;
    let mut i = 0;
    let mut digits = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        v = v.checked_mul(10)?.checked_add(i64::from(s[i] - b'0'))?;
        i += 1;
        digits += 1;
    }
    let mut frac = 0u32;
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            let d = s[i] - b'0';
            if frac < dp {
                v = v.checked_mul(10)?.checked_add(i64::from(d))?;
                frac += 1;
            } else if d != 0 {
                return None;
            }
            i += 1;
            digits += 1;
        }
    }
    if i != s.len() || digits == 0 || dp > 18 {
        return None;
    }
    v = v.checked_mul(POW10[(dp - frac) as usize])?;
    Some(if neg { -v } else { v })
}

/// [`parse_fixed`] of text of at most 18 bytes (so at most 18 digits: the value read is
/// below 10^18 and cannot overflow before the final scaling), without the overflow checks
/// of every step: the hot path of every decoder.
#[inline]
fn parse_short(neg: bool, s: &[u8], dp: u32) -> Option<i64> {
    let mut v: i64 = 0;
    let mut i = 0;
    while let Some(&c @ b'0'..=b'9') = s.get(i) {
        v = v.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
        i += 1;
    }
    let mut digits = i;
    let mut frac = 0u32;
    if let Some(b'.') = s.get(i) {
        i += 1;
        let start = i;
        while let Some(&c @ b'0'..=b'9') = s.get(i) {
            if frac < dp {
                v = v.wrapping_mul(10).wrapping_add(i64::from(c - b'0'));
                frac += 1;
            } else if c != b'0' {
                return None;
            }
            i += 1;
        }
        digits += i - start;
    }
    if i != s.len() || digits == 0 {
        return None;
    }
    v = v.checked_mul(POW10[(dp - frac) as usize])?;
    Some(if neg { -v } else { v })
}

/// Decimals written in a number's text (`"63381.0"` -> 1, `"5"` -> 0).
pub fn decimals_of(text: &str) -> u32 {
    text.find('.').map_or(0, |p| (text.len() - p - 1) as u32)
}

/// Most scalars one array element may hold (Coinbase's level objects have the most).
pub const MAX_TOKENS: usize = 12;

/// The scalars (string contents or number text) of one element of a level array, in order.
/// `["61837.63","3.78"]` gives two; `{"price":63388.7,"qty":0.25}` gives four (keys too).
#[derive(Default)]
pub struct Tokens<'a> {
    pub items: [&'a str; MAX_TOKENS],
    pub len: usize,
}

impl<'a> Tokens<'a> {
    /// The token at `i` (empty if absent).
    #[inline]
    pub fn get(&self, i: usize) -> &'a str {
        if i < self.len { self.items[i] } else { "" }
    }
    /// The value after key `key` in an object element.
    #[inline]
    pub fn value(&self, key: &str) -> Option<&'a str> {
        let mut i = 0;
        while i + 1 < self.len {
            if self.items[i] == key {
                return Some(self.items[i + 1]);
            }
            i += 2;
        }
        None
    }
}

/// Walk a JSON array of arrays or objects of scalars (the raw text of a `bids` field),
/// calling `f` once per element with its scalars. No allocation. Returns `false` if the
/// text is not such an array (the caller counts a malformed frame). Strings are taken as
/// written (escapes are not decoded: numbers and keys never have any).
pub fn for_each_element<'a>(raw: &'a str, mut f: impl FnMut(&Tokens<'a>) -> bool) -> bool {
    let b = raw.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\n' | b'\r' | b'\t') {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if i >= b.len() || b[i] != b'[' {
        return false;
    }
    i += 1;
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            return false;
        }
        match b[i] {
            b']' => return true,
            b',' => {
                i += 1;
                continue;
            }
            b'[' | b'{' => {
                let close = if b[i] == b'[' { b']' } else { b'}' };
                i += 1;
                let mut t = Tokens::default();
                loop {
                    skip_ws(&mut i);
                    if i >= b.len() {
                        return false;
                    }
                    let c = b[i];
                    if c == close {
                        i += 1;
                        break;
                    }
                    match c {
                        b',' | b':' => i += 1,
                        b'"' => {
                            let start = i + 1;
                            let mut j = start;
                            while j < b.len() && b[j] != b'"' {
                                if b[j] == b'\\' {
                                    j += 1;
                                }
                                j += 1;
                            }
                            if j >= b.len() {
                                return false;
                            }
                            if t.len < MAX_TOKENS {
                                t.items[t.len] = &raw[start..j];
                                t.len += 1;
                            }
                            i = j + 1;
                        }
                        b'[' | b'{' | b']' | b'}' => return false,
                        _ => {
                            let start = i;
                            while i < b.len() && !matches!(b[i], b',' | b']' | b'}' | b' ' | b':') {
                                i += 1;
                            }
                            if t.len < MAX_TOKENS {
                                t.items[t.len] = &raw[start..i];
                                t.len += 1;
                            }
                        }
                    }
                }
                if !f(&t) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// One instrument's book as a decoder keeps it.
#[derive(Clone, Debug)]
pub struct BookState {
    pub instrument: Instrument,
    pub book: OrderBook,
    pub stats: FeedStats,
    pub price: Scale,
    pub qty: Scale,
    /// The book is not to be trusted until the next snapshot.
    pub resyncing: bool,
    /// A snapshot has been applied since the start or the last resync.
    pub synced: bool,
    /// The venue's last sequence number applied (meaning depends on the venue).
    pub last_seq: Option<i64>,
    pub limits: BookLimits,
    /// Twice the mid, in ticks, of the last trusted book: the centre of the sanity band.
    /// Kept through resyncs: a snapshot is checked against it too.
    pub trusted_mid_x2: Option<i64>,
    /// Where the events of the update being applied start in the caller's output, and
    /// why the update is bad data (set by [`BookState::set`], acted on by
    /// [`BookState::applied`]).
    mark: Option<usize>,
    bad: Option<String>,
    /// Snapshots refused in a row for lying outside the sanity band.
    refused_snapshots: u32,
}

/// Snapshots refused in a row for the sanity band before the band is dropped (see
/// [`BookState::applied_snapshot`]).
pub const RECENTRE_AFTER: u32 = 3;

impl BookState {
    pub fn new(instrument: Instrument, price: Scale, qty: Scale) -> Self {
        BookState {
            instrument,
            book: OrderBook::new(),
            stats: FeedStats::default(),
            price,
            qty,
            resyncing: false,
            synced: false,
            last_seq: None,
            limits: BookLimits::default(),
            trusted_mid_x2: None,
            mark: None,
            bad: None,
            refused_snapshots: 0,
        }
    }

    /// The sanity band, in ticks: `(lowest, highest)` price trusted, if a mid is known.
    pub fn band(&self) -> Option<(i64, i64)> {
        if self.limits.sanity_band_pct == 0 {
            return None;
        }
        let m2 = self.trusted_mid_x2?;
        // In i64 when the products fit (asked once per level applied: a division of i64
        // by a constant is a multiply, an i128 one a library call); the same quotients.
        let pct = i64::from(self.limits.sanity_band_pct);
        if let (Some(lo), Some(hi)) = (
            m2.checked_mul(100 - pct.min(100)),
            m2.checked_mul(100 + pct),
        ) {
            return Some((lo / 200, hi / 200));
        }
        let pct = i128::from(pct);
        let m2 = i128::from(m2);
        let lo = m2 * (100 - pct.min(100)) / 200;
        let hi = m2 * (100 + pct) / 200;
        Some((
            i64::try_from(lo).unwrap_or(i64::MIN),
            i64::try_from(hi).unwrap_or(i64::MAX),
        ))
    }

    /// Whether a price lies outside the sanity band.
    #[inline]
    pub fn outside_band(&self, price: Price) -> bool {
        self.band()
            .is_some_and(|(lo, hi)| price.0 < lo || price.0 > hi)
    }

    /// Whether a level on `side` at `price` is beyond the band on the side that matters:
    /// a bid above it or an ask below it.
    #[inline]
    pub fn absurd_level(&self, side: Side, price: Price) -> bool {
        self.band().is_some_and(|(lo, hi)| match side {
            Side::Buy => price.0 > hi,
            Side::Sell => price.0 < lo,
        })
    }

    pub fn id(&self) -> InstrumentId {
        self.instrument.id
    }

    /// A frame of this instrument stamped by the venue at `event_ms` (milliseconds since
    /// the epoch) and received at `recv`: its market-data latency (the two clocks'
    /// offset included).
    pub fn event_time_ms(&mut self, event_ms: i64, recv: Timestamp) {
        let ns = recv.0.saturating_sub(event_ms.saturating_mul(1_000_000));
        self.stats.md_latency.observe_ns(ns);
    }

    /// [`BookState::event_time_ms`] for a stamp given as milliseconds in text, if any.
    pub fn event_time_ms_text(&mut self, event_ms: Option<&str>, recv: Timestamp) {
        if let Some(ms) = event_ms.and_then(|t| t.trim().parse::<i64>().ok()) {
            self.event_time_ms(ms, recv);
        }
    }

    /// [`BookState::event_time_ms`] for an RFC 3339 stamp (`2023-10-06T17:35:55.440295Z`),
    /// if any and readable.
    pub fn event_time_rfc3339(&mut self, text: Option<&str>, recv: Timestamp) {
        let Some(t) = text.and_then(|t| humantime::parse_rfc3339(t).ok()) else {
            return;
        };
        let Ok(d) = t.duration_since(std::time::UNIX_EPOCH) else {
            return;
        };
        let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        self.stats.md_latency.observe_ns(recv.0.saturating_sub(ns));
    }

    /// Count a frame of `bytes` for this instrument.
    #[inline]
    pub fn frame(&mut self, bytes: usize) {
        self.stats.frames += 1;
        self.stats.bytes += bytes as u64;
    }

    /// Parse one level's text; `None` if malformed.
    #[inline]
    pub fn level(&self, price: &str, qty: &str) -> Option<Level> {
        Some(Level::new(
            Price(self.price.parse(price)?),
            Qty(self.qty.parse(qty)?),
        ))
    }

    /// Set one level and emit it. A bid with size above the sanity band, or an ask below
    /// it, marks the
    /// update as bad data: [`BookState::applied`] then takes its events back and resyncs.
    #[inline]
    pub fn set(&mut self, ts: Timestamp, side: Side, l: Level, out: &mut Vec<MarketEvent>) {
        if self.mark.is_none() {
            self.mark = Some(out.len());
        }
        if l.qty.is_positive()
            && self.synced
            && !self.resyncing
            && self.bad.is_none()
            && self.absurd_level(side, l.price)
        {
            self.stats.insane += 1;
            self.bad = Some(format!(
                "{side:?} level at {} ticks outside the {}% sanity band",
                l.price.0, self.limits.sanity_band_pct
            ));
        }
        self.book.update(side, l.price, l.qty);
        out.push(MarketEvent {
            ts,
            instrument: self.instrument.id,
            kind: MarketEventKind::Level {
                side,
                price: l.price,
                qty: l.qty,
            },
        });
    }

    /// Keep only the best `depth` levels on each side, emitting a delete for every level
    /// dropped, so a book built from the events keeps matching this one.
    pub fn truncate(&mut self, depth: usize, ts: Timestamp, out: &mut Vec<MarketEvent>) {
        for side in [Side::Buy, Side::Sell] {
            for l in self.book.levels(side).skip(depth) {
                out.push(MarketEvent {
                    ts,
                    instrument: self.instrument.id,
                    kind: MarketEventKind::Level {
                        side,
                        price: l.price,
                        qty: Qty::ZERO,
                    },
                });
            }
        }
        self.book.truncate(depth);
    }

    /// The book, when it is to be trusted: synced and not RESYNCING. A book built from
    /// the events this state emitted equals it then.
    pub fn trusted_book(&self) -> Option<&OrderBook> {
        (self.synced && !self.resyncing).then_some(&self.book)
    }

    /// The book now holds a fresh snapshot: emit it whole (it also ends a RESYNCING state).
    pub fn emit_snapshot(&mut self, ts: Timestamp, out: &mut Vec<MarketEvent>) {
        self.resyncing = false;
        self.synced = true;
        out.push(MarketEvent {
            ts,
            instrument: self.instrument.id,
            kind: MarketEventKind::Snapshot {
                bids: self.book.levels(Side::Buy).collect(),
                asks: self.book.levels(Side::Sell).collect(),
            },
        });
    }

    /// An applied update (or snapshot) is done: count it, then check it. A crossed book, a
    /// level outside the sanity band or a mid that does not fit is bad data: the update's
    /// events are taken back out of `out` (nothing downstream ever sees them), the book is
    /// emptied and RESYNCING until a fresh snapshot; returns `false` then (the caller asks
    /// the venue for that snapshot).
    #[inline]
    pub fn applied(&mut self, ts: Timestamp, out: &mut Vec<MarketEvent>) -> bool {
        self.stats.updates += 1;
        let mark = self.mark.take();
        let mut bad = self.bad.take();
        if bad.is_none() && self.book.is_crossed() {
            self.stats.crossed += 1;
            let (b, a) = (self.book.best_bid(), self.book.best_ask());
            bad = Some(format!(
                "crossed book: bid {} >= ask {} ticks",
                b.map_or(0, |l| l.price.0),
                a.map_or(0, |l| l.price.0)
            ));
        }
        let two_sided = self.book.best_bid().is_some() && self.book.best_ask().is_some();
        let mid = self.book.mid_x2_ticks();
        if bad.is_none() && two_sided && mid.is_none() {
            self.stats.insane += 1;
            bad = Some("best bid plus best ask overflows".into());
        }
        if let Some(reason) = bad {
            if let Some(m) = mark.filter(|&m| m <= out.len()) {
                let id = self.instrument.id;
                let tail = out.split_off(m);
                out.extend(tail.into_iter().filter(|e| e.instrument != id));
            }
            self.book.clear();
            self.resync(ts, reason, out);
            return false;
        }
        if mid.is_some() {
            self.trusted_mid_x2 = mid;
        }
        true
    }

    /// [`BookState::applied`] for a snapshot whose levels went to a scratch buffer (not
    /// `out`): nothing to take back from `out` if it is bad. A snapshot is held to the
    /// sanity band around the last trusted mid too (kept through the resync): one whose
    /// best bid lies above it or best ask below it is bad data, refused like a bad update.
    /// The market may really have moved that far while the feed was away, so after
    /// [`RECENTRE_AFTER`] snapshots refused in a row the band is dropped (counted in
    /// `recentred`, with a warning) and the next snapshot sets its centre afresh: never a
    /// resubscribe loop.
    #[inline]
    pub fn applied_snapshot(&mut self, ts: Timestamp, out: &mut Vec<MarketEvent>) -> bool {
        self.mark = None;
        if let Some((lo, hi)) = self.band() {
            let bid = self.book.best_bid().map(|l| l.price.0);
            let ask = self.book.best_ask().map(|l| l.price.0);
            if bid.is_some_and(|p| p > hi) || ask.is_some_and(|p| p < lo) {
                self.refused_snapshots += 1;
                if self.bad.is_none() {
                    // (A level `set` already found outside the band was counted there.)
                    self.stats.insane += 1;
                    self.bad = Some(format!(
                        "snapshot outside the {}% sanity band: best bid {bid:?}, best ask {ask:?}, band {lo}..{hi} ticks",
                        self.limits.sanity_band_pct
                    ));
                }
                if self.refused_snapshots >= RECENTRE_AFTER {
                    self.refused_snapshots = 0;
                    self.trusted_mid_x2 = None;
                    self.stats.recentred += 1;
                    crate::warn_limited!("feed.recentred", instrument = %self.instrument.symbol, venue = %self.instrument.venue,
                        "{RECENTRE_AFTER} snapshots in a row outside the sanity band: the market moved; the next snapshot sets the band afresh");
                }
            }
        }
        let ok = self.applied(ts, out);
        if ok {
            self.refused_snapshots = 0;
        }
        ok
    }

    /// A new connection: a synced book goes RESYNCING, and every book is rebuilt from the
    /// next snapshot.
    pub fn reset_on_connect(&mut self, ts: Timestamp, out: &mut Vec<MarketEvent>) {
        if self.synced {
            self.resync(ts, "reconnected".into(), out);
        }
        self.book.clear();
        self.synced = false;
    }

    /// Mark the book RESYNCING (once per episode) and emit the event.
    pub fn resync(&mut self, ts: Timestamp, reason: String, out: &mut Vec<MarketEvent>) {
        self.synced = false;
        self.last_seq = None;
        if self.resyncing {
            return;
        }
        crate::warn_limited!("feed.resync", instrument = %self.instrument.symbol, venue = %self.instrument.venue, "resyncing: {reason}");
        self.resyncing = true;
        self.stats.resyncs += 1;
        out.push(MarketEvent {
            ts,
            instrument: self.instrument.id,
            kind: MarketEventKind::Resyncing { reason },
        });
    }

    /// A sequence gap: counted, then RESYNCING.
    pub fn gap(&mut self, ts: Timestamp, reason: String, out: &mut Vec<MarketEvent>) {
        self.stats.gaps += 1;
        self.resync(ts, reason, out);
    }

    /// Emit a trade; one priced outside the sanity band is bad data: dropped and counted.
    pub fn trade(
        &mut self,
        ts: Timestamp,
        price: Price,
        qty: Qty,
        aggressor: Side,
        out: &mut Vec<MarketEvent>,
    ) {
        if self.outside_band(price) || price.0 <= 0 {
            self.stats.insane += 1;
            tracing::warn!(instrument = %self.instrument.symbol, venue = %self.instrument.venue,
                "trade at {} ticks outside the sanity band: dropped", price.0);
            return;
        }
        out.push(MarketEvent {
            ts,
            instrument: self.instrument.id,
            kind: MarketEventKind::Trade(TradeTick {
                ts,
                price,
                qty,
                aggressor,
            }),
        });
    }

    /// Count and log a malformed frame.
    pub fn malformed(&mut self, what: &str) {
        self.stats.malformed += 1;
        crate::warn_limited!("feed.malformed", instrument = %self.instrument.symbol, venue = %self.instrument.venue, "malformed frame: {what}");
    }
}

/// The instruments of a decoder: configured ones (only those are followed), or discovered
/// from the feed (`pit verify`), each with its own [`BookState`].
#[derive(Debug, Default)]
pub struct Books {
    pub states: Vec<BookState>,
    /// Cached instrument list, in id order.
    pub instruments: Vec<Instrument>,
    /// Key -> index; keys are venue-specific (e.g. url+topic for Bybit).
    keys: Vec<String>,
    /// Create unknown instruments on sight with [`Scale::AUTO`] (or their `grid` entry).
    discover: bool,
    /// Tick, lot and minimum size of instruments discovered by name (replays of real
    /// captures: derived from the capture or set in the config); others get the `1e-8` grid.
    grid: Vec<Instrument>,
    venue: String,
    /// Malformed frames that name no instrument.
    pub unattributed_malformed: u64,
    /// The trust limits every book takes (`[book]`).
    limits: BookLimits,
    /// Sanity bands of single instruments, by symbol (`[[instruments]] sanity_band_pct`).
    bands: std::collections::BTreeMap<String, u32>,
}

/// The trust limits of the instrument `symbol`: `[book]`, with its own band if set.
fn limits_of(
    limits: BookLimits,
    bands: &std::collections::BTreeMap<String, u32>,
    symbol: &str,
) -> BookLimits {
    let mut l = limits;
    if let Some(&pct) = bands.get(symbol) {
        l.sanity_band_pct = pct;
    }
    l
}

impl Books {
    /// Set the trust limits of every book, present and discovered later.
    pub fn set_limits(&mut self, limits: BookLimits) {
        self.limits = limits;
        for st in &mut self.states {
            st.limits = limits_of(self.limits, &self.bands, &st.instrument.symbol);
        }
    }

    /// Give single instruments a sanity band of their own (by symbol), replacing
    /// `[book] sanity_band_pct` for them, present and discovered later.
    pub fn set_bands(&mut self, bands: &std::collections::BTreeMap<String, u32>) {
        self.bands = bands.clone();
        for st in &mut self.states {
            st.limits = limits_of(self.limits, &self.bands, &st.instrument.symbol);
        }
    }

    /// The trust limits every book takes (`[book]`).
    pub fn limits(&self) -> BookLimits {
        self.limits
    }

    /// A new connection: every book is rebuilt from a fresh snapshot.
    pub fn on_connect(&mut self, ts: Timestamp, out: &mut Vec<MarketEvent>) {
        for st in &mut self.states {
            st.reset_on_connect(ts, out);
        }
    }

    /// Follow only `instruments`; keys are their symbols.
    pub fn configured(venue: &str, instruments: Vec<Instrument>) -> Self {
        let mut b = Books {
            venue: venue.into(),
            ..Default::default()
        };
        for i in instruments {
            let price = Scale::of(i.tick_size).unwrap_or(Scale::AUTO);
            let qty = Scale::of(i.lot_size).unwrap_or(Scale::AUTO);
            b.keys.push(i.symbol.clone());
            b.instruments.push(i.clone());
            b.states.push(BookState::new(i, price, qty));
        }
        b
    }

    /// Discover instruments from the feed, on the `1e-8` grid.
    pub fn discovering(venue: &str) -> Self {
        Books {
            venue: venue.into(),
            discover: true,
            ..Default::default()
        }
    }

    /// Discover instruments from the feed; those named in `grid` take its tick, lot and
    /// minimum size, the others the `1e-8` grid (replays and backtests of real captures).
    pub fn discovering_on(venue: &str, grid: Vec<Instrument>) -> Self {
        Books {
            grid,
            ..Books::discovering(venue)
        }
    }

    /// The index of the instrument with this key, creating it (named `name`) when
    /// discovering. `None` if it is not followed.
    #[inline]
    pub fn index(&mut self, key: &str, name: impl FnOnce() -> String) -> Option<usize> {
        if let Some(i) = self.keys.iter().position(|k| k == key) {
            return Some(i);
        }
        if !self.discover || self.states.len() >= u16::MAX as usize {
            return None;
        }
        let id = InstrumentId(self.states.len() as u16);
        let name = name();
        let gridded = self.grid.iter().find(|g| g.symbol == name).and_then(|g| {
            Some((
                Instrument::new(
                    id,
                    name.clone(),
                    self.venue.clone(),
                    g.tick_size,
                    g.lot_size,
                    g.min_qty,
                ),
                Scale::of(g.tick_size)?,
                Scale::of(g.lot_size)?,
            ))
        });
        let (inst, price, qty) = gridded.unwrap_or_else(|| {
            let tick = Scale::AUTO.decimal();
            let inst = Instrument::new(id, name, self.venue.clone(), tick, tick, Qty(1));
            (inst, Scale::AUTO, Scale::AUTO)
        });
        self.keys.push(key.to_string());
        self.instruments.push(inst.clone());
        let mut st = BookState::new(inst, price, qty);
        st.limits = limits_of(self.limits, &self.bands, &st.instrument.symbol);
        self.states.push(st);
        Some(self.states.len() - 1)
    }

    pub fn stats(&self) -> Vec<FeedStats> {
        self.states.iter().map(|s| s.stats).collect()
    }

    /// Instrument `i`'s book when it is to be trusted (see [`BookState::trusted_book`]).
    pub fn trusted_book(&self, i: usize) -> Option<&OrderBook> {
        self.states.get(i)?.trusted_book()
    }

    /// Count a malformed frame that names no instrument.
    pub fn malformed(&mut self, what: &str) {
        self.unattributed_malformed += 1;
        crate::warn_limited!("feed.malformed", venue = %self.venue, "malformed frame: {what}");
    }
}

/// The parts of [`FrameDecoder`](crate::venue::exchanges::decode::FrameDecoder) every real venue's
/// decoder shares, for decoders that keep their books in `books: Books` and queue their
/// connection requests in `requests: Vec<FeedRequest>`. Use it inside the trait impl.
macro_rules! books_decoder_parts {
    () => {
        fn instruments(&self) -> &[crate::domain::Instrument] {
            &self.books.instruments
        }
        fn requests(&mut self) -> Vec<crate::venue::exchanges::decode::FeedRequest> {
            std::mem::take(&mut self.requests)
        }
        fn stats(&self) -> Vec<crate::venue::exchanges::decode::FeedStats> {
            self.books.stats()
        }
        fn book(&self, i: usize) -> Option<&crate::domain::OrderBook> {
            self.books.trusted_book(i)
        }
        fn unattributed_malformed(&self) -> u64 {
            self.books.unattributed_malformed
        }
        fn set_book_limits(&mut self, limits: crate::venue::exchanges::decode::BookLimits) {
            self.books.set_limits(limits);
        }
        fn set_sanity_bands(&mut self, bands: &std::collections::BTreeMap<String, u32>) {
            self.books.set_bands(bands);
        }
        fn sanity_band(&self, i: usize) -> Option<(i64, i64)> {
            self.books.states.get(i)?.band()
        }
    };
}
pub(crate) use books_decoder_parts;

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// Event stamps as the venues write them: ms in text (OKX, Polymarket) and RFC 3339
    /// (Kraken, Coinbase); an unreadable one is no observation.
    #[test]
    fn event_stamps_in_text_give_the_market_data_latency() {
        let inst = Instrument::new(InstrumentId(0), "X", "v", dec!(0.1), dec!(0.1), Qty(1));
        let mut st = BookState::new(inst, Scale::AUTO, Scale::AUTO);
        // 2023-10-06T17:35:55.440295Z is 1_696_613_755_440_295_000 ns.
        let recv = Timestamp(1_696_613_755_450_295_000);
        st.event_time_rfc3339(Some("2023-10-06T17:35:55.440295Z"), recv);
        st.event_time_ms_text(Some("1696613755440"), recv);
        st.event_time_rfc3339(Some("t"), recv);
        st.event_time_ms_text(Some("soon"), recv);
        st.event_time_ms_text(None, recv);
        let h = st.stats.md_latency;
        assert_eq!(h.count, 2);
        assert_eq!(h.sum_ns, 10_000_000 + 10_295_000);
        assert_eq!(h.counts[6], 1, "10 ms");
        assert_eq!(h.counts[7], 1, "10.295 ms");
    }

    #[test]
    fn fixed_point_parsing_is_exact() {
        assert_eq!(parse_fixed(b"61837.63000000", 8), Some(6_183_763_000_000));
        assert_eq!(parse_fixed(b"0.00000001", 8), Some(1));
        assert_eq!(parse_fixed(b"5", 2), Some(500));
        assert_eq!(parse_fixed(b"-1.5", 1), Some(-15));
        assert_eq!(parse_fixed(b"1.50", 1), Some(15));
        assert_eq!(parse_fixed(b"1.55", 1), None);
        assert_eq!(parse_fixed(b".48", 2), Some(48));
        assert_eq!(parse_fixed(b"", 2), None);
        assert_eq!(parse_fixed(b"1e5", 2), None);
        assert_eq!(parse_fixed(b"99999999999999999999", 0), None);
        let s = Scale::of(dec!(0.5)).unwrap();
        assert_eq!(s.parse("10.5"), Some(21));
        assert_eq!(s.parse("10.25"), None);
        assert_eq!(
            Scale::of(dec!(0.01)).unwrap().parse("3000.1"),
            Some(300_010)
        );
        assert_eq!(Scale::of(dec!(10)).unwrap().parse("120"), Some(12));
        assert_eq!(decimals_of("63381.0"), 1);
        // Read a word at a time (eight bytes or more).
        assert_eq!(parse_fixed(b"61837.6300000001", 8), None);
        assert_eq!(parse_fixed(b"61837.6300000000", 8), Some(6_183_763_000_000));
        assert_eq!(parse_fixed(b"0.00123000", 5), Some(123));
        assert_eq!(parse_fixed(b"-0.00123000", 5), Some(-123));
        assert_eq!(parse_fixed(b"12345678", 0), Some(12_345_678));
        assert_eq!(
            parse_fixed(b"123456789012345678", 0),
            Some(123_456_789_012_345_678)
        );
        assert_eq!(
            parse_fixed(b"12345678901234567.", 1),
            Some(123_456_789_012_345_670)
        );
        assert_eq!(
            parse_fixed(b"1234567890123456.7", 2),
            Some(123_456_789_012_345_670)
        );
        assert_eq!(
            parse_fixed(b"1234567890123456.7", 3),
            Some(1_234_567_890_123_456_700)
        );
        assert_eq!(parse_fixed(b"1234567890123456.7", 4), None); // above i64::MAX
        assert_eq!(parse_fixed(b"1234.5678.9", 8), None);
        assert_eq!(parse_fixed(b"1234:5678", 8), None);
        assert_eq!(parse_fixed(b"1234/5678", 8), None);
        assert_eq!(parse_fixed(b"12 345678", 8), None);
        assert_eq!(parse_fixed(b".1234567", 7), Some(1_234_567));
        assert_eq!(parse_fixed(b"1234567.", 0), Some(1_234_567));
    }

    proptest::proptest! {
        /// The unchecked reading of short text gives what the checked one gives.
        #[test]
        fn short_numbers_read_as_the_checked_loop_reads_them(
            text in "-?[0-9.e x-]{0,18}|-?[0-9]{0,12}\\.[0-9]{0,12}", dp in 0u32..20,
        ) {
            let (neg, s) = match text.as_bytes().first() {
                Some(b'-') => (true, &text.as_bytes()[1..]),
                _ => (false, text.as_bytes()),
            };
            if s.len() <= 18 && dp <= 18 {
                proptest::prop_assert_eq!(parse_short(neg, s, dp), parse_long(neg, s, dp), "{}", text);
            }
        }

        /// The word-at-a-time reading gives what the checked loop gives, on text of every
        /// length and every byte (those next to the digits included: '/', ':', '-').
        #[test]
        fn numbers_read_a_word_at_a_time_as_the_checked_loop_reads_them(
            text in "-?[0-9]{0,18}\\.?[0-9]{0,18}|-?[0-9./:\\-]{0,20}|-?[0-9]{0,12}[\\x00-\\xff][0-9]{0,12}\\.[0-9]{0,6}|[0-9]{1,9}\\.[0-9]{0,9}0{0,9}",
            dp in 0u32..20,
        ) {
            let (neg, s) = match text.as_bytes().first() {
                Some(b'-') => (true, &text.as_bytes()[1..]),
                _ => (false, text.as_bytes()),
            };
            proptest::prop_assert_eq!(parse_fixed(text.as_bytes(), dp), parse_long(neg, s, dp), "{}", text);
        }

        /// The same on the word-at-a-time path's own shape (digits, a dot, digits: up to
        /// 17 bytes, 8 to 16 taking that path), with any byte (a second dot, a sign, 0xae,
        /// a '/' or ':' next to the digits ...) put anywhere.
        #[test]
        fn any_byte_anywhere_reads_as_the_checked_loop_reads_it(
            int in "[0-9]{0,8}", frac in "[0-9]{0,8}", junk in proptest::prelude::any::<u8>(),
            at in proptest::prelude::any::<usize>(), put in proptest::prelude::any::<bool>(),
            dp in 0u32..20,
        ) {
            let mut text = format!("{int}.{frac}").into_bytes();
            if put {
                let i = at % text.len();
                text[i] = junk;
            }
            let (neg, s) = match text.first() {
                Some(b'-') => (true, &text[1..]),
                _ => (false, &text[..]),
            };
            proptest::prop_assert_eq!(parse_fixed(&text, dp), parse_long(neg, s, dp), "{:?}", text);
        }

        /// The band in i64 is the band in i128.
        #[test]
        fn band_in_i64_is_the_band_in_i128(m2 in proptest::prelude::any::<i64>(), pct in 0u32..1000) {
            let inst = Instrument::new(InstrumentId(0), "X", "v", dec!(0.1), dec!(0.1), Qty(1));
            let mut st = BookState::new(inst, Scale::AUTO, Scale::AUTO);
            st.limits.sanity_band_pct = pct;
            st.trusted_mid_x2 = Some(m2);
            let want = (pct > 0).then(|| {
                let (m2, pct) = (i128::from(m2), i128::from(pct));
                (
                    i64::try_from(m2 * (100 - pct.min(100)) / 200).unwrap_or(i64::MIN),
                    i64::try_from(m2 * (100 + pct) / 200).unwrap_or(i64::MAX),
                )
            });
            proptest::prop_assert_eq!(st.band(), want);
        }
    }

    #[test]
    fn scans_level_arrays() {
        let mut got = Vec::new();
        let ok = for_each_element(r#"[["1.5","2"],["3", "4","0","1"]]"#, |t| {
            got.push((t.get(0).to_string(), t.get(1).to_string(), t.len));
            true
        });
        assert!(ok);
        assert_eq!(
            got,
            vec![("1.5".into(), "2".into(), 2), ("3".into(), "4".into(), 4)]
        );
        let mut p = Vec::new();
        assert!(for_each_element(
            r#"[{"price":63388.7,"qty":0.25761908},{"price":1,"qty":2}]"#,
            |t| {
                p.push((t.value("price").unwrap_or(""), t.value("qty").unwrap_or("")));
                true
            }
        ));
        assert_eq!(p, vec![("63388.7", "0.25761908"), ("1", "2")]);
        assert!(for_each_element("[]", |_| true));
        assert!(!for_each_element("[[\"1\"", |_| true));
        assert!(!for_each_element("{}", |_| true));
        assert!(!for_each_element("[[[1]]]", |_| true));
    }
}
