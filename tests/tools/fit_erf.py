"""Fit the polynomials minigluon's compiled erf evaluates (ops/elemwise.py, ``_ERF_*``).

usage: python tests/tools/fit_erf.py   (needs mpmath; prints the tables to paste)

[0, 1]: erf(x) / x as its Taylor series in x^2 (18 terms). [1, 6]: three pieces, each
-erfc(x) as a polynomial in t = (2x - a - b) / (b - a), t in [-1, 1], fitted through 200
Chebyshev nodes on values mpmath computes to 40 digits; erf = 1 + that. Beyond 6, erf
rounds to 1 in float64. Worst error of the result in float64: 3 ulps
(tests/ops/test_elemwise_mxnet.py measures it).
"""
import mpmath as mp
import numpy as np
from numpy.polynomial import chebyshev as C

mp.mp.dps = 40
PIECES = [(1.0, 2.0, 16), (2.0, 3.5, 20), (3.5, 6.0, 20)]


def main():
    taylor = [float(2 / mp.sqrt(mp.pi) * (-1) ** n / (mp.factorial(n) * (2 * n + 1)))
              for n in range(18)]
    print("_ERF_TAYLOR = (" + ", ".join(repr(c) for c in taylor) + ")")
    print("_ERF_PIECES = (")
    for a, b, deg in PIECES:
        t = np.cos(np.pi * (np.arange(200) + 0.5) / 200)
        x = (a + b) / 2 + (b - a) / 2 * t
        y = np.array([-float(mp.erfc(mp.mpf(float(v)))) for v in x])
        p = C.cheb2poly(C.chebfit(t, y, deg))
        print(f"    ({a!r}, {b!r}, (" + ", ".join(repr(float(c)) for c in p) + ")),")
    print(")")


if __name__ == "__main__":
    main()
