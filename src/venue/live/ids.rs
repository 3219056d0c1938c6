//! Client order ids at a real venue: unique across restarts, data folders and other pits.
//!
//! The engine numbers its orders per run (`S1-7`, `M-12`, `X-3`: deterministic, the same
//! in a replay), and the store keys orders by (run, id). At a venue an id must not be used
//! twice on the account, and run numbers are only unique within one store: a fresh data
//! folder, or a second pit on the same account, starts again at run 1. So each store draws
//! a random prefix once ([`IdPrefix`], kept in the store's `meta` table) and the venue sees
//! `<prefix><run>_<engine id>`, with the numbers in base 62 to fit the venues' length:
//! run 12's `S1-7` is `k3x9q2C_S1-7`. The mapping is a pure function both ways, so
//! reconciliation tells this store's orders (and which run placed them) from anybody
//! else's (`External`): another pit's, an older data folder's, a person's.
//!
//! A store written before prefixes existed sent `p<run>-<engine id>` (decimal): those ids
//! stay recognised for its runs before the prefix was drawn ([`IdPrefix::legacy_before`]),
//! so the first restart after the upgrade still settles what they left open.
//!
//! The venues' rules:
//! - Binance: "newClientOrderId: A unique id among open orders"
//!   (<https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md>, "New
//!   order"); "Client order ID fields must conform to the regex `^[a-zA-Z0-9-_]{1,36}$`"
//!   (`fix-api.md`, the same ids).
//! - Bybit v5: "orderLinkId: User customised order ID. A max of 36 characters.
//!   Combinations of numbers, letters (upper and lower cases), dashes, and underscores are
//!   supported", "always unique"
//!   (<https://bybit-exchange.github.io/docs/v5/order/create-order>).
//!
//! Worst case (u64 run, u16 strategy slot + 1, u64 order number): 6 (prefix) + 11 (run)
//! + 1 + `S` + 3 (slot) + 1 + 11 = 34 <= 36; decimal would need 55.

use crate::domain::ClientOrderId;
use serde::{Deserialize, Serialize};

/// The longest client order id Binance and Bybit accept.
pub const MAX_LEN: usize = 36;

/// Characters of a store's prefix.
pub const PREFIX_LEN: usize = 6;

/// Base 62 digits: both venues accept upper and lower case letters.
const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// This store's part of every venue id, drawn once and kept in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdPrefix {
    /// [`PREFIX_LEN`] characters of `[0-9a-z]`.
    pub prefix: String,
    /// Runs below this one sent the old `p<run>-<id>` ids (a store from before prefixes);
    /// 0 for a store that always had one.
    pub legacy_before: u64,
}

impl IdPrefix {
    /// A new random prefix, from the operating system's generator (through `rand`'s
    /// thread generator, seeded by it): 36^6 (2.2 billion) prefixes.
    pub fn random(legacy_before: u64) -> Self {
        use rand::Rng;
        let mut rng = rand::rng();
        const LOWER36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let prefix = (0..PREFIX_LEN)
            .map(|_| char::from(LOWER36[rng.random_range(0..LOWER36.len())]))
            .collect();
        IdPrefix {
            prefix,
            legacy_before,
        }
    }

    /// A fixed prefix for unit tests elsewhere in the crate: `t3st00`.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        IdPrefix {
            prefix: "t3st00".into(),
            legacy_before: 0,
        }
    }

    /// What a store that never drew a prefix has: every run sent the old form.
    pub fn none_yet() -> Self {
        IdPrefix {
            prefix: String::new(),
            legacy_before: u64::MAX,
        }
    }

    /// Whether `s` is a prefix this module draws (read back from a store).
    pub fn is_valid(s: &str) -> bool {
        s.len() == PREFIX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    }
}

/// Whose order a venue client id names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdOwner {
    /// Placed by this run: the engine's own id.
    ThisRun(ClientOrderId),
    /// Placed by an earlier run of pit on this store.
    EarlierRun { run: u64, id: ClientOrderId },
    /// Not this store's: another pit or data folder, another program, a person.
    External,
}

/// The venue ids of one run of one store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueIds {
    run: u64,
    prefix: IdPrefix,
}

impl Default for VenueIds {
    /// A store that never drew a prefix.
    fn default() -> Self {
        VenueIds::new(0, IdPrefix::none_yet())
    }
}

impl VenueIds {
    pub fn new(run: u64, prefix: IdPrefix) -> Self {
        VenueIds { run, prefix }
    }
    pub fn run(&self) -> u64 {
        self.run
    }
    /// The venue's id for one of this run's orders.
    pub fn to_venue(&self, id: &ClientOrderId) -> String {
        self.of_run(self.run, id)
    }
    /// The venue's id for an order of any run of this store: the old form for runs from
    /// before the store had a prefix.
    pub fn of_run(&self, run: u64, id: &ClientOrderId) -> String {
        if run < self.prefix.legacy_before || !IdPrefix::is_valid(&self.prefix.prefix) {
            return format!("p{run}-{}", id.as_str());
        }
        let Some((head, no)) = split_engine_id(id.as_str()) else {
            // Not an id the engine makes: sent as is after the run (still this store's
            // prefix), never read back as pit's.
            return format!("{}{}_{}", self.prefix.prefix, base62(run), id.as_str());
        };
        let head = match head {
            Head::Strategy(slot) => format!("S{}", base62(slot)),
            Head::Manual => "M".to_string(),
            Head::System => "X".to_string(),
        };
        format!(
            "{}{}_{head}-{}",
            self.prefix.prefix,
            base62(run),
            base62(no)
        )
    }
    /// Whose order `venue_id` names.
    /// Whether an order the venue lists open cannot be one pit placed from this store:
    /// an id of this run this run never sent (`sent`), or of a run not yet begun. Another
    /// pit draws the same ids: the data folder was copied, or restored from a backup
    /// (run numbers handed out again). Trading on would adopt, cancel or double its orders.
    pub fn foreign_twin(&self, venue_id: &str, sent: bool) -> bool {
        match self.owner(venue_id) {
            IdOwner::ThisRun(_) => !sent,
            IdOwner::EarlierRun { run, .. } => run >= self.run,
            IdOwner::External => false,
        }
    }

    pub fn owner(&self, venue_id: &str) -> IdOwner {
        let Some((run, id)) = self.parse(venue_id) else {
            return IdOwner::External;
        };
        // Only the canonical spelling is ours (no leading zeros, no stray characters).
        if self.of_run(run, &id) != venue_id {
            return IdOwner::External;
        }
        if run == self.run {
            IdOwner::ThisRun(id)
        } else {
            IdOwner::EarlierRun { run, id }
        }
    }

    fn parse(&self, venue_id: &str) -> Option<(u64, ClientOrderId)> {
        self.parse_prefixed(venue_id)
            .or_else(|| self.parse_legacy(venue_id))
    }

    /// `<prefix><run>_<head>-<no>`, numbers in base 62.
    fn parse_prefixed(&self, venue_id: &str) -> Option<(u64, ClientOrderId)> {
        if !IdPrefix::is_valid(&self.prefix.prefix) {
            return None;
        }
        let rest = venue_id.strip_prefix(self.prefix.prefix.as_str())?;
        let (run, id) = rest.split_once('_')?;
        let run = unbase62(run)?;
        let (head, no) = id.split_once('-')?;
        let no = unbase62(no)?;
        let engine = match head {
            "M" => format!("M-{no}"),
            "X" => format!("X-{no}"),
            _ => format!("S{}-{no}", unbase62(head.strip_prefix('S')?)?),
        };
        Some((run, ClientOrderId::new(engine)))
    }

    /// The old `p<run>-<engine id>`, for the runs before this store drew its prefix.
    fn parse_legacy(&self, venue_id: &str) -> Option<(u64, ClientOrderId)> {
        let (run, id) = venue_id.strip_prefix('p')?.split_once('-')?;
        let run = run.parse::<u64>().ok()?;
        if run >= self.prefix.legacy_before {
            return None;
        }
        split_engine_id(id)?;
        Some((run, ClientOrderId::new(id)))
    }
}

/// The head of an engine id.
enum Head {
    Strategy(u64),
    Manual,
    System,
}

/// An id the engine makes (`S<n>-<n>`, `M-<n>`, `X-<n>`, decimal), split.
fn split_engine_id(s: &str) -> Option<(Head, u64)> {
    let (head, no) = s.rsplit_once('-')?;
    let number = |t: &str| {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u64>().ok())
            .flatten()
    };
    let no = number(no)?;
    let head = match head {
        "M" => Head::Manual,
        "X" => Head::System,
        _ => Head::Strategy(number(head.strip_prefix('S')?)?),
    };
    Some((head, no))
}

fn base62(mut n: u64) -> String {
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 62) as usize]);
        n /= 62;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn unbase62(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        let d = DIGITS.iter().position(|&x| x == b)? as u64;
        acc.checked_mul(62)?.checked_add(d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(prefix: &str, legacy_before: u64) -> IdPrefix {
        IdPrefix {
            prefix: prefix.into(),
            legacy_before,
        }
    }

    #[test]
    fn an_id_this_store_would_draw_but_never_sent_is_a_twins() {
        let ids = VenueIds::new(5, store("k3x9q2", 0));
        let mine = ids.to_venue(&ClientOrderId::new("M-1"));
        assert!(!ids.foreign_twin(&mine, true), "sent by this run");
        assert!(
            ids.foreign_twin(&mine, false),
            "this run's form, never sent"
        );
        let later = ids.of_run(6, &ClientOrderId::new("M-1"));
        assert!(ids.foreign_twin(&later, false), "a run not begun yet");
        let earlier = ids.of_run(4, &ClientOrderId::new("M-1"));
        assert!(
            !ids.foreign_twin(&earlier, false),
            "an earlier run's: settled as ever"
        );
        let other = VenueIds::new(5, store("Zz0aaa", 0)).to_venue(&ClientOrderId::new("M-1"));
        assert!(!ids.foreign_twin(&other, false), "another prefix: external");
    }

    fn venue_charset(v: &str) -> bool {
        // Binance `^[a-zA-Z0-9-_]{1,36}$`; Bybit numbers, letters, dashes, underscores.
        !v.is_empty()
            && v.len() <= MAX_LEN
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    #[test]
    fn ids_round_trip_and_tell_runs_and_strangers_apart() {
        let ids = VenueIds::new(12, store("k3x9q2", 0));
        for e in ["S1-7", "M-12", "X-3", "S65536-18446744073709551615", "M-0"] {
            let v = ids.to_venue(&ClientOrderId::new(e));
            assert!(venue_charset(&v), "{v}");
            assert!(v.starts_with("k3x9q2C_"), "{v}");
            assert_eq!(ids.owner(&v), IdOwner::ThisRun(ClientOrderId::new(e)));
            assert_eq!(
                VenueIds::new(13, store("k3x9q2", 0)).owner(&v),
                IdOwner::EarlierRun {
                    run: 12,
                    id: ClientOrderId::new(e)
                }
            );
        }
        assert_eq!(ids.to_venue(&ClientOrderId::new("S1-7")), "k3x9q2C_S1-7");
        for stranger in [
            "web_8f2a",
            "p12",
            "p-S1-7",
            "px-M-1",
            "p12-Q-1",
            "p12-M-",
            "p12-M-1x",
            "and_3x9",
            "",
            "k3x9q2",
            "k3x9q2C",
            "k3x9q2C_",
            "k3x9q2C_Q-1",
            "k3x9q2C_M-",
            "k3x9q2C_M-1!",
            "k3x9q20C_M-1",
            "k3x9q2C_M-01",
            "k3x9q2C_S-1",
            "k3x9q2_M-1",
            // u64 overflow in base 62.
            "k3x9q2zzzzzzzzzzzz_M-1",
        ] {
            assert_eq!(ids.owner(stranger), IdOwner::External, "{stranger}");
        }
        // A new run never produces an id an earlier run made.
        let one = VenueIds::new(1, store("k3x9q2", 0));
        assert_ne!(
            one.to_venue(&ClientOrderId::new("S1-1")),
            VenueIds::new(2, store("k3x9q2", 0)).to_venue(&ClientOrderId::new("S1-1"))
        );
    }

    #[test]
    fn the_worst_case_fits_both_venues() {
        let ids = VenueIds::new(u64::MAX, store("zzzzzz", 0));
        let worst = format!("S{}-{}", u16::MAX as u64 + 1, u64::MAX);
        let v = ids.to_venue(&ClientOrderId::new(worst.as_str()));
        assert_eq!(v.len(), 34, "{v}");
        assert!(venue_charset(&v), "{v}");
        assert_eq!(ids.owner(&v), IdOwner::ThisRun(ClientOrderId::new(worst)));
    }

    #[test]
    fn another_store_or_pit_is_never_ours() {
        let mine = VenueIds::new(1, store("aaaaaa", 0));
        let theirs = VenueIds::new(1, store("bbbbbb", 0));
        let id = ClientOrderId::new("M-1");
        // Two fresh data folders both start at run 1 with order M-1: different venue ids,
        // and neither takes the other's for its own.
        assert_ne!(mine.to_venue(&id), theirs.to_venue(&id));
        assert_eq!(mine.owner(&theirs.to_venue(&id)), IdOwner::External);
        assert_eq!(theirs.owner(&mine.to_venue(&id)), IdOwner::External);
        // Nor an old pit's `p1-M-1`, on a store that never sent that form.
        assert_eq!(mine.owner("p1-M-1"), IdOwner::External);
    }

    #[test]
    fn a_store_from_before_prefixes_keeps_its_old_ids() {
        // Runs 1..=4 sent `p<run>-<id>`; the prefix was drawn at run 5.
        let ids = VenueIds::new(6, store("q7w0e1", 5));
        assert_eq!(
            ids.owner("p4-S2-9"),
            IdOwner::EarlierRun {
                run: 4,
                id: ClientOrderId::new("S2-9")
            }
        );
        assert_eq!(ids.of_run(4, &ClientOrderId::new("S2-9")), "p4-S2-9");
        assert_eq!(ids.of_run(5, &ClientOrderId::new("S2-9")), "q7w0e15_S2-9");
        // The old form is not ours for runs from the prefix on (someone else's pit).
        for stranger in ["p5-M-1", "p6-M-1", "p04-M-1", "p4-Q-1"] {
            assert_eq!(ids.owner(stranger), IdOwner::External, "{stranger}");
        }
        assert_eq!(
            ids.owner(&ids.to_venue(&ClientOrderId::new("M-3"))),
            IdOwner::ThisRun(ClientOrderId::new("M-3"))
        );
    }

    #[test]
    fn a_store_without_a_prefix_reads_every_run_the_old_way() {
        let ids = VenueIds::new(0, IdPrefix::none_yet());
        assert_eq!(ids.of_run(3, &ClientOrderId::new("S1-9")), "p3-S1-9");
        assert_eq!(
            ids.owner("p3-S1-9"),
            IdOwner::EarlierRun {
                run: 3,
                id: ClientOrderId::new("S1-9")
            }
        );
        assert_eq!(ids.owner("k3x9q2C_S1-7"), IdOwner::External);
        assert_eq!(ids.owner("_S1-7"), IdOwner::External);
    }

    #[test]
    fn prefixes_are_drawn_at_random_in_the_venues_charset() {
        let a = IdPrefix::random(3);
        let b = IdPrefix::random(3);
        assert!(IdPrefix::is_valid(&a.prefix), "{a:?}");
        assert_eq!(a.legacy_before, 3);
        // 1 in 2.2 billion to fail by chance.
        assert_ne!(a.prefix, b.prefix);
        for bad in ["", "abc", "ABCDEF", "abcdefg", "ab_def"] {
            assert!(!IdPrefix::is_valid(bad), "{bad}");
        }
    }
}
