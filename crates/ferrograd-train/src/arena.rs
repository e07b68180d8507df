//! Splitting one arena buffer into named, disjoint pieces without allocating.
//!
//! The workspace of a model is a handful of flat `Vec<f32>`s (parameters, gradients,
//! activations, activation adjoints), each laid out once from the model and the maximum batch
//! size. A training step borrows its pieces with [`split_mut`] / [`split_ref`], which return
//! fixed-size arrays of slices (on the stack): no allocation, no `unsafe`, and the borrow
//! checker sees that the pieces are disjoint.

/// Splits `buf` into `N` consecutive pieces of the given lengths (the rest is ignored).
///
/// # Panics
/// Never for `lens` whose sum is at most `buf.len()`; the arena's layouts guarantee that by
/// construction (checked in [`crate::model`] tests), so a violation is a bug in this crate.
pub fn split_mut<'a, const N: usize>(buf: &'a mut [f32], lens: &[usize; N]) -> [&'a mut [f32]; N] {
    let mut rest = buf;
    std::array::from_fn(|i| {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(lens[i]);
        rest = tail;
        head
    })
}

/// Shared-borrow version of [`split_mut`].
pub fn split_ref<'a, const N: usize>(buf: &'a [f32], lens: &[usize; N]) -> [&'a [f32]; N] {
    let mut rest = buf;
    std::array::from_fn(|i| {
        let (head, tail) = rest.split_at(lens[i]);
        rest = tail;
        head
    })
}

/// [`split_mut`] for integer scratch (max-pool argmax buffers).
pub fn split_mut_usize<'a, const N: usize>(
    buf: &'a mut [usize],
    lens: &[usize; N],
) -> [&'a mut [usize]; N] {
    let mut rest = buf;
    std::array::from_fn(|i| {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(lens[i]);
        rest = tail;
        head
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_consecutive_and_disjoint() {
        let mut buf: Vec<f32> = (0..10).map(|v| v as f32).collect();
        let [a, b, c] = split_mut(&mut buf, &[2, 3, 4]);
        assert_eq!((a.len(), b.len(), c.len()), (2, 3, 4));
        a[0] = -1.0;
        c[3] = -2.0;
        assert_eq!(b, &[2.0, 3.0, 4.0]);
        assert_eq!(buf[0], -1.0);
        assert_eq!(buf[8], -2.0);
        let [x, y] = split_ref(&buf, &[1, 9]);
        assert_eq!(x, &[-1.0]);
        assert_eq!(y.len(), 9);
    }
}
