//! Client order ids at a real venue: unique across restarts.
//!
//! The engine numbers its orders per run (`S1-7`, `M-12`, `X-3`: deterministic, the same
//! in a replay), and the store keys orders by (run, id). At a venue the id must never be
//! used twice in the account's life, so the venue sees `p<run>-<engine id>` (`p12-S1-7`):
//! the run id comes from the store, which hands out each one once. The mapping is a pure
//! function both ways, so reconciliation can tell pit's orders (and which run placed them)
//! from anybody else's (`external`).
//!
//! Binance allows `^[a-zA-Z0-9-_]{1,36}$` for `newClientOrderId`
//! (<https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md>, "New order").

use crate::domain::ClientOrderId;

/// The longest client order id Binance (and the venues issue 12 adds) accept.
pub const MAX_LEN: usize = 36;

/// Whose order a venue client id names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdOwner {
    /// Placed by this run: the engine's own id.
    ThisRun(ClientOrderId),
    /// Placed by an earlier run of pit on this store.
    EarlierRun { run: u64, id: ClientOrderId },
    /// Not pit's: another program, the venue's web page, a person.
    External,
}

/// The venue ids of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueIds {
    run: u64,
}

impl VenueIds {
    pub fn new(run: u64) -> Self {
        VenueIds { run }
    }
    pub fn run(&self) -> u64 {
        self.run
    }
    /// The venue's id for one of this run's orders.
    pub fn to_venue(&self, id: &ClientOrderId) -> String {
        format!("p{}-{}", self.run, id.as_str())
    }
    /// Whose order `venue_id` names.
    pub fn owner(&self, venue_id: &str) -> IdOwner {
        let Some(rest) = venue_id.strip_prefix('p') else {
            return IdOwner::External;
        };
        let Some((run, id)) = rest.split_once('-') else {
            return IdOwner::External;
        };
        let Ok(run) = run.parse::<u64>() else {
            return IdOwner::External;
        };
        if !is_engine_id(id) || run.to_string().len() + 1 != rest.len() - id.len() {
            return IdOwner::External;
        }
        let id = ClientOrderId::new(id);
        if run == self.run {
            IdOwner::ThisRun(id)
        } else {
            IdOwner::EarlierRun { run, id }
        }
    }
}

/// Whether `s` is an id the engine makes (`S<n>-<n>`, `M-<n>`, `X-<n>`).
fn is_engine_id(s: &str) -> bool {
    let (head, no) = match s.rsplit_once('-') {
        Some(x) => x,
        None => return false,
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(no) {
        return false;
    }
    match head.strip_prefix('S') {
        Some(n) => digits(n),
        None => head == "M" || head == "X",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_tell_runs_and_strangers_apart() {
        let ids = VenueIds::new(12);
        for e in ["S1-7", "M-12", "X-3", "S65535-18446744073709551615"] {
            let v = ids.to_venue(&ClientOrderId::new(e));
            assert!(v.len() <= MAX_LEN, "{v}");
            assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
            assert_eq!(ids.owner(&v), IdOwner::ThisRun(ClientOrderId::new(e)));
            assert_eq!(
                VenueIds::new(13).owner(&v),
                IdOwner::EarlierRun {
                    run: 12,
                    id: ClientOrderId::new(e)
                }
            );
        }
        for stranger in [
            "web_8f2a", "p12", "p-S1-7", "px-M-1", "p12-Q-1", "p12-M-", "p12-M-1x", "and_3x9", "",
        ] {
            assert_eq!(ids.owner(stranger), IdOwner::External, "{stranger}");
        }
        // A new run never produces an id an earlier run made.
        assert_ne!(
            VenueIds::new(1).to_venue(&ClientOrderId::new("S1-1")),
            VenueIds::new(2).to_venue(&ClientOrderId::new("S1-1"))
        );
    }
}
