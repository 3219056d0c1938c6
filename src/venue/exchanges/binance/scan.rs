//! One pass over a Binance stream message: its fields found by a small hand-written
//! scanner over the bytes, the level arrays of a depth diff walked as they are met.
//!
//! Why by hand: this is the feed's hot path (a `depth@100ms` diff carries tens to
//! hundreds of levels), and reading it with serde meant scanning each level array twice
//! (serde validating a `RawValue`, then [`for_each_element`](super::super::common::for_each_element)
//! walking it again). Here the arrays are validated and their price and size text located
//! in the same pass; the caller turns that text into ticks and lots with the exact
//! [`Scale::parse`](super::super::common::Scale::parse).
//!
//! The scanner only ever says yes to messages it can read with certainty: a JSON object
//! whose keys and strings hold no escapes, whose `E`/`U`/`u` are plain non-negative
//! integers, whose `b`/`a` are strings or arrays of `["price","size"]` pairs, and whose
//! other values are well-formed JSON. Anything else (escapes, `null`, `-0`, an exponent, a
//! duplicated field, a level written as numbers, a nested `data` envelope ...) gets `None`,
//! and the decoder reads the message with serde as before: its acceptance rules, its
//! errors and its counters for odd or malformed frames stay exactly what they were. Every
//! message the scanner accepts, serde accepts too, with the same field values (the tests
//! below and the property test compare the two).
//!
//! A level laid out exactly as Binance sends it (`["61837.63000000","3.78000000"]`, no
//! whitespace) is read by a fast path (`compact_level`); any other layout goes to the
//! general path from the same place, so the fast path changes no verdict.
//!
//! No allocation: level positions go to a scratch [`Levels`] the decoder keeps.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Byte offsets of one level's price and size text (string contents) in the message:
/// `[price start, price end, size start, size end]`.
pub type Span = [usize; 4];

/// The level positions of the last message scanned, by side.
#[derive(Default, Debug)]
pub struct Levels {
    pub bids: Vec<Span>,
    pub asks: Vec<Span>,
}

impl Levels {
    fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }
}

/// Every stream message field the decoder reads, by Binance's names (see
/// binance-spot-api-docs web-socket-streams.md: "Diff. Depth Stream", "Trade Streams",
/// "Individual Symbol Book Ticker Streams").
#[derive(Default, Debug, PartialEq)]
pub struct Msg<'a> {
    pub e: Option<&'a str>,
    pub s: Option<&'a str>,
    /// Event time, ms ("E").
    pub event_ms: Option<i64>,
    /// "U": the diff's first update id.
    pub first: Option<i64>,
    pub u: Option<i64>,
    /// Depth: bid levels; bookTicker: best bid price. The value's JSON text.
    pub b: Option<&'a str>,
    pub a: Option<&'a str>,
    /// "B", "A": bookTicker sizes.
    pub bid_qty: Option<&'a str>,
    pub ask_qty: Option<&'a str>,
    pub p: Option<&'a str>,
    pub q: Option<&'a str>,
    pub m: Option<bool>,
    /// The scanner read this message: `b` and `a`, where arrays, are already walked into
    /// the [`Levels`] it was given (else they are walked from their text).
    pub scanned: bool,
}

/// The same fields read by serde (the path for messages the scanner declines).
#[derive(Deserialize)]
struct SerdeMsg<'a> {
    #[serde(borrow, default)]
    e: Option<&'a str>,
    #[serde(borrow, default)]
    s: Option<&'a str>,
    #[serde(rename = "E", default)]
    event_ms: Option<i64>,
    #[serde(rename = "U", default)]
    first: Option<i64>,
    #[serde(default)]
    u: Option<i64>,
    #[serde(borrow, default)]
    b: Option<&'a RawValue>,
    #[serde(borrow, default)]
    a: Option<&'a RawValue>,
    #[serde(rename = "B", borrow, default)]
    bid_qty: Option<&'a str>,
    #[serde(rename = "A", borrow, default)]
    ask_qty: Option<&'a str>,
    #[serde(borrow, default)]
    p: Option<&'a str>,
    #[serde(borrow, default)]
    q: Option<&'a str>,
    #[serde(default)]
    m: Option<bool>,
}

/// `text` read by serde, as the decoder always did.
pub fn serde_msg(text: &str) -> Result<Msg<'_>, serde_json::Error> {
    let m: SerdeMsg = serde_json::from_str(text)?;
    Ok(Msg {
        e: m.e,
        s: m.s,
        event_ms: m.event_ms,
        first: m.first,
        u: m.u,
        b: m.b.map(RawValue::get),
        a: m.a.map(RawValue::get),
        bid_qty: m.bid_qty,
        ask_qty: m.ask_qty,
        p: m.p,
        q: m.q,
        m: m.m,
        scanned: false,
    })
}

/// `text` read by the scanner, else by serde.
pub fn msg<'a>(text: &'a str, levels: &mut Levels) -> Result<Msg<'a>, serde_json::Error> {
    match scan(text, false, levels) {
        Some(m) => Ok(m),
        None => serde_msg(text),
    }
}

/// Deepest nesting of an unknown field's value the scanner reads (deeper: declined).
const MAX_DEPTH: u32 = 16;

/// Read `text` as a stream message in one pass; `None` if the scanner cannot vouch for
/// it (see the module docs). With `envelope`, `text` is a whole frame that may be an
/// envelope: a `data` key declines it (the caller then unwraps it as before).
pub fn scan<'a>(text: &'a str, envelope: bool, levels: &mut Levels) -> Option<Msg<'a>> {
    levels.clear();
    let mut c = Cursor {
        b: text.as_bytes(),
        i: 0,
    };
    let mut m = Msg {
        scanned: true,
        ..Msg::default()
    };
    // Known fields seen, one bit each: a second one is serde's "duplicate field" error.
    let mut seen = 0u16;
    let mut once = |bit: u16| {
        let dup = seen & bit != 0;
        seen |= bit;
        (!dup).then_some(())
    };
    c.ws();
    c.eat(b'{')?;
    c.ws();
    if c.eat(b'}').is_none() {
        loop {
            let (ks, ke) = c.plain_str()?;
            c.ws();
            c.eat(b':')?;
            c.ws();
            match &c.b[ks..ke] {
                b"e" => {
                    once(1)?;
                    m.e = Some(c.str_value(text)?);
                }
                b"s" => {
                    once(1 << 1)?;
                    m.s = Some(c.str_value(text)?);
                }
                b"E" => {
                    once(1 << 2)?;
                    m.event_ms = Some(c.uint()?);
                }
                b"U" => {
                    once(1 << 3)?;
                    m.first = Some(c.uint()?);
                }
                b"u" => {
                    once(1 << 4)?;
                    m.u = Some(c.uint()?);
                }
                b"b" => {
                    once(1 << 5)?;
                    m.b = Some(c.book_side(text, &mut levels.bids)?);
                }
                b"a" => {
                    once(1 << 6)?;
                    m.a = Some(c.book_side(text, &mut levels.asks)?);
                }
                b"B" => {
                    once(1 << 7)?;
                    m.bid_qty = Some(c.str_value(text)?);
                }
                b"A" => {
                    once(1 << 8)?;
                    m.ask_qty = Some(c.str_value(text)?);
                }
                b"p" => {
                    once(1 << 9)?;
                    m.p = Some(c.str_value(text)?);
                }
                b"q" => {
                    once(1 << 10)?;
                    m.q = Some(c.str_value(text)?);
                }
                b"m" => {
                    once(1 << 11)?;
                    m.m = Some(if c.lit(b"true").is_some() {
                        true
                    } else {
                        c.lit(b"false")?;
                        false
                    });
                }
                b"data" if envelope => return None,
                _ => c.skip_value(0)?,
            }
            c.ws();
            match c.next()? {
                b',' => c.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    c.ws();
    (c.i == c.b.len()).then_some(m)
}

/// The index in `b` of the closing quote of a string whose contents start at `from`;
/// `None` if an escape or a control character (which serde_json refuses unescaped) comes
/// first, or the text ends. Sixteen bytes a step (a price or a size of Binance's with its
/// closing quote in one), each eight-byte half tested as serde_json's own string scan
/// does; the last few bytes one at a time.
#[inline(always)]
fn close_quote(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The usual "has a zero byte" test: the lowest bit set marks the first zero byte
    // exactly (bits above it may be false alarms, from the borrow).
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    // A word's bits for its quotes, and for its quotes, backslashes and bytes below 0x20.
    let specials = |x: u64| {
        let quote = zero(x ^ (ONES * u64::from(b'"')));
        let hit =
            quote | zero(x ^ (ONES * u64::from(b'\\'))) | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        (hit, quote)
    };
    // The first special byte of the word at `k` is a quote iff `quote` has its bit: no
    // quote comes before it, so that bit of `quote` is no false alarm.
    let first = |k: usize, (hit, quote): (u64, u64)| {
        let bit = hit & hit.wrapping_neg();
        (bit & quote != 0).then(|| k + (bit.trailing_zeros() / 8) as usize)
    };
    let mut k = from;
    while let Some(w) = b.get(k..).and_then(<[u8]>::first_chunk::<16>) {
        let (lo, hi) = w.split_at(8);
        let lo = specials(u64::from_le_bytes(lo.try_into().ok()?));
        let hi = specials(u64::from_le_bytes(hi.try_into().ok()?));
        if lo.0 | hi.0 != 0 {
            return if lo.0 != 0 {
                first(k, lo)
            } else {
                first(k + 8, hi)
            };
        }
        k += 16;
    }
    if let Some(w) = b.get(k..).and_then(<[u8]>::first_chunk::<8>) {
        let x = specials(u64::from_le_bytes(*w));
        if x.0 != 0 {
            return first(k, x);
        }
        k += 8;
    }
    // Fewer than eight bytes left.
    for (j, &c) in b.get(k..)?.iter().enumerate() {
        match c {
            b'"' => return Some(k + j),
            b'\\' | 0..=0x1f => return None,
            _ => {}
        }
    }
    None
}

/// One level written exactly as Binance writes them, `["price","size"]` with no
/// whitespace, at `i` in `b`: its [`Span`] and the index just past its `]`. Both strings'
/// closing quotes are found by [`close_quote`] from where their contents start, and the
/// tokens around them are checked as two-byte (`["`, `,"`) and one-byte (`]`) compares
/// right next to those quotes. `None` for any other layout (whitespace, escapes, a level
/// of numbers, of one or three strings, the text ending ...): the general path then reads
/// the level from the same place, so the fast path decides nothing on its own. Whatever it accepts, the general path would accept with
/// the same span and end.
#[inline(always)]
fn compact_level(b: &[u8], i: usize) -> Option<(Span, usize)> {
    let ps = i + 2;
    if b.get(i..ps)? != b"[\"" {
        return None;
    }
    let pe = close_quote(b, ps)?;
    // `b[pe]` is the price's closing quote.
    let qs = pe + 3;
    if b.get(pe + 1..qs)? != b",\"" {
        return None;
    }
    let qe = close_quote(b, qs)?;
    let end = qe + 2;
    if b.get(qe + 1)? != &b']' {
        return None;
    }
    Some(([ps, pe, qs, qe], end))
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    /// JSON whitespace (serde_json's: space, tab, newline, carriage return).
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.i)?;
        self.i += 1;
        Some(c)
    }

    #[inline]
    fn eat(&mut self, want: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&want)).then(|| self.i += 1)
    }

    #[inline]
    fn lit(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// A string with no escape and no control character: its contents' offsets.
    #[inline]
    fn plain_str(&mut self) -> Option<(usize, usize)> {
        self.eat(b'"')?;
        let start = self.i;
        let end = close_quote(self.b, start)?;
        self.i = end + 1;
        Some((start, end))
    }

    #[inline]
    fn str_value<'t>(&mut self, text: &'t str) -> Option<&'t str> {
        let (s, e) = self.plain_str()?;
        text.get(s..e)
    }

    /// A non-negative integer as serde_json writes and reads an `i64`: no sign, no leading
    /// zero, no fraction or exponent, at most `i64::MAX`.
    #[inline]
    fn uint(&mut self) -> Option<i64> {
        let start = self.i;
        let mut v: i64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
            v = v.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
            self.i += 1;
        }
        let n = self.i - start;
        if n == 0 || (n > 1 && self.b[start] == b'0') {
            return None;
        }
        match self.b.get(self.i) {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(v),
        }
    }

    /// `b` or `a`: a string (a bookTicker's price) or an array of `["price","size"]`
    /// pairs (a depth diff's levels, their positions pushed to `spans`). Returns the
    /// value's text.
    fn book_side<'t>(&mut self, text: &'t str, spans: &mut Vec<Span>) -> Option<&'t str> {
        let start = self.i;
        match self.b.get(self.i)? {
            b'"' => {
                self.plain_str()?;
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.eat(b']').is_none() {
                    loop {
                        // Binance's own layout in a few compares, else the general path.
                        let span = match compact_level(self.b, self.i) {
                            Some((span, end)) => {
                                self.i = end;
                                span
                            }
                            None => self.level()?,
                        };
                        spans.push(span);
                        match self.b.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => {
                                self.ws();
                                match self.next()? {
                                    b',' => {}
                                    b']' => break,
                                    _ => return None,
                                }
                            }
                        }
                    }
                }
            }
            _ => return None,
        }
        text.get(start..self.i)
    }

    /// One level, `["price","size"]`, whitespace allowed around every token (the general
    /// path, for what [`compact_level`] declines).
    fn level(&mut self) -> Option<Span> {
        self.ws();
        self.eat(b'[')?;
        self.ws();
        let (ps, pe) = self.plain_str()?;
        self.ws();
        self.eat(b',')?;
        self.ws();
        let (qs, qe) = self.plain_str()?;
        self.ws();
        self.eat(b']')?;
        Some([ps, pe, qs, qe])
    }

    /// A JSON number (the grammar of RFC 8259, section 6).
    fn number(&mut self) -> Option<()> {
        self.eat(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.digit()?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.digit()?;
            self.digits();
        }
        Some(())
    }

    #[inline]
    fn digit(&mut self) -> Option<()> {
        self.next().filter(u8::is_ascii_digit).map(|_| ())
    }

    #[inline]
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// Any well-formed JSON value (an unknown field's), skipped.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        match *self.b.get(self.i)? {
            b'"' => self.plain_str().map(|_| ()),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.lit(b"true"),
            b'f' => self.lit(b"false"),
            b'n' => self.lit(b"null"),
            open @ (b'[' | b'{') if depth < MAX_DEPTH => {
                let close = if open == b'[' { b']' } else { b'}' };
                self.i += 1;
                self.ws();
                if self.eat(close).is_some() {
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.plain_str()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.skip_value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        c if c == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::venue::exchanges::common::for_each_element;
    use proptest::prelude::*;

    /// A side's levels as the decoder reads them from the value's text with serde's path:
    /// the (price, size) text of each element until the walk stops, and whether it
    /// finished.
    fn walked(raw: &str) -> (Vec<(String, String)>, bool) {
        let mut v = Vec::new();
        let ok = for_each_element(raw, |t| {
            if t.len < 2 {
                return false;
            }
            v.push((t.get(0).to_string(), t.get(1).to_string()));
            true
        });
        (v, ok)
    }

    /// A side's levels as the scanner left them.
    fn spanned(text: &str, raw: &str, spans: &[Span]) -> (Vec<(String, String)>, bool) {
        let v = spans
            .iter()
            .map(|&[a, b, c, d]| (text[a..b].to_string(), text[c..d].to_string()))
            .collect();
        (v, raw.starts_with('['))
    }

    /// What the scanner accepts, serde accepts, with the same fields and levels; `None`
    /// when the scanner declined.
    fn agree(text: &str) -> Option<Msg<'_>> {
        let mut lv = Levels::default();
        let m = scan(text, false, &mut lv)?;
        let s = serde_msg(text)
            .unwrap_or_else(|e| panic!("scanner took what serde refuses ({e}): {text}"));
        assert_eq!(
            Msg {
                scanned: false,
                ..m
            },
            s,
            "{text}"
        );
        let m = scan(text, false, &mut lv).unwrap();
        for (raw, spans) in [(m.b, &lv.bids), (m.a, &lv.asks)] {
            if let Some(raw) = raw {
                assert_eq!(spanned(text, raw, spans), walked(raw), "{text}");
            }
        }
        Some(m)
    }

    const DIFF: &str = r#"{"e":"depthUpdate","E":1723161255208,"s":"BTCUSDT","U":50093239189,"u":50093239202,"b":[["61737.63000000","0.00000000"],["61730.17000000","1.5"]],"a":[]}"#;

    #[test]
    fn reads_a_depth_diff_in_one_pass() {
        let m = agree(DIFF).expect("the scanner reads Binance's own layout");
        assert_eq!(m.e, Some("depthUpdate"));
        assert_eq!(
            (m.first, m.u, m.event_ms),
            (Some(50093239189), Some(50093239202), Some(1723161255208))
        );
        let mut lv = Levels::default();
        scan(DIFF, false, &mut lv).unwrap();
        assert_eq!(lv.bids.len(), 2);
        assert!(lv.asks.is_empty());
        let [a, b, c, d] = lv.bids[1];
        assert_eq!((&DIFF[a..b], &DIFF[c..d]), ("61730.17000000", "1.5"));
    }

    #[test]
    fn fields_in_another_order_missing_fields_and_whitespace() {
        let m = agree(
            " {\n\t\"a\" : [ [ \"2\" , \"3\" ] , [\"4\",\"5\"] ] ,\r\n \"u\":7 , \"s\" : \"X\", \"U\":0,\"b\":[] } \n",
        )
        .expect("read");
        assert_eq!(
            (m.s, m.first, m.u, m.e),
            (Some("X"), Some(0), Some(7), None)
        );
        let m = agree("{}").expect("an empty object");
        assert_eq!(
            m,
            Msg {
                scanned: true,
                ..Msg::default()
            }
        );
        // bookTicker: strings in b and a, unknown fields of every kind skipped.
        let m = agree(
            r#"{"u":8,"s":"BTCUSDT","b":"100.0","B":"1","a":"101.0","A":"2","x":[1,-2.5e+3,{"k":[true,false,null]}],"T":0}"#,
        )
        .expect("read");
        assert_eq!((m.b, m.bid_qty), (Some("\"100.0\""), Some("1")));
        let m = agree(
            r#"{"e":"trade","s":"BTCUSDT","t":1,"p":"100.5","q":"0.1","T":2,"m":true,"M":true}"#,
        )
        .unwrap();
        assert_eq!((m.p, m.q, m.m), (Some("100.5"), Some("0.1"), Some(true)));
    }

    /// The scanner declines what it cannot vouch for; serde then decides as it always did
    /// (here: refuses, or reads it another way).
    #[test]
    fn declines_escapes_exponents_nulls_duplicates_and_odd_numbers() {
        for text in [
            r#"{"e":"depth\u0055pdate","s":"X"}"#,  // escape in a value
            r#"{"\u0065":"depthUpdate","s":"X"}"#,  // escape in a key: it is "e"
            r#"{"s":"X","U":1e3}"#,                 // exponent
            r#"{"s":"X","U":10.0}"#,                // fraction
            r#"{"s":"X","u":-0}"#,                  // serde reads -0 as a float
            r#"{"s":"X","u":-5}"#,                  // negative: left to serde
            r#"{"s":"X","u":01}"#,                  // leading zero
            r#"{"s":"X","u":9223372036854775808}"#, // above i64
            r#"{"s":"X","u":null}"#,                // null
            r#"{"s":"X","b":null}"#,
            r#"{"s":"X","s":"Y"}"#,             // duplicate field
            r#"{"s":"X","b":[[1.5,2]]}"#,       // levels as numbers
            r#"{"s":"X","b":[["1","2","3"]]}"#, // three scalars
            r#"{"s":"X","b":[["1"]]}"#,
            r#"{"s":"X","b":[{"p":"1","q":"2"}]}"#,
            r#"{"s":"X","b":[["1","2"],]}"#, // trailing comma
            r#"{"s":"X",}"#,
            r#"{"s":"X"} x"#, // trailing characters
            r#"{"s":"X""#,
            "{\"s\":\"X\u{1}\"}", // control character
            r#"["X"]"#,
            r#"{"s":"X","m":1}"#,
            r#"{"s":"X","z":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}"#, // too deep for the scanner
        ] {
            let mut lv = Levels::default();
            assert!(scan(text, false, &mut lv).is_none(), "{text}");
        }
        // A frame with a `data` envelope is unwrapped by the decoder, not read as a message.
        let mut lv = Levels::default();
        assert!(scan(r#"{"stream":"x","data":{}}"#, true, &mut lv).is_none());
        assert!(scan(r#"{"stream":"x","data":{}}"#, false, &mut lv).is_some());
        // Serde's verdicts on a few of them, which the decoder keeps.
        assert!(serde_msg(r#"{"s":"X","U":1e3}"#).is_err());
        assert!(serde_msg(r#"{"s":"X","s":"Y"}"#).is_err());
        assert_eq!(serde_msg(r#"{"s":"X","u":-5}"#).unwrap().u, Some(-5));
        assert_eq!(
            serde_msg(r#"{"s":"X","b":[[1.5,2]]}"#).unwrap().b,
            Some("[[1.5,2]]")
        );
    }

    /// Level text the scanner passes on untouched: a number in exponent form is still
    /// refused where it is turned into ticks (the frame is counted malformed, as before).
    #[test]
    fn level_text_is_passed_on_as_written() {
        let text =
            r#"{"e":"depthUpdate","s":"X","U":1,"u":2,"b":[["1e5","1"]],"a":[["", "-0.5"]]}"#;
        agree(text).expect("read");
        let mut lv = Levels::default();
        scan(text, false, &mut lv).unwrap();
        let [a, b, ..] = lv.bids[0];
        assert_eq!(&text[a..b], "1e5");
        let [a, b, c, d] = lv.asks[0];
        assert_eq!((&text[a..b], &text[c..d]), ("", "-0.5"));
    }

    /// The quote search, sixteen then eight bytes at a time, against a byte by byte one: the
    /// quote at every place in and across the words it reads (and at the very end of the text),
    /// an escape or a control character just before or just after it, non-ASCII text.
    #[test]
    fn closing_quote_found_at_every_offset() {
        fn bytewise(b: &[u8], from: usize) -> Option<usize> {
            for (j, &c) in b.get(from..)?.iter().enumerate() {
                match c {
                    b'"' => return Some(from + j),
                    b'\\' | 0..=0x1f => return None,
                    _ => {}
                }
            }
            None
        }
        for len in 0..40 {
            for from in 0..10 {
                for tail in ["", "\"", "\\", "\u{1}", "x", "é"] {
                    for filler in ["9", "é", " ", "\u{7f}"] {
                        let mut text = "_".repeat(from);
                        text.push_str(&filler.repeat(len));
                        text.push('"');
                        text.push_str(tail);
                        let b = text.as_bytes();
                        assert_eq!(
                            close_quote(b, from),
                            bytewise(b, from),
                            "{text:?} from {from}"
                        );
                        assert_eq!(close_quote(b, from), Some(from + filler.len() * len));
                        // The same text with the quote gone, or an escape or a control
                        // character put in the quote's place or anywhere before it.
                        let open = &b[..b.len() - tail.len() - 1];
                        assert_eq!(close_quote(open, from), None, "{text:?}");
                        for bad in [b'\\', 0, 0x1f, b'\n'] {
                            for at in from..b.len() - tail.len() {
                                let mut v = b.to_vec();
                                v[at] = bad;
                                assert_eq!(close_quote(&v, from), None, "{v:?} from {from}");
                            }
                        }
                    }
                }
            }
        }
    }

    /// The fast path for Binance's layout and the general one around it: whatever shape a
    /// level takes, the scanner and serde agree, and Binance's own is read.
    #[test]
    fn levels_in_and_out_of_binance_layout() {
        let depth = |b: &str| {
            format!(r#"{{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":2,"u":3,"b":{b},"a":[]}}"#)
        };
        // Read, by the fast path or the general one: the prices and sizes as written.
        for (b, want) in [
            (r#"[["1.5","2"]]"#, vec![("1.5", "2")]),
            (r#"[["1.5","2"],["3","4"]]"#, vec![("1.5", "2"), ("3", "4")]),
            (r#"[ ["1.5","2"] ]"#, vec![("1.5", "2")]),
            (r#"[[ "1.5","2"]]"#, vec![("1.5", "2")]),
            (r#"[["1.5" ,"2"]]"#, vec![("1.5", "2")]),
            (r#"[["1.5", "2"]]"#, vec![("1.5", "2")]),
            (r#"[["1.5","2" ]]"#, vec![("1.5", "2")]),
            (
                r#"[["1.5","2"] ,["3","4"]]"#,
                vec![("1.5", "2"), ("3", "4")],
            ),
            (
                r#"[["1.5","2"], ["3","4"]]"#,
                vec![("1.5", "2"), ("3", "4")],
            ),
            (
                r#"[["1.5","2"],["3","4"] ]"#,
                vec![("1.5", "2"), ("3", "4")],
            ),
            (
                "[[\"1.5\",\"2\"],\n\t[\"3\",\"4\"]\r\n]",
                vec![("1.5", "2"), ("3", "4")],
            ),
            (r#"[["",""]]"#, vec![("", "")]),
            (r#"[["é","x y"]]"#, vec![("é", "x y")]),
            (
                r#"[["61837.63000000","3.78826000"],["61820.99000000","0.00000000"]]"#,
                vec![
                    ("61837.63000000", "3.78826000"),
                    ("61820.99000000", "0.00000000"),
                ],
            ),
        ] {
            let text = depth(b);
            agree(&text).unwrap_or_else(|| panic!("declined {text}"));
            let mut lv = Levels::default();
            scan(&text, false, &mut lv).unwrap();
            let got: Vec<_> = lv
                .bids
                .iter()
                .map(|&[a, b, c, d]| (&text[a..b], &text[c..d]))
                .collect();
            assert_eq!(got, want, "{text}");
        }
        // Declined: escapes, control characters, numbers, one or three strings, nesting,
        // missing or extra separators, the text ending.
        for b in [
            r#"[["1\u002e5","2"]]"#,
            r#"[["1.5","\"2"]]"#,
            r#"[["1.5\\","2"]]"#,
            "[[\"1.5\u{1}\",\"2\"]]",
            "[[\"1.5\",\"2\n\"]]",
            r#"[[1.5,"2"]]"#,
            r#"[["1.5",2]]"#,
            r#"[[1.5,2]]"#,
            r#"[["1.5"]]"#,
            r#"[["1.5","2","3"]]"#,
            r#"[["1.5","2",]]"#,
            r#"[["1.5","2"],["3"]]"#,
            r#"[["1.5","2"],["3","4","5"]]"#,
            r#"[["1.5""2"]]"#,
            r#"[["1.5",,"2"]]"#,
            r#"[["1.5","2"]["3","4"]]"#,
            r#"[["1.5","2"],]"#,
            r#"[[["1.5","2"]]]"#,
            r#"[["1.5","2"]"#,
            r#"[["1.5","2""#,
            r#"[["1.5",null]]"#,
            r#"["1.5","2"]"#,
        ] {
            let text = depth(b);
            let mut lv = Levels::default();
            assert!(scan(&text, false, &mut lv).is_none(), "{text}");
        }
        // Every strict prefix of a depth diff (a truncated frame) is declined, by serde too.
        let text = depth(r#"[["61837.63000000","3.78826000"],["61820.99000000","0.00000000"]]"#);
        for n in 0..text.len() {
            let mut lv = Levels::default();
            assert!(scan(&text[..n], false, &mut lv).is_none(), "{}", &text[..n]);
            assert!(serde_msg(&text[..n]).is_err());
        }
    }

    /// A level's closing quotes at every offset from the sixteen- and eight-byte words the
    /// search reads: prices and sizes of every length from 0 to 19, each moved along by a padding
    /// field, with the array last in the text or not.
    #[test]
    fn level_quotes_at_every_word_offset() {
        for pad in 0..8 {
            for plen in 0..20 {
                for qlen in [0, 1, 7, 8, 9, 15, 16, 17] {
                    let (p, q) = ("1".repeat(plen), "2".repeat(qlen));
                    let x = "x".repeat(pad);
                    for text in [
                        format!(r#"{{"x":"{x}","s":"S","b":[["{p}","{q}"],["{q}","{p}"]]}}"#),
                        format!(r#"{{"x":"{x}","s":"S","b":[["{p}","{q}"]],"a":[["{q}","{p}"]]}}"#),
                    ] {
                        agree(&text).unwrap_or_else(|| panic!("declined {text}"));
                    }
                }
            }
        }
    }

    /// A JSON value of one of the shapes a field might take, good or odd.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[0-9]{1,5}\\.[0-9]{0,8}".prop_map(|s| format!("\"{s}\"")),
            3 => (0u64..u64::MAX).prop_map(|n| n.to_string()),
            1 => Just("-0".to_string()),
            1 => (-1000i64..1000).prop_map(|n| n.to_string()),
            1 => Just("1.5e3".to_string()),
            1 => Just("null".to_string()),
            1 => Just("true".to_string()),
            1 => Just("false".to_string()),
            1 => Just("\"a\\\"b\"".to_string()),
            1 => Just("\"depthUpdate\"".to_string()),
            4 => levels(),
            1 => Just("{\"k\":[1,{\"j\":null}]}".to_string()),
        ]
    }

    fn levels() -> impl Strategy<Value = String> {
        let level = prop_oneof![
            6 => ("[0-9]{1,6}\\.[0-9]{8}", "[0-9]\\.[0-9]{8}").prop_map(|(p, q)| format!("[\"{p}\",\"{q}\"]")),
            1 => Just("[1.5,2]".to_string()),
            1 => Just("[\"1\"]".to_string()),
            1 => Just("[\"1\",\"2\",\"3\"]".to_string()),
            1 => Just("{\"p\":\"1\"}".to_string()),
            1 => Just("[\"1e5\",\"1\"]".to_string()),
        ];
        proptest::collection::vec(level, 0..6).prop_map(|v| format!("[{}]", v.join(",")))
    }

    /// A level's string contents: digits as Binance writes them, or odd text now and then.
    fn odd_level_string() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[0-9]{1,6}\\.[0-9]{0,9}",
            1 => "[0-9.]{0,17}",
            1 => "[ -~é\\\\\"\u{1}\t]{0,17}",
        ]
    }

    fn ws() -> impl Strategy<Value = String> {
        prop_oneof![6 => Just(String::new()), 1 => "[ \t\r\n]{1,3}"]
    }

    /// A message: some of the known fields (and unknown ones), in any order, any value,
    /// whitespace between tokens; then, sometimes, a byte removed or one inserted.
    fn message() -> impl Strategy<Value = String> {
        let keys = prop_oneof![
            Just("e"),
            Just("s"),
            Just("E"),
            Just("U"),
            Just("u"),
            Just("b"),
            Just("a"),
            Just("B"),
            Just("A"),
            Just("p"),
            Just("q"),
            Just("m"),
            Just("t"),
            Just("data"),
        ];
        let field = (keys, value(), ws(), ws(), ws());
        (
            proptest::collection::vec(field, 0..9),
            ws(),
            prop_oneof![3 => Just(None), 1 => (any::<prop::sample::Index>(), any::<u8>(), any::<bool>()).prop_map(Some)],
        )
            .prop_map(|(fields, w, edit)| {
                let body: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v, w1, w2, w3)| format!("{w1}\"{k}\"{w2}:{w3}{v}"))
                    .collect();
                let mut s = format!("{w}{{{}}}{w}", body.join(","));
                if let Some((at, byte, insert)) = edit {
                    let i = at.index(s.len());
                    if insert {
                        s.insert(i, char::from(byte % 128));
                    } else if s.is_char_boundary(i) {
                        s.remove(i);
                    }
                }
                s
            })
    }

    proptest! {
        /// Whatever the scanner accepts, serde reads the same way (fields and levels).
        #[test]
        fn scanner_agrees_with_serde(text in message()) {
            agree(&text);
        }

        /// Levels of every shape (Binance's, whitespace anywhere, escapes, control
        /// characters, numbers, one or three strings, odd bytes): the scanner and serde
        /// agree on all of them, and the ones in Binance's layout are always read.
        #[test]
        fn levels_of_any_shape_agree_with_serde(
            levels in proptest::collection::vec(
                (
                    proptest::collection::vec(odd_level_string(), 0..4),
                    proptest::collection::vec(ws(), 5),
                    prop_oneof![4 => Just(true), 1 => Just(false)],
                ),
                0..6,
            ),
            tail in ws(),
        ) {
            let compact = levels.iter().all(|(strs, w, quoted)| {
                strs.len() == 2 && *quoted && w.iter().all(String::is_empty)
                    && strs.iter().all(|s| !s.contains(['\\', '"']) && !s.chars().any(|c| c < ' '))
            }) && tail.is_empty();
            let lv: Vec<String> = levels
                .iter()
                .map(|(strs, w, quoted)| {
                    let items: Vec<String> = strs
                        .iter()
                        .map(|s| if *quoted { format!("\"{s}\"") } else { s.clone() })
                        .collect();
                    format!("{}[{}{}{}]{}", w[0], w[1], items.join(&format!("{},{}", w[2], w[3])), w[4], w[0])
                })
                .collect();
            let text = format!(r#"{{"s":"S","b":[{}{tail}],"u":1}}"#, lv.join(","));
            let m = agree(&text);
            if compact {
                prop_assert!(m.is_some(), "{}", text);
            }
        }

        /// Binance's own layout, fields shuffled: always read by the scanner.
        #[test]
        fn binance_layouts_are_always_scanned(
            bids in proptest::collection::vec(("[0-9]{1,6}\\.[0-9]{8}", "[0-9]\\.[0-9]{8}"), 0..20),
            order in Just((0..7).collect::<Vec<usize>>()).prop_shuffle(),
            u in 0i64..i64::MAX,
        ) {
            let lv: Vec<String> = bids.iter().map(|(p, q)| format!("[\"{p}\",\"{q}\"]")).collect();
            let lv = format!("[{}]", lv.join(","));
            let fields = [
                "\"e\":\"depthUpdate\"".to_string(),
                "\"E\":1723161255208".to_string(),
                "\"s\":\"BTCUSDT\"".to_string(),
                format!("\"U\":{u}"),
                format!("\"u\":{u}"),
                format!("\"b\":{lv}"),
                "\"a\":[]".to_string(),
            ];
            let text = format!("{{{}}}", order.iter().map(|&i| fields[i].as_str()).collect::<Vec<_>>().join(","));
            let m = agree(&text);
            prop_assert!(m.is_some(), "{}", text);
            prop_assert_eq!(m.unwrap().u, Some(u));
        }
    }
}
