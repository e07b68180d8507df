//! The tape: values that the forward sweep overwrites inside loops and the reverse sweep
//! needs (to-be-recorded analysis decides which), plus loop trip counts and branch decisions.
//!
//! Storage is a word stack reused across calls through a per-thread pool, so a generated
//! function with loops allocates only until its tape has grown to its steady-state size.
//! Written by hand because it is the product: a typed `Vec<T>` per value would need the macro
//! to know types, which it deliberately does not (DESIGN.md §3).

use std::cell::RefCell;

/// A LIFO stack of 64-bit words.
#[derive(Default, Debug)]
pub struct Tape {
    words: Vec<u64>,
}

impl Tape {
    #[inline(always)]
    pub fn push<V: TapeValue>(&mut self, v: V) {
        v.push_to(self);
    }
    #[inline(always)]
    pub fn pop<V: TapeValue>(&mut self) -> V {
        V::pop_from(self)
    }
    /// Records a whole buffer (the contents of a `&mut` argument before a call writes it).
    #[inline]
    pub fn push_slice<V: TapeValue + Copy>(&mut self, xs: &[V]) {
        for &x in xs {
            x.push_to(self);
        }
    }
    /// Restores a buffer recorded by [`Tape::push_slice`] (same length; last element first).
    #[inline]
    pub fn pop_slice_into<V: TapeValue>(&mut self, xs: &mut [V]) {
        for x in xs.iter_mut().rev() {
            *x = V::pop_from(self);
        }
    }
    #[inline(always)]
    pub fn push_word(&mut self, w: u64) {
        self.words.push(w);
    }
    /// Pops a word. The generated code pushes and pops in matching order, so the tape is never
    /// empty here; an empty tape yields 0 rather than aborting (and is caught by debug builds).
    #[inline(always)]
    pub fn pop_word(&mut self) -> u64 {
        debug_assert!(!self.words.is_empty(), "ferrograd tape underflow");
        self.words.pop().unwrap_or(0)
    }
    pub fn len(&self) -> usize {
        self.words.len()
    }
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
    pub fn capacity(&self) -> usize {
        self.words.capacity()
    }
}

thread_local! {
    static POOL: RefCell<Vec<Tape>> = const { RefCell::new(Vec::new()) };
}

/// A tape borrowed from the per-thread pool for one call of a generated function; it goes
/// back (emptied, capacity kept) when dropped. Recursion simply takes another tape.
pub struct PooledTape {
    tape: Tape,
}

impl PooledTape {
    #[inline]
    pub fn acquire() -> Self {
        let tape = POOL
            .try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        PooledTape { tape }
    }
}

impl core::ops::Deref for PooledTape {
    type Target = Tape;
    fn deref(&self) -> &Tape {
        &self.tape
    }
}
impl core::ops::DerefMut for PooledTape {
    fn deref_mut(&mut self) -> &mut Tape {
        &mut self.tape
    }
}

impl Drop for PooledTape {
    fn drop(&mut self) {
        let mut tape = core::mem::take(&mut self.tape);
        tape.words.clear();
        let _ = POOL.try_with(|p| p.borrow_mut().push(tape));
    }
}

/// Values that can be recorded on the tape.
pub trait TapeValue: Sized {
    fn push_to(self, tape: &mut Tape);
    fn pop_from(tape: &mut Tape) -> Self;
}

macro_rules! tape_int {
    ($($t:ty),*) => {$(
        impl TapeValue for $t {
            #[inline(always)]
            fn push_to(self, tape: &mut Tape) {
                tape.push_word(self as u64);
            }
            #[inline(always)]
            fn pop_from(tape: &mut Tape) -> Self {
                tape.pop_word() as $t
            }
        }
    )*};
}
tape_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl TapeValue for bool {
    #[inline(always)]
    fn push_to(self, tape: &mut Tape) {
        tape.push_word(u64::from(self));
    }
    #[inline(always)]
    fn pop_from(tape: &mut Tape) -> Self {
        tape.pop_word() != 0
    }
}
impl TapeValue for f64 {
    #[inline(always)]
    fn push_to(self, tape: &mut Tape) {
        tape.push_word(self.to_bits());
    }
    #[inline(always)]
    fn pop_from(tape: &mut Tape) -> Self {
        f64::from_bits(tape.pop_word())
    }
}
impl TapeValue for f32 {
    #[inline(always)]
    fn push_to(self, tape: &mut Tape) {
        tape.push_word(u64::from(self.to_bits()));
    }
    #[inline(always)]
    fn pop_from(tape: &mut Tape) -> Self {
        f32::from_bits(tape.pop_word() as u32)
    }
}
impl<T: TapeValue> TapeValue for crate::Dual<T> {
    #[inline(always)]
    fn push_to(self, tape: &mut Tape) {
        self.v.push_to(tape);
        self.t.push_to(tape);
    }
    #[inline(always)]
    fn pop_from(tape: &mut Tape) -> Self {
        let t = T::pop_from(tape);
        let v = T::pop_from(tape);
        crate::Dual { v, t }
    }
}
impl<T: TapeValue + Copy, const N: usize> TapeValue for [T; N] {
    fn push_to(self, tape: &mut Tape) {
        for v in self {
            v.push_to(tape);
        }
    }
    fn pop_from(tape: &mut Tape) -> Self {
        let mut a: [T; N] = core::array::from_fn(|_| T::pop_from(tape));
        a.reverse();
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifo_roundtrip_of_mixed_values() {
        let mut t = PooledTape::acquire();
        t.push(1.5f64);
        t.push(true);
        t.push(-3i32);
        t.push([1.0f32, 2.0, 3.0]);
        t.push(7usize);
        assert_eq!(t.pop::<usize>(), 7);
        assert_eq!(t.pop::<[f32; 3]>(), [1.0, 2.0, 3.0]);
        assert_eq!(t.pop::<i32>(), -3);
        assert!(t.pop::<bool>());
        assert_eq!(t.pop::<f64>(), 1.5);
        assert!(t.is_empty());
    }

    #[test]
    fn pooled_tape_keeps_capacity_across_calls() {
        {
            let mut t = PooledTape::acquire();
            for i in 0..1000u64 {
                t.push(i);
            }
        }
        let t = PooledTape::acquire();
        assert!(t.is_empty());
        assert!(t.capacity() >= 1000);
    }
}

/// The smallest interval holding every range of a buffer that calls executed so far in a
/// forward sweep handed on: their pullbacks read those ranges in the reverse sweep, so a later
/// call that writes into the hull must record what it overwrites (and one that writes outside
/// it need not). Generated code keeps one per buffer that is only ever passed to calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hull {
    lo: usize,
    hi: usize,
}

impl Hull {
    /// No range yet.
    pub const EMPTY: Hull = Hull { lo: 0, hi: 0 };

    /// The range `r` of a buffer of `len` elements, as indices `[lo, hi)`.
    fn bounds(len: usize, r: impl core::ops::RangeBounds<usize>) -> (usize, usize) {
        use core::ops::Bound;
        let lo = match r.start_bound() {
            Bound::Included(&a) => a,
            Bound::Excluded(&a) => a.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let hi = match r.end_bound() {
            Bound::Included(&b) => b.saturating_add(1),
            Bound::Excluded(&b) => b,
            Bound::Unbounded => len,
        };
        (lo, hi)
    }

    /// Widens the hull by the range `r` of a buffer of `len` elements.
    #[inline]
    pub fn add(&mut self, len: usize, r: impl core::ops::RangeBounds<usize>) {
        let (lo, hi) = Self::bounds(len, r);
        if lo >= hi {
            return;
        }
        if self.lo >= self.hi {
            *self = Hull { lo, hi };
        } else {
            self.lo = self.lo.min(lo);
            self.hi = self.hi.max(hi);
        }
    }

    /// Does the range `r` of a buffer of `len` elements meet the hull?
    #[inline]
    pub fn overlaps(&self, len: usize, r: impl core::ops::RangeBounds<usize>) -> bool {
        let (lo, hi) = Self::bounds(len, r);
        lo < hi && self.lo < self.hi && lo < self.hi && self.lo < hi
    }
}

#[cfg(test)]
mod hull_tests {
    use super::Hull;

    #[test]
    fn hull_grows_and_meets_only_overlapping_ranges() {
        let mut h = Hull::EMPTY;
        assert!(!h.overlaps(10, ..));
        h.add(10, 2..4);
        assert!(h.overlaps(10, 3..9) && h.overlaps(10, ..) && h.overlaps(10, 0..=2));
        assert!(!h.overlaps(10, 4..) && !h.overlaps(10, ..2) && !h.overlaps(10, 3..3));
        h.add(10, 6..=6);
        assert_eq!(h, Hull { lo: 2, hi: 7 });
        assert!(
            h.overlaps(10, 5..6),
            "the hull covers the gap between ranges"
        );
        h.add(10, 5..5);
        assert_eq!(h, Hull { lo: 2, hi: 7 });
        h.add(10, ..);
        assert_eq!(h, Hull { lo: 0, hi: 10 });
    }
}
