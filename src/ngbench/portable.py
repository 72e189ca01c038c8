"""Arithmetic whose last bits do not depend on the CPU: what makes trajectories reproducible anywhere.

numpy picks the code of `np.exp`, `np.log`, `np.log1p`, `np.expm1`, `np.power` and `np.logspace` at
run time from the CPU's SIMD extensions (`numpy.show_runtime()`), and OpenBLAS picks its kernels the
same way, so `np.linalg.solve` and `@` may round differently on another machine. A last-bit difference
is harmless in a stable run, but a run near the edge of stability (GD oscillating past 2/λ, the
empirical Fisher passing a saddle) amplifies it e-fold per step, and its iteration counts then differ
between machines.

The functions here use only IEEE-754 basic operations (+, −, ×, ÷, √, rounding to an integer,
scaling by a power of two), which every CPU rounds identically, one numpy call each: numpy never
fuses two calls into one fused multiply-add. They follow fdlibm's algorithms (Sun Microsystems'
freely distributable libm), with errors below 1 ulp for `exp` and `log`. Scalar constants (a
rotation's cosine, a grid of learning rates) are computed with `decimal` at 40 digits and rounded
once. The low-dimensional targets (`quadratic`, `mixture`, `gaussian_1d`) compute with these, so
their trajectories are identical bit for bit on every CPU; the high-dimensional ones need BLAS and
LAPACK for speed and agree to rounding (see the README's reproducibility contract).
"""

from __future__ import annotations

import decimal
from functools import lru_cache

import numpy as np

_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k·_LN2_HI is exact for |k| < 2²⁰
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_OVERFLOW = 7.09782712893383973096e02
_EXP_UNDERFLOW = -7.45133219101941108420e02
_EXP_P = (
    1.66666666666666019037e-01,
    -2.77777777770155933842e-03,
    6.61375632143793436117e-05,
    -1.65339022054652515390e-06,
    4.13813679705723846039e-08,
)
_LOG_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)
_SQRT_HALF = 0.70710678118654752440


def exp(x) -> np.ndarray:
    """eˣ (fdlibm's e_exp.c): x = k ln2 + r, |r| ≤ ½ln2, a rational approximation of eʳ, then 2ᵏ."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:  # the in-place arithmetic below needs arrays
        return exp(x.reshape(1))[0]
    if x.size and -708.0 <= x.min() and x.max() <= 709.0:  # no NaN, no infinity, no subnormal result
        return _exp_core(x)
    finite = np.isfinite(x) & (x <= _EXP_OVERFLOW) & (x >= _EXP_UNDERFLOW)
    result = _exp_core(np.where(finite, x, 0.0))
    result = np.where(x > _EXP_OVERFLOW, np.inf, result)
    result = np.where(x < _EXP_UNDERFLOW, 0.0, result)
    return np.where(np.isnan(x), np.nan, result)


def _exp_core(x: np.ndarray) -> np.ndarray:
    """eˣ for finite x in [−745.13, 709.78], in place on temporaries: every call is a basic operation."""
    k = x * _INV_LN2
    np.rint(k, out=k)
    hi = k * _LN2_HI
    np.subtract(x, hi, out=hi)  # exact: k·_LN2_HI has trailing zeros
    lo = k * _LN2_LO
    r = hi - lo
    z = r * r
    p1, p2, p3, p4, p5 = _EXP_P
    c = z * p5
    for coefficient in (p4, p3, p2, p1):
        c += coefficient
        c *= z
    np.subtract(r, c, out=c)  # c = r − z(p1 + z(p2 + …))
    numerator = r * c
    c -= 2.0
    np.negative(c, out=c)  # 2 − c
    numerator /= c
    np.subtract(lo, numerator, out=lo)
    lo -= hi
    np.subtract(1.0, lo, out=lo)  # y = 1 − ((lo − rc/(2 − c)) − hi)
    whole = k.astype(np.int64)
    if -1022 <= whole.min() and whole.max() <= 1023:
        # 2ᵏ is a normal double: its bits, (k + 1023) in the exponent field. Exact, and faster than ldexp.
        whole += 1023
        whole <<= 52
        lo *= whole.view(np.float64)
        return lo
    # ldexp in two halves: 2ᵏ alone over- or underflows near the ends of the range, y·2ᵏ does not.
    half = (whole >> 1).astype(np.int32)
    return np.ldexp(np.ldexp(lo, half), (whole - half).astype(np.int32))


def log(x) -> np.ndarray:
    """ln x (fdlibm's e_log.c): x = 2ᵏ(1+f), √½ ≤ 1+f < √2, and ln(1+f) = 2 atanh(f/(2+f)) by a series."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:  # the in-place arithmetic below needs arrays
        return log(x.reshape(1))[0]
    if x.size and 0.0 < x.min() and x.max() < np.inf:  # no NaN, zero, negative or infinity
        return _log_core(x)
    regular = np.isfinite(x) & (x > 0)
    result = _log_core(np.where(regular, x, 1.0))
    result = np.where(x == 0, -np.inf, result)
    result = np.where(x < 0, np.nan, result)
    result = np.where(x == np.inf, np.inf, result)
    return np.where(np.isnan(x), np.nan, result)


def _log_core(x: np.ndarray) -> np.ndarray:
    """ln x for finite x > 0."""
    mantissa, exponent = np.frexp(x)  # mantissa in [½, 1), exact
    low = mantissa < _SQRT_HALF
    mantissa[low] *= 2.0
    k = exponent.astype(float)
    k -= low
    f = mantissa
    f -= 1.0  # exact (Sterbenz)
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    lg1, lg2, lg3, lg4, lg5, lg6, lg7 = _LOG_LG
    t1 = w * lg6
    t1 += lg4
    t1 *= w
    t1 += lg2
    t1 *= w  # w(lg2 + w(lg4 + w lg6))
    t2 = w * lg7
    t2 += lg5
    t2 *= w
    t2 += lg3
    t2 *= w
    t2 += lg1
    t2 *= z  # z(lg1 + w(lg3 + w(lg5 + w lg7)))
    t2 += t1  # r
    half_f_squared = 0.5 * f * f
    t2 += half_f_squared
    t2 *= s
    t2 += k * _LN2_LO
    np.subtract(half_f_squared, t2, out=t2)
    t2 -= f
    k *= _LN2_HI
    k -= t2
    return k  # k ln2_hi − ((½f² − (s(½f² + r) + k ln2_lo)) − f)


def log1p(x) -> np.ndarray:
    """ln(1 + x), accurate for small x: ln(u)·x/(u − 1) with u = 1 + x rounded (Goldberg's trick)."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:  # the in-place arithmetic below needs arrays
        return log1p(x.reshape(1))[0]
    u = 1.0 + x
    if x.size and 0.0 < u.min() and u.max() < np.inf:
        ratio = u - 1.0
        shifted = ratio != 0.0
        np.divide(x, ratio, out=ratio, where=shifted)
        ratio[~shifted] = 1.0  # u = 1 exactly: ln(1 + x) = x
        result = _log_core(u)
        result[~shifted] = 1.0
        result *= ratio
        result[~shifted] = x[~shifted]
        return result
    with np.errstate(invalid="ignore", divide="ignore"):
        corrected = log(u) * (x / (u - 1.0))
    return np.where((u == 1.0) | ~np.isfinite(u), np.where(u == 1.0, x, log(u)), corrected)


def logaddexp(a, b) -> np.ndarray:
    """ln(eᵃ + eᵇ) without overflow: max + ln(1 + e^−|a−b|)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim == 0 and b.ndim == 0:
        return logaddexp(a.reshape(1), b.reshape(1))[0]
    with np.errstate(invalid="ignore"):
        gap = np.abs(a - b)
        np.negative(gap, out=gap)
        return logaddexp_given(a, b, exp(gap))


def logaddexp_given(a: np.ndarray, b: np.ndarray, exp_negative_gap: np.ndarray) -> np.ndarray:
    """`logaddexp(a, b)` bit for bit, for a caller that already has `exp(−|a − b|)` (the shares of a
    two-component mixture's responsibilities are made of it)."""
    top = np.maximum(a, b)
    with np.errstate(invalid="ignore"):
        result = top + log1p(exp_negative_gap)
    if np.isfinite(top).all():
        return result
    # Equal infinities have no difference: the sum is that infinity.
    return np.where(np.isinf(top) & (a == b), top, result)


def solve(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Batched A⁻¹b for (B, k, k) and (B, k): Cramer's rule for k ≤ 2, LAPACK beyond.

    An exactly singular matrix raises `LinAlgError` as LAPACK's solve does; the runner then ends
    the run it belongs to as `failed` and lets the others go on.
    """
    size = matrices.shape[-1]
    if size > 2:
        return np.linalg.solve(matrices, vectors[..., None])[..., 0]
    if size == 1:
        determinant = matrices[..., 0, 0]
    else:
        a, b = matrices[..., 0, 0], matrices[..., 0, 1]
        c, d = matrices[..., 1, 0], matrices[..., 1, 1]
        determinant = a * d - b * c
    if (determinant == 0).any():
        raise np.linalg.LinAlgError("Singular matrix")
    with np.errstate(divide="ignore", invalid="ignore"):
        if size == 1:
            return vectors / determinant[..., None]
        u, v = vectors[..., 0], vectors[..., 1]
        return np.stack([(d * u - b * v) / determinant, (a * v - c * u) / determinant], axis=-1)


def inverse_2x2(matrix: np.ndarray) -> np.ndarray:
    """The inverse of one 2×2 matrix by its adjugate, in basic operations."""
    (a, b), (c, d) = np.asarray(matrix, dtype=float)
    determinant = a * d - b * c
    return np.array([[d, -b], [-c, a]]) / determinant


# --- scalars, computed once: decimal arithmetic is done in software, identically everywhere -------

_CONTEXT = decimal.Context(prec=40)
_PI = decimal.Decimal("3.14159265358979323846264338327950288419716939937510")


def _decimal_series(x: decimal.Decimal, first: decimal.Decimal, order: int) -> decimal.Decimal:
    """Σₙ (−1)ⁿ x^(2n+order)/(2n+order)!: sin for order 1 (first = x), cos for order 0 (first = 1)."""
    with decimal.localcontext(_CONTEXT):
        term, total, n = first, first, order
        while abs(term) > decimal.Decimal(10) ** -45:
            term = -term * x * x / ((n + 1) * (n + 2))
            total += term
            n += 2
        return total


def cos_sin_degrees(angle_degrees: float) -> tuple[float, float]:
    """(cos, sin) of an angle in degrees, each correctly rounded from 40 digits."""
    with decimal.localcontext(_CONTEXT):
        turns = decimal.Decimal(angle_degrees) % 360
        radians = turns * _PI / 180
        return (
            float(_decimal_series(radians, decimal.Decimal(1), 0)),
            float(_decimal_series(radians, radians, 1)),
        )


def power_of_ten(exponent: float) -> float:
    """10 ** exponent, correctly rounded from 40 digits (np.logspace's last bit depends on the CPU)."""
    with decimal.localcontext(_CONTEXT):
        return float(decimal.Decimal(10) ** decimal.Decimal(exponent))


def integer_power(base: float, exponent: int) -> float:
    """baseⁿ for an integer n, correctly rounded (Python's float power calls the C library's pow)."""
    with decimal.localcontext(_CONTEXT):
        return float(decimal.Decimal(base) ** exponent)


def scalar_log(x: float) -> float:
    """ln x of one number, rounded from 40 digits."""
    with decimal.localcontext(_CONTEXT):
        return float(decimal.Decimal(x).ln())


def log_spaced_integers(last: int, count: int) -> np.ndarray:
    """⌊last^(i/(count − 1))⌋ for i = 0 … count − 1, without repeats: iterations spread on a log scale.

    In decimal, then rounded to 20 decimals before the floor, so an exact power (100^½ = 10) is not
    floored to 9 by the last digit of a 40-digit result.
    """
    with decimal.localcontext(_CONTEXT):
        base = decimal.Decimal(max(last, 1))
        exponents = [decimal.Decimal(i) / max(count - 1, 1) for i in range(count)]
        values = {
            int((base**e).quantize(decimal.Decimal(10) ** -20).to_integral_value(decimal.ROUND_FLOOR))
            for e in exponents
        }
    return np.array(sorted(values), dtype=np.int64)


def logspace(start: float, stop: float, count: int) -> tuple[float, ...]:
    """10^(start + i(stop − start)/(count − 1)) for i = 0 … count − 1, the exponents exact in decimal."""
    with decimal.localcontext(_CONTEXT):
        first, last = decimal.Decimal(start), decimal.Decimal(stop)
        if count == 1:
            return (power_of_ten(start),)
        step = (last - first) / (count - 1)
        return tuple(float(decimal.Decimal(10) ** (first + i * step)) for i in range(count))


@lru_cache(maxsize=8)
def hermite_gauss(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for the standard normal (weights sum to 1), reproducibly.

    Computed once per count and process (80 nodes took 15–40 ms here: the mixture's NGD, calling
    this every step, spent 93 % of its time in it), handed out read-only so that no caller can
    change the cached rule.

    numpy's `hermegauss` takes eigenvalues from LAPACK, whose last bits depend on the CPU. Here the
    positive nodes are bracketed by the sign changes of the orthonormal Hermite recurrence
    ψₖ₊₁ = (xψₖ − √k ψₖ₋₁)/√(k+1) on a grid finer than their spacing (≥ π/√(2·count)), then
    bisected to adjacent floats: basic operations and comparisons only. The weights are
    1/Σₖ ψₖ(xᵢ)² (the Christoffel function). Nodes come in ± pairs, with 0 for an odd count.
    """
    if count < 1:
        raise ValueError(f"Gauss–Hermite needs at least one node, got {count}")
    step = 0.1 / np.sqrt(float(count))
    grid = (np.arange(int((np.sqrt(4.0 * count + 2.0) + 1.0) / step)) + 0.5) * step
    sign = np.sign(_orthonormal_hermite(grid, count)[count])
    brackets = np.flatnonzero(sign[:-1] != sign[1:])
    if brackets.size != count // 2:
        raise ArithmeticError(f"found {brackets.size} of the {count // 2} positive Hermite nodes")
    low, high = grid[brackets], grid[brackets + 1]
    low_sign = sign[brackets]
    for _ in range(80):  # from a bracket of 0.1/√count to adjacent floats, with room to spare
        middle = 0.5 * (low + high)
        middle_sign = np.sign(_orthonormal_hermite(middle, count)[count])
        same = middle_sign == low_sign
        low, high = np.where(same, middle, low), np.where(same, high, middle)
    half = 0.5 * (low + high)
    nodes = np.concatenate([-half[::-1], [0.0] if count % 2 else [], half])
    weights = 1.0 / np.sum(_orthonormal_hermite(nodes, count - 1) ** 2, axis=0)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


def _orthonormal_hermite(x: np.ndarray, degree: int) -> np.ndarray:
    """ψ₀(x) … ψ_degree(x), shape (degree + 1, len(x)), orthonormal under the standard normal."""
    values = np.empty((degree + 1, x.size))
    values[0] = 1.0
    if degree >= 1:
        values[1] = x
    for k in range(1, degree):
        values[k + 1] = (x * values[k] - np.sqrt(float(k)) * values[k - 1]) / np.sqrt(float(k + 1))
    return values
