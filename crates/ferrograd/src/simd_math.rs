//! Branch-free elementary functions (`exp`, `ln`, `exp_m1`, `sin`, `cos`, `tanh` and f32
//! variants) written so that LLVM can vectorise a loop that calls them lane by lane.
//!
//! Every function here is `#[inline(always)]` and made of plain arithmetic, bit casts and
//! selects (`if c { a } else { b }` on values, both sides computed): no data-dependent
//! branch, no libm call (no `round`, `floor`), no table lookup. Rounding to the nearest
//! integer uses the magic-number trick (add and subtract 1.5·2^52). Polynomials are truncated
//! Taylor series, or near-minimax fits where that saves terms (`exp`'s and `ln`'s in f64,
//! from `scripts/minimax.py`), evaluated by Estrin's scheme ([`poly`]) with fused
//! multiply-adds, which are one instruction in the AVX2/AVX-512 clones and a correctly rounded
//! `fma` call elsewhere, so the results are the same on every target.
//!
//! Accuracy was measured against Rust's `std` (glibc libm) by the sweeps in this file's tests
//! (`cargo test -p ferrograd --lib simd_math -- --nocapture` prints the figures); each
//! function's doc comment gives its measured maximum error in ulp.

const MAGIC: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: x + MAGIC - MAGIC rounds x to an integer
const MAGIC_F32: f32 = 12_582_912.0; // 1.5 * 2^23
const SIGN: u64 = 1 << 63;

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split in two: `LN2_HI` has 32 significant bits, so `n * LN2_HI` is exact for |n| < 2^21.
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
const LN2_HI_F32: f32 = 0.693_115_23; // = 0.693115234375, 12 significant bits
const LN2_LO_F32: f32 = 3.194_618_5e-5;

/// π/2 split in three: the first two parts have 33 significant bits each, so `q * PIO2_1` and
/// `q * PIO2_2` are exact for |q| < 2^20; the third is the rest rounded to 53 bits (the sum
/// is π/2 to about 2^-123).
const PIO2_1: f64 = 1.570_796_326_734_125_6;
const PIO2_2: f64 = 6.077_100_506_303_966e-11;
const PIO2_3: f64 = 2.022_266_248_795_950_6e-21;
/// Beyond this |x| the reduction of `sin`/`cos` is no longer exact (|q| ≥ 2^20).
const TRIG_EXACT_LIMIT: f64 = 1.6e6;

/// `k!` as f64 (exact for k ≤ 18).
const fn factorial(k: u32) -> f64 {
    let mut f = 1.0;
    let mut i = 2;
    while i <= k {
        f *= i as f64;
        i += 1;
    }
    f
}

/// `[1/first!, 1/(first+step)!, …]` with alternating signs when `alternate`.
const fn inv_factorials<const N: usize>(first: u32, step: u32, alternate: bool) -> [f64; N] {
    let mut c = [0.0; N];
    let mut i = 0;
    while i < N {
        let v = 1.0 / factorial(first + step * i as u32);
        c[i] = if alternate && i % 2 == 1 { -v } else { v };
        i += 1;
    }
    c
}

const fn negated<const N: usize>(mut c: [f64; N]) -> [f64; N] {
    let mut i = 0;
    while i < N {
        c[i] = -c[i];
        i += 1;
    }
    c
}

/// `[2/3, 2/5, 2/7, …]`: the series of 2·atanh(s) = 2s + s·(2s²/3 + 2s⁴/5 + …).
const fn atanh_coefs<const N: usize>() -> [f64; N] {
    let mut c = [0.0; N];
    let mut i = 0;
    while i < N {
        c[i] = 2.0 / (2 * i + 3) as f64;
        i += 1;
    }
    c
}

/// exp(r) - 1 = r + r²·Q(r) for |r| ≤ ln2/2: Q of degree 9, near-minimax for the relative
/// error of eʳ (it adds at most 9.2e-18, 0.08 ulp, with these f64 coefficients), computed by
/// `scripts/minimax.py`. The Taylor series needs twelve terms (1/2! … 1/13!) for the same
/// accuracy. With [`LN_R`]'s fit, the W3 NLL's primal on one thread went from 326–337 to
/// 305–316 µs at 100k events (criterion `simd_nll`, side by side).
const EXPM1_Q: [f64; 10] = [
    0.5000000000000011,
    0.1666666666666641,
    0.041666666666529045,
    0.008333333333495717,
    0.0013888888943961633,
    0.00019841269504681735,
    2.480149272062568e-05,
    2.755758732586395e-06,
    2.763039421586795e-07,
    2.4999996425182158e-08,
];
/// sin r = r + r³·S(r²): -1/3!, 1/5!, …, 1/17! (truncation < 2^-62 relative on |r| ≤ π/4).
const SIN_S: [f64; 8] = negated(inv_factorials(3, 2, true));
/// cos r = 1 - r²/2 + r⁴·C(r²): 1/4!, -1/6!, …, -1/18!.
const COS_C: [f64; 8] = inv_factorials(4, 2, true);
/// 2·atanh(s) - 2s = s·R(s²) with R = z·P(z), z = s², |s| ≤ 0.1716: P of degree 6,
/// near-minimax (it adds at most 1.9e-18 relative to ln m, computed by `scripts/minimax.py`)
/// where the series 2/3 + 2z/5 + … needs eleven terms.
const LN_R: [f64; 7] = [
    0.6666666666666735,
    0.3999999999940626,
    0.2857142874443578,
    0.2222219834614782,
    0.1818357695112576,
    0.15313707490715603,
    0.14799573887826573,
];
/// tanh x = x + x³·T(x²): the Taylor coefficients of x³ … x⁴¹ (computed with mpmath from
/// 2²ⁿ(2²ⁿ - 1)B₂ₙ/(2n)!); the series alternates, truncation < 1e-19 relative for |x| < 0.55.
const TANH_T: [f64; 20] = [
    -0.3333333333333333,
    0.13333333333333333,
    -0.05396825396825397,
    0.021869488536155203,
    -0.008863235529902197,
    0.003592128036572481,
    -0.0014558343870513183,
    0.000590027440945586,
    -0.00023912911424355248,
    9.691537956929451e-05,
    -3.927832388331683e-05,
    1.5918905069328964e-05,
    -6.451689215655431e-06,
    2.6147711512907546e-06,
    -1.0597268320104654e-06,
    4.294911078273806e-07,
    -1.7406618963571648e-07,
    7.054636946400968e-08,
    -2.859136662305254e-08,
    1.1587644432798853e-08,
];

const EXPM1_Q_F32: [f32; 7] = {
    let c: [f64; 7] = inv_factorials(2, 1, false);
    let mut out = [0.0f32; 7];
    let mut i = 0;
    while i < 7 {
        out[i] = c[i] as f32;
        i += 1;
    }
    out
};
const LN_R_F32: [f32; 5] = {
    let c: [f64; 5] = atanh_coefs();
    let mut out = [0.0f32; 5];
    let mut i = 0;
    while i < 5 {
        out[i] = c[i] as f32;
        i += 1;
    }
    out
};

/// `poly` and `poly_f32`: the polynomial c[0] + c[1]·x + … + c[N-1]·x^(N-1) by Estrin's
/// scheme: pairs c[2i] + c[2i+1]·x, then pairs of those with x², x⁴, …, each step a fused
/// multiply-add. Horner's rule chains N - 1 dependent FMAs (4 cycles each); Estrin's tree is
/// ⌈log₂ N⌉ + 1 deep, so the out-of-order core overlaps the events of a vector loop instead
/// of waiting on one chain. `mul_add` is one instruction inside the AVX2/AVX-512 clones the
/// lane types run in, a correctly rounded `fma` call elsewhere: the same result either way.
///
/// The tree has five fixed levels (N ≤ 32), each a loop whose trip count is a constant after
/// monomorphisation, so LLVM unrolls all of it before vectorising the lane loop around it
/// (a `while m > 1` over the level sizes is not unrolled in time, and the lane loop then
/// falls back to partial 2- and 4-lane code).
macro_rules! estrin {
    ($name:ident, $t:ty) => {
        #[inline(always)]
        fn $name<const N: usize>(x: $t, c: &[$t; N]) -> $t {
            const { assert!(N >= 1 && N <= 32) };
            let mut t = *c;
            let mut m = N;
            let mut p = x;
            for _level in 0..5 {
                let half = m.div_ceil(2);
                for i in 0..m / 2 {
                    t[i] = t[2 * i + 1].mul_add(p, t[2 * i]);
                }
                if m % 2 == 1 {
                    t[half - 1] = t[m - 1];
                }
                m = half;
                p *= p;
            }
            t[0]
        }
    };
}
estrin!(poly, f64);

/// The polynomial c[0] + c[1]·x + … by pairs c[2i] + c[2i+1]·x (independent), then Horner's
/// rule in x² over the pairs: as many FMAs as Estrin's tree ([`poly`]) but no powers past x²,
/// for a few more cycles of latency. Used by `exp` and `ln`, where it measured faster (the
/// NLL's primal on two warm threads 150–160 → 145–151 µs, one thread 285–303 → 280–283 µs,
/// three rounds side by side); the other functions keep Estrin's tree.
#[inline(always)]
fn poly_pairs<const N: usize>(x: f64, c: &[f64; N]) -> f64 {
    const { assert!(N >= 2) };
    let x2 = x * x;
    let m = N.div_ceil(2);
    let mut acc = if N % 2 == 1 {
        c[N - 1]
    } else {
        c[N - 1].mul_add(x, c[N - 2])
    };
    for i in (0..m - 1).rev() {
        acc = acc.mul_add(x2, c[2 * i + 1].mul_add(x, c[2 * i]));
    }
    acc
}
estrin!(poly_f32, f32);

/// `x` rounded to the nearest integer (ties to even), as f64 and as i64; |x| < 2^51.
#[inline(always)]
fn round_magic(x: f64) -> (f64, i64) {
    let t = x + MAGIC;
    let n = (t.to_bits() as i64).wrapping_sub(MAGIC.to_bits() as i64);
    (t - MAGIC, n)
}

#[inline(always)]
fn round_magic_f32(x: f32) -> (f32, i32) {
    let t = x + MAGIC_F32;
    let n = (t.to_bits() as i32).wrapping_sub(MAGIC_F32.to_bits() as i32);
    (t - MAGIC_F32, n)
}

/// 2^k for -1022 ≤ k ≤ 1023.
#[inline(always)]
fn pow2(k: i64) -> f64 {
    f64::from_bits(((k + 1023) as u64) << 52)
}

/// 2^k for -126 ≤ k ≤ 127.
#[inline(always)]
fn pow2_f32(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

/// `v · 2^n` for -1077 ≤ n ≤ 1025 in two exact steps (2^n itself may not be a normal
/// double); only the last multiplication rounds, so subnormal results are rounded once.
#[inline(always)]
fn scale(v: f64, n: i64) -> f64 {
    let n1 = n >> 1;
    v * pow2(n1) * pow2(n - n1)
}

#[inline(always)]
fn scale_f32(v: f32, n: i32) -> f32 {
    let n1 = n >> 1;
    v * pow2_f32(n1) * pow2_f32(n - n1)
}

/// Cody–Waite reduction x = n·ln2 + r, |r| ≤ ln2/2 (plus rounding); returns r, the tail
/// eʳ - 1 - r = r²·Q(r), and n.
#[inline(always)]
fn exp_reduce(x: f64) -> (f64, f64, i64) {
    let (nf, n) = round_magic(x * LOG2E);
    // x - nf·LN2_HI is exact either way; the FMA saves an instruction per step.
    let r = (-nf).mul_add(LN2_LO, (-nf).mul_add(LN2_HI, x));
    (r, (r * r) * poly(r, &EXPM1_Q), n)
}

/// eˣ. Method: x = n·ln2 + r (Cody–Waite, two-part ln2), eʳ by a near-minimax polynomial
/// of degree 11 ([`EXPM1_Q`]), then scaled by 2ⁿ in two exact steps. Overflow (x > 709.78) gives +∞, x < -745.14 gives
/// 0; subnormal results are computed (one rounding, within 1 subnormal ulp of the true
/// value). NaN → NaN, +∞ → +∞, -∞ → 0. Measured max error vs std: 1 ulp.
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    // Clamp (keeps n in the range of `scale_biased`; NaN passes through both selects).
    let x = if x > 710.0 { 710.0 } else { x };
    let x = if x < -746.0 { -746.0 } else { x };
    // n = x·log₂e rounded to an integer by one FMA (the product is not rounded first), and
    // t's low bits hold n + 2046 for the scaling.
    let t = x.mul_add(LOG2E, MAGIC_EXP);
    let nf = t - MAGIC_EXP;
    let r = (-nf).mul_add(LN2_LO, (-nf).mul_add(LN2_HI, x));
    let tail = (r * r) * poly_pairs(r, &EXPM1_Q);
    scale_biased(1.0 + (r + tail), t.to_bits())
}

/// 1.5·2^52 + 2046: `t = y + MAGIC_EXP` rounds y to an integer n and, for |n| ≤ 1076, leaves
/// u = n + 2046 (< 2^12) in the low bits of t's representation, above bits that are all zero.
const MAGIC_EXP: f64 = MAGIC + 2046.0;

/// `v · 2^n` from the bits of `t = n + MAGIC_EXP`, in the two exact steps of [`scale`]
/// (2^⌊n/2⌋, then 2^⌈n/2⌉), with four integer operations where `scale` takes seven: the
/// biased exponents ⌊u/2⌋ = ⌊n/2⌋ + 1023 and ⌈u/2⌉ are `tb >> 1` and `tb - (tb >> 1)`, whose
/// bits from MAGIC's representation (bit 51 and up, even) shift out of the exponent field
/// with `<< 52`. The NLL's primal on one thread 309–347 → 286–296 µs, on two threads kept
/// warm 159–162 → 147–153 µs (side by side).
#[inline(always)]
fn scale_biased(v: f64, tb: u64) -> f64 {
    let e1 = tb >> 1;
    let e2 = tb.wrapping_sub(e1);
    v * f64::from_bits(e1 << 52) * f64::from_bits(e2 << 52)
}

/// eˣ - 1, accurate near 0. Method: as [`exp`], then eˣ - 1 = 2ⁿ·(((1 - 2⁻ⁿ) + r) + tail)
/// with eʳ - 1 = r + tail, where 1 - 2⁻ⁿ is exact for |n| ≤ 53. x < -40 gives -1, overflow +∞,
/// ±0 → ±0, NaN → NaN. Measured max error vs std: 2 ulp (near x = 0.38, where n = 1).
#[inline(always)]
pub fn exp_m1(x: f64) -> f64 {
    let xc = if x > 710.0 { 710.0 } else { x };
    let xc = if xc < -40.0 { -40.0 } else { xc };
    let (r, tail, n) = exp_reduce(xc);
    let nc = if n > 60 { 60 } else { n };
    let c = 1.0 - pow2(-nc);
    // c + r first: exact or nearly so (c = ±0.5, -1, … against |r| ≤ 0.35), which avoids
    // the cancellation of c + (r + tail) for n = 1.
    let y = scale((c + r) + tail, n);
    if x == 0.0 {
        x
    } else {
        y
    }
}

/// x = 2ᵏ·m with m ∈ [√2/2, √2), as `(k, m)` with k as an f64: the reduction of [`ln`] and
/// [`ln_dd`] (subnormal x scaled by 2⁵⁴ first). Meaningful for finite x > 0; the callers
/// replace what it gives for other x.
#[inline(always)]
fn ln_reduce(x: f64) -> (f64, f64) {
    let sub = x < f64::MIN_POSITIVE;
    let xs = if sub { x * 18_014_398_509_481_984.0 } else { x };
    // musl's reduction: adding 1 - √2/2 to the exponent field's view of x carries into the
    // exponent exactly when the mantissa is ≥ √2, so k and m ∈ [√2/2, √2) come out of
    // integer arithmetic without a compare and select.
    let ix = xs
        .to_bits()
        .wrapping_add(0x3ff0_0000_0000_0000 - 0x3fe6_a09e_0000_0000);
    // The exponent as f64, exactly, without an int → float conversion: the biased exponent
    // field as the low bits of 2^52 + e, less 2^52 and the bias (1023, or 1077 after the
    // scaling) in one subtraction (both sides are integers below 2^53: exact).
    let k = f64::from_bits(0x4330_0000_0000_0000 | ((ix >> 52) & 0xfff))
        - if sub {
            4_503_599_627_371_573.0 // 2^52 + 1077
        } else {
            4_503_599_627_371_519.0 // 2^52 + 1023
        };
    let m = f64::from_bits((ix & 0x000f_ffff_ffff_ffff) + 0x3fe6_a09e_0000_0000);
    (k, m)
}

/// Natural logarithm. Method: x = 2ᵏ·m with m ∈ [√2/2, √2) (subnormal x scaled by 2⁵⁴
/// first), f = m - 1, s = f/(2 + f), ln m = 2·atanh(s) by a near-minimax polynomial in s²
/// ([`LN_R`]), assembled as k·ln2_hi + (f - (f²/2 - (s·(f²/2 + R) + k·ln2_lo))).
/// x < 0 → NaN, ±0 → -∞, +∞ → +∞, NaN → NaN. Measured max error vs std: 1 ulp.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let (k, m) = ln_reduce(x);
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * poly_pairs(z, &LN_R);
    let hfsq = 0.5 * f * f;
    // Contracted by hand (LLVM does not fuse without fast-math): fewer instructions, and
    // each FMA rounds once where the product and sum rounded twice.
    let y = k.mul_add(LN2_HI, f - (hfsq - s.mul_add(hfsq + r, k * LN2_LO)));
    // Special lanes: +∞ and NaN give x itself, ±0 gives -∞, x < 0 gives NaN.
    let y = if x < f64::INFINITY { y } else { x };
    let neg = if x == 0.0 {
        f64::NEG_INFINITY
    } else {
        f64::NAN
    };
    if x > 0.0 {
        y
    } else {
        neg
    }
}

/// x = q·π/2 + r with |r| ≲ π/4, by Cody–Waite with a three-part π/2 (exact for
/// |x| < 1.6e6); r is returned as a double-double `r_hi + r_lo`.
#[inline(always)]
fn trig_reduce(x: f64) -> (f64, f64, i64) {
    let (qf, q) = round_magic(x * std::f64::consts::FRAC_2_PI);
    let a = x - qf * PIO2_1; // exact (q·PIO2_1 exact, then Sterbenz)
    let b = -(qf * PIO2_2); // exact
                            // TwoSum: s + e = a + b exactly.
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    let w = e - qf * PIO2_3;
    let r = s + w;
    let r_lo = (s - r) + w;
    // Past the exact range r may be anything: keep it in [-π/4, π/4] (and drop r_lo) so the
    // result stays finite (NaN, from ±∞ or NaN input, passes through).
    let lim = std::f64::consts::FRAC_PI_4;
    let big = x.abs() > TRIG_EXACT_LIMIT; // ±∞ and NaN make r NaN either way
    let rc = if r > lim { lim } else { r };
    let rc = if rc < -lim { -lim } else { rc };
    let r_lo = if big { 0.0 } else { r_lo };
    (if big { rc } else { r }, r_lo, q)
}

/// sin and cos of the reduced argument r + r_lo, |r| ≤ π/4, |r_lo| ≤ ulp(r): first-order
/// correction sin(r + δ) ≈ sin r + δ·(1 - r²/2), cos(r + δ) ≈ cos r - δ·r.
#[inline(always)]
fn sin_cos_kernel(r: f64, r_lo: f64) -> (f64, f64) {
    let z = r * r;
    let hz = 0.5 * z;
    let s = r + (r * z * poly(z, &SIN_S) + r_lo * (1.0 - hz));
    let w = 1.0 - hz;
    let c = w + (((1.0 - w) - hz) + (z * z * poly(z, &COS_C) - r * r_lo));
    (s, c)
}

/// Picks sin or cos of r for quadrant q (sin(x) = sin(q·π/2 + r)).
#[inline(always)]
fn quadrant(s: f64, c: f64, q: i64) -> f64 {
    let v = if q & 1 != 0 { c } else { s };
    f64::from_bits(v.to_bits() ^ (((q as u64) & 2) << 62))
}

/// Sine. Method: x = q·π/2 + r (Cody–Waite, three-part π/2), sin/cos of r by Taylor series
/// to r¹⁷/r¹⁸, selected and signed by q mod 4. Accurate for |x| ≤ 1.6e6 (measured max error
/// vs std: 1 ulp over |x| ≤ 1e6); larger finite x give a finite value in [-1, 1] that is not
/// accurate. ±∞, NaN → NaN; ±0 → ±0.
#[inline(always)]
pub fn sin(x: f64) -> f64 {
    let (r, r_lo, q) = trig_reduce(x);
    let (s, c) = sin_cos_kernel(r, r_lo);
    let y = quadrant(s, c, q);
    if x == 0.0 {
        x
    } else {
        y
    }
}

/// Cosine. Method and range as [`sin`] (quadrant q + 1). Measured max error vs std: 1 ulp
/// over |x| ≤ 1e6. ±∞, NaN → NaN.
#[inline(always)]
pub fn cos(x: f64) -> f64 {
    let (r, r_lo, q) = trig_reduce(x);
    let (s, c) = sin_cos_kernel(r, r_lo);
    quadrant(s, c, q.wrapping_add(1))
}

/// Hyperbolic tangent. Method, with a = |x|: for a < 0.55 its odd Taylor series to x⁴¹
/// (relative accuracy near 0, tanh x = x for tiny x); for 0.55 ≤ a ≤ 22,
/// tanh a = 1 - 2/(t + 2) with t = e²ᵃ - 1 ([`exp_m1`]); a > 22 gives 1; sign copied from x.
/// Both sides are computed (no branch). NaN → NaN, ±∞ → ±1, ±0 → ±0.
/// Measured max error vs std: 2 ulp (glibc's tanh is itself not correctly rounded).
#[inline(always)]
pub fn tanh(x: f64) -> f64 {
    let a = f64::from_bits(x.to_bits() & !SIGN);
    let ac = if a > 22.0 { 22.0 } else { a };
    let t = exp_m1(2.0 * ac);
    let z = ac * ac;
    let y = if ac < 0.55 {
        ac + ac * z * poly(z, &TANH_T)
    } else {
        1.0 - 2.0 / (t + 2.0)
    };
    let y = if a > 22.0 { 1.0 } else { y };
    f64::from_bits(y.to_bits() | (x.to_bits() & SIGN))
}

/// 2/3 as a double-double: the first coefficient of 2·atanh(s) = 2s + s³·(2/3 + 2s²/5 + …),
/// kept in two parts by [`ln_dd`].
const TWO_THIRDS_HI: f64 = 0.666_666_666_666_666_6;
const TWO_THIRDS_LO: f64 = 3.700_743_415_417_188e-17;
/// 2/5, 2/7, …, 2/23: the rest of that series after 2/3, as z·Q(z) with z = s² ≤ 0.02944
/// (truncation below 1.3e-18 of 2/3; the Taylor series, not a fit, since its terms are
/// already small there).
const LN_DD_Q: [f64; 10] = {
    let all: [f64; 11] = atanh_coefs();
    let mut q = [0.0; 10];
    let mut k = 0;
    while k < 10 {
        q[k] = all[k + 1];
        k += 1;
    }
    q
};
const TWO52: f64 = 4_503_599_627_371_496.0;
const TWO53: f64 = 9_007_199_254_740_992.0;

/// `a + b` as a double-double `(s, e)` with s + e = a + b exactly (Knuth's TwoSum; any
/// magnitudes).
#[inline(always)]
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// The product of double-doubles `(a, al)·(b, bl)`, to about 2⁻¹⁰⁴ relative (the `al·bl`
/// term dropped; `a·b`'s rounding error exact by one FMA).
#[inline(always)]
fn mul_dd(a: f64, al: f64, b: f64, bl: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p) + (a.mul_add(bl, al * b)))
}

/// ln x as a double-double `(hi, lo)` for finite x > 0 (subnormals included), to about 2⁻⁶⁶
/// relative, for [`powf`], where the error of ln x is multiplied by y. Method as [`ln`]
/// (x = 2ᵏ·m, m ∈ [√2/2, √2), s = f/(2 + f) with f = m - 1), carried in two parts: s as a
/// double-double (the division's remainder by one FMA), ln m = 2s + s³·(2/3 + z·Q(z)) with
/// the products and 2/3 in double-double and only z·Q(z) (≤ 1.8% of 2/3) in plain f64,
/// then k·ln2 added by TwoSum. Zero, infinite and NaN x give values that [`powf`] discards.
#[inline(always)]
fn ln_dd(x: f64) -> (f64, f64) {
    let (k, m) = ln_reduce(x);
    let f = m - 1.0; // exact (Sterbenz)
                     // d + dl = 2 + f exactly (|2| ≥ |f|: FastTwoSum).
    let d = 2.0 + f;
    let dl = f - (d - 2.0);
    // s + sl = f/(d + dl): the remainder f - s·d is exact by one FMA.
    let s = f / d;
    let sl = ((-s).mul_add(d, f) - s * dl) / d;
    // z + zl = (s + sl)².
    let z = s * s;
    let zl = s.mul_add(s, -z) + 2.0 * s * sl;
    // c + cl = 2/3 + z·Q(z) (FastTwoSum: |z·Q| < 2/3).
    let q = z * poly(z, &LN_DD_Q);
    let c = TWO_THIRDS_HI + q;
    let cl = ((TWO_THIRDS_HI - c) + q) + TWO_THIRDS_LO;
    // t + tl = s³·c.
    let (p, pl) = mul_dd(s, sl, z, zl);
    let (t, tl) = mul_dd(p, pl, c, cl);
    // ln m = 2s + t (|t| ≤ 1% of |2s|: FastTwoSum).
    let (s2, s2l) = (2.0 * s, 2.0 * sl);
    let h = s2 + t;
    let hl = ((s2 - h) + t) + (s2l + tl);
    // + k·ln2: k·LN2_HI is exact (32-bit LN2_HI, |k| < 2^11).
    let (a, al) = two_sum(k * LN2_HI, h);
    let lo = al + k.mul_add(LN2_LO, hl);
    let hi = a + lo;
    (hi, (a - hi) + lo)
}

/// e^(h + l) for a double-double argument with |l| ≤ ulp(h) (or l = 0), for [`powf`]. Method
/// as [`exp`], with the reduced argument kept in two parts: r = h - n·ln2_hi is exact, and
/// n·ln2_lo - l joins it by TwoSum, so the argument's low part is not lost to rounding (an
/// absolute error ε there is a relative error ε in the result, and h reaches 745).
#[inline(always)]
fn exp_dd(h: f64, l: f64) -> f64 {
    let hc = if h > 710.0 { 710.0 } else { h };
    let hc = if hc < -746.0 { -746.0 } else { hc };
    // Clamped (or NaN): the low part no longer belongs to it.
    let l = if hc == h { l } else { 0.0 };
    let t = hc.mul_add(LOG2E, MAGIC_EXP);
    let nf = t - MAGIC_EXP;
    let r_hi = (-nf).mul_add(LN2_HI, hc); // exact (Sterbenz)
    let r_lo = (-nf).mul_add(LN2_LO, l);
    let (r, rl) = two_sum(r_hi, r_lo);
    let tail = (r * r) * poly_pairs(r, &EXPM1_Q);
    // e^(r + rl) = eʳ·(1 + rl) to first order, with eʳ = 1 + r + tail.
    scale_biased(1.0 + (r + (tail + rl.mul_add(r, rl))), t.to_bits())
}

/// `xʸ` from `general`, |x|ʸ as computed for finite nonzero x and finite y, with every other
/// case of C's `pow` (which `f64::powf` follows) decided here by selects: y = ±0 or x = 1 give
/// 1 (even for NaN), NaN gives NaN, x < 0 needs an integer y (the sign from its parity, NaN
/// otherwise), x = ±0, ±∞ and y = ±∞ give 0, ∞ or 1 from the sign of y·ln|x|. (A value, not
/// a closure: LLVM does not inline a closure this large, and the lanes would then run one by
/// one through calls.)
#[inline(always)]
fn pow_cases(x: f64, y: f64, general: f64) -> f64 {
    let ax = f64::from_bits(x.to_bits() & !SIGN);
    let ay = f64::from_bits(y.to_bits() & !SIGN);
    // y is an integer (every |y| ≥ 2^52 is) and odd: rounded by adding 2^52, where the ulp is
    // 1 (|y| < 2^52), and y/2 likewise (odd ⇔ y/2 is not an integer; every |y| ≥ 2^53 is even).
    let y_int = ay >= TWO52 || (ay + TWO52) - TWO52 == ay;
    let half = 0.5 * ay;
    let y_odd = y_int && ay < TWO53 && (half + TWO52) - TWO52 != half;
    // x = ±0 or ±∞ or y = ±∞: 0 where y·ln|x| < 0, ∞ where > 0, 1 where it is 0·∞ (|x| = 1).
    let ln_sign = if ax > 1.0 {
        1.0
    } else if ax < 1.0 {
        -1.0
    } else {
        0.0
    };
    let e = y * ln_sign;
    let edge = if e > 0.0 {
        f64::INFINITY
    } else if e < 0.0 {
        0.0
    } else {
        1.0
    };
    let exceptional = ax == 0.0 || ax == f64::INFINITY || ay == f64::INFINITY;
    let r = if exceptional { edge } else { general };
    // Negative x (-0 and -∞ included) with an odd integer y: negative result.
    let r = f64::from_bits(r.to_bits() | (x.to_bits() & SIGN & if y_odd { u64::MAX } else { 0 }));
    // Finite x < 0 with a non-integer y: NaN.
    let r = if x < 0.0 && x > f64::NEG_INFINITY && !y_int {
        f64::NAN
    } else {
        r
    };
    let r = if x.is_nan() || y.is_nan() { x + y } else { r };
    if y == 0.0 || x == 1.0 {
        1.0
    } else {
        r
    }
}

/// `xʸ` (C's `pow`: real exponent). Method: |x|ʸ = e^(y·ln|x|) with ln|x| as a double-double
/// ([`ln_dd`]), the product y·ln|x| exact to about 2⁻¹⁰⁴ (one FMA), and eʰ⁺ˡ with the low
/// part carried into the reduced argument ([`exp_dd`]): plain f64 there would lose up to
/// 2⁻⁴⁴ of the argument (128 ulp of the result) when |y·ln x| nears 709. Signs, NaN, zeros,
/// infinities and negative bases as C's `pow`, by selects ([`pow_cases`]); overflow gives
/// ±∞, underflow 0 and subnormal results are rounded once. Measured max error vs std: 1 ulp.
#[inline(always)]
pub fn powf(x: f64, y: f64) -> f64 {
    let (lh, ll) = ln_dd(f64::from_bits(x.to_bits() & !SIGN));
    let h = y * lh;
    let l = y.mul_add(lh, -h) + y * ll;
    pow_cases(x, y, exp_dd(h, l))
}

/// `xʸ` for f32, computed in f64 as e^(y·ln|x|) with [`exp`] and [`ln`] (1 ulp each): the
/// f64 product's rounding is at most 2⁻⁴⁶ relative for the |y·ln x| ≤ 104 that f32 results
/// reach, far below an f32 ulp, so no double-double is needed. Cases as [`powf`].
/// Measured max error vs std: 1 ulp.
#[inline(always)]
pub fn powf_f32(x: f32, y: f32) -> f32 {
    let (x, y) = (f64::from(x), f64::from(y));
    pow_cases(x, y, exp(y * ln(f64::from_bits(x.to_bits() & !SIGN)))) as f32
}

/// eˣ in f32 arithmetic. Method as [`exp`] (two-part ln2, Taylor to r⁸, scaled by 2ⁿ in two
/// steps). x > 88.72 → +∞, x < -103.98 → 0, subnormal results rounded once. NaN → NaN,
/// +∞ → +∞, -∞ → 0. Measured max error vs std: 1 ulp.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = if x > 89.0 { 89.0 } else { x };
    let x = if x < -104.0 { -104.0 } else { x };
    let (nf, n) = round_magic_f32(x * std::f32::consts::LOG2_E);
    let r = (-nf).mul_add(LN2_LO_F32, (-nf).mul_add(LN2_HI_F32, x));
    let p = r + r * r * poly_f32(r, &EXPM1_Q_F32);
    scale_f32(1.0 + p, n)
}

/// Natural logarithm in f32 arithmetic. Method as [`ln`] (atanh series to s¹²; subnormal x
/// scaled by 2²⁵ first). x < 0 → NaN, ±0 → -∞, +∞ → +∞, NaN → NaN.
/// Measured max error vs std: 1 ulp.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    let sub = x < f32::MIN_POSITIVE;
    let xs = if sub { x * 33_554_432.0 } else { x }; // 2^25
    let bits = xs.to_bits();
    let e = f32::from_bits(0x4b00_0000 | ((bits >> 23) & 0xff)) - 8_388_608.0;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > std::f32::consts::SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let k = e - 127.0 + if big { 1.0 } else { 0.0 } - if sub { 25.0 } else { 0.0 };
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * poly_f32(z, &LN_R_F32);
    let hfsq = 0.5 * f * f;
    let y = k * LN2_HI_F32 + (f - (hfsq - (s * (hfsq + r) + k * LN2_LO_F32)));
    let y = if x == f32::INFINITY { x } else { y };
    let y = if x == 0.0 { f32::NEG_INFINITY } else { y };
    if x >= 0.0 {
        y
    } else {
        f32::NAN
    }
}

/// Sine of an f32, computed as [`sin`] of the value widened to f64 and rounded back (twice
/// the work per lane of a native f32 kernel, but correctly rounded in practice). Accurate for
/// |x| ≤ 1.6e6. Measured max error vs std: 1 ulp.
#[inline(always)]
pub fn sin_f32(x: f32) -> f32 {
    sin(f64::from(x)) as f32
}

/// Cosine of an f32, via [`cos`] in f64 (see [`sin_f32`]). Measured max error vs std: 1 ulp.
#[inline(always)]
pub fn cos_f32(x: f32) -> f32 {
    cos(f64::from(x)) as f32
}

/// Hyperbolic tangent of an f32, via [`tanh`] in f64 (see [`sin_f32`]).
/// Measured max error vs std: 2 ulp (glibc's `tanhf` is not correctly rounded either).
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    tanh(f64::from(x)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGN_F32: u32 = 1 << 31;

    struct SplitMix64(u64);
    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        /// Uniform in [0, 1).
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
        }
        fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.unit()
        }
        /// Log-uniform magnitude in [lo, hi] (lo > 0), random sign when `signed`.
        fn log_uniform(&mut self, lo: f64, hi: f64, signed: bool) -> f64 {
            let v = (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp();
            let v = v.clamp(lo, hi);
            if signed && self.next() & 1 == 1 {
                -v
            } else {
                v
            }
        }
    }

    fn ord64(x: f64) -> i128 {
        let b = x.to_bits();
        if b & SIGN != 0 {
            -i128::from(b & !SIGN)
        } else {
            i128::from(b)
        }
    }

    fn ulp64(a: f64, b: f64) -> u64 {
        if a.is_nan() && b.is_nan() || a == b {
            return 0;
        }
        if a.is_nan() || b.is_nan() {
            return u64::MAX;
        }
        (ord64(a) - ord64(b))
            .unsigned_abs()
            .min(u128::from(u64::MAX)) as u64
    }

    fn ulp32(a: f32, b: f32) -> u64 {
        if a.is_nan() && b.is_nan() || a == b {
            return 0;
        }
        if a.is_nan() || b.is_nan() {
            return u64::MAX;
        }
        let ord = |x: f32| {
            let b = x.to_bits();
            if b & SIGN_F32 != 0 {
                -i64::from(b & !SIGN_F32)
            } else {
                i64::from(b)
            }
        };
        (ord(a) - ord(b)).unsigned_abs()
    }

    /// Max ulp of `f` vs `reference` over `xs`; results with |reference| below `abs_floor`
    /// (subnormal range) pass when within `abs_tol` absolute instead.
    fn sweep64(
        name: &str,
        xs: &[f64],
        f: impl Fn(f64) -> f64,
        reference: impl Fn(f64) -> f64,
        abs_floor: f64,
    ) -> u64 {
        let mut worst = (0u64, 0.0f64);
        let mut sub_worst = 0u64;
        for &x in xs {
            let (got, want) = (f(x), reference(x));
            let u = ulp64(got, want);
            if want.abs() < abs_floor && want != 0.0 || got.abs() < abs_floor && got != 0.0 {
                sub_worst = sub_worst.max(u);
                assert!(
                    u <= 4 || (got - want).abs() <= 1e-300,
                    "{name}({x:e}) = {got:e}, std {want:e}"
                );
                continue;
            }
            if u > worst.0 {
                worst = (u, x);
            }
        }
        println!(
            "{name}: {} points, max {} ulp (at x = {:e}); subnormal results max {} ulp",
            xs.len(),
            worst.0,
            worst.1,
            sub_worst
        );
        assert!(worst.0 <= 4, "{name}: {} ulp at x = {:e}", worst.0, worst.1);
        worst.0
    }

    fn sweep32(
        name: &str,
        xs: &[f32],
        f: impl Fn(f32) -> f32,
        reference: impl Fn(f32) -> f32,
    ) -> u64 {
        let mut worst = (0u64, 0.0f32);
        let mut sub_worst = 0u64;
        for &x in xs {
            let (got, want) = (f(x), reference(x));
            let u = ulp32(got, want);
            if want.abs() < f32::MIN_POSITIVE && want != 0.0 {
                sub_worst = sub_worst.max(u);
                assert!(u <= 4, "{name}({x:e}) = {got:e}, std {want:e}");
                continue;
            }
            if u > worst.0 {
                worst = (u, x);
            }
        }
        println!(
            "{name}: {} points, max {} ulp (at x = {:e}); subnormal results max {} ulp",
            xs.len(),
            worst.0,
            worst.1,
            sub_worst
        );
        assert!(worst.0 <= 4, "{name}: {} ulp at x = {:e}", worst.0, worst.1);
        worst.0
    }

    fn exp_inputs() -> Vec<f64> {
        let mut g = SplitMix64(1);
        let mut xs = Vec::new();
        for _ in 0..150_000 {
            xs.push(g.uniform(-746.0, 710.0));
            xs.push(g.log_uniform(1e-300, 745.0, true));
            xs.push(g.uniform(-1e-5, 1e-5));
            xs.push(g.uniform(708.0, 710.0));
            xs.push(g.uniform(-746.0, -707.0));
            xs.push(g.uniform(-1.0, 1.0));
        }
        xs
    }

    #[test]
    fn simd_math_exp_ulp() {
        sweep64("exp", &exp_inputs(), exp, f64::exp, f64::MIN_POSITIVE);
    }

    #[test]
    fn simd_math_exp_m1_ulp() {
        let mut xs = exp_inputs();
        let mut g = SplitMix64(7);
        for _ in 0..100_000 {
            xs.push(g.log_uniform(1e-300, 1.0, true));
            xs.push(g.uniform(-45.0, 45.0));
        }
        sweep64("exp_m1", &xs, exp_m1, f64::exp_m1, f64::MIN_POSITIVE);
    }

    #[test]
    fn simd_math_ln_ulp() {
        let mut g = SplitMix64(2);
        let mut xs = Vec::new();
        for _ in 0..200_000 {
            // Uniform over bit patterns of positive finite doubles = log-uniform, subnormals included.
            xs.push(f64::from_bits(g.next() % 0x7ff0_0000_0000_0000));
            xs.push(g.uniform(0.999, 1.001));
            xs.push(g.uniform(0.5, 2.0));
            xs.push(f64::from_bits(g.next() % 0x0010_0000_0000_0000)); // subnormal
        }
        sweep64("ln", &xs, ln, f64::ln, 0.0);
    }

    fn trig_inputs() -> Vec<f64> {
        let mut g = SplitMix64(3);
        let mut xs = Vec::new();
        for _ in 0..100_000 {
            xs.push(g.uniform(-10.0, 10.0));
            xs.push(g.uniform(-1e5, 1e5));
            xs.push(g.uniform(-1e6, 1e6));
            xs.push(g.log_uniform(1e-300, 1e6, true));
            // Near multiples of π/2, where the reduction cancels.
            let k = (g.next() % 1_000_000) as f64 - 500_000.0;
            xs.push(k * std::f64::consts::FRAC_PI_2 + g.uniform(-1e-6, 1e-6));
            xs.push(k * std::f64::consts::FRAC_PI_2);
        }
        xs
    }

    #[test]
    fn simd_math_sin_cos_ulp() {
        let xs = trig_inputs();
        sweep64("sin", &xs, sin, f64::sin, f64::MIN_POSITIVE);
        sweep64("cos", &xs, cos, f64::cos, f64::MIN_POSITIVE);
    }

    #[test]
    fn simd_math_tanh_ulp() {
        let mut g = SplitMix64(4);
        let mut xs = Vec::new();
        for _ in 0..100_000 {
            xs.push(g.log_uniform(1e-300, 30.0, true));
            xs.push(g.uniform(-25.0, 25.0));
            xs.push(g.uniform(-1e-4, 1e-4));
            xs.push(g.uniform(0.9, 1.1));
            xs.push(g.uniform(-1.1, -0.9));
            xs.push(g.uniform(18.0, 23.0));
        }
        sweep64("tanh", &xs, tanh, f64::tanh, f64::MIN_POSITIVE);
    }

    #[test]
    fn simd_math_f32_ulp() {
        let mut g = SplitMix64(5);
        let (mut e, mut l, mut t, mut h) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..150_000 {
            e.push(g.uniform(-104.0, 89.0) as f32);
            e.push(g.log_uniform(1e-38, 104.0, true) as f32);
            e.push(g.uniform(-1.0, 1.0) as f32);
            e.push(g.uniform(86.0, 89.0) as f32);
            e.push(g.uniform(-104.0, -85.0) as f32);
            l.push(f32::from_bits((g.next() % 0x7f80_0000) as u32));
            l.push(g.uniform(0.999, 1.001) as f32);
            l.push(f32::from_bits((g.next() % 0x0080_0000) as u32));
            t.push(g.uniform(-100.0, 100.0) as f32);
            t.push(g.uniform(-1e6, 1e6) as f32);
            t.push(g.log_uniform(1e-38, 1e6, true) as f32);
            h.push(g.log_uniform(1e-38, 20.0, true) as f32);
            h.push(g.uniform(-10.0, 10.0) as f32);
        }
        sweep32("exp_f32", &e, exp_f32, f32::exp);
        sweep32("ln_f32", &l, ln_f32, f32::ln);
        sweep32("sin_f32", &t, sin_f32, f32::sin);
        sweep32("cos_f32", &t, cos_f32, f32::cos);
        sweep32("tanh_f32", &h, tanh_f32, f32::tanh);
    }

    /// Max ulp of `powf` vs std over (x, y) pairs built to cover the result's whole range:
    /// y·ln x near the overflow and underflow thresholds (subnormal results), x near 1 with
    /// large y and near √2 (where ln x's error is multiplied most), negative x with integer y,
    /// subnormal x, and random bit patterns.
    fn pow_inputs() -> Vec<(f64, f64)> {
        let mut g = SplitMix64(8);
        let mut v = Vec::new();
        for _ in 0..100_000 {
            let x = g.log_uniform(1e-300, 1e300, false);
            v.push((x, g.uniform(-700.0, 700.0) / x.ln()));
            v.push((g.uniform(0.0, 4.0), g.uniform(-30.0, 30.0)));
            let x = 1.0 + g.uniform(-1e-6, 1e-6);
            v.push((x, g.uniform(-7e8, 7e8)));
            let x = g.uniform(1.40, 1.42);
            v.push((x, g.uniform(-2000.0, 2000.0)));
            v.push((g.uniform(-3.0, 3.0), (g.next() % 121) as f64 - 60.0));
            let x = g.log_uniform(1e-5, 1e5, false);
            v.push((x, g.uniform(705.0, 709.8) / x.ln()));
            v.push((x, g.uniform(-745.2, -705.0) / x.ln()));
            v.push((
                f64::from_bits(g.next() % 0x0010_0000_0000_0000),
                g.uniform(-0.5, 1.0),
            ));
            v.push((
                f64::from_bits(g.next() % 0x7ff0_0000_0000_0000),
                f64::from_bits(g.next() & !SIGN) % 8.0 * if g.next() & 1 == 0 { 1.0 } else { -1.0 },
            ));
        }
        v
    }

    #[test]
    fn simd_math_powf_ulp() {
        let mut worst = (0u64, 0.0, 0.0);
        let mut sub_worst = 0u64;
        let pts = pow_inputs();
        for &(x, y) in &pts {
            let (got, want) = (powf(x, y), x.powf(y));
            let u = ulp64(got, want);
            if want.abs() < f64::MIN_POSITIVE && want != 0.0 {
                sub_worst = sub_worst.max(u);
                assert!(u <= 1, "powf({x:e}, {y:e}) = {got:e}, std {want:e}");
                continue;
            }
            if u > worst.0 {
                worst = (u, x, y);
            }
        }
        println!(
            "powf: {} points, max {} ulp (at x = {:e}, y = {:e}); subnormal results max {} ulp",
            pts.len(),
            worst.0,
            worst.1,
            worst.2,
            sub_worst
        );
        assert!(
            worst.0 <= 1,
            "powf: {} ulp at ({:e}, {:e})",
            worst.0,
            worst.1,
            worst.2
        );

        // f32: every f32 pair of the same kinds.
        let mut worst32 = (0u64, 0.0f32, 0.0f32);
        let mut g = SplitMix64(9);
        let mut n32 = 0;
        for &(x, y) in &pts {
            let (x, y) = (x as f32, y as f32);
            let (x2, y2) = (
                g.log_uniform(1e-38, 1e38, false) as f32,
                g.uniform(-90.0, 90.0) as f32,
            );
            for (x, y) in [(x, y), (x2, y2 / x2.ln())] {
                n32 += 1;
                let (got, want) = (powf_f32(x, y), x.powf(y));
                let u = ulp32(got, want);
                if u > worst32.0 {
                    worst32 = (u, x, y);
                }
            }
        }
        println!(
            "powf_f32: {n32} points, max {} ulp (at x = {:e}, y = {:e})",
            worst32.0, worst32.1, worst32.2
        );
        assert!(
            worst32.0 <= 1,
            "powf_f32: {} ulp at ({:e}, {:e})",
            worst32.0,
            worst32.1,
            worst32.2
        );
    }

    /// C's `pow` cases, every pair of a grid of special and ordinary values: the same bits as
    /// std (zeros and infinities with their signs, NaN), or within 1 ulp for ordinary results.
    #[test]
    fn simd_math_powf_special_values() {
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        let odd_big = TWO52 + 1.0; // the largest odd integers are below 2^53
        let xs = [
            0.0,
            -0.0,
            inf,
            -inf,
            nan,
            1.0,
            -1.0,
            0.5,
            -0.5,
            2.0,
            -2.0,
            3.7,
            -3.7,
            1e-310,
            -1e-310,
            f64::MAX,
            -f64::MAX,
            f64::MIN_POSITIVE,
        ];
        let ys = [
            0.0,
            -0.0,
            inf,
            -inf,
            nan,
            1.0,
            -1.0,
            2.0,
            -2.0,
            3.0,
            -3.0,
            0.5,
            -0.5,
            2.5,
            -2.5,
            1e300,
            -1e300,
            odd_big,
            -odd_big,
            TWO53,
            TWO53 + 2.0,
            -(TWO53 + 2.0),
            1e-300,
            1075.0,
            -1075.0,
        ];
        for x in xs {
            for y in ys {
                let (got, want) = (powf(x, y), x.powf(y));
                let exact = want.is_nan() || want == 0.0 || want.is_infinite() || want == 1.0;
                if exact {
                    assert!(
                        same(got, want),
                        "powf({x:e}, {y:e}) = {got:e}, std {want:e}"
                    );
                } else {
                    assert!(
                        ulp64(got, want) <= 1 && got.is_sign_negative() == want.is_sign_negative(),
                        "powf({x:e}, {y:e}) = {got:e}, std {want:e}"
                    );
                }
                let (x32, y32) = (x as f32, y as f32);
                let (got, want) = (powf_f32(x32, y32), x32.powf(y32));
                let same32 = got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan();
                assert!(
                    same32 || ulp32(got, want) <= 1 && got.is_finite() && want != 0.0,
                    "powf_f32({x32:e}, {y32:e}) = {got:e}, std {want:e}"
                );
            }
        }
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()
    }

    #[test]
    fn simd_math_special_values() {
        let (inf, nan) = (f64::INFINITY, f64::NAN);
        for (x, want) in [
            (nan, nan),
            (inf, inf),
            (-inf, 0.0),
            (709.79, inf),
            (1e300, inf),
            (-745.2, 0.0),
            (-1e300, 0.0),
            (0.0, 1.0),
            (-0.0, 1.0),
        ] {
            assert!(same(exp(x), want), "exp({x}) = {}", exp(x));
        }
        assert!(exp(709.78) > 1.7e308 && exp(709.78).is_finite());
        assert!(exp(-745.1) > 0.0 && exp(-745.1) < 1e-323);
        for (x, want) in [
            (nan, nan),
            (inf, inf),
            (-inf, -1.0),
            (0.0, 0.0),
            (-0.0, -0.0),
            (-50.0, -1.0),
            (800.0, inf),
        ] {
            assert!(same(exp_m1(x), want), "exp_m1({x}) = {}", exp_m1(x));
        }
        for (x, want) in [
            (nan, nan),
            (inf, inf),
            (-inf, nan),
            (-1.0, nan),
            (-1e-310, nan),
            (0.0, -inf),
            (-0.0, -inf),
            (1.0, 0.0),
        ] {
            assert!(same(ln(x), want), "ln({x}) = {}", ln(x));
        }
        assert_eq!(ln(f64::from_bits(1)), (f64::from_bits(1)).ln()); // smallest subnormal
        assert_eq!(ln(f64::MAX), f64::MAX.ln());
        for x in [nan, inf, -inf] {
            assert!(sin(x).is_nan() && cos(x).is_nan(), "sin/cos({x})");
        }
        assert!(
            same(sin(0.0), 0.0) && same(sin(-0.0), -0.0) && cos(0.0) == 1.0 && cos(-0.0) == 1.0
        );
        // Beyond the accurate range: finite, in [-1, 1].
        let mut g = SplitMix64(6);
        for _ in 0..10_000 {
            let x = f64::from_bits(g.next() % 0x7ff0_0000_0000_0000);
            for v in [sin(x), cos(x), sin(-x), cos(-x)] {
                assert!(v.is_finite() && v.abs() <= 1.0, "sin/cos({x:e}) = {v}");
            }
        }
        for x in [f64::MAX, 1e300, 1e17, 2.0f64.powi(52), 1e7] {
            assert!(sin(x).abs() <= 1.0 && cos(x).abs() <= 1.0);
        }
        for (x, want) in [
            (nan, nan),
            (inf, 1.0),
            (-inf, -1.0),
            (0.0, 0.0),
            (-0.0, -0.0),
            (30.0, 1.0),
            (-1e300, -1.0),
        ] {
            assert!(same(tanh(x), want), "tanh({x}) = {}", tanh(x));
        }
        assert_eq!(tanh(1e-300), 1e-300);
        assert_eq!(tanh(f64::from_bits(3)), f64::from_bits(3));

        let (inf32, nan32) = (f32::INFINITY, f32::NAN);
        let same32 = |a: f32, b: f32| a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan();
        for (x, want) in [
            (nan32, nan32),
            (inf32, inf32),
            (-inf32, 0.0),
            (88.73, inf32),
            (-104.0, 0.0),
            (0.0, 1.0),
        ] {
            assert!(same32(exp_f32(x), want), "exp_f32({x}) = {}", exp_f32(x));
        }
        assert!(exp_f32(88.72).is_finite());
        for (x, want) in [
            (nan32, nan32),
            (inf32, inf32),
            (-inf32, nan32),
            (-1.0, nan32),
            (0.0, -inf32),
            (-0.0, -inf32),
            (1.0, 0.0),
        ] {
            assert!(same32(ln_f32(x), want), "ln_f32({x}) = {}", ln_f32(x));
        }
        assert_eq!(ln_f32(f32::from_bits(1)), f32::from_bits(1).ln());
        assert!(sin_f32(inf32).is_nan() && cos_f32(nan32).is_nan());
        assert!(same32(tanh_f32(-inf32), -1.0) && tanh_f32(nan32).is_nan());
    }
}
