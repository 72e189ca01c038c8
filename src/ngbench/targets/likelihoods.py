"""Likelihoods of a generalized linear model, in the linear predictor a = xᵀθ (docs/maths.md §6).

A likelihood is one small object: φ(a, y) = −log p(y | a), its first two derivatives in a, which
responses it supports, and the log-density the held-out metric averages. Gaussian VI then needs
only 1-D expectations over a ~ N(μ, s²): E[φ], E[φ′] and the curvature E[φ′z]/s (= E[φ″] by
Stein's identity), by Gauss–Hermite quadrature unless the likelihood has them in closed form.
Adding a likelihood is one class here and one entry of `LIKELIHOODS` (docs/extending.md).

`y` broadcasts against `a`: (N,) against (B, S, N) samples, (N, 1) against (N, K) quadrature nodes.
"""

from __future__ import annotations

import math

import numpy as np

from ngbench import portable

LOG_2PI = math.log(2.0 * math.pi)


# Shapes (rows, nodes) on which BLAS's product [s c]·[z; 1] was checked to give the numbers of
# c + s·z (see `quadrature_points`): True where it does.
_PRODUCT_IS_EXACT: dict[tuple[int, int], bool] = {}


def node_factors(nodes: np.ndarray) -> np.ndarray:
    """The (2 × nodes) rows [z; 1] that `quadrature_points` multiplies the columns [s, c] by."""
    return np.stack([nodes, np.ones_like(nodes)])


def quadrature_points(
    centre: np.ndarray, spread: np.ndarray, nodes: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """centreₙ + spreadₙ·zₖ for one run's rows (rows × nodes): one rounded product, then one rounded sum.

    Broadcasting pays numpy's per-row overhead on 100-wide rows (~10× the arithmetic at 455 × 100); a
    BLAS product of (rows × 2)(2 × nodes) with columns [spread, centre] and rows [z, 1] computes the
    same roundings, round(round(s·z) + c·1), in a tenth of the time. Whether this BLAS does (its kernel
    could fuse the product into the sum) is checked once per shape on random numbers, against the
    broadcast expression, which is used wherever it does not.
    """
    return points_from_columns(np.column_stack([spread, centre]), nodes, node_factors(nodes), out)


def points_from_columns(
    columns: np.ndarray, nodes: np.ndarray, factors: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """`quadrature_points` of the (rows × 2) columns [spread, centre], with `factors` = node_factors(nodes)
    made by the caller once (a tiered quadrature's chunks share them)."""
    shape = (columns.shape[0], nodes.size)
    exact = _PRODUCT_IS_EXACT.get(shape)
    if exact is None:
        rng = np.random.default_rng(0)
        probe_centre, probe_spread = rng.normal(size=shape[0]) * 30.0, rng.uniform(0.0, 10.0, shape[0])
        product = np.matmul(np.column_stack([probe_spread, probe_centre]), factors)
        exact = _PRODUCT_IS_EXACT[shape] = bool(
            np.array_equal(product, probe_centre[:, None] + probe_spread[:, None] * nodes)
        )
    if exact:
        return np.matmul(columns, factors, out=out)
    points = np.multiply(columns[:, :1], nodes, out=out)
    points += columns[:, 1:]
    return points


# Points per chunk of the tiered quadrature: a run's (455 × 100) points, as the whole-rule loop had,
# so a chunk's arrays stay in cache; a chunk's last rows are padded to a multiple of `CHUNK_ROWS_STEP`,
# which bounds the shapes `quadrature_points` checks once each.
CHUNK_POINTS = 455 * 100
CHUNK_ROWS_STEP = 64


class GaussHermiteRule:
    """The row's declared Gauss–Hermite rule, with smaller rules for projections narrow enough that
    they give the declared rule's numbers to a few ulps (docs/maths.md §2.8).

    `narrow`: (widest spread, nodes, weights) of each smaller rule, by increasing spread; a
    projection whose spread is at most a rule's limit (and above the previous one's) takes that
    rule, every other (wider, or NaN) the declared `nodes`, `weights` unchanged.
    """

    def __init__(self, nodes: np.ndarray, weights: np.ndarray, narrow=()):
        self.nodes, self.weights = nodes, weights
        self.limits = np.array([limit for limit, _, _ in narrow], dtype=float)
        self.rules = [(rule_nodes, rule_weights) for _, rule_nodes, rule_weights in narrow] + [
            (nodes, weights)
        ]
        # What every chunk of a rule needs, made once: the product's factor rows [z; 1] and wₖzₖ.
        self.factors = [node_factors(rule_nodes) for rule_nodes, _ in self.rules]
        self.weighted_nodes = [rule_weights * rule_nodes for rule_nodes, rule_weights in self.rules]

    def groups(self, spread: np.ndarray) -> list[np.ndarray]:
        """Per rule, the flat indices of the projections it takes, increasing: together the order of
        a stable sort by rule, at a few comparisons of `spread` with the limits instead of a sort."""
        if not self.limits.size:
            return [np.arange(spread.size)]
        within = [np.less_equal(spread, limit) for limit in self.limits]  # NaN: never within
        groups = [np.flatnonzero(within[0])]
        for narrower, wider in zip(within[:-1], within[1:], strict=True):
            groups.append(np.flatnonzero(wider > narrower))  # within this limit and not the one below
        groups.append(np.flatnonzero(~within[-1]))  # wider than every limit, or NaN: the declared rule
        return groups

    def chunks(self, spread: np.ndarray):
        """The flat indices of `spread` sorted stably by rule (`order`), and per chunk (rule index,
        first, used, padded): the chunk's projections are order[first : first + used], all of one
        rule, evaluated as `padded` rows (the last repeated) to a multiple of CHUNK_ROWS_STEP unless
        they fill a chunk."""
        groups = self.groups(spread)
        order = np.concatenate(groups) if len(groups) > 1 else groups[0]
        pieces, start = [], 0
        for index, ((nodes, _), group) in enumerate(zip(self.rules, groups, strict=True)):
            size, end = _chunk_rows(nodes), start + group.size
            for first in range(start, end, size):
                used = min(size, end - first)
                pieces.append((index, first, used, min(-(-used // CHUNK_ROWS_STEP) * CHUNK_ROWS_STEP, size)))
            start = end
        return order, pieces

    def scratch_size(self) -> int:
        """Numbers a chunk's (rows × nodes) array may need (`chunks`)."""
        return max(_chunk_rows(nodes) * nodes.size for nodes, _ in self.rules)


def _chunk_rows(nodes: np.ndarray) -> int:
    """Rows in a full chunk of a rule with `nodes`: ~CHUNK_POINTS points, a multiple of CHUNK_ROWS_STEP."""
    return max(CHUNK_POINTS // nodes.size // CHUNK_ROWS_STEP, 1) * CHUNK_ROWS_STEP


class Chunk:
    """One chunk of a tiered quadrature, as `evaluate` gets it: its rule's `nodes`, `weights` and
    `weighted_nodes` (wₖzₖ), its flat row indices `rows` (padded) and the `used` real ones."""

    __slots__ = ("nodes", "weights", "weighted_nodes", "rows", "used")

    def responses(self, y: np.ndarray) -> np.ndarray:
        """Each row's response as a column, (rows, 1): the flat rows run over the batch's runs, each
        run's N projections in turn, so row r is datum r mod N."""
        return y[self.rows % y.size, None]


def tiered(rule: GaussHermiteRule, centre, spread, evaluate, outputs: int, scratch: np.ndarray):
    """Per-projection expectations over aₙ ~ N(centreₙ, spreadₙ²), each by its rule in `rule`.

    `evaluate(points, chunk)` gets one chunk's (rows × nodes) points, written into `scratch`
    (CHUNK_POINTS numbers at least), and the `Chunk`; it returns `outputs` arrays of one number per
    row. Returns them in `centre`'s shape.
    """
    flat_centre, flat_spread = centre.reshape(-1), spread.reshape(-1)
    order, pieces = rule.chunks(flat_spread)
    # The product's columns [spread, centre] in the chunks' order, gathered once: a chunk's are a
    # slice, and its results go to a slice of `in_order`, put in place once at the end.
    columns = np.column_stack([flat_spread[order], flat_centre[order]])
    in_order = [np.empty(order.size) for _ in range(outputs)]
    chunk = Chunk()
    for index, first, used, padded in pieces:
        nodes = rule.rules[index][0]
        chunk.nodes, chunk.weights = rule.rules[index]
        chunk.weighted_nodes, chunk.used = rule.weighted_nodes[index], used
        chunk.rows, part = order[first : first + used], columns[first : first + used]
        if padded > used:
            chunk.rows = np.concatenate([chunk.rows, np.full(padded - used, chunk.rows[-1])])
            part = np.concatenate([part, np.broadcast_to(part[-1], (padded - used, 2))])
        points = points_from_columns(
            part, nodes, rule.factors[index], out=scratch[: padded * nodes.size].reshape(padded, nodes.size)
        )
        for result, values in zip(in_order, evaluate(points, chunk), strict=True):
            result[first : first + used] = values[:used]
    results = [np.empty(flat_centre.size) for _ in range(outputs)]
    for result, values in zip(results, in_order, strict=True):
        result[order] = values
    return [result.reshape(centre.shape) for result in results]


def softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, a)


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) to full relative precision for either sign.

    ½(1 + tanh(a/2)) loses it as σ → 0: the sum cancels, and from a ≈ −37 on it returns exactly 0.
    """
    small = np.exp(-np.abs(a))
    return np.where(a >= 0.0, 1.0, small) / (1.0 + small)


def log_sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """log σ(a) = −log(1 + e⁻ᵃ), accurate where σ(a) underflows (a ≲ −745) or rounds to 1.

    `out` may be `a` itself: the result is then written over it.
    """
    out = np.negative(a, out=out)
    return np.negative(np.logaddexp(0.0, out, out=out), out=out)


class Likelihood:
    """p(y | a) of one datum; the derivatives are of φ = −log p in the linear predictor a."""

    name = ""
    support = ""  # the responses it accepts, in words (error messages)

    def outside_support(self, y: np.ndarray) -> np.ndarray:
        """Mask of the responses p(· | a) gives no mass or density."""
        return ~np.isfinite(y)

    def negative_log_density(self, a, y):
        raise NotImplementedError

    def first(self, a, y):
        """φ′(a, y) = ∂φ/∂a."""
        raise NotImplementedError

    def second(self, a, y):
        """φ″(a, y) = ∂²φ/∂a²."""
        raise NotImplementedError

    def log_density(self, a, y):
        """log p(y | a), written over `a` where the likelihood can (the held-out metric's buffer)."""
        return np.negative(self.negative_log_density(a, y), out=a)

    def density(self, a, y):
        """p(y | a) written over `a`, to a few ulps wherever it is a normal number.

        With it the held-out metric sums densities, log Σₖ wₖ p(y | aₖ), instead of a log-sum-exp
        of log-densities (a log per node and its max, exp and sum). A likelihood without such a cheap
        form does not override this method: the metric then works from `log_density` throughout
        (GLMVI.test_log_loss checks whether it is overridden; this default is never called there).
        """
        return None

    def closed_form(self, centre, spread, y):
        """(Σₙ E[φ], E[φ′], E[φ″]) over aₙ ~ N(centreₙ, spreadₙ²) exactly, or None (then quadrature)."""
        return None

    def sample_means(self, a, y):
        """Sample means over axis 1 of φ′ and φ″ at draws a (B, S, N)."""
        return self.first(a, y).mean(axis=1), self.second(a, y).mean(axis=1)

    # Smaller Gauss–Hermite rules this likelihood may use on narrow projections: {nodes: widest
    # spread}, each giving the expectations of any larger rule to a few ulps up to that spread
    # (GaussHermiteRule; docs/maths.md §2.8). Empty: every projection takes the declared rule.
    narrow_rules: dict[int, float] = {}

    # True where `quadrature(..., squared_slopes=True)` also returns E[φ′²] (the empirical Fisher's
    # weights) from the same pass, as a fourth array; otherwise the target takes them in a pass of
    # its own (GLMVI._expected_squared_slopes).
    fuses_squared_slopes = False

    def quadrature(self, centre, spread, y, rule: GaussHermiteRule, slopes=True):
        """(Σₙ E[φ], E[φ′], E[φ′z]/s) by Gauss–Hermite, run by run (one run's (N, K) arrays at a time).

        E[φ′z]/s is ∂/∂s E[φ(μ + sz)] / s, the exact derivative of the quadrature loss, so the
        gradient's fixed point is that loss's own stationary point. `slopes=False`: Σₙ E[φ] alone
        (the loss of a row whose gradient is sampled), with None for the other two. The declared
        rule throughout (`narrow_rules` is empty here).
        """
        nodes, weights = rule.nodes, rule.weights
        column = y[:, None]
        weighted_nodes = weights * nodes
        batch, count = centre.shape
        data, first, stein = np.empty(batch), np.empty((batch, count)), np.empty((batch, count))
        for run in range(batch):
            a = quadrature_points(centre[run], spread[run], nodes)
            data[run] = (self.negative_log_density(a, column) @ weights).sum()
            if not slopes:
                continue
            slope = self.first(a, column)
            np.matmul(slope, weights, out=first[run])
            np.matmul(slope, weighted_nodes, out=stein[run])
        if not slopes:
            return data, None, None
        stein /= spread
        return data, first, stein


class BernoulliLogit(Likelihood):
    """p(y = 1 | a) = σ(a): φ = softplus(a) − ya, φ′ = σ(a) − y, φ″ = σ(a)σ(−a)."""

    name = "bernoulli_logit"
    support = "0 or 1"
    # softplus, σ and σ′ are analytic in the strip |Im a| < π, so an n-node rule's error falls like
    # exp(−c√n/s) in a projection's spread s. Measured (tests/test_narrow_quadrature.py, docs/maths.md
    # §2.8): each rule below is within 3e-15 (relative) of the exact expectations up to a spread ~10 %
    # above its limit, as is every larger rule; the declared rule takes everything wider.
    narrow_rules = {16: 0.38, 32: 0.67, 48: 0.87, 64: 1.05}

    def __init__(self):
        self._scratch = None

    def outside_support(self, y):
        return (y != 0.0) & (y != 1.0)

    def negative_log_density(self, a, y):
        return softplus(a) - y * a

    def first(self, a, y):
        return sigmoid(a) - y

    def second(self, a, y):
        # σ′ = σ(a)σ(−a): p(1 − p) loses σ′'s relative precision where p rounds to 1.
        return sigmoid(a) * sigmoid(-a)

    def log_density(self, a, y):
        # log p(y | a) = log σ(±a), + for y = 1: never log(p) or log(1 − p) of a rounded p.
        a *= 2.0 * y - 1.0
        return log_sigmoid(a, out=a)

    def density(self, a, y):
        # p(y | a) = σ(u), u = (2y − 1)a, as 1/(1 + e⁻ᵘ): a few ulps from σ(u) for either sign; e⁻ᵘ
        # overflows to +∞ (a warning, unless the caller silences it) only where σ(u) < e⁻⁷⁰⁹ ≈ 1e-308,
        # and gives 0 there.
        a *= 1.0 - 2.0 * y
        np.exp(a, out=a)
        a += 1.0
        return np.divide(1.0, a, out=a)

    def sample_means(self, a, y):
        # σ(a) and σ(−a) share exp(−|a|) and 1 + exp(−|a|): the numbers of sigmoid(a), sigmoid(−a).
        small = np.exp(-np.abs(a))
        denominator = 1.0 + small
        p = np.where(a >= 0.0, 1.0, small) / denominator
        q = np.where(a <= 0.0, 1.0, small) / denominator  # −a ≥ 0
        return p.mean(axis=1) - y, (p * q).mean(axis=1)

    def _buffers(self, size: int) -> tuple[np.ndarray, ...]:
        """Five flat float arrays and one boolean of `size`, made once per size and reused."""
        if self._scratch is None or self._scratch[0].size != size:
            self._scratch = tuple(np.empty(size) for _ in range(5)) + (np.empty(size, dtype=bool),)
        return self._scratch

    fuses_squared_slopes = True

    def quadrature(self, centre, spread, y, rule: GaussHermiteRule, slopes=True, squared_slopes=False):
        """E[softplus(a)], E[σ(a)] and E[σ(a)z]/s in one exp per node; the data term subtracts Σyμ.

        Each projection by its rule in `rule` (the declared one, or a smaller one where it is narrow
        enough to give the same numbers to a few ulps), a chunk of one rule's projections at a time
        in buffers kept between calls: a chunk's arrays stay in cache, and no step pays the page
        faults of fresh arrays of the whole batch's size. `slopes=False`: the data term alone, with
        None for the other two. `squared_slopes`: also E[(σ(a) − y)²] from the same exp, as a fourth
        array (the empirical Fisher's weights, the numbers of `sigmoid(a) − y` squared).
        """
        buffers = self._buffers(rule.scratch_size())

        def evaluate(a, chunk):
            small, term, scratch, spare, nonnegative = (
                buffer[: a.size].reshape(a.shape) for buffer in buffers[1:]
            )
            # One exp for both functions, stable for either sign of a: small = exp(−|a|).
            np.exp(np.negative(np.abs(a, out=small), out=small), out=small)
            # softplus(a) = max(a, 0) + log1p(small)
            np.maximum(a, 0.0, out=term)
            term += np.log1p(small, out=scratch)
            weights = chunk.weights
            if not slopes:
                return (term @ weights,)
            expected_softplus = term @ weights
            # σ(a) = where(a ≥ 0, 1/(1 + small), small/(1 + small)), as small · (1/(1 + small))
            denominator = np.add(small, 1.0, out=scratch)
            reciprocal = np.divide(1.0, denominator, out=term)
            np.greater_equal(a, 0.0, out=nonnegative)
            if squared_slopes:
                # `sigmoid(a)`'s own numbers (small/(1 + small) where a < 0, one rounding, not the
                # product below), minus y, squared: what the separate pass gave.
                exact = np.divide(small, denominator, out=spare)
                np.copyto(exact, reciprocal, where=nonnegative)
                exact -= chunk.responses(y)
                squares = np.multiply(exact, exact, out=exact) @ weights
            p = np.multiply(small, reciprocal, out=small)
            np.copyto(p, reciprocal, where=nonnegative)
            expectations = expected_softplus, p @ weights, p @ chunk.weighted_nodes
            return (*expectations, squares) if squared_slopes else expectations

        outputs = 1 + 2 * slopes + (slopes and squared_slopes)
        results = tiered(rule, centre, spread, evaluate, outputs, buffers[0])
        data = results[0].sum(axis=1) - centre @ y
        if not slopes:
            return (data, None, None, None) if squared_slopes else (data, None, None)
        probabilities, stein = results[1:3]
        # ∂/∂s E[softplus(μ + sz)] / s = E[σ(a) z] / s, which is E[σ′(a)] by Stein's identity.
        stein /= spread
        if squared_slopes:
            return data, probabilities - y, stein, results[3]
        return data, probabilities - y, stein


class BernoulliProbit(Likelihood):
    """p(y = 1 | a) = Φ(a): with u = (2y − 1)a, r = 𝜑(u)/Φ(u): φ = −log Φ(u), φ′ = −(2y − 1)r, φ″ = r(u + r).

    log Φ is scipy's `log_ndtr` (accurate far into either tail), not `ngbench.portable`: like the
    logistic target's exp and BLAS products, its last bits may differ between CPUs (README,
    "Reproducibility": the d-dimensional targets agree to rounding).
    """

    name = "bernoulli_probit"
    support = "0 or 1"

    def outside_support(self, y):
        return (y != 0.0) & (y != 1.0)

    @staticmethod
    def _log_cdf(u):
        from scipy.special import log_ndtr

        return log_ndtr(u)

    def _mills(self, u):
        """𝜑(u)/Φ(u) from logs: finite where Φ(u) underflows."""
        return np.exp(-0.5 * u * u - 0.5 * LOG_2PI - self._log_cdf(u))

    def negative_log_density(self, a, y):
        return -self._log_cdf((2.0 * y - 1.0) * a)

    def first(self, a, y):
        sign = 2.0 * y - 1.0
        return -sign * self._mills(sign * a)

    def second(self, a, y):
        u = (2.0 * y - 1.0) * a
        ratio = self._mills(u)
        return ratio * (u + ratio)


class PoissonLog(Likelihood):
    """p(y | a) = Poisson(y; eᵃ): φ = eᵃ − ya + log y!, φ′ = eᵃ − y, φ″ = eᵃ.

    In closed form, E[eᵃ] = exp(μ + s²/2), so E[φ], E[φ′] and E[φ″] are exact (tested against the
    quadrature). exp is `ngbench.portable`'s.
    """

    name = "poisson_log"
    support = "a count (a non-negative integer)"

    def outside_support(self, y):
        return ~np.isfinite(y) | (y < 0.0) | (y != np.floor(y))

    @staticmethod
    def _log_factorial(y):
        from scipy.special import gammaln

        return gammaln(np.asarray(y) + 1.0)

    def negative_log_density(self, a, y):
        return portable.exp(a) - y * a + self._log_factorial(y)

    def first(self, a, y):
        return portable.exp(a) - y

    def second(self, a, y):
        return portable.exp(a)

    def sample_means(self, a, y):
        rate = portable.exp(a)
        return rate.mean(axis=1) - y, rate.mean(axis=1)

    def closed_form(self, centre, spread, y):
        rate = portable.exp(centre + 0.5 * spread * spread)  # E[eᵃ], a ~ N(μ, s²)
        data = (rate - y * centre + self._log_factorial(y)).sum(axis=1)
        return data, rate - y, rate


class Gaussian(Likelihood):
    """p(y | a) = N(y; a, σ²) with σ² = `noise_variance`: φ = (y − a)²/(2σ²) + ½log(2πσ²), φ″ = 1/σ².

    Conjugate to the Gaussian prior: the posterior is Gaussian, q can equal it, and E[φ] is exact.
    """

    name = "gaussian"
    support = "a finite number"

    def __init__(self, noise_variance: float = 1.0):
        self.noise_variance = float(noise_variance)
        self._log_normaliser = 0.5 * (LOG_2PI + math.log(self.noise_variance))

    def negative_log_density(self, a, y):
        return (y - a) ** 2 / (2.0 * self.noise_variance) + self._log_normaliser

    def first(self, a, y):
        return (a - y) / self.noise_variance

    def second(self, a, y):
        return np.full(np.broadcast(a, y).shape, 1.0 / self.noise_variance)

    def closed_form(self, centre, spread, y):
        variance = self.noise_variance
        data = (((y - centre) ** 2 + spread * spread) / (2.0 * variance) + self._log_normaliser).sum(axis=1)
        return data, (centre - y) / variance, np.full(centre.shape, 1.0 / variance)


LIKELIHOODS = {cls.name: cls for cls in (BernoulliLogit, BernoulliProbit, PoissonLog, Gaussian)}
