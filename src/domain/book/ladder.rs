//! One side of a book: a tick-indexed window around the touch with an ordered overflow.
//!
//! Prices are mapped to *keys* so that a higher key is always the better price (bids: the
//! price; asks: `!price`, which reverses the order of every `i64` without overflow). The
//! window is an array of `W` slots (a power of two, [`MIN_W`]..=[`MAX_W`]) for the keys
//! `base + i * stride`; a bit per slot says which are occupied, so the best level and the
//! walk from the touch are found a 64-slot word at a time. Every level that does not fit the
//! window (deeper than its bottom) lives in an ordered map, the overflow: nothing is dropped.
//!
//! Invariants (checked by the property tests against a naive model):
//! - every stored key lies on the grid `base + k * stride`; a key off the grid refines the
//!   stride to the gcd and rebuilds the window (the stride only ever shrinks, so this
//!   happens a few times at most per book: it learns the instrument's tick);
//! - when the window exists, every overflow key is below `base` (worse than every window
//!   slot), so the walk from the touch is the window (best first), then the overflow;
//! - a new level above the window (a better price than it can hold) re-centres it on the
//!   new touch; a level below it near the touch (the market fell away) re-centres it too;
//!   an overflow that grows past an eighth of the window's levels (and 64) doubles the
//!   window, up to [`MAX_W`]: a book built level by level ends (nearly) all in the window.
//!
//! An update to a level inside the window is one division (none when the stride is 1), one
//! array store and a bit flip; a delete of the best scans the bits down to the next level.
//! So the cost of an update does not depend on how many levels the book holds.

use std::collections::BTreeMap;

/// The smallest window, in slots.
pub(super) const MIN_W: usize = 256;
/// The largest window, in slots (2 x 256 KiB of sizes per book at most).
pub(super) const MAX_W: usize = 1 << 15;

#[derive(Clone, Debug, Default)]
pub(super) struct Ladder {
    /// Key of slot 0.
    base: i64,
    /// Key units between slots; 0 while not known (no window yet).
    stride: u64,
    /// Size per slot (0 = empty); `W` long, empty while there is no window.
    qty: Vec<i64>,
    /// Occupancy, a bit per slot, `W / 64` words.
    bits: Vec<u64>,
    /// The highest occupied slot, when `in_window > 0`.
    top: usize,
    /// Occupied slots.
    in_window: usize,
    /// Levels outside the window (all below `base` while the window exists).
    over: BTreeMap<i64, i64>,
}

/// Where a key falls.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Loc {
    /// No window yet.
    NoWindow,
    In(usize),
    Above,
    Below,
    OffGrid,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `|a - b|` without overflow.
fn dist(a: i64, b: i64) -> u64 {
    if a >= b {
        a.wrapping_sub(b) as u64
    } else {
        b.wrapping_sub(a) as u64
    }
}

impl Ladder {
    fn w(&self) -> usize {
        self.qty.len()
    }

    #[inline]
    fn key_of(&self, slot: usize) -> i64 {
        // In range by construction: slots past i64::MAX are never located.
        self.base
            .wrapping_add((slot as u64).wrapping_mul(self.stride) as i64)
    }

    #[inline]
    fn locate(&self, key: i64) -> Loc {
        if self.qty.is_empty() {
            return Loc::NoWindow;
        }
        if key < self.base {
            let d = self.base.wrapping_sub(key) as u64;
            return if self.stride == 1 || d.is_multiple_of(self.stride) {
                Loc::Below
            } else {
                Loc::OffGrid
            };
        }
        let d = key.wrapping_sub(self.base) as u64;
        let i = if self.stride == 1 {
            d
        } else {
            if !d.is_multiple_of(self.stride) {
                return Loc::OffGrid;
            }
            d / self.stride
        };
        if i < self.w() as u64 {
            Loc::In(i as usize)
        } else {
            Loc::Above
        }
    }

    pub(super) fn len(&self) -> usize {
        self.in_window + self.over.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn get(&self, key: i64) -> i64 {
        match self.locate(key) {
            Loc::In(i) => self.qty[i],
            _ => self.over.get(&key).copied().unwrap_or(0),
        }
    }

    /// The best level (highest key) and its size.
    #[inline]
    pub(super) fn best(&self) -> Option<(i64, i64)> {
        if self.in_window > 0 {
            Some((self.key_of(self.top), self.qty[self.top]))
        } else {
            self.over.last_key_value().map(|(k, q)| (*k, *q))
        }
    }

    /// Set the size at `key` (a size <= 0 deletes); the previous size.
    #[inline]
    pub(super) fn set(&mut self, key: i64, qty: i64) -> i64 {
        match self.locate(key) {
            Loc::In(i) => {
                let prev = self.qty[i];
                if qty > 0 {
                    self.qty[i] = qty;
                    if prev == 0 {
                        self.bits[i / 64] |= 1 << (i % 64);
                        self.in_window += 1;
                        if i > self.top || self.in_window == 1 {
                            self.top = i;
                        }
                    }
                } else if prev > 0 {
                    self.qty[i] = 0;
                    self.bits[i / 64] &= !(1 << (i % 64));
                    self.in_window -= 1;
                    if i == self.top && self.in_window > 0 {
                        self.top = self.highest_below(i);
                    }
                }
                prev
            }
            loc => {
                if qty > 0 {
                    let prev = self.over.insert(key, qty).unwrap_or(0);
                    if prev == 0 {
                        self.placed_outside(key, loc);
                    }
                    prev
                } else {
                    self.over.remove(&key).unwrap_or(0)
                }
            }
        }
    }

    /// The highest occupied slot below `i` (one is known to exist).
    fn highest_below(&self, i: usize) -> usize {
        let mut w = i / 64;
        let mut word = self.bits[w] & ((1u64 << (i % 64)) - 1);
        while word == 0 {
            w -= 1;
            word = self.bits[w];
        }
        w * 64 + 63 - word.leading_zeros() as usize
    }

    /// A new level went into the overflow at `key`: keep the invariants, and the window
    /// where the updates are.
    #[cold]
    fn placed_outside(&mut self, key: i64, loc: Loc) {
        match loc {
            Loc::NoWindow => {
                if self.over.len() >= 2 {
                    self.rebuild(0);
                }
            }
            Loc::OffGrid => {
                let stride = gcd(self.stride, dist(key, self.base));
                let levels = self.drain();
                self.stride = stride;
                self.place(levels, self.w());
            }
            // A better price than the window holds: the touch moved up.
            Loc::Above => self.rebuild(self.w()),
            Loc::Below => {
                let w = self.w();
                if self.in_window == 0 {
                    self.rebuild(w);
                } else if self.over.len() > 64 && self.over.len() > self.in_window / 8 && w < MAX_W
                {
                    self.rebuild(w * 2);
                } else {
                    // Near the touch (within half a window of the best): the market fell
                    // away from the window's bottom.
                    let best = self.key_of(self.top);
                    if dist(best, key) / self.stride < (w / 2) as u64 {
                        self.rebuild(w);
                    }
                }
            }
            Loc::In(_) => {}
        }
    }

    /// Every level, ascending by key; the side is left empty (its window kept, cleared).
    fn drain(&mut self) -> Vec<(i64, i64)> {
        let mut out = Vec::with_capacity(self.len());
        let over = std::mem::take(&mut self.over);
        let mut over = over.into_iter().peekable();
        // Overflow keys below the window first (all of them while the window exists).
        while let Some((k, q)) = over.next_if(|(k, _)| self.qty.is_empty() || *k < self.base) {
            out.push((k, q));
        }
        if self.in_window > 0 {
            for w in 0..=self.top / 64 {
                let mut word = self.bits[w];
                self.bits[w] = 0;
                while word != 0 {
                    let i = w * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    out.push((self.key_of(i), self.qty[i]));
                    self.qty[i] = 0;
                }
            }
        }
        self.in_window = 0;
        self.top = 0;
        out.extend(over);
        // A key just put in the overflow off the grid may sit inside the window's range.
        if !out.is_sorted_by_key(|&(k, _)| k) {
            out.sort_unstable_by_key(|&(k, _)| k);
        }
        out
    }

    /// Remove every level; the window's memory is kept for the next levels.
    pub(super) fn clear(&mut self) {
        if self.in_window > 0 {
            for w in 0..=self.top / 64 {
                let mut word = self.bits[w];
                self.bits[w] = 0;
                while word != 0 {
                    self.qty[w * 64 + word.trailing_zeros() as usize] = 0;
                    word &= word - 1;
                }
            }
        }
        self.in_window = 0;
        self.top = 0;
        self.over.clear();
    }

    /// Rebuild from the current levels: the stride learnt (gcd of the key differences)
    /// when not known yet, a window of `w` slots (0: sized to the levels) with the best
    /// level at three quarters of it, the rest in the overflow.
    fn rebuild(&mut self, w: usize) {
        let levels = self.drain();
        self.place(levels, w);
    }

    /// Replace the side with `levels`, ascending by key, distinct keys, sizes > 0.
    /// Linear in their number (plus the window's words).
    pub(super) fn load_sorted(&mut self, levels: Vec<(i64, i64)>) {
        self.clear();
        if levels.is_empty() {
            // Nothing to learn a grid from: the side stays as `clear` leaves it (the window
            // kept with its stride; a window with no stride would divide by zero).
            return;
        }
        // A new snapshot re-learns the grid and the window's size.
        self.stride = 0;
        self.place(levels, 0);
    }

    fn place(&mut self, levels: Vec<(i64, i64)>, w: usize) {
        let (Some(&(lo, _)), Some(&(best, _))) = (levels.first(), levels.last()) else {
            return;
        };
        if self.stride == 0 {
            self.stride = levels.iter().fold(0, |g, (k, _)| gcd(g, dist(*k, best)));
        }
        if self.stride == 0 {
            // One level: nothing to learn a grid from yet.
            self.qty = Vec::new();
            self.bits = Vec::new();
            self.over = levels.into_iter().collect();
            return;
        }
        let w = if w == 0 {
            // Enough slots for the levels' span below three quarters of the window.
            let span = dist(best, lo) / self.stride;
            let want = span.saturating_mul(4) / 3 + 1;
            (want.min(MAX_W as u64) as usize)
                .next_power_of_two()
                .clamp(MIN_W, MAX_W)
        } else {
            w
        };
        if self.qty.len() != w {
            self.qty = vec![0; w];
            self.bits = vec![0; w / 64];
        }
        // base = best - (3w/4) * stride, not below i64::MIN, on the grid.
        let back = (3 * w / 4) as i128 * self.stride as i128;
        let room = best as i128 - i64::MIN as i128;
        let back = if back > room {
            room / self.stride as i128 * self.stride as i128
        } else {
            back
        };
        self.base = (best as i128 - back) as i64;
        let mut over = Vec::new();
        for (k, q) in levels {
            match self.locate(k) {
                Loc::In(i) => {
                    self.qty[i] = q;
                    self.bits[i / 64] |= 1 << (i % 64);
                    self.in_window += 1;
                    self.top = i;
                }
                _ => over.push((k, q)),
            }
        }
        self.over = over.into_iter().collect();
    }

    /// Every level, best (highest key) first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        let start = if self.in_window > 0 { self.top / 64 } else { 0 };
        let first = if self.in_window > 0 {
            self.bits[start]
        } else {
            0
        };
        WindowIter {
            l: self,
            word: start,
            cur: first,
        }
        .chain(self.over.iter().rev().map(|(k, q)| (*k, *q)))
    }

    /// The key of the window's first slot (tests).
    #[cfg(test)]
    pub(super) fn base(&self) -> i64 {
        self.base
    }

    /// The window's size in slots, the stride and the overflow's length (tests).
    #[cfg(test)]
    pub(super) fn shape(&self) -> (usize, u64, usize) {
        (self.w(), self.stride, self.over.len())
    }
}

struct WindowIter<'a> {
    l: &'a Ladder,
    word: usize,
    cur: u64,
}

impl Iterator for WindowIter<'_> {
    type Item = (i64, i64);

    #[inline]
    fn next(&mut self) -> Option<(i64, i64)> {
        while self.cur == 0 {
            if self.word == 0 {
                return None;
            }
            self.word -= 1;
            self.cur = self.l.bits[self.word];
        }
        let b = 63 - self.cur.leading_zeros() as usize;
        self.cur &= !(1u64 << b);
        let i = self.word * 64 + b;
        Some((self.l.key_of(i), self.l.qty[i]))
    }
}
