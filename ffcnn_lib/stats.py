"""The statistics every verdict rests on: Student's t and χ² tails, and a pooled seed spread.

Pure Python, exact for the integer degrees of freedom a pooled spread has (no SciPy in the
pinned stack): the t distribution's two-sided CDF and the χ² survival function both have closed
forms as finite sums when the degrees of freedom are whole numbers (Abramowitz & Stegun 26.7.3-4
and 26.4.4-5). ``math.inf`` degrees of freedom give the normal distribution, which a variance
known exactly (a binomial stand-in) calls for.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterable, Sequence

LEVEL = 0.95  # every interval and test of the book: two-sided 95 %


def _whole(dof: float) -> int:
    if dof != math.inf and (dof < 1 or dof != int(dof)):
        raise ValueError(f"degrees of freedom must be a whole number >= 1 or math.inf, got {dof!r}")
    return int(dof) if dof != math.inf else 0


def t_within(t: float, dof: float) -> float:
    """P(|T| <= t) for Student's t with ``dof`` degrees of freedom (A&S 26.7.3-4)."""
    t = abs(t)
    if dof == math.inf:
        return 2 * NormalDist().cdf(t) - 1
    nu = _whole(dof)
    theta = math.atan(t / math.sqrt(nu))
    c2 = math.cos(theta) ** 2
    if nu % 2:  # odd: (2/π)[θ + sinθ cosθ (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + ...)]
        term, total = 1.0, 1.0 if nu > 1 else 0.0
        for k in range(1, (nu - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    term, total = 1.0, 1.0  # even: sinθ (1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + ...)
    for k in range(1, nu // 2):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def t_crit(dof: float, comparisons: int = 1, level: float = LEVEL) -> float:
    """The two-sided critical value of Student's t at ``level``, Bonferroni-adjusted for
    ``comparisons`` tests made at once (each at 1 - (1 - level)/comparisons); NaN for no dof."""
    if not dof or (isinstance(dof, float) and math.isnan(dof)):
        return math.nan
    inside = 1 - (1 - level) / max(int(comparisons), 1)
    if dof == math.inf:
        return NormalDist().inv_cdf(0.5 + inside / 2)
    _whole(dof)
    lo, hi = 0.0, 1.0
    while t_within(hi, dof) < inside:  # bracket, then bisect: t_within rises monotonically
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_within(mid, dof) < inside else (lo, mid)
        if hi - lo < 1e-12 * hi:
            break
    return (lo + hi) / 2


def chi2_sf(x: float, dof: int) -> float:
    """P(X > x) for χ² with whole ``dof`` (A&S 26.4.4-5)."""
    nu = _whole(dof)
    if nu == 0:
        raise ValueError("χ² needs finite degrees of freedom")
    if x <= 0:
        return 1.0
    half = x / 2
    if nu % 2 == 0:  # e^{-x/2} Σ_{i < ν/2} (x/2)^i / i!
        term = total = 1.0
        for i in range(1, nu // 2):
            term *= half / i
            total += term
        return math.exp(-half) * total
    chi = math.sqrt(x)
    total, term = 0.0, chi  # 2Q(χ) + 2φ(χ) Σ_{r=1}^{(ν-1)/2} χ^{2r-1} / (1·3···(2r-1))
    for r in range(1, (nu - 1) // 2 + 1):
        if r > 1:
            term *= x / (2 * r - 1)
        total += term
    return math.erfc(chi / math.sqrt(2)) + 2 * math.exp(-half) / math.sqrt(2 * math.pi) * total


@dataclass(frozen=True)
class Spread:
    """A seed-to-seed standard deviation pooled over cells (each cell: runs of one configuration
    that differ only in their seed): ``s`` in the units of the values, ``dof`` = Σ (n_i - 1),
    ``cells`` the (name, n, std) of each cell that entered it. ``s`` is NaN when no cell has two runs."""
    s: float
    dof: int
    cells: tuple[tuple[str, int, float], ...] = ()

    @property
    def known(self) -> bool:
        return self.dof > 0

    def crit(self, comparisons: int = 1) -> float:
        return t_crit(self.dof, comparisons) if self.known else math.nan


def pooled(cells: Iterable[tuple[str, Sequence[float]]]) -> Spread:
    """Pool the variance of each cell's values (``(name, values)``) with weights n_i - 1."""
    rows, squares, dof = [], 0.0, 0
    for name, values in cells:
        v = [float(x) for x in values if x == x]  # NaN-free
        if len(v) < 2:
            continue
        mean = sum(v) / len(v)
        ss = sum((x - mean) ** 2 for x in v)
        rows.append((name, len(v), math.sqrt(ss / (len(v) - 1))))
        squares, dof = squares + ss, dof + len(v) - 1
    return Spread(math.sqrt(squares / dof) if dof else math.nan, dof, tuple(rows))


def difference_sd(s: float, n: int, m_eff: float) -> float:
    """Standard deviation of (our mean of ``n`` seeds) - (the paper's mean, worth ``m_eff``
    independent runs) when both scatter with the same seed spread ``s`` on the same images."""
    return s * math.sqrt(1 / n + 1 / m_eff)
