#!/usr/bin/env python3
"""Near-minimax polynomial coefficients for `crates/ferrograd/src/simd_math.rs`.

Lawson's algorithm (iteratively reweighted least squares) in 60-digit arithmetic (mpmath),
minimising the weighted error that each polynomial adds to its function's result:

  exp: Q(r) = (e^r - 1 - r) / r^2 on |r| <= 0.3466 * 1.001 (the Cody-Waite range ln2/2, with
       slack for rounding), weight r^2 / e^r: the relative error of 1 + r + r^2 Q(r).
  ln:  P(z) = (2 atanh(s) - 2 s) / (s z) with z = s^2, s <= 0.1716 * 1.001 (m in
       [sqrt2/2, sqrt2)), weight z / 2: the error relative to ln m ~ 2 s.

Prints each polynomial's coefficients (lowest degree first, rounded to f64) and its maximum
added error, evaluated in high precision with the rounded coefficients.

  python3 scripts/minimax.py      (needs mpmath: pip install mpmath)
"""
import mpmath as mp

mp.mp.dps = 60


def lawson(f, weight, a, b, n, iters=20, m=300):
    """Coefficients c[0..n) of the polynomial closest to f on [a, b] in the weighted max norm."""
    xs = [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (k + 0.5) / m) for k in range(m)]
    wt = [mp.mpf(1) / m] * m
    for _ in range(iters):
        rows = [[mp.sqrt(wt[i]) * weight(x) * x**j for j in range(n)] for i, x in enumerate(xs)]
        rhs = [mp.sqrt(wt[i]) * weight(x) * f(x) for i, x in enumerate(xs)]
        c = mp.qr_solve(mp.matrix(rows), mp.matrix(rhs))[0]
        err = [abs(weight(x) * (f(x) - sum(c[j] * x**j for j in range(n)))) for x in xs]
        total = sum(wt[i] * err[i] for i in range(m))
        wt = [wt[i] * err[i] / total for i in range(m)]
    return [float(c[j]) for j in range(n)]


def report(name, coefs, f, weight, a, b):
    worst = max(
        abs(weight(x) * (sum(mp.mpf(c) * x**j for j, c in enumerate(coefs)) - f(x)))
        for x in (a + (b - a) * k / 4000 for k in range(1, 4001))
    )
    print(f"{name}: max added relative error {mp.nstr(worst, 3)} (2^-53 = {2.0**-53:.3g})")
    print("    " + ",\n    ".join(repr(c) for c in coefs))


def main():
    ra = mp.mpf("0.3466") * mp.mpf("1.001")
    q = lambda r: (mp.exp(r) - 1 - r) / r**2 if r != 0 else mp.mpf(1) / 2
    wq = lambda r: r**2 / mp.exp(r)
    report("EXPM1_Q", lawson(q, wq, -ra, ra, 10), q, wq, -ra, ra)

    zmax = (mp.mpf("0.1716") * mp.mpf("1.001")) ** 2
    p = lambda z: (2 * mp.atanh(mp.sqrt(z)) - 2 * mp.sqrt(z)) / (mp.sqrt(z) * z) if z != 0 else mp.mpf(2) / 3
    wp = lambda z: z / 2
    report("LN_R", lawson(p, wp, mp.mpf(0), zmax, 7), p, wp, mp.mpf(0), zmax)


if __name__ == "__main__":
    main()
