//! Small helpers called by generated code. Not meant to be called by hand.

/// Returns `v`; the never-called `hint` only pins `v`'s type (the macro does not know types,
/// so a value popped from the tape borrows its type from the loop bound it came from).
#[inline(always)]
pub fn same_type<T>(v: T, _hint: impl FnOnce() -> T) -> T {
    v
}

/// Integer types usable as loop variables.
pub trait LoopIndex: Copy {
    /// `self + k` for the k-th iteration of an ascending unit-step range.
    fn nth_after(self, k: usize) -> Self;
}

macro_rules! loop_index {
    ($($t:ty),*) => {$(
        impl LoopIndex for $t {
            #[inline(always)]
            fn nth_after(self, k: usize) -> Self {
                self.wrapping_add(k as $t)
            }
        }
    )*};
}
loop_index!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// The loop variables of `lo..lo+n`, last first: how the reverse sweep replays a range loop
/// that ran `n` iterations.
#[inline(always)]
pub fn rev_range<I: LoopIndex>(lo: I, n: usize) -> impl Iterator<Item = I> {
    (0..n).rev().map(move |k| lo.nth_after(k))
}

/// A zero buffer the shape of `x`: the adjoint or tangent slot for a buffer argument that does
/// not carry a derivative in the caller (allocates; only on that path).
pub fn zeros_like<T: crate::Real>(x: &[T]) -> Vec<T> {
    vec![T::zero(); x.len()]
}

/// `acc[i] += x[i]`: folds a scratch adjoint back into the adjoint of a buffer that was passed
/// to one call more than once (`g(&v, &v)`).
pub fn add_into<T: crate::Real>(acc: &mut [T], x: &[T]) {
    for (a, b) in acc.iter_mut().zip(x) {
        *a += *b;
    }
}

/// The tangents of Hessian input `j` in the sweep of directions `k0..k0 + N` (`f_hessian`):
/// one where `k0 + i == j`, zero elsewhere.
#[inline]
pub fn hessian_seed<T: crate::Real, const N: usize>(k0: usize, j: usize) -> [T; N] {
    let mut t = [T::zero(); N];
    if let Some(i) = j.checked_sub(k0).filter(|&i| i < N) {
        t[i] = T::one();
    }
    t
}
